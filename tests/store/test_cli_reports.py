"""``report NAME``: options from each report's signature, rows shaped to their grouping."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import typer
from test_analytics import term_rows
from typer.testing import CliRunner

from caliper_stream.analyse import REPORTS
from caliper_stream.cli import reports
from caliper_stream.store import open_store

app = typer.Typer()
reports.register(app)
app.command("noop")(lambda: None)  # a second command keeps `report` a subcommand
runner = CliRunner()


@pytest.fixture
def db(store_url: str) -> str:
    s = open_store(store_url)
    try:
        s.write(list(term_rows()))
    finally:
        s.close()
    return store_url


def jsonl(*args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["report", *args, "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_activity_by_user_has_no_always_one_users_column_and_labels_no_course(db: str) -> None:
    rows = jsonl("activity", "--by", "user", "--db", db)
    assert rows
    assert "users" not in rows[0]
    assert {"events", "sessions", "active_days", "first_seen", "last_seen"} <= set(rows[0])
    courses = {r["course_number"] for r in jsonl("activity", "--db", db)}
    assert "(no course)" in courses
    assert "" not in courses
    assert None not in courses
    no_course = jsonl("activity", "--db", db, "--course", "(no course)")
    assert [r["course_number"] for r in no_course] == ["(no course)"]


def test_days_follow_the_site_time_zone_set_with_tz(db: str) -> None:
    utc = {(r["course_number"], r["day"]): r["events"] for r in jsonl("activity", "--by", "day", "--db", db)}
    result = runner.invoke(app, ["report", "activity", "--by", "day", "--db", db, "--tz", "Asia/Tokyo", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "site time zone is now Asia/Tokyo" in result.stderr
    tokyo = {(r["course_number"], r["day"]): int(r["events"]) for r in csv.DictReader(io.StringIO(result.stdout))}
    assert tokyo != utc
    # the term carries the simulator's duplicate deliveries: count each stored event once
    distinct: Counter[tuple[str, str]] = Counter()
    seen = set()
    for row in term_rows():
        if row.event_key in seen:
            continue
        seen.add(row.event_key)
        at = datetime.fromisoformat(str(row.keydata.event_time).replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Tokyo"))
        distinct[(row.keydata.course_number or "(no course)", at.date().isoformat())] += 1
    assert tokyo == dict(distinct)
    # the zone is kept: the next report counts in it without --tz
    assert {(r["course_number"], r["day"]): r["events"] for r in jsonl("activity", "--by", "day", "--db", db)} == tokyo


@pytest.mark.parametrize("name", sorted(set(REPORTS) - {"gradebook"}))
def test_every_report_runs_from_the_cli(db: str, name: str) -> None:
    assert jsonl(name, "--db", db), f"report {name} gave no rows on a simulated term"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "choose one of"),
        (["sources", "--by", "day"], "report sources does not take --by"),
        (["activity", "--by", "week"], "by must be one of"),
        (["activity", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["funnel", "--since", "yesterday"], "not an ISO 8601 time or date"),
    ],
)
def test_bad_options_get_a_clear_error(sqlite_url: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["report", *args, "--db", sqlite_url])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_gradebook_exports_stream_the_library_rows(db: str) -> None:
    """``report gradebook --format csv|jsonl`` writes the kept cells as they are read: the
    library's rows, in its order, with its columns."""
    with open_store(db) as store:
        expected = json.loads(json.dumps(REPORTS["gradebook"](store)))
        course = expected[0]["course_number"]
    assert expected
    assert jsonl("gradebook", "--db", db) == expected
    assert jsonl("gradebook", "--db", db, "--course", course) == [r for r in expected if r["course_number"] == course]
    result = runner.invoke(app, ["report", "gradebook", "--db", db, "--format", "csv"])
    assert result.exit_code == 0, result.output
    parsed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(parsed[0]) == list(expected[0])
    assert [(r["user_uuid"], r["gradable_item_pk"]) for r in parsed] == [(r["user_uuid"], r["gradable_item_pk"]) for r in expected]
