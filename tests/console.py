"""Console test helpers: a browser-like client (its own cookies) signed in through a scan-to-login
ticket that the staff member's phone confirms through the API, as in production."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.factories import Person

_CSRF = re.compile(r'"X-CSRF-Token": "([0-9a-f]*)"')
_TICKET = re.compile(r'data-ticket="([A-Za-z0-9_-]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def ticket_of(html: str) -> str:
    found = _TICKET.search(html)
    assert found is not None, "no ticket in the page"
    return found.group(1)


class Browser:
    """One browser: its own cookie jar; `post` sends the page's CSRF token as htmx does."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client
        self.csrf = ""

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        response = await self.http.get(path, **kw)
        if "text/html" in response.headers.get("content-type", "") and '"X-CSRF-Token"' in response.text:
            self.csrf = csrf_of(response.text)
        return response

    async def post(self, path: str, *, csrf: bool = True, htmx: bool = True, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        if htmx:
            headers["HX-Request"] = "true"
        return await self.http.post(path, headers=headers, **kw)

    async def new_ticket(self) -> str:
        page = await self.get("/console/login")
        assert page.status_code == 200, page.text
        response = await self.post("/console/login-tickets")
        assert response.status_code == 201, response.text
        return ticket_of(response.text)

    async def sign_in(self, api: httpx.AsyncClient, person: Person) -> None:
        """Scan the login page's code with `person`'s phone, confirm, and let the page poll."""
        ticket = await self.new_ticket()
        for step in ("scan", "confirm"):
            answer = await api.post(f"/api/v1/console-logins/{ticket}/{step}", headers=person.headers)
            assert answer.status_code == 200, answer.text
        polled = await self.http.get(f"/console/login-tickets/{ticket}", headers={"HX-Request": "true"})
        assert polled.status_code == 204 and polled.headers.get("HX-Redirect") == "/console", polled.text
        assert self.http.cookies.get("linli_console"), "no session cookie"
        page = await self.get("/console/communities")  # any page of the console carries the token
        assert page.status_code == 200 and self.csrf, page.text
