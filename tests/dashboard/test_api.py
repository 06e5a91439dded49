"""The read API through a real server: roles, every report, filters, pages, downloads, identity."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from dashkit import Dash
from hypothesis import given
from hypothesis import strategies as st

from caliper_stream.analyse import REPORTS
from caliper_stream.analyse.gradebook import GRADEBOOK_COLUMNS
from caliper_stream.analyse.summary import user_uuids
from caliper_stream.server.api import (
    BadParameter,
    ReadAPI,
    canonical_time,
    identity_column,
    report_params,
)
from caliper_stream.server.auth import KeyRing
from caliper_stream.store.base import ApiKey

API_ROUTES = ["/api/reports", "/api/reports/gradebook", "/api/events", "/api/sources", "/api/daily",
              "/api/deadletters", "/api/gradebook/history?course=c&user=u&item=i"]


def as_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return json.loads(json.dumps(rows))  # type: ignore[no-any-return]


def visible(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not identity_column(k)} for r in as_json(rows)]


@pytest.mark.parametrize("path", API_ROUTES)
def test_no_key_gets_401_and_a_write_key_403_never_data(dash: Dash, path: str) -> None:
    anonymous = dash.get(path, key=None)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert "rows" not in anonymous.json()
    learn = dash.get(path, key="write")
    assert learn.status_code == 403
    assert "rows" not in learn.json()
    assert dash.get(path, key="read").status_code in (200, 400)  # 400: the history's made-up cell is valid input


def test_a_read_or_admin_key_can_never_write(dash: Dash) -> None:
    before = dash.store.query("SELECT count(*) FROM events")[0][0]
    body = json.dumps({"sensor": "s", "sendTime": "2026-01-05T00:00:00.000Z", "dataVersion":
                       "http://purl.imsglobal.org/ctx/caliper/v1p1", "data": []}).encode()
    for role in ("read", "identity", "admin"):
        with dash.client(role) as c:
            r = c.post("/caliper", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 403, r.text
        assert r.json()["type"].endswith(":forbidden")
    assert dash.store.query("SELECT count(*) FROM events")[0][0] == before


def _pinned(name: str) -> dict[str, str]:
    """The same clock for both sides of a comparison, for reports that read it (``now``)."""
    return {"now": "2026-06-01T00:00:00Z"} if "now" in {p.name for p in report_params(REPORTS[name])} else {}


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_every_report_answers_what_the_library_computes(dash: Dash, name: str) -> None:
    expected = visible(REPORTS[name](dash.store, **_pinned(name)))
    got = dash.api(f"/api/reports/{name}", limit=10000, **_pinned(name))
    assert got["total"] == len(expected)
    assert got["rows"] == expected
    assert all(not identity_column(c) for c in got["columns"])


@pytest.mark.parametrize("name", sorted(n for n, fn in REPORTS.items() if "course" in {p.name for p in report_params(fn)}))
def test_every_report_filters_by_course(dash: Dash, name: str) -> None:
    courses = [c for (c,) in dash.store.query("SELECT DISTINCT course_number FROM events WHERE course_number IS NOT NULL")]
    assert len(courses) >= 2
    for course in courses:
        expected = visible(REPORTS[name](dash.store, course=course, **_pinned(name)))
        assert dash.api(f"/api/reports/{name}", course=course, limit=10000, **_pinned(name))["rows"] == expected


def test_pages_of_a_report_add_up_to_the_whole(dash: Dash) -> None:
    whole = dash.api("/api/reports/gradebook", limit=10000)["rows"]
    assert len(whole) > 10
    pages: list[dict[str, Any]] = []
    page = dash.api("/api/reports/gradebook", limit=7)
    while True:
        pages += page["rows"]
        if page["next"] is None:
            break
        page = dash.api(page["next"])
    assert pages == whole


@pytest.mark.parametrize("name", ["gradebook", "grade-matrix", "attempts"])
def test_pages_read_from_the_kept_cells_are_the_library_answer(dash: Dash, name: str) -> None:
    whole = visible(REPORTS[name](dash.store))
    course = whole[0]["course_number"]
    for params, expected in (({}, whole), ({"course": course}, [r for r in whole if r["course_number"] == course])):
        pages: list[dict[str, Any]] = []
        page = dash.api(f"/api/reports/{name}", limit=5, **params)
        assert page["total"] == len(expected)
        while True:
            assert len(page["rows"]) <= 5
            pages += page["rows"]
            if page["next"] is None:
                break
            page = dash.api(page["next"])
        assert pages == expected
    beyond = dash.api(f"/api/reports/{name}", limit=5, offset=len(whole))
    assert beyond["rows"] == []
    assert beyond["total"] == len(whole)
    assert beyond["next"] is None


def test_events_pages_by_cursor_cover_every_event_once(dash: Dash) -> None:
    total = dash.store.query("SELECT count(*) FROM events")[0][0]
    ids: list[int] = []
    page = dash.api("/api/events", limit=500)
    while True:
        ids += [r["id"] for r in page["rows"]]
        if page["next"] is None:
            break
        page = dash.api(page["next"])
    assert len(ids) == total == len(set(ids))
    assert ids == sorted(ids)


def test_events_filters_match_sql(dash: Dash) -> None:
    course, day = dash.store.query("SELECT course_number, substr(min(event_time), 1, 10) FROM event_view"
                                   " WHERE type = 'GradeEvent' GROUP BY course_number ORDER BY 1 LIMIT 1")[0]
    since = (datetime.fromisoformat(day) + timedelta(days=2)).date().isoformat()
    want = dash.store.query("SELECT id FROM event_view WHERE course_number = ? AND type = 'GradeEvent' AND event_time >= ?"
                            " ORDER BY id", (course, since))
    got = dash.api("/api/events", course=course, type="GradeEvent", since=since, limit=10000)
    assert [r["id"] for r in got["rows"]] == [i for (i,) in want]
    assert want


def test_csv_and_jsonl_downloads_hold_the_same_rows(dash: Dash) -> None:
    rows = dash.api("/api/reports/items", limit=10000)["rows"]
    text = dash.get("/api/reports/items", format="csv")
    assert text.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(text.text)))
    assert len(parsed) == len(rows) > 0
    assert [r["question_pk"] for r in parsed] == [r["question_pk"] for r in rows]
    lines = dash.get("/api/events", format="jsonl", type="GradeEvent").text.splitlines()
    assert len(lines) == dash.store.query("SELECT count(*) FROM events WHERE type = 'GradeEvent'")[0][0]


@pytest.mark.parametrize(("path", "params"), [
    ("/api/reports/gradebook", {"colour": "red"}),
    ("/api/reports/activity", {"by": "planet"}),
    ("/api/reports/gradebook", {"since": "last tuesday"}),
    ("/api/reports/gradebook", {"limit": "0"}),
    ("/api/reports/gradebook", {"format": "xml"}),
    ("/api/events", {"cursor": "abc"}),
    ("/api/events", {"until": "2026-13-40"}),
    ("/api/reports/activity", {"tz": "Mars/Olympus"}),
    ("/api/sources", {"threshold_hours": "soon"}),
    # beyond SQL's 64-bit integers: a bad parameter, never a database error
    ("/api/reports/gradebook", {"offset": str(2**64)}),
    ("/api/events", {"offset": "-1"}),
    ("/api/events", {"cursor": str(2**63)}),
    ("/api/deadletters", {"cursor": str(2**70)}),
    (f"/api/deadletters/{2**64}", {}),
])
def test_bad_parameters_get_a_400_problem(dash: Dash, path: str, params: dict[str, str]) -> None:
    r = dash.get(path, **params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"]


@pytest.mark.parametrize(("path", "params"), [
    ("/api/reports/gradebook", {"course": "BIO\x00"}),
    ("/api/events", {"user": "\x00"}),
    ("/api/gradebook/history", {"course": "a", "user": "b", "item": "\x00"}),
    ("/api/deadletters/1\x00", {}),
])
def test_a_nul_in_a_parameter_is_a_400_on_postgresql_too(pg_dash: Dash, path: str, params: dict[str, str]) -> None:
    r = pg_dash.get(path.replace("\x00", "%00"), **params)
    assert r.status_code == 400, r.text
    assert "NUL" in r.json()["detail"]


def test_the_largest_integers_sql_takes_are_answered_on_postgresql(pg_dash: Dash) -> None:
    """An offset or cursor of 2**63 - 1 reads nothing on either database; one more is a 400."""
    largest = str(2**63 - 1)
    assert pg_dash.api("/api/events", cursor=largest)["rows"] == []
    assert pg_dash.api("/api/reports/gradebook", offset=largest, limit=1)["rows"] == []
    assert pg_dash.get(f"/api/deadletters/{largest}").status_code == 404
    assert pg_dash.get("/api/events", cursor=str(2**63)).status_code == 400


def test_unknown_report_is_404(dash: Dash) -> None:
    assert dash.get("/api/reports/horoscope").status_code == 404


def test_identity_columns_only_with_the_identity_right(dash: Dash) -> None:
    user, external = dash.store.query("SELECT user_uuid, user_external_id FROM events WHERE user_external_id IS NOT NULL"
                                      " AND type = 'GradeEvent' LIMIT 1")[0]
    plain = dash.api("/api/events", user=user, limit=50)
    assert "user_external_id" not in plain["columns"]
    assert external not in json.dumps(plain)
    assert dash.api("/api/events", user=external)["rows"] == []  # a student number finds nobody
    assert dash.api("/api/reports/gradebook", user=external)["rows"] == []
    with dash.client("identity") as c:
        full = c.get("/api/events", params={"user": external, "limit": 50}).json()
    assert "user_external_id" in full["columns"]
    assert {r["user_uuid"] for r in full["rows"]} == {user}


def test_sources_dead_letters_and_daily_counts(dash: Dash) -> None:
    sources = dash.api("/api/sources")["rows"]
    assert {s["source"] for s in sources} == {s for (s,) in dash.store.query("SELECT DISTINCT source FROM events")}
    assert sources == dash.api("/api/reports/sources")["rows"]
    assert all(s["silent"] is False for s in dash.api("/api/sources", now=sources[0]["last_event_time"])["rows"])
    assert all(s["silent"] is True for s in dash.api("/api/sources", threshold_hours=0)["rows"])
    daily = dash.api("/api/daily", limit=10000)["rows"]
    assert sum(d["events"] for d in daily) == dash.store.query("SELECT count(*) FROM events")[0][0]
    letters = dash.api("/api/deadletters")["rows"]
    assert len(letters) == 1
    one = dash.api(f"/api/deadletters/{letters[0]['id']}")
    assert one["reasons"]
    assert one["reasons"][0]["message"]


def test_gradebook_history_is_the_cells_grade_events(dash: Dash) -> None:
    cell = dash.api("/api/reports/gradebook", limit=1)["rows"][0]
    history = dash.api("/api/gradebook/history", course=cell["course_number"], user=cell["user_uuid"],
                       item=cell["gradable_item_pk"])["rows"]
    n = dash.store.query("SELECT count(*) FROM events WHERE type IN ('GradeEvent', 'OutcomeEvent')"
                         " AND course_number = ? AND user_uuid = ? AND gradable_item_pk = ?",
                         (cell["course_number"], cell["user_uuid"], cell["gradable_item_pk"]))[0][0]
    assert len(history) == n > 0
    assert [h["event_time"] for h in history] == sorted(h["event_time"] for h in history)


def test_openapi_describes_every_report(dash: Dash) -> None:
    paths = httpx.get(dash.url + "/openapi.json").json()["paths"]
    for name in REPORTS:
        assert f"/api/reports/{name}" in paths
    assert {"/api/events", "/api/sources", "/caliper"} <= set(paths)


def test_personal_reads_are_audited_with_the_key_name(dash: Dash) -> None:
    log = Path(dash.server.log)
    dash.api("/api/reports/gradebook", limit=1)
    lines = []
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):  # the log also holds other processes' messages
            lines.append(json.loads(line))
    audited = [line["audit"] for line in lines
               if isinstance(line, dict) and line.get("path") == "/api/reports/gradebook" and "audit" in line]
    assert audited
    assert audited[-1]["key"] == "read-key"
    assert audited[-1]["what"] == "reports/gradebook"


# --- parameters from signatures (no server needed) ---------------------------------------------


def _report(store: object, course: str | None = None, test: str | None = None, by: Literal["a", "b"] = "a",
            top: int = 5, detail: bool = False) -> list[dict[str, Any]]:
    """A report another module might add."""
    return []


def test_a_new_reports_parameters_come_from_its_signature() -> None:
    params = {p.name: p for p in report_params(_report)}
    assert set(params) == {"course", "test", "by", "top", "detail"}
    from caliper_stream.server.api import convert

    assert convert(params["by"], "b") == "b"
    assert convert(params["top"], "12") == 12
    assert convert(params["detail"], "true") is True
    for name, raw in (("by", "c"), ("top", "many"), ("detail", "perhaps")):
        with pytest.raises(BadParameter):
            convert(params[name], raw)


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.timezones()))
def test_time_filters_compare_like_stored_times(when: datetime) -> None:
    stored = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.astimezone(UTC).microsecond // 1000:03d}Z"
    assert canonical_time(when.isoformat()) == stored


@pytest.mark.postgres
def test_reports_through_a_postgresql_store(pg_dash: Dash) -> None:
    for name in REPORTS:
        assert pg_dash.api(f"/api/reports/{name}", limit=10000)["rows"] == visible(REPORTS[name](pg_dash.store))
    daily = pg_dash.api("/api/daily", limit=10000)["rows"]
    assert sum(d["events"] for d in daily) == pg_dash.store.query("SELECT count(*) FROM events")[0][0]
    assert pg_dash.get("/api/events", key="write").status_code == 403


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_grade_matrix_headings_that_name_a_person_need_the_identity_right(dash: Dash, fmt: str) -> None:
    """Grade Center's export headings (``Student ID``, ``Username``, names) are identity columns."""
    externals = {e for (e,) in dash.store.query("SELECT DISTINCT user_external_id FROM gb_cells WHERE user_external_id IS NOT NULL")}
    assert externals
    plain = dash.get("/api/reports/grade-matrix", format=fmt)
    assert plain.status_code == 200, plain.text
    for heading in ("Student ID", "Username", "Last Name", "First Name"):
        assert heading not in plain.text
    assert not any(e in plain.text for e in externals)
    with dash.client("identity") as c:
        full = c.get("/api/reports/grade-matrix", params={"format": fmt})
    assert "Student ID" in full.text
    assert any(e in full.text for e in externals)


@pytest.mark.parametrize(("heading", "identity"), [
    ("Student ID", True), ("Last Name", True), ("first-name", True), ("Username", True), ("user_external_id", True),
    ("course_name", False), ("item_name", False), ("Quiz 1 [Total Pts: 10 Score] |_12_1", False), ("user_uuid", False),
])
def test_identity_headings_in_any_case_or_spacing(heading: str, identity: bool) -> None:
    assert identity_column(heading) is identity


def _user_events_both_ways(dash: Dash, identity: bool) -> None:
    """Each user's events through `summary.user_uuids` (the index) are those of the scan over
    every id column, whichever of its ids names the user."""
    api = ReadAPI(dash.store, KeyRing(dash.store, 0), {})
    key = ApiKey("k", "h", "2026-01-01", role="read", identity=identity)
    users = dash.store.query("SELECT DISTINCT user_uuid, user_pk, user_external_id FROM events"
                             " WHERE user_uuid IS NOT NULL ORDER BY user_uuid")
    assert len(users) > 5
    resolved = 0
    for uuid, pk, external in users:
        for name in (uuid, pk, external, "nobody-at-all"):
            if name is None:
                continue
            scan_sql, scan_params, _, _ = api.event_query(key, {"user": name})
            uuids = user_uuids(dash.store, name, identity=identity)
            resolved += uuids is not None
            sql, params, _, _ = api.event_query(key, {"user": name}, uuids)
            assert dash.store.query(sql, params) == dash.store.query(scan_sql, scan_params), name
    assert resolved > len(users)


@pytest.mark.parametrize("identity", [False, True])
def test_a_users_events_from_the_index_are_those_of_the_scan(dash: Dash, identity: bool) -> None:
    _user_events_both_ways(dash, identity)


def test_a_users_events_from_the_index_on_postgresql(pg_dash: Dash) -> None:
    _user_events_both_ways(pg_dash, True)


@pytest.mark.parametrize("key", ["read", "identity"])
def test_gradebook_downloads_streamed_from_the_kept_cells_are_the_library_answer(dash: Dash, key: str) -> None:
    """The streamed CSV and JSON Lines downloads hold the library's rows, in order, with the
    columns this key may see (streamed rows are not looked at before their header is sent)."""
    whole = [json.loads(json.dumps(r)) for r in REPORTS["gradebook"](dash.store)]
    course = whole[0]["course_number"]
    if key == "read":
        whole = [{k: v for k, v in r.items() if not identity_column(k)} for r in whole]
    for params, expected in (({}, whole), ({"course": course}, [r for r in whole if r["course_number"] == course])):
        with dash.client(key) as c:
            lines = c.get("/api/reports/gradebook", params={**params, "format": "jsonl"}).text.splitlines()
            text = c.get("/api/reports/gradebook", params={**params, "format": "csv"}).text
        assert [json.loads(line) for line in lines] == expected
        parsed = list(csv.DictReader(io.StringIO(text)))
        assert list(parsed[0]) == list(expected[0])
        assert [(r["user_uuid"], r["gradable_item_pk"], r["status"]) for r in parsed] == [
            (r["user_uuid"], r["gradable_item_pk"], r["status"] or "") for r in expected]


def test_gradebook_columns_are_those_of_its_rows(dash: Dash) -> None:
    assert tuple(REPORTS["gradebook"](dash.store)[0]) == GRADEBOOK_COLUMNS
