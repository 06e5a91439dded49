"""Mutation fuzzing of Learn's samples against a real server, on SQLite and on PostgreSQL.

Each example is an envelope of Learn events, one or more of them mutated (truncated, huge or
out-of-range numbers, deep nesting, invalid UTF-8, NUL, over-long strings, tokens JSON does not
allow), sometimes gzipped, or a gzip bomb (many tiny items, nested layers). Whatever comes in:

- the answer is never a 5xx, except 503/429 with ``Retry-After``;
- every event sent is stored as an event or inside a dead letter, byte for byte (counted back
  from the store), unless the whole body was refused with a 4xx that stores nothing (413);
- the server log holds no traceback, and the server's memory stays bounded.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from harness import Site, start_site
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from payloads import learn_events
from test_hostile import body_of, dead_letters_since, last_dead_letter, rss_kib

EXAMPLES = 60
MUTATIONS = ["truncate", "huge-int", "1e400", "deep", "bad-utf8", "nul", "raw-nul", "long-string", "nan", "surrogate",
             "leading-zero", "junk", "none"]
#: NUL characters and 300 KB strings in key-data columns are storable on PostgreSQL once its schema
#: bounds and escapes them (issue 11 items 12 and 13, migration 0003); until that migration is
#: part of the tree, the PostgreSQL run leaves those two mutations to that work's own tests.
PG_STORES_ANY_STRING = any(
    (Path(__file__).parents[2] / "src/caliper_stream/store/migrations/postgresql").glob("0003_*.sql")
)


def mutate(piece: bytes, how: str, where: int) -> bytes:
    """One event's bytes, broken in one way (`where` picks a position)."""
    at = piece.index(b'"eventTime":') + len(b'"eventTime":')
    insert = {
        "huge-int": b"9" * 401 + b",",
        "1e400": b"1e400,",
        "deep": b"[" * 3000 + b"]" * 3000 + b",",
        "long-string": b'"' + b"y" * 300_000 + b'",',
        "nan": b"NaN,",
        "surrogate": b'"\\ud800",',
        "leading-zero": b"01,",
        "nul": b'"a\\u0000b",',
    }
    if how in insert:
        return piece[:at] + insert[how] + b'"was":' + piece[at:]
    if how == "truncate":
        return piece[: 1 + where % (len(piece) - 1)]
    if how == "bad-utf8":
        return piece.replace(b'"actor":{"id":"', b'"actor":{"id":"\xff\xfe', 1)
    if how == "raw-nul":
        return piece.replace(b'"actor":{"id":"', b'"actor":{"id":"\x00', 1)
    if how == "junk":
        return piece + b" garbage"
    return piece


@st.composite
def bodies(draw: st.DrawFn, mutations: list[str]) -> tuple[bytes, list[bytes], bool]:
    """(body, the pieces of its data, whether the body may be refused whole)."""
    kind = draw(st.sampled_from(["envelope"] * 6 + ["tiny-bomb", "nested-bomb"]))
    if kind == "tiny-bomb":
        n = draw(st.sampled_from([150_000, 1_000_000]))
        return gzip.compress(b"[" + b",".join([b"{}"] * n) + b"]", 9), [], True
    if kind == "nested-bomb":
        return gzip.compress(gzip.compress(b'{"data":[' + b" " * (200 * 1024 * 1024) + b"]}", 9), 9), [], True
    n = draw(st.integers(1, 30))
    pieces = [msgspec.json.encode(e) for e in learn_events(n, draw(st.integers(0, 50)))]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, n - 1))
        pieces[i] = mutate(pieces[i], draw(st.sampled_from(mutations)), draw(st.integers(0, 10**6)))
    body = body_of(pieces)
    if draw(st.booleans()):
        body = gzip.compress(body)
        if draw(st.booleans()):
            body = gzip.compress(body)  # gzip in gzip, small: read like one layer
    return body, pieces, False


def stored_raws(site: Site, pieces: list[bytes]) -> set[bytes]:
    """The raw bytes of stored events that could be these pieces (by the ids they carry)."""
    ids = [m.split(b'"')[0].decode("utf-8", "replace") for p in pieces for m in p.split(b'"id":"urn:uuid:')[1:2]]
    if not ids:
        return set()
    marks = ", ".join("?" * len(ids))
    rows = site.store.query(f"SELECT raw_codec, raw FROM events WHERE event_id IN ({marks})", tuple(f"urn:uuid:{i}" for i in ids))
    return {site.store.decode_raw(*r) for r in rows}


def check(site: Site, body: bytes, pieces: list[bytes], bomb: bool) -> None:
    after = last_dead_letter(site)
    r = site.post(body)
    if r.status_code in (429, 503):
        assert int(r.headers["retry-after"]) > 0
        return
    assert r.status_code < 500, r.text
    if bomb:
        assert r.status_code == 413, r.text
        assert last_dead_letter(site) == after
        return
    assert r.status_code in (200, 400), r.text
    letters = dead_letters_since(site, 0)  # identical dead letters are stored once: look at all
    plain_letters = [_plain(dl) for dl in letters]
    events = stored_raws(site, pieces)
    for piece in pieces:
        core = piece.removesuffix(b" garbage")
        assert core in events or any(core in dl for dl in plain_letters), f"lost: {piece[:200]!r} ({r.text[:300]})"


def _plain(raw: bytes) -> bytes:
    while raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw


def fuzz(site: Site, mutations: list[str] = MUTATIONS) -> None:
    baseline = rss_kib(site)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(bodies(mutations))
    def run(case: tuple[bytes, list[bytes], bool]) -> None:
        check(site, *case)

    run()
    log = site.server.log.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") :][:3000]
    assert rss_kib(site, "VmHWM") < 800 * 1024
    assert rss_kib(site) - baseline < 200 * 1024


def test_fuzz_learn_samples_on_sqlite(tmp_path: Path) -> None:
    for site in start_site(f"sqlite:///{tmp_path / 'events.db'}", tmp_path):
        fuzz(site)


@pytest.fixture
def pg_site(pg_url: str, tmp_path: Path) -> Iterator[Site]:
    yield from start_site(pg_url, tmp_path)


@pytest.mark.postgres
def test_fuzz_learn_samples_on_postgresql(pg_site: Site) -> None:
    any_string = MUTATIONS if PG_STORES_ANY_STRING else [m for m in MUTATIONS if m not in ("nul", "raw-nul", "long-string")]
    fuzz(pg_site, any_string)

