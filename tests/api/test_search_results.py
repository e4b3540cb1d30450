"""The shape of search results: paging links, _sort, _include/_revinclude, _summary, _elements, _total."""

from __future__ import annotations

from typing import Any

from apiutil import created, ids, nhs_number, search, send
from fhirdata import condition, observation, patient
from flask import Flask
from flask.testing import FlaskClient

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def link(bundle: dict[str, Any], relation: str) -> str | None:
    urls = [item["url"] for item in bundle.get("link", []) if item["relation"] == relation]
    assert len(urls) <= 1
    return urls[0] if urls else None


def by_mode(bundle: dict[str, Any], mode: str) -> list[tuple[str, str]]:
    return [
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


def make_patients(client: FlaskClient, count: int, family: str = "Page") -> list[dict[str, Any]]:
    # Birth dates repeat every five patients so sorts need their tie-breaker to page stably.
    return [
        created(client, patient(nhs_number(), family=family, given=f"G{i:02d}", birth=f"19{50 + i % 5}-01-01"))
        for i in range(count)
    ]


# -- paging ----------------------------------------------------------------------------------------------


def walk(client: FlaskClient, url: str) -> list[dict[str, Any]]:
    pages = [search(client, url)]
    while (following := link(pages[-1], "next")) is not None:
        pages.append(search(client, following))
        assert len(pages) < 50, "paging does not end"
    return pages


def test_next_links_walk_every_result_exactly_once(client: FlaskClient) -> None:
    made = {str(p["id"]) for p in make_patients(client, 25)}
    created(client, patient(nhs_number(), family="Other"))
    for sort in ("", "&_sort=birthdate", "&_sort=-birthdate,given", "&_sort=-_lastUpdated", "&_sort=-_id"):
        pages = walk(client, f"/Patient?family=page&_count=10{sort}")
        assert [len(ids(p)) for p in pages] == [10, 10, 5], sort
        seen = [i for p in pages for i in ids(p)]
        assert len(seen) == len(set(seen)) == 25, sort
        assert set(seen) == made, sort
        assert all(p["total"] == 25 for p in pages), sort
        assert link(pages[-1], "next") is None


def test_pages_follow_the_sort_order(client: FlaskClient) -> None:
    make_patients(client, 25)
    pages = walk(client, "/Patient?_count=10&_sort=-birthdate,given")
    people = [e["resource"] for p in pages for e in p["entry"]]
    keys = [(p["birthDate"], p["name"][0]["given"][0]) for p in people]
    assert keys == sorted(keys, key=lambda k: (-int(k[0][:4]), k[1]))


def test_previous_links_walk_back_through_the_same_pages(client: FlaskClient) -> None:
    make_patients(client, 25)
    pages = walk(client, "/Patient?family=page&_count=10&_sort=given")
    assert link(pages[0], "previous") is None
    back = [pages[-1]]
    while (previous := link(back[-1], "previous")) is not None:
        back.append(search(client, previous))
        assert len(back) < 10
    assert [ids(p) for p in reversed(back)] == [ids(p) for p in pages]
    first_link = link(pages[-1], "first")
    assert first_link is not None and ids(search(client, first_link)) == ids(pages[0])


def test_links_keep_the_criteria_and_self_repeats_the_page(client: FlaskClient) -> None:
    make_patients(client, 12)
    page = search(client, "/Patient?family=page&_count=5&_sort=given")
    next_url = link(page, "next")
    self_url = link(page, "self")
    assert next_url is not None and self_url is not None
    for url in (next_url, self_url):
        assert url.startswith("http://localhost/Patient?")
        assert "family=page" in url and "_sort=given" in url and "_count=5" in url
    assert ids(search(client, self_url)) == ids(page)


def test_count_zero_gives_the_total_only(client: FlaskClient) -> None:
    make_patients(client, 3)
    bundle = search(client, "/Patient?_count=0")
    assert bundle["total"] == 3
    assert "entry" not in bundle
    assert link(bundle, "next") is None


def test_default_page_size(client: FlaskClient) -> None:
    make_patients(client, 22)
    bundle = search(client, "/Patient")
    assert len(ids(bundle)) == 20
    assert link(bundle, "next") is not None


def test_offset_past_the_end(client: FlaskClient) -> None:
    make_patients(client, 3)
    bundle = search(client, "/Patient?_count=2&_offset=10")
    assert ids(bundle) == [] and bundle["total"] == 3
    assert link(bundle, "next") is None
    previous = link(bundle, "previous")
    assert previous is not None and "_offset=8" in previous


def test_count_is_capped_at_the_maximum(client: FlaskClient, app: Flask) -> None:
    make_patients(client, 2)
    limit = app.extensions["closer.settings"].max_page_size
    bundle = search(client, f"/Patient?_count={limit + 1}")
    self_url = link(bundle, "self")
    assert self_url is not None and f"_count={limit}&" in self_url
    assert len(ids(bundle)) == 2


def test_exact_last_page_has_no_next(client: FlaskClient) -> None:
    make_patients(client, 10)
    pages = walk(client, "/Patient?_count=5")
    assert [len(ids(p)) for p in pages] == [5, 5]


# -- _sort -----------------------------------------------------------------------------------------------


def test_sort_by_birthdate_family_id_and_last_updated(client: FlaskClient) -> None:
    rows = [("Cole", "1960-05-05"), ("Adams", "1940-01-01"), ("Baker", "1950"), ("Adams", "1970-12-31")]
    made = [created(client, patient(nhs_number(), family=f, birth=b)) for f, b in rows]
    pid = [str(p["id"]) for p in made]

    def order(query: str) -> list[str]:
        return ids(search(client, f"/Patient?{query}"))

    assert order("_sort=birthdate") == [pid[1], pid[2], pid[0], pid[3]]
    assert order("_sort=-birthdate") == [pid[3], pid[0], pid[2], pid[1]]
    assert order("_sort=family,birthdate") == [pid[1], pid[3], pid[2], pid[0]]
    assert order("_sort=family,-birthdate") == [pid[3], pid[1], pid[2], pid[0]]
    assert order("_sort=-family,birthdate") == [pid[0], pid[2], pid[1], pid[3]]
    assert order("_sort=_lastUpdated") == pid
    assert order("_sort=-_lastUpdated") == pid[::-1]
    assert order("_sort=_id") == sorted(pid)
    assert order("_sort=-_id") == sorted(pid, reverse=True)
    assert sorted(order("")) == sorted(pid)
    assert order("") == order("")  # whatever the default order, it is stable


def test_sort_is_case_and_accent_insensitive(client: FlaskClient) -> None:
    names = ["émile", "Zed", "adam", "Bob"]
    pid = {n: str(created(client, patient(nhs_number(), family=n))["id"]) for n in names}
    got = ids(search(client, "/Patient?_sort=family"))
    assert got == [pid["adam"], pid["Bob"], pid["émile"], pid["Zed"]]


def test_sort_on_a_repeating_element_uses_the_lowest_or_highest(client: FlaskClient) -> None:
    two_names = patient(nhs_number())
    two_names["name"] = [{"family": "Middle"}, {"family": "Aardvark"}, {"family": "Zulu"}]
    many = str(created(client, two_names)["id"])
    other = str(created(client, patient(nhs_number(), family="Lamb"))["id"])
    assert ids(search(client, "/Patient?_sort=family")) == [many, other]
    assert ids(search(client, "/Patient?_sort=-family")) == [many, other]


def test_resources_without_the_sort_value_come_last(client: FlaskClient) -> None:
    early = str(created(client, patient(nhs_number(), birth="1940"))["id"])
    late = str(created(client, patient(nhs_number(), birth="1990"))["id"])
    unknown = {k: v for k, v in patient(nhs_number()).items() if k != "birthDate"}
    missing = str(created(client, unknown)["id"])
    assert ids(search(client, "/Patient?_sort=birthdate")) == [early, late, missing]
    assert ids(search(client, "/Patient?_sort=-birthdate")) == [late, early, missing]


# -- _include and _revinclude ----------------------------------------------------------------------------


class Records:
    def __init__(self, client: FlaskClient) -> None:
        self.ann = str(created(client, patient(nhs_number(), family="Ann"))["id"])
        self.bob = str(created(client, patient(nhs_number(), family="Bob"))["id"])
        self.ann_c1 = str(created(client, condition(f"Patient/{self.ann}"))["id"])
        self.ann_c2 = str(created(client, condition(f"Patient/{self.ann}", code="195967001"))["id"])
        self.bob_c = str(created(client, condition(f"Patient/{self.bob}"))["id"])
        self.group_c = str(created(client, condition("Group/g1"))["id"])
        self.ann_obs = str(created(client, observation(f"Patient/{self.ann}", 70))["id"])


def test_include_referenced_patients_once(client: FlaskClient) -> None:
    r = Records(client)
    for param in ("Condition:patient", "Condition:subject", "Condition:subject:Patient", "*:patient", "*"):
        bundle = search(client, f"/Condition?_include={param}")
        assert sorted(by_mode(bundle, "match")) == sorted(
            ("Condition", i) for i in (r.ann_c1, r.ann_c2, r.bob_c, r.group_c)
        ), param
        assert sorted(by_mode(bundle, "include")) == sorted([("Patient", r.ann), ("Patient", r.bob)]), param
        assert bundle["total"] == 4, param


def test_include_follows_only_the_page(client: FlaskClient) -> None:
    r = Records(client)
    bundle = search(client, f"/Condition?_id={r.bob_c}&_include=Condition:patient")
    assert by_mode(bundle, "match") == [("Condition", r.bob_c)]
    assert by_mode(bundle, "include") == [("Patient", r.bob)]
    assert bundle["total"] == 1


def test_include_with_another_target_type_or_source_type(client: FlaskClient) -> None:
    r = Records(client)
    assert by_mode(search(client, "/Condition?_include=Condition:subject:Group"), "include") == []
    assert by_mode(search(client, "/Condition?_include=Observation:patient"), "include") == []
    assert by_mode(search(client, f"/Condition?_id={r.ann_c1}"), "include") == []


def test_include_entries_have_full_urls(client: FlaskClient) -> None:
    r = Records(client)
    bundle = search(client, f"/Condition?_id={r.bob_c}&_include=Condition:patient")
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert urls == {f"http://localhost/Condition/{r.bob_c}", f"http://localhost/Patient/{r.bob}"}


def test_revinclude(client: FlaskClient) -> None:
    r = Records(client)
    cases = {
        "Condition:subject": {("Condition", r.ann_c1), ("Condition", r.ann_c2)},
        "Condition:patient": {("Condition", r.ann_c1), ("Condition", r.ann_c2)},
        "Observation:patient": {("Observation", r.ann_obs)},
        "*:patient": {("Condition", r.ann_c1), ("Condition", r.ann_c2), ("Observation", r.ann_obs)},
        "*:subject": {("Condition", r.ann_c1), ("Condition", r.ann_c2), ("Observation", r.ann_obs)},
    }
    for param, expected in cases.items():
        bundle = search(client, f"/Patient?_id={r.ann}&_revinclude={param}")
        assert by_mode(bundle, "match") == [("Patient", r.ann)], param
        assert set(by_mode(bundle, "include")) == expected, param
        assert bundle["total"] == 1


def test_include_and_revinclude_together(client: FlaskClient) -> None:
    r = Records(client)
    bundle = search(client, f"/Patient?_id={r.bob}&_revinclude=Condition:subject&_revinclude=Observation:subject")
    assert set(by_mode(bundle, "include")) == {("Condition", r.bob_c)}
    both = search(client, f"/Condition?_id={r.ann_c1}&_include=Condition:patient&_revinclude=Condition:subject")
    assert set(by_mode(both, "include")) == {("Patient", r.ann)}


def test_bad_include_is_400(client: FlaskClient) -> None:
    assert send(client, "GET", "/Condition?_include=Condition:code").status_code == 400
    assert send(client, "GET", "/Condition?_include=Condition").status_code == 400


# -- _summary, _elements, _total -------------------------------------------------------------------------


def rich_patient(client: FlaskClient) -> dict[str, Any]:
    resource = patient(
        nhs_number(),
        text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Ann Smith</div>'},
        maritalStatus={"text": "Married"},
        communication=[{"language": {"text": "Welsh"}}],
        active=True,
    )
    return created(client, resource)


def test_summary_count(client: FlaskClient) -> None:
    make_patients(client, 3)
    bundle = search(client, "/Patient?_summary=count")
    assert bundle["total"] == 3
    assert "entry" not in bundle
    assert search(client, "/Patient?_summary=count&_total=none")["total"] == 3


def test_summary_true_keeps_summary_elements_and_tags_the_subset(client: FlaskClient) -> None:
    rich_patient(client)
    (entry,) = search(client, "/Patient?_summary=true")["entry"]
    resource = entry["resource"]
    assert {"resourceType", "id", "meta", "identifier", "name", "gender", "birthDate", "active"} <= set(resource)
    assert not {"text", "maritalStatus", "communication"} & set(resource)
    assert SUBSETTED in resource["meta"]["tag"]
    assert resource["meta"]["versionId"] == "1"


def test_summary_text_and_data(client: FlaskClient) -> None:
    rich_patient(client)
    text = search(client, "/Patient?_summary=text")["entry"][0]["resource"]
    assert "text" in text and "maritalStatus" not in text and SUBSETTED in text["meta"]["tag"]
    data = search(client, "/Patient?_summary=data")["entry"][0]["resource"]
    assert "text" not in data and "maritalStatus" in data and SUBSETTED in data["meta"]["tag"]


def test_summary_false_is_the_whole_resource(client: FlaskClient) -> None:
    stored = rich_patient(client)
    resource = search(client, "/Patient?_summary=false")["entry"][0]["resource"]
    assert resource == stored
    assert "tag" not in resource["meta"]


def test_elements(client: FlaskClient) -> None:
    stored = rich_patient(client)
    resource = search(client, "/Patient?_elements=name,birthDate")["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "name", "birthDate"}
    assert resource["name"] == stored["name"]
    assert SUBSETTED in resource["meta"]["tag"]


def test_subsets_keep_mandatory_elements(client: FlaskClient) -> None:
    subject = str(created(client, patient(nhs_number()))["id"])
    created(client, observation(f"Patient/{subject}", 70))
    elements = search(client, "/Observation?_elements=valueQuantity")["entry"][0]["resource"]
    assert set(elements) == {"resourceType", "id", "meta", "status", "code", "valueQuantity"}
    text = search(client, "/Observation?_summary=text")["entry"][0]["resource"]
    assert set(text) == {"resourceType", "id", "meta", "status", "code"}


def test_subsetting_does_not_change_the_stored_resource(client: FlaskClient) -> None:
    stored = rich_patient(client)
    search(client, "/Patient?_elements=name")
    search(client, "/Patient?_summary=true")
    assert send(client, "GET", f"/Patient/{stored['id']}").get_json() == stored


def test_total(client: FlaskClient) -> None:
    make_patients(client, 3)
    assert "total" not in search(client, "/Patient?_total=none")
    assert len(ids(search(client, "/Patient?_total=none"))) == 3
    assert search(client, "/Patient?_total=accurate&_count=1")["total"] == 3
    assert search(client, "/Patient?_total=estimate&_count=1")["total"] == 3
    assert search(client, "/Patient?family=nobody")["total"] == 0
