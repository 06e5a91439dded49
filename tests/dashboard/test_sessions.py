"""Dashboard sign-in, sessions, CSRF and security headers, over HTTP against a real server."""

from __future__ import annotations

import re

import httpx
import pytest
from dashkit import Dash, cli

from caliper_stream.store import open_store
from caliper_stream.store.base import DashboardSession

PAGES = ["/dashboard/", "/dashboard/courses/C-1", "/dashboard/students/u1", "/dashboard/tests/_1_1",
         "/dashboard/deadletters/1"]


def browser(dash: Dash, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=dash.url, timeout=30, headers=headers)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None
    return m.group(1)


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_session(dash: Dash, path: str) -> None:
    with browser(dash) as c:
        r = c.get(path)
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/sign-in"


def test_a_write_key_cannot_sign_in(dash: Dash) -> None:
    with browser(dash) as c:
        r = dash.sign_in(c, dash.keys["write"])
        assert r.status_code == 403
        assert "cannot sign in" in r.text
        assert "cs_session" not in r.headers.get("set-cookie", "")
        assert c.get("/dashboard/").status_code == 303


def test_an_unknown_key_cannot_sign_in(dash: Dash) -> None:
    with browser(dash) as c:
        r = dash.sign_in(c, "not-a-key")
    assert r.status_code == 401
    assert "Unknown or revoked key" in r.text


def test_sign_in_without_the_forms_csrf_token_is_refused(dash: Dash) -> None:
    with browser(dash) as c:
        c.get("/dashboard/sign-in")
        forged = c.post("/dashboard/sign-in", data={"csrf": "guess", "key": dash.keys["read"]})
        assert forged.status_code == 403
        no_cookie = httpx.post(dash.url + "/dashboard/sign-in", data={"csrf": "x", "key": dash.keys["read"]})
        assert no_cookie.status_code == 403
        token = csrf_of(c.get("/dashboard/sign-in").text)
        other_site = c.post("/dashboard/sign-in", data={"csrf": token, "key": dash.keys["read"]},
                            headers={"Origin": "https://evil.example"})
        assert other_site.status_code == 403


def test_session_cookie_flags_then_sign_out_ends_the_session(dash: Dash) -> None:
    with browser(dash) as c:
        r = dash.sign_in(c, dash.keys["read"])
        assert r.status_code == 303
        assert r.headers["location"] == "/dashboard/"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Secure" not in cookie
        page = c.get("/dashboard/")
        assert page.status_code == 200
        assert "read-key" in page.text
        assert c.get("/api/reports").status_code == 200  # the API takes the session too
        token = csrf_of(page.text)
        assert c.post("/dashboard/sign-out", data={"csrf": "forged"}, headers={"Origin": dash.url}).status_code == 403
        assert c.get("/dashboard/").status_code == 200
        out = c.post("/dashboard/sign-out", data={"csrf": token}, headers={"Origin": dash.url})
        assert out.status_code == 303
        stolen = httpx.Client(base_url=dash.url, cookies={"cs_session": r.cookies["cs_session"]})
        with stolen:
            assert stolen.get("/dashboard/").status_code == 303
            assert stolen.get("/api/reports").status_code == 401


def test_cookie_is_secure_behind_tls(dash: Dash) -> None:
    proxy = {"X-Forwarded-Proto": "https"}  # what a TLS-terminating proxy in front adds
    form = httpx.get(dash.url + "/dashboard/sign-in", headers=proxy)
    assert "Secure" in form.headers["set-cookie"]
    token = csrf_of(form.text)
    r = httpx.post(dash.url + "/dashboard/sign-in", data={"csrf": token, "key": dash.keys["read"]},
                   headers={**proxy, "Origin": dash.url.replace("http:", "https:"), "Cookie": f"cs_csrf={token}"})
    assert r.status_code == 303
    assert "Secure" in r.headers["set-cookie"]


def test_revoking_a_key_ends_its_sessions(dash: Dash, tmp_path: object) -> None:
    key = cli("keys", "add", "short-lived", "--role", "read", "--db", dash.server.db).stdout.strip()
    with browser(dash) as c:
        assert dash.sign_in(c, key).status_code == 303
        assert c.get("/dashboard/").status_code == 200
        cli("keys", "revoke", "short-lived", "--db", dash.server.db)
        assert c.get("/dashboard/").status_code == 303
        assert c.get("/api/reports").status_code == 401


@pytest.mark.parametrize("path", ["/dashboard/sign-in", "/api/reports", "/dashboard/static/app.js"])
def test_security_headers_on_every_page(dash: Dash, path: str) -> None:
    r = dash.get(path)
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp


def test_pages_have_no_inline_script(dash: Dash) -> None:
    with browser(dash) as c:
        dash.sign_in(c, dash.keys["read"])
        for path in PAGES:
            html = c.get(path).text
            assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], path
            assert " on" not in re.sub(r"<script[^>]*>", "", html).lower().split("<body")[1].split(">")[0]


def test_chart_library_is_served_from_the_python_package(dash: Dash) -> None:
    r = dash.get("/dashboard/static/plotly.min.js", key=None)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert b"plotly" in r.content[:2000].lower()


def test_sessions_on_both_backends(store_url: str) -> None:
    store = open_store(store_url)
    try:
        store.add_key("viewer", "h-view", role="read", identity=True)
        [key] = store.active_keys()
        assert (key.role, key.identity) == ("read", True)
        store.open_session(DashboardSession("t1", "h-view", "c1", "2026-01-01T00:00:00.000Z", "2026-01-01T08:00:00.000Z"))
        assert store.find_session("t1", "2026-01-01T07:59:59.000Z") is not None
        assert store.find_session("t1", "2026-01-01T08:00:00.000Z") is None  # expired
        store.open_session(DashboardSession("t2", "h-view", "c2", "2026-01-02T00:00:00.000Z", "2026-01-02T08:00:00.000Z"))
        assert store.query("SELECT count(*) FROM dashboard_sessions")[0][0] == 1  # the expired one is gone
        store.end_session("t2")
        assert store.find_session("t2", "2026-01-02T01:00:00.000Z") is None
        with pytest.raises(Exception, match="role"):
            store.add_key("bad", "h-bad", role="superuser")
        store.add_key("learn", "h-learn")
        assert {k.name: k.role for k in store.list_keys()} == {"viewer": "read", "learn": "write"}
    finally:
        store.close()
