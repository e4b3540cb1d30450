"""Filling in the pages' forms with the Flask test client: the CSRF token a page carries, and signing in."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from pages_data import PASSWORD


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> FlaskClient:
    token = csrf_token(client.get("/app/login").get_data(as_text=True))
    response = client.post("/app/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def form_token(client: FlaskClient, page: str = "/app/programme") -> str:
    """A CSRF token for the signed-in session (any page with a form carries one: the sign-out button)."""
    return csrf_token(client.get(page).get_data(as_text=True))
