"""The simulated term: deterministic, Learn-shaped, realistic enough, and fast to write out."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from typer.testing import CliRunner

from caliper_stream.cli import emit
from caliper_stream.event import decode
from caliper_stream.read import read_bytes, read_path
from caliper_stream.sensor import builders as b
from caliper_stream.simulate import TermConfig, generate
from caliper_stream.simulate.files import write_term

CONFIG = TermConfig(courses=3, students=25, days=15, seed=5)
app = typer.Typer()
emit.register(app)


def encoded(config: TermConfig) -> list[bytes]:
    return [b.encode(p.built.event) for p in generate(config)]


def test_same_seed_same_bytes_other_seed_other_term() -> None:
    small = TermConfig(courses=2, students=10, days=3, seed=1)
    assert encoded(small) == encoded(small)
    assert encoded(small) != encoded(TermConfig(courses=2, students=10, days=3, seed=2))


def test_events_are_in_hand_over_order_and_all_accepted() -> None:
    planned = list(generate(CONFIG))
    assert [p.at for p in planned] == sorted(p.at for p in planned)
    distinct = {}
    for p in planned:
        event = decode(next(read_bytes(b.encode(p.built.event))))
        assert event.rejection is None
        distinct[event.key] = (event.type, event.action)
        if p.built.nightly:
            assert event.type in ("GradeEvent", "bb:CalculatedGradeSnapshotEvent")
    kinds = Counter(distinct.values())
    expected = {
        ("SessionEvent", "LoggedIn"), ("SessionEvent", "LoggedOut"), ("SessionEvent", "TimedOut"),
        ("ViewEvent", "Viewed"), ("bb:LTIEvent", "LoggedIn"), ("bb:LTIEvent", "LoggedOut"),
        ("AssignableEvent", "Started"), ("AssignableEvent", "Submitted"),
        ("AssessmentEvent", "Started"), ("AssessmentEvent", "Submitted"),
        ("AssessmentItemEvent", "Started"), ("AssessmentItemEvent", "Completed"),
        ("GradeEvent", "Graded"), ("bb:CalculatedGradeSnapshotEvent", "Graded"),
        ("bb:ForumEvent", "Created"), ("bb:ContentEvent", "Created"), ("bb:CourseGroupEvent", "Created"),
    }
    assert expected <= set(kinds), expected - set(kinds)
    assert kinds[("AssessmentItemEvent", "Started")] == kinds[("AssessmentItemEvent", "Completed")]
    assert any(p.late for p in planned) or any(p.duplicate for p in planned)


def test_grading_use_cases_and_group_work_appear() -> None:
    actions = Counter()
    group_submissions = 0
    for p in generate(TermConfig(courses=4, students=60, days=21, seed=3)):
        ev = p.built.event
        if ev["type"] == "GradeEvent":
            actions[ev["generated"]["extensions"]["bb:action.name"]] += 1
        if ev["type"] == "AssignableEvent" and "bb:group.users" in ev["extensions"]:
            group_submissions += 1
    assert set(actions) == set(b.GRADE_ACTIONS), set(b.GRADE_ACTIONS) - set(actions)
    assert group_submissions > 0


def test_activity_follows_the_local_day() -> None:
    tz = ZoneInfo(CONFIG.timezone)
    hours = Counter(
        datetime.fromtimestamp(p.at, tz).hour for p in generate(CONFIG) if p.built.event["type"] == "SessionEvent"
    )
    night = sum(hours[h] for h in (3, 4, 5))
    day = sum(hours[h] for h in (10, 11, 12))
    assert day > 5 * night


def test_question_durations_are_plausible() -> None:
    times: dict[tuple[str, str], datetime] = {}
    for p in generate(CONFIG):
        ev = p.built.event
        if ev["type"] == "AssessmentItemEvent":
            when = datetime.fromisoformat(ev["eventTime"].replace("Z", "+00:00"))
            times[(ev["generated"]["id"].removesuffix("/response"), ev["action"])] = when
    seconds = sorted(
        (end - times[(attempt, "Started")]).total_seconds() for (attempt, action), end in times.items() if action == "Completed"
    )
    assert 20 < seconds[len(seconds) // 2] < 150
    assert seconds[0] >= 5


def test_out_file_gzip_and_directory(tmp_path: Path) -> None:
    planned = list(generate(CONFIG))
    one = write_term(planned, tmp_path / "term.jsonl", sensor_id="site")
    gz = write_term(planned, tmp_path / "term.jsonl.gz", sensor_id="site")
    folder = write_term(planned, tmp_path / "dir", sensor_id="site", batch_size=10)
    assert one.events == gz.events == folder.events == len(planned)
    assert gzip.decompress((tmp_path / "term.jsonl.gz").read_bytes()) == (tmp_path / "term.jsonl").read_bytes()
    assert folder.files == [str(tmp_path / "dir" / "events-0001.jsonl")]
    envelopes = [json.loads(line) for line in (tmp_path / "dir" / "events-0001.jsonl").read_bytes().splitlines()]
    assert max(len(e["data"]) for e in envelopes) == 10
    assert all(list(e) == ["sensor", "sendTime", "dataVersion", "data"] for e in envelopes)
    raws = sorted(r.raw for r in read_path(tmp_path / "term.jsonl.gz"))
    assert raws == sorted(b.encode(p.built.event) for p in planned)


def test_simulate_command_writes_files(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    result = CliRunner().invoke(app, ["simulate", "--courses", "2", "--students", "8", "--days", "3", "--seed", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sum(len(json.loads(line)["data"]) for line in out.read_bytes().splitlines()) == len(list(generate(TermConfig(courses=2, students=8, days=3, seed=4))))
    v10 = tmp_path / "v10.jsonl"
    result = CliRunner().invoke(app, ["simulate", "--days", "2", "--version", "1.0", "--out", str(v10)])
    assert result.exit_code == 0, result.output
    first = json.loads(v10.read_bytes().splitlines()[0])
    assert "dataVersion" not in first
    assert "@type" in first["data"][0]


def test_out_and_to_carry_the_same_events(tmp_path: Path) -> None:
    """``simulate --out`` and ``simulate --to`` with one seed: the store holds exactly the
    distinct events of the file, byte for byte; a wrong key exits non-zero with events failed."""
    import sqlite3

    from caliper_stream.simulate.replay import LocalServer

    args = ["simulate", "--courses", "2", "--students", "10", "--days", "3", "--seed", "9"]
    out = tmp_path / "term.jsonl"
    assert CliRunner().invoke(app, [*args, "--out", str(out)]).exit_code == 0
    from_file = {r.raw for r in read_path(out)}
    with LocalServer(tmp_path / "store.db") as server:
        result = CliRunner().invoke(app, [*args, "--to", server.url, "--key", server.key, "--outbox", str(tmp_path / "o.db")])
        assert result.exit_code == 0, result.output
        wrong = CliRunner().invoke(app, [*args, "--days", "1", "--to", server.url, "--key", "nope", "--outbox", str(tmp_path / "w.db")])
        assert wrong.exit_code == 1
        assert "not delivered" in wrong.output
    with sqlite3.connect(tmp_path / "store.db") as db:
        stored = {bytes(raw) for (raw,) in db.execute("SELECT raw FROM events")}
    assert stored == from_file
    listing = CliRunner().invoke(app, ["outbox", "list", str(tmp_path / "w.db")])
    assert listing.exit_code == 0
    assert "401" in listing.output
