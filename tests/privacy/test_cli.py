"""The privacy commands' error paths: clear messages, exit status 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import termdata

from caliper_stream.store import open_store
from refdata import LEARN


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caliper_stream", *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_a_missing_or_wrong_secret_stops_every_way_in(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    key = tmp_path / "k"
    key.write_bytes(termdata.SECRET)
    assert run("privacy", "enable", "--secret-file", str(key), "--db", db).returncode == 0
    key.write_bytes(b"a different secret of enough length")
    for args in (("import", str(LEARN / "session-events.json")), ("serve", "--port", "1")):
        done = run(*args, "--db", db)
        assert done.returncode != 0
        assert "not the one this store was enabled with" in done.stderr
        assert "Traceback" not in done.stderr
    assert "NOT USABLE" in run("privacy", "status", "--db", db).stdout
    key.unlink()
    done = run("import", str(LEARN / "session-events.json"), "--db", db)
    assert done.returncode == 2
    assert "cannot read the pseudonymisation secret file" in done.stderr
    # the environment override is the way to supply it elsewhere
    ok = run("import", str(LEARN / "session-events.json"), "--db", db,
             env={"CALIPER_STREAM_PRIVACY_SECRET": termdata.SECRET.decode()})
    assert ok.returncode == 0, ok.stderr
    assert "accepted 1" in ok.stdout


def test_enable_refuses_a_short_secret_and_a_second_secret(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    short = tmp_path / "short"
    short.write_bytes(b"tiny")
    done = run("privacy", "enable", "--secret-file", str(short), "--db", db)
    assert done.returncode == 2
    assert "at least 16 bytes" in done.stderr
    good = tmp_path / "good"
    good.write_bytes(termdata.SECRET)
    assert run("privacy", "enable", "--secret-file", str(good), "--db", db).returncode == 0
    other = tmp_path / "other"
    other.write_bytes(b"another secret that is long enough")
    done = run("privacy", "enable", "--secret-file", str(other), "--db", db)
    assert done.returncode == 2
    assert "already pseudonymous with another secret" in done.stderr


def test_scan_counts_fields_by_event_type(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    assert run("import", str(LEARN), "--db", db).returncode == 0
    out = run("privacy", "scan", "--format", "jsonl", "--db", db).stdout
    rows = [msgspec.json.decode(line) for line in out.splitlines()]
    found = {(r["event_type"], r["field"]): r["count"] for r in rows}
    with open_store(db) as store:
        def occurrences(kind: str, needle: bytes) -> int:
            return sum(bytes(r[0]).count(needle) for r in store.query("SELECT raw FROM events WHERE type = ?", (kind,)))

        for kind, field in (("SessionEvent", "bb:request.headers.ipAddress"), ("SessionEvent", "bb:request.headers.agent"),
                            ("bb:LTIEvent", "oauth_signature"), ("bb:LTIEvent", "lis_person_contact_email_primary"),
                            ("GradeEvent", "bb:user.externalId")):
            expected = occurrences(kind, f'"{field}"'.encode())
            assert expected
            assert found[(kind, field)] == expected
    assert ("ViewEvent", "bb:user.externalId") in found
