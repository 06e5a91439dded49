"""Every route of the read API, every parameter, odd values: a 4xx problem or data, never a 5xx.

The routes and their parameters come from the server's own OpenAPI description, so a route added
later is covered without touching this file. Both databases: PostgreSQL refuses values SQLite
takes (a NUL in text, integers beyond 64 bits).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from dashkit import Dash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ODD = [
    "", "0", "-1", "-0", " 1", "0x10", str(2**63 - 1), str(2**63), str(2**64), "9" * 400, "1e999", "NaN", "%", "\x00",
    "é", "\udcff", "' OR 1=1 --", "a" * 5000, "2026-01-01", "2026-13-45T99:00:00Z", "true", "[]", "{}", "..",
    "../../etc/passwd", "*", "?", "_1_1", "BIO-101",
]


def _routes(dash: Dash) -> list[tuple[str, list[str], list[str]]]:
    spec = dash.get("/openapi.json").json()
    found = []
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/") or "get" not in ops:
            continue
        params = ops["get"].get("parameters", [])
        found.append((path, [p["name"] for p in params if p["in"] == "query"], [p["name"] for p in params if p["in"] == "path"]))
    return found


def _check(dash: Dash, route: tuple[str, list[str], list[str]], pick: int, value: str) -> None:
    path, query, in_path = route
    for name in in_path:
        path = path.replace("{" + name + "}", quote(value, safe="", errors="surrogateescape") or "x")
    if query:
        # quoted by hand: "\udcff" stands for a byte that is no UTF-8 (%FF), which httpx would refuse
        path += f"?{query[pick % len(query)]}={quote(value, safe='', errors='surrogateescape')}"
    with dash.client("admin") as client:
        r = client.get(path)
    assert r.status_code < 500, (path[:300], r.text[:300])
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"]


def _fuzz(dash: Dash) -> None:
    routes = _routes(dash)
    assert len(routes) > 10

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(routes), st.integers(0, 20), st.sampled_from(ODD))
    def check(route: tuple[str, list[str], list[str]], pick: int, value: str) -> None:
        _check(dash, route, pick, value)

    check()


def test_odd_parameters_never_get_a_5xx(dash: Dash) -> None:
    _fuzz(dash)


@pytest.mark.postgres
def test_odd_parameters_never_get_a_5xx_on_postgresql(pg_dash: Dash) -> None:
    _fuzz(pg_dash)
