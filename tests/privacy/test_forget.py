"""forget on dead letters and with --delete-events (the end-to-end tests cover redaction)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import termdata

from caliper_stream.ingest import DeadLetter, prepare
from caliper_stream.privacy.forget import forget
from caliper_stream.problems import Problem
from caliper_stream.read import RawEvent
from caliper_stream.store import open_store


def test_dead_letters_naming_them_go_and_a_shared_pk1_form_is_not_theirs(tmp_path: Path) -> None:
    student = termdata.people()[0]
    evs = termdata.events()
    theirs = [e for e in evs if student.uuid in msgspec.json.encode(e).decode()]
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.write(prepare([RawEvent(i, "", msgspec.json.encode(e)) for i, e in enumerate(evs)], source="t").rows)
        total = store.stats().events
        letters = [
            DeadLetter(b'{"broken": "' + student.external_id.encode() + b'"', [Problem("", "x")], "a", "t"),
            DeadLetter(b'{"assessment": "/assessments/' + student.pk.encode() + b'" truncated', [Problem("", "x")], "b", "t"),
            DeadLetter(b'{"bb:user.id": "' + student.pk.encode() + b'", oops', [Problem("", "x")], "c", "t"),
        ]
        store.write([], letters)
        done = forget(store, student.pk, actor="test", delete_events=True)
        assert done.dead_letters == 2
        kept = [bytes(r[0]) for r in store.query("SELECT raw FROM dead_letters")]
        assert kept == [letters[1].raw]
        assert done.events_deleted == len({msgspec.json.encode(e) for e in theirs})
        assert store.stats().events == total - done.events_deleted
        remaining = b"".join(bytes(r[0]) for r in store.query("SELECT raw FROM events"))
        assert termdata.traces(remaining, [student]) == []
