"""Bulk import: the pipelined path (parser in a second process) stores exactly what the
sequential one does, an import killed mid-way keeps its committed chunks, and a re-run
completes the set exactly once."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storekit import LEARN

from caliper_stream.errors import ReadError
from caliper_stream.read import read_bytes
from caliper_stream.store import load, open_store
from caliper_stream.store.load import ImportSummary, import_paths


def _sample(name: str) -> dict[str, Any]:
    first = next(read_bytes((LEARN / name).read_bytes()))
    event: dict[str, Any] = msgspec.json.decode(first.text or first.raw)
    return event


VIEW = _sample("view-events.json")
SESSION = _sample("session-events.json")
BAD_LINES = ['{"not": "an event"}', "not json at all", '{"id": "urn:uuid:x", "type": 5}']


def fresh(event: dict[str, Any]) -> str:
    return json.dumps({**event, "id": f"urn:uuid:{uuid.uuid4()}"})


def content(url: str) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    """Events and dead letters as multisets, without arrival times or ids (order-independent)."""
    with open_store(url) as store:
        events = Counter(store.query("SELECT event_key, raw, source, type, action, event_time, user_uuid FROM event_view"))
        letters = Counter(store.query("SELECT raw, reasons, source FROM dead_letters"))
    return events, letters


def summary_fields(s: ImportSummary) -> tuple[Any, ...]:
    return (s.files, s.bytes, s.events, s.repaired, s.result, sorted(s.no_events))


def write_dumps(d: Path, lines: list[str], pool: list[str]) -> None:
    """`lines` split over a jsonl file, a gzipped one and a Learn sample, plus an input with no
    event at all; `pool` lines repeat across files (duplicates)."""
    (d / "learn").mkdir(parents=True)
    (d / "learn" / "view-events.json").write_bytes((LEARN / "view-events.json").read_bytes())
    half = len(lines) // 2
    (d / "a.jsonl").write_text("\n".join(lines[:half] + pool) + "\n")
    (d / "b.jsonl.gz").write_bytes(gzip.compress("\n".join(lines[half:] + pool).encode()))
    (d / "only-bad.jsonl").write_text(BAD_LINES[0] + "\n")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.sampled_from(["view", "session", "bad0", "bad1", "bad2", "dup"]), min_size=1, max_size=60),
    chunk=st.integers(min_value=1, max_value=25),
)
def test_pipelined_import_stores_what_the_sequential_one_does(picks: list[str], chunk: int) -> None:
    pool = [fresh(VIEW), fresh(SESSION)]
    lines = []
    for p in picks:
        if p == "view":
            lines.append(fresh(VIEW))
        elif p == "session":
            lines.append(fresh(SESSION))
        elif p == "dup":
            lines.append(pool[len(lines) % 2])
        else:
            lines.append(BAD_LINES[int(p[-1])])
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "dumps"
        write_dumps(d, lines, pool)
        summaries, contents = [], []
        for pipeline in (False, True):
            url = f"sqlite:///{Path(tmp) / f'{pipeline}.db'}"
            with open_store(url) as store:
                summaries.append(summary_fields(import_paths(store, [d], chunk=chunk, pipeline=pipeline)))
            contents.append(content(url))
    assert summaries[0] == summaries[1]
    assert contents[0] == contents[1]
    events, letters = contents[0]
    assert set(events.values()) == {1}  # nothing stored twice
    assert sum(letters.values()) >= 1  # only-bad.jsonl at least


@pytest.mark.postgres
def test_pipelined_import_into_postgresql_matches_sqlite(tmp_path: Path, pg_url: str) -> None:
    pool = [fresh(VIEW)]
    write_dumps(tmp_path / "dumps", [fresh(VIEW) for _ in range(40)] + BAD_LINES, pool)
    sqlite_url = f"sqlite:///{tmp_path / 'seq.db'}"
    for url, pipeline in ((sqlite_url, False), (pg_url, True)):
        with open_store(url) as store:
            import_paths(store, [tmp_path / "dumps"], chunk=7, pipeline=pipeline)
    (seq_events, seq_letters), (pg_events, pg_letters) = content(sqlite_url), content(pg_url)
    assert {k[:3] for k in seq_events} == {(k[0], bytes(k[1]), k[2]) for k in pg_events}
    assert sum(seq_letters.values()) == sum(pg_letters.values()) == len(BAD_LINES)  # only-bad.jsonl repeats one


@pytest.mark.parametrize("pipeline", [False, True])
def test_a_broken_input_fails_the_same_way_after_committing_what_came_before(tmp_path: Path, pipeline: bool) -> None:
    good = tmp_path / "a.jsonl"
    good.write_text("\n".join(fresh(VIEW) for _ in range(12)) + "\n")
    (tmp_path / "b.jsonl.gz").write_bytes(b"\x1f\x8b this is no gzip stream")
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url) as store, pytest.raises(ReadError, match=r"b\.jsonl\.gz"):
        import_paths(store, [good, tmp_path / "b.jsonl.gz"], chunk=5, pipeline=pipeline)
    events, _ = content(url)
    assert len(events) == 12


def _cli(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "caliper_stream", *args], **kwargs)


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(c) for c in fh.read().split()]


def _wait(condition: Any, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1].startswith("Z")  # a zombie has exited
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_import_keeps_its_commits_and_a_rerun_completes_the_set_once(tmp_path: Path) -> None:
    lines = [fresh(VIEW) for _ in range(3000)]
    first, rest = tmp_path / "a.jsonl", tmp_path / "c.jsonl"
    first.write_text("\n".join(lines[:2000]) + "\n")
    rest.write_text("\n".join(lines[2000:]) + "\n")
    # a named pipe between the two files: nothing is ever written to it, so the import is
    # certainly still running, waiting on its second input, when it is killed
    stalled = tmp_path / "b.jsonl"
    os.mkfifo(stalled)
    db = tmp_path / "events.db"
    url = f"sqlite:///{db}"
    proc = _cli("import", str(first), str(stalled), str(rest), "--db", url, "--chunk", "50", "--pipeline", "-q",
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(lambda: _count(db) == 2000, "the first input's chunks to commit")
    parsers = _children(proc.pid)
    assert parsers, "the pipelined import runs a parser process"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for pid in parsers:
        _wait(lambda pid=pid: _gone(pid), "the parser to exit after its writer was killed")
    assert _count(db) == 2000

    rerun = subprocess.run([sys.executable, "-m", "caliper_stream", "import", str(first), str(rest), "--db", url,
                            "--pipeline", "-q"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "accepted 1,000  duplicates 2,000  dead letters 0" in rerun.stdout
    with open_store(url) as store:
        stored = [store.decode_raw(codec, raw).decode() for codec, raw in store.query("SELECT raw_codec, raw FROM events")]
    assert sorted(stored) == sorted(lines)


def test_stdin_through_the_pipeline_is_the_file_imported(tmp_path: Path) -> None:
    lines = [fresh(SESSION) for _ in range(30)] + BAD_LINES
    dump = tmp_path / "dump.jsonl"
    dump.write_text("\n".join(lines) + "\n")
    out = {}
    for name, args, stdin in (("file", [str(dump), "--no-pipeline"], None), ("stdin", ["-", "--pipeline"], dump)):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        with stdin.open("rb") if stdin else open(os.devnull, "rb") as fh:
            done = subprocess.run([sys.executable, "-m", "caliper_stream", "import", *args, "--db", url, "-q",
                                   "--source", "dump"], stdin=fh, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"accepted 30  duplicates 0  dead letters {len(BAD_LINES)}" in done.stdout
        out[name] = content(url)
    assert out["file"] == out["stdin"]


@pytest.mark.postgres
def test_a_bulk_import_into_postgresql_refreshes_the_planner_statistics(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a bulk import the planner knows how many events each partition holds (autovacuum
    never analyses the partitioned parent, and may be off): `/api/events?course=` pages along
    the id index instead of sorting every event of the course."""
    monkeypatch.setattr(load, "ANALYZE_AFTER", 3)
    (tmp_path / "a.jsonl").write_text("\n".join(fresh(VIEW) for _ in range(5)) + "\n")
    with open_store(pg_url) as store:
        import_paths(store, [tmp_path / "a.jsonl"])
        found = store.query("SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname LIKE 'events%'"
                            " AND schemaname = current_schema()")
        counted = store.query("SELECT reltuples FROM pg_class WHERE relname = 'events'"
                              " AND relnamespace = current_schema()::regnamespace")
    assert found
    assert all(at is not None for _, at in found), found
    assert counted[0][0] == 5
