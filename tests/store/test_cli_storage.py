"""``import``, ``export``, ``deadletters``, ``stats`` and ``db`` on real files and databases."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
import typer
from storekit import LEARN, dead_letter
from typer.testing import CliRunner

from caliper_stream.cli import storage
from caliper_stream.formats.jsonl import single_line
from caliper_stream.read import read_bytes, repair
from caliper_stream.store import open_store

app = typer.Typer()
storage.register(app)
runner = CliRunner()


def cli(*args: str) -> Any:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


def fresh_events(n: int, sample: str = "view-events.json") -> list[dict[str, Any]]:
    """`n` copies of a Learn sample event, each with a new id (so each is a new event)."""
    first = next(read_bytes((LEARN / sample).read_bytes()))
    event = msgspec.json.decode(first.text or first.raw)
    out = []
    for _ in range(n):
        e = dict(event)
        e["id"] = f"urn:uuid:{uuid.uuid4()}"
        out.append(e)
    return out


@pytest.fixture
def dumps(tmp_path: Path) -> Path:
    """A directory of json (Learn's samples), jsonl (with one bad line) and gzipped jsonl."""
    d = tmp_path / "dumps"
    (d / "learn").mkdir(parents=True)
    for f in LEARN.glob("*.json"):
        (d / "learn" / f.name).write_bytes(f.read_bytes())
    lines = [json.dumps(e) for e in fresh_events(30)] + ['{"not": "an event"}']
    (d / "views.jsonl").write_text("\n".join(lines) + "\n")
    gz_lines = "\n".join(json.dumps(e) for e in fresh_events(25, "session-events.json"))
    (d / "sessions.jsonl.gz").write_bytes(gzip.compress(gz_lines.encode()))
    return d


def stats_json(db: str) -> dict[str, Any]:
    result = cli("stats", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_import_directory_and_rerun_imports_nothing_twice(dumps: Path, store_url: str) -> None:
    first = cli("import", str(dumps), "--db", store_url, "-q")
    assert first.exit_code == 0, first.output
    assert "accepted 72 " in first.stdout  # 17 Learn samples + 30 + 25
    assert "dead letters 1" in first.stdout
    before = stats_json(store_url)
    assert before["events"] == 72
    assert before["dead_letters"] == 1
    sources = {c["key"]: c["count"] for c in before["by_source"]}
    assert sources == {"import:dumps": 72}  # a directory is one source, whatever its files

    again = cli("import", str(dumps), "--db", store_url, "-q")
    assert again.exit_code == 0
    assert "accepted 0 " in again.stdout
    assert "duplicates 72" in again.stdout
    after = stats_json(store_url)
    assert (after["events"], after["dead_letters"]) == (72, 1)


def test_export_jsonl_gives_one_faithful_event_per_line(dumps: Path, sqlite_url: str, tmp_path: Path) -> None:
    cli("import", str(dumps / "learn"), "--db", sqlite_url, "-q")
    out = tmp_path / "events.jsonl"
    assert cli("export", "--db", sqlite_url, "--out", str(out)).exit_code == 0
    lines = out.read_bytes().splitlines()
    store = open_store(sqlite_url)
    try:
        raws = [bytes(r) for (r,) in store.query("SELECT raw FROM events ORDER BY id")]
    finally:
        store.close()
    assert len(lines) == len(raws) == 17
    for line, raw in zip(lines, raws, strict=True):
        assert json.loads(line) == json.loads(repair(raw)[0])  # same JSON value
        if b"\n" not in raw and b"\r" not in raw:
            assert line == raw  # untouched unless it could not sit on one line
    assert any(b"\n" in r for r in raws)  # content-events.json's raw newlines were exercised


def test_single_line_escapes_raw_control_characters() -> None:
    raw = b'{\n  "name": "two\nlines\tand\x01",\xc2\xa0"n": 1\r\n}'
    line = single_line(raw)
    assert b"\n" not in line
    assert b"\r" not in line
    assert json.loads(line) == {"name": "two\nlines\tand\x01", "n": 1}
    assert single_line(b'{"a": 1}') == b'{"a": 1}'


def test_export_csv_parquet_and_filters(dumps: Path, sqlite_url: str, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    cli("import", str(dumps), "--db", sqlite_url, "-q")

    result = cli("export", "--db", sqlite_url, "--format", "csv", "--what", "keydata", "--type", "SessionEvent")
    assert result.exit_code == 0
    rows = list(__import__("csv").DictReader(result.stdout.splitlines()))
    assert len(rows) == 25 + 2  # the gzipped copies and the Learn samples
    assert {r["type"] for r in rows} == {"SessionEvent"}
    assert rows[0]["source"]
    assert "score" in rows[0]

    out = tmp_path / "events.parquet"
    assert cli("export", "--db", sqlite_url, "-f", "parquet", "-o", str(out)).exit_code == 0
    table = pq.read_table(out)
    assert table.num_rows == 72
    assert table.column_names == ["event_key", "source", "received_at", "event"]
    content = (LEARN / "content-events.json").read_bytes()
    assert sum(1 for raw in table.column("event").to_pylist() if raw in content) == 2  # exact bytes

    kd = tmp_path / "kd.parquet"
    cli("export", "--db", sqlite_url, "-f", "parquet", "--what", "keydata", "-o", str(kd))
    assert pq.read_table(kd).schema.field("score").type == "double"

    csv_events = cli("export", "--db", sqlite_url, "-f", "csv", "--course", "BIO-101", "--since", "2021-01-05", "--until", "2021-01-06")
    body = list(__import__("csv").DictReader(csv_events.stdout.splitlines()))
    assert body
    assert all(json.loads(repair(r["event"].encode())[0])["eventTime"].startswith("2021-01-05") for r in body)


def test_deadletters_list_show_replay(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    event = (LEARN / "grade-events.json").read_bytes()
    try:
        # an event refused by an older build (its bytes are fine today) and real garbage
        store.write([], [dead_letter(event, "refused once"), dead_letter(b"\x00garbage")])
    finally:
        store.close()
    listing = cli("deadletters", "list", "--db", sqlite_url)
    assert listing.exit_code == 0
    assert "refused" in listing.stdout
    show = runner.invoke(app, ["deadletters", "show", "2", "--db", sqlite_url, "--raw"])
    assert show.stdout_bytes == b"\x00garbage"
    replay = cli("deadletters", "replay", "--db", sqlite_url, "--lenient")
    assert "1: replayed (1 accepted, 0 duplicates)" in replay.stdout
    assert "2: still refused" in replay.stdout
    s = stats_json(sqlite_url)
    assert (s["events"], s["dead_letters"], s["dead_letters_pending"]) == (1, 2, 1)
    assert cli("deadletters", "replay", "99", "--db", sqlite_url, "--lenient").exit_code == 2
    assert cli("deadletters", "show", "99", "--db", sqlite_url).exit_code == 2


def test_stats_tables_and_db_upgrade(dumps: Path, sqlite_url: str) -> None:
    upgrade = cli("db", "upgrade", "--db", sqlite_url)
    assert upgrade.exit_code == 0
    assert "0001_initial" in upgrade.stdout
    from caliper_stream.store.migrations import migrations

    newest = migrations("sqlite")[-1].version
    assert f"up to date (schema version {newest})" in cli("db", "upgrade", "--db", sqlite_url).stdout
    cli("import", str(dumps / "views.jsonl"), "--db", sqlite_url, "-q")
    out = cli("stats", "--db", sqlite_url).stdout
    assert "30 events, 1 dead letters" in out
    assert "import:views.jsonl" in out
    assert "ViewEvent" in out


def test_default_db_comes_from_the_environment(dumps: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALIPER_STREAM_DB", f"sqlite:///{tmp_path / 'env.db'}")
    assert cli("import", str(dumps / "views.jsonl"), "-q").exit_code == 0
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("CALIPER_STREAM_DB")
    monkeypatch.chdir(tmp_path)
    assert cli("stats", "--json").exit_code == 0
    assert (tmp_path / "caliper-stream.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats", "--db", "postgresql://127.0.0.1:1/none?connect_timeout=2"], "PostgreSQL cannot connect"),
        (["stats", "--db", "sqlite:///no/such/dir/x.db"], "does not exist"),
        (["import", "no-such-file.json", "--db", "sqlite:///x.db"], "no such file"),
        (["stats", "--db", "mysql://h/db"], "unsupported database URL"),
        # numbers beyond what SQL takes are bad arguments, not an OverflowError from the database
        (["deadletters", "show", str(2**64), "--db", "sqlite:///x.db"], "Invalid value for 'ID'"),
        (["deadletters", "replay", str(2**64), "--db", "sqlite:///x.db"], "Invalid value for 'ID"),
        (["report", "items", "--limit", str(2**64), "--db", "sqlite:///x.db"], "Invalid value for '--limit'"),
        (["retention", "set", "SessionEvent", str(2**64), "--db", "sqlite:///x.db"], "Invalid value for 'DAYS'"),
        (["deadletters", "list", "--limit", str(2**64), "--db", "sqlite:///x.db"], "Invalid value for '--limit'"),
        (["simulate", "--students", str(10**20), "--out", "x.jsonl"], "Invalid value for '--students'"),
    ],
)
def test_failures_exit_2_without_traceback(args: list[str], message: str, tmp_path: Path) -> None:
    code = "from caliper_stream.cli import app, main; main()"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_import_source_names_files_and_the_source_option(dumps: Path, sqlite_url: str) -> None:
    cli("import", str(dumps / "views.jsonl"), str(dumps / "sessions.jsonl.gz"), "--db", sqlite_url, "-q")
    cli("import", str(dumps / "learn"), "--source", "learn-prod", "--db", sqlite_url, "-q")
    sources = {c["key"]: c["count"] for c in stats_json(sqlite_url)["by_source"]}
    assert sources == {"import:views.jsonl": 30, "import:sessions.jsonl.gz": 25, "learn-prod": 17}


def test_import_exits_1_when_an_input_yields_no_event(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "empty.json").write_bytes(b"")
    (tmp_path / "notjson.json").write_bytes(b"not json")
    for name in ("empty.json", "notjson.json"):
        result = cli("import", str(tmp_path / name), "--db", sqlite_url, "-q")
        assert result.exit_code == 1, result.output
        assert "no event in this input" in result.output
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(fresh_events(1)[0]) + "\n")
    assert cli("import", str(good), "--db", sqlite_url, "-q").exit_code == 0
    assert cli("import", str(good), "--db", sqlite_url, "-q").exit_code == 0  # all duplicates: still events


def test_export_course_and_item_prefix_glob_and_closest_values(sqlite_url: str, tmp_path: Path) -> None:
    from caliper_stream.simulate import TermConfig
    from caliper_stream.simulate.files import write_term
    from caliper_stream.simulate.term import Term

    term = Term(TermConfig(courses=2, students=6, days=2, seed=3))
    write_term(term.planned(), tmp_path / "term.jsonl", sensor_id=term.roster.site)
    cli("import", str(tmp_path / "term.jsonl"), "--db", sqlite_url, "-q")
    store = open_store(sqlite_url)
    try:
        numbers = sorted({n for (n,) in store.query("SELECT DISTINCT course_number FROM events WHERE course_number IS NOT NULL")})
        one = numbers[0]
        truth = store.query("SELECT COUNT(*) FROM events WHERE course_number = ?", [one])[0][0]
        items = sorted({i for (i,) in store.query("SELECT DISTINCT gradable_item_pk FROM events WHERE gradable_item_pk IS NOT NULL")})
        item_truth = store.query("SELECT COUNT(*) FROM events WHERE gradable_item_pk = ?", [items[0]])[0][0]
    finally:
        store.close()
    prefix = one.split("-")[0] + "-" + one.split("-")[1]  # BIO-101 of BIO-101-26S-001
    assert "-" in one
    assert len(prefix) < len(one)

    def rows(*args: str) -> int:
        out = tmp_path / "x.jsonl"
        result = cli("export", "--db", sqlite_url, "--what", "keydata", "--out", str(out), *args)
        assert result.exit_code == 0, result.output
        return len(out.read_bytes().splitlines())

    expected_prefix = sum(1 for n in numbers if n.startswith(prefix))
    assert expected_prefix >= 1
    assert rows("--course", one) == truth
    assert rows("--course", prefix) >= truth
    assert rows("--course", prefix[:-1] + "?" + "*") >= truth
    assert rows("--item", items[0]) == item_truth
    nothing = cli("export", "--db", sqlite_url, "--course", one.lower() + "x", "--out", str(tmp_path / "none.jsonl"))
    assert nothing.exit_code == 1
    assert "matches no stored value; closest: " in nothing.output
    assert one in nothing.output


def test_time_filters_are_dates_or_times_and_refused_otherwise(dumps: Path, sqlite_url: str, tmp_path: Path) -> None:
    cli("import", str(dumps / "learn"), "--db", sqlite_url, "-q")
    for bad in ("2026-1-13", "13/01/2026", "x' OR 1=1 --", "2026-02-30"):
        result = cli("export", "--db", sqlite_url, "--since", bad, "--out", str(tmp_path / "bad.jsonl"))
        assert result.exit_code == 2, (bad, result.output)
        assert "must be a date" in result.output
    store = open_store(sqlite_url)
    try:
        times = sorted(t for (t,) in store.query("SELECT event_time FROM event_view WHERE event_time IS NOT NULL"))
    finally:
        store.close()
    middle = times[len(times) // 2]
    out = tmp_path / "since.jsonl"
    for given in (middle, middle[:16] + "Z", middle[:19] + "+00:00"):
        assert cli("export", "--db", sqlite_url, "--since", given, "--out", str(out)).exit_code == 0
        assert len(out.read_bytes().splitlines()) == sum(1 for t in times if t >= given[:16]), given
    assert cli("export", "--db", sqlite_url, "--until", middle[:10], "--out", str(out)).exit_code == 0
    assert len(out.read_bytes().splitlines()) == sum(1 for t in times if t < middle[:10])


def test_deadletters_show_to_a_pipe_writes_the_exact_bytes(sqlite_url: str, tmp_path: Path) -> None:
    raw = b'{"id": "' + b"https://example.edu/" + b"a" * 300 + b'", "note": "not an event"}'
    (tmp_path / "bad.json").write_bytes(raw)
    cli("import", str(tmp_path / "bad.json"), "--db", sqlite_url, "-q")
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "caliper_stream", "deadletters", "show", "1", "--db", sqlite_url],
        capture_output=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert raw in result.stdout
    assert b"not a Caliper event" in result.stdout


def test_parquet_keydata_has_timestamps_and_seconds(sqlite_url: str, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    from caliper_stream.formats.parquet import seconds as to_seconds
    from caliper_stream.simulate import TermConfig
    from caliper_stream.simulate.files import write_term
    from caliper_stream.simulate.term import Term

    term = Term(TermConfig(courses=2, students=10, days=10, seed=5))
    write_term(term.planned(), tmp_path / "term.jsonl", sensor_id=term.roster.site)
    cli("import", str(tmp_path / "term.jsonl"), "--db", sqlite_url, "-q")
    kd = tmp_path / "kd.parquet"
    assert cli("export", "--db", sqlite_url, "-f", "parquet", "--what", "keydata", "-o", str(kd)).exit_code == 0
    table = pq.read_table(kd)
    assert table.schema.field("event_time").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("duration").type == pa.float64()
    store = open_store(sqlite_url)
    try:
        iso = [d for (d,) in store.query("SELECT duration FROM events ORDER BY id")]
    finally:
        store.close()
    seconds = table.column("duration").to_pylist()
    assert any(d is not None for d in iso)
    for text, value in zip(iso, seconds, strict=True):
        assert (text is None) == (value is None)
    assert to_seconds("PT24.403S") == pytest.approx(24.403)
    assert to_seconds("P1DT2H3M4.5S") == pytest.approx(93784.5)
    assert to_seconds("P1M") is None
    assert to_seconds("soon") is None
    times = store_times(sqlite_url)
    assert [t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z" for t in table.column("event_time").to_pylist()] == times


def test_parquet_without_pyarrow_leaves_no_file(dumps: Path, sqlite_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "pyarrow").mkdir()
    (blocker / "pyarrow" / "__init__.py").write_text("raise ImportError('no pyarrow here')\n")
    out = tmp_path / "grades.parquet"
    result = subprocess.run(
        [sys.executable, "-m", "caliper_stream", "export", "--db", sqlite_url, "-f", "parquet", "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False, env={**__import__("os").environ, "PYTHONPATH": str(blocker)},
    )
    assert result.returncode == 2
    assert "Parquet needs pyarrow" in result.stderr
    assert not out.exists()


def store_times(url: str) -> list[str]:
    store = open_store(url)
    try:
        return [t for (t,) in store.query("SELECT event_time FROM event_view ORDER BY id")]
    finally:
        store.close()
