"""The inbox: ordinary envelopes are acknowledged once their body is durable and digested behind;
everything whose answer depends on the body is still answered as before."""

from __future__ import annotations

import gzip
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from harness import Site, cli, start_site
from hypothesis import given, settings
from hypothesis import strategies as st
from payloads import V1P1, envelope, ids, learn_events

from caliper_stream.ingest import now
from caliper_stream.server.ingest import inboxable
from caliper_stream.server.payload import TooLarge, parse
from caliper_stream.store.base import Claim

sys.path.insert(0, str(Path(__file__).parent.parent / "privacy"))
import termdata
from stores import sqlite_bytes


def inbox_rows(site: Site) -> int:
    return site.store.inbox_backlog().rows


def metric(site: Site, name: str) -> float:
    for line in site.metrics().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name}")


def digester_of(site: Site) -> int:
    assert site.server.proc is not None
    pids = [int(c) for task in Path(f"/proc/{site.server.proc.pid}/task").iterdir()
            for c in (task / "children").read_text().split()]
    assert len(pids) == 1
    return pids[0]


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Site]:
    yield from start_site(f"sqlite:///{tmp_path / 'events.db'}", tmp_path, "--inbox-backlog", "150")


def test_an_envelope_is_acknowledged_from_the_inbox_and_digested_behind(fresh: Site) -> None:
    site = fresh
    os.kill(digester_of(site), signal.SIGSTOP)  # nothing is digested meanwhile
    try:
        events = learn_events(100)
        r = site.post(envelope(events), summary=False)
        assert (r.status_code, r.content) == (200, b"")
        assert inbox_rows(site) == 1  # durable before the answer, as sent
        assert [(b.body, b.events) for b in site.store.inbox.pending(0, Claim())] == [(envelope(events), 100)]  # type: ignore[attr-defined]
        assert site.count_ids(ids(events)) == 0
        # the backlog (100 events) is now past --inbox-backlog 150 once another 100 arrive
        assert site.post(envelope(learn_events(100)), summary=False).status_code == 200
        deadline = time.monotonic() + 10
        while (r := site.post(envelope(learn_events(1)), summary=False)).status_code != 429:
            assert time.monotonic() < deadline, "no 429 past the backlog limit"
            time.sleep(0.1)
        assert int(r.headers["retry-after"]) > 0
        assert "digested" in r.json()["detail"]
        ready = site.client.get("/readyz")
        assert ready.status_code == 200  # a backlog is not a reason to be unready
        assert ready.json()["inbox"]["events"] >= 200
        assert "request bodies pending" in cli("stats", "--db", site.server.db).stdout
        assert "caliper_inbox_rows " in site.metrics()
        resumed = now()  # the digest happens after this instant
    finally:
        os.kill(digester_of(site), signal.SIGCONT)
    site.digested()
    assert site.count_ids(ids(events)) == 100
    # events keep the time they were acknowledged, not the time they were digested
    [(received,)] = site.store.query("SELECT DISTINCT received_at FROM event_view WHERE event_id = ?", (events[0]["id"],))
    assert received < resumed
    deadline = time.monotonic() + 10
    while metric(site, "caliper_digested_events_total") < 200:  # reported just after the commit
        assert time.monotonic() < deadline, "the digest was not counted"
        time.sleep(0.05)
    deadline = time.monotonic() + 10  # the server looks at the backlog twice a second
    while site.post(envelope(learn_events(1)), summary=False).status_code != 200:
        assert time.monotonic() < deadline, "still 429 with an empty inbox"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"hello": 1}', 400),
        (b'{"sensor": "s", "sendTime": "2021-01-05T14:50:26.769Z", "data": []}', 400),
        (envelope(learn_events(2), data_version="http://example.com/ctx/v9"), 422),
        (gzip.compress(b"not json at all"), 400),
    ],
    ids=["not-caliper", "empty-data", "unknown-version", "gzip-not-caliper"],
)
def test_bodies_whose_answer_depends_on_them_are_answered_as_before(site: Site, body: bytes, status: int) -> None:
    before = site.store.stats().dead_letters
    r = site.post(body, summary=False)
    assert r.status_code == status, r.text
    assert site.store.stats().dead_letters == before + 1  # kept whole before the refusal


def test_a_pseudonymous_store_keeps_nothing_clear_through_the_inbox_path(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pseudo.db'}"
    secret = tmp_path / "secret.key"
    secret.write_bytes(termdata.SECRET + b"\n")
    from caliper_stream.store import open_store

    open_store(db).close()
    identity = f"sqlite:///{tmp_path / 'identity.db'}"  # re-identification lives elsewhere
    cli("privacy", "enable", "--secret-file", str(secret), "--identity", identity, "--db", db)
    gen = start_site(db, tmp_path)
    site = next(gen)
    try:
        for body in termdata.envelopes()[:4]:
            assert site.post(body, summary=False).status_code == 200  # no summary: the inbox path
        site.digested()
        assert site.store.stats().events > 0
        assert termdata.traces(sqlite_bytes(db), termdata.people()) == []
    finally:
        gen.close()
    assert termdata.traces(sqlite_bytes(db), termdata.people()) == []


# --- the shallow check at the door --------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_envelopes = st.fixed_dictionaries(
    {"data": st.lists(_json | st.just({"id": "urn:uuid:x", "type": "Event"}), max_size=4)},
    optional={
        "sensor": _json,
        "sendTime": _json,
        "dataVersion": st.sampled_from([V1P1, "http://purl.imsglobal.org/ctx/caliper/v1p2", "v9", None, 3]),
        "extra": _json,
    },
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_envelopes, _json).map(msgspec.json.encode))
def test_what_the_door_inboxes_is_never_refused_as_a_whole(body: bytes) -> None:
    """A body `inboxable` lets through gets a 200 however it is digested: the full parse never
    refuses it as a whole (so its answer did not need the parse)."""
    events = inboxable(body)
    if not events:
        return
    try:
        parsed = parse(body, "s", 1 << 20)
    except TooLarge:
        raise AssertionError("an inboxed body was refused as too large") from None
    assert parsed.refusal is None
    decoded: Any = msgspec.json.decode(body)
    assert events == len(decoded["data"])


def test_the_digester_keeps_a_gzip_bomb_as_a_dead_letter() -> None:
    """The door never inboxes gzip today, but a row the digester cannot inflate within the
    limit (or a truncated one) is kept whole as a dead letter, never an error that would
    leave it in the inbox for ever."""
    from caliper_stream.server.storage import digest_body
    from caliper_stream.store.base import Inboxed

    at = "2026-01-01T00:00:00.000Z"
    bomb = gzip.compress(b"[" + b"{}," * 2_000_000 + b"{}]")  # 6 MB once inflated, 1 MiB allowed
    batch, _, _ = digest_body(Inboxed(bomb, "learn", at), 1 << 20, None)
    assert [(dl.raw, dl.received_at) for dl in batch.dead_letters] == [(bomb, at)]
    assert "decompressed" in str(batch.dead_letters[0].reasons[0])
    cut = envelope(learn_events(3))[:-40]
    batch, rows, _ = digest_body(Inboxed(cut, "learn", at), 1 << 20, None)
    assert len(rows) == 2  # the whole events are stored, the cut one is a dead letter
    assert len(batch.dead_letters) == 1
    assert batch.dead_letters[0].received_at == at
