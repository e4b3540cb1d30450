"""The web pages in a real browser: headless Chromium (through chromedriver and selenium) against
`closer serve` (gunicorn) on loopback. A MDT's morning: the GP triages and signs off, the case manager
enrols someone and agrees their plans, and a GP from another practice cannot see them, even by typing
the URL. The steps build on each other, so they run in order in one module."""

from __future__ import annotations

from typing import Any

import pytest
from pages_data import CM_NORTH, GP_NORTH, GP_SOUTH, MILD, NORTH, PASSWORD, SEVERE, SOUTH, WELL, review_day
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser

Browser = Any  # selenium's WebDriver


def submit(browser: Browser, button: Any) -> None:
    """Click a form's button and wait for the page it leads to (reading the old page would race it)."""
    mark_page(browser)
    button.click()
    wait_for_new_page(browser)


def mark_page(browser: Browser) -> None:
    browser.execute_script("window.closerTestMark = true")


def wait_for_new_page(browser: Browser) -> None:
    """Until a page without the mark (a new document) has loaded: no element of the old page is touched."""
    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.execute_script("return !window.closerTestMark && document.readyState === 'complete'")
    )


def sign_in(browser: Browser, base: str, username: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{base}/app/login")
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert "/app/login" not in browser.current_url


def messages(browser: Browser) -> str:
    return " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".messages .message"))


def decide(browser: Browser, patient: str, decision: str, reason: str, review: str = "") -> None:
    row = browser.find_element(By.ID, f"row-{patient}")
    row.find_element(By.TAG_NAME, "summary").click()
    assert not row.find_element(By.ID, f"review-{patient}").is_displayed()  # the script hides it until "exclude"
    row.find_element(By.ID, f"{decision[:3]}-{patient}").click()
    row.find_element(By.ID, f"reason-{patient}").send_keys(reason)
    if review:
        field = row.find_element(By.ID, f"review-{patient}")
        assert field.is_displayed()  # the script shows the date only for an exclusion
        browser.execute_script("arguments[0].value = arguments[1]", field, review)
    submit(browser, row.find_element(By.ID, f"decide-{patient}"))


def test_sign_in_page_is_keyboard_usable(browser: Browser, live_pages: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{live_pages}/app/login")
    assert browser.title.startswith("Sign in")
    skip = browser.find_element(By.CSS_SELECTOR, "a.skip-link")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("\t")  # the first Tab lands on the skip link, which then shows
    assert browser.switch_to.active_element == skip
    assert skip.location["x"] >= 0


def test_wrong_password_shows_an_error(browser: Browser, live_pages: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{live_pages}/app/login")
    browser.find_element(By.ID, "username").send_keys(GP_NORTH.username)
    browser.find_element(By.ID, "password").send_keys("not the password")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert "The username or password is not right." in browser.find_element(By.CSS_SELECTOR, ".error-summary").text


def test_gp_triages_and_signs_off(browser: Browser, live_pages: str) -> None:
    sign_in(browser, live_pages, GP_NORTH.username)
    assert browser.current_url.endswith(f"/app/triage/{NORTH}")
    table = browser.find_element(By.ID, "worklist")
    assert table.find_element(By.TAG_NAME, "caption").text.startswith("2 of 2 people")
    assert browser.find_element(By.ID, f"row-{SEVERE}").find_element(By.CSS_SELECTOR, ".tier").text == "Severe"
    decide(browser, SEVERE, "include", "Four emergency admissions this year")
    assert "included in case management" in messages(browser)
    decide(browser, MILD, "exclude", "Managing well with family support", review_day().isoformat())
    assert "excluded from case management" in messages(browser)
    assert "No one is waiting for triage" in browser.find_element(By.ID, "worklist").text
    mark_page(browser)
    browser.find_element(By.ID, f"sign-off-{NORTH}").click()
    WebDriverWait(browser, 5).until(expected_conditions.alert_is_present())
    browser.switch_to.alert.accept()  # "Sign off ...? Its risk assessments become final."
    wait_for_new_page(browser)
    assert "Signed off the" in messages(browser)
    assert f"Signed by {GP_NORTH.display_name}" in browser.find_element(By.ID, "main").text


def test_case_manager_enrols_and_agrees_plans(browser: Browser, live_pages: str) -> None:
    sign_in(browser, live_pages, CM_NORTH.username)
    assert browser.current_url.endswith("/app/caseload")
    browser.get(f"{live_pages}/app/patient/{SEVERE}")
    assert "Top contributing factors" in browser.find_element(By.ID, "main").text
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/enrol'] button[type=submit]"))
    assert "Enrolled in case management." in messages(browser)
    browser.find_element(By.ID, "care_description").send_keys("Weekly phone call; medication review with the GP")
    browser.find_element(By.ID, "care_baseline").send_keys("Walks to the shop twice a week")
    review = browser.find_element(By.ID, "care_review")
    browser.execute_script("arguments[0].value = arguments[1]", review, review_day().isoformat())
    browser.find_element(By.ID, "emergency_description").send_keys("Call the community matron before 999")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/plan'] button[type=submit]"))
    assert "Plans agreed and saved." in messages(browser)
    plans = browser.find_element(By.ID, "plans").find_element(By.XPATH, "following-sibling::div[@class='cards']").text
    assert "Weekly phone call" in plans and "Call the community matron before 999" in plans
    browser.get(f"{live_pages}/app/caseload")
    assert SEVERE in browser.find_element(By.ID, "main").get_attribute("innerHTML")


def test_another_practices_gp_cannot_see_the_person(browser: Browser, live_pages: str) -> None:
    sign_in(browser, live_pages, GP_SOUTH.username)
    assert browser.current_url.endswith(f"/app/triage/{SOUTH}")
    main = browser.find_element(By.ID, "main").get_attribute("innerHTML")
    assert f"row-{WELL}" in main and SEVERE not in main
    for path in (f"/app/patient/{SEVERE}", f"/app/triage/{NORTH}", "/app/triage/north-1"):
        browser.get(f"{live_pages}{path}")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Not Found", path
        assert "Walks to the shop" not in browser.page_source


def test_signing_out_ends_the_session(browser: Browser, live_pages: str) -> None:
    sign_in(browser, live_pages, GP_SOUTH.username)
    submit(browser, browser.find_element(By.CSS_SELECTOR, ".who button"))
    assert "You have signed out." in messages(browser)
    browser.get(f"{live_pages}/app/programme")
    assert "/app/login" in browser.current_url
