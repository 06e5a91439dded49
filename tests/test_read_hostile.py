"""Hostile values at the library level: reading, decoding and key data never raise, every
piece of the input comes out (an event or a failure, whole), and reasons say what and where."""

from __future__ import annotations

import gzip
import subprocess
import sys
import tracemalloc
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caliper_stream.event import decode
from caliper_stream.ingest import prepare
from caliper_stream.read import DENSE_CHECK_BYTES, TooManyItems, read_bytes
from caliper_stream.validate import validate

EVENT = {
    "@context": "http://purl.imsglobal.org/ctx/caliper/v1p1",
    "id": "urn:uuid:5f3e8c2a-1b4d-4e6f-8a9b-0c1d2e3f4a5b",
    "type": "GradeEvent",
    "action": "Graded",
    "actor": {"id": "https://example.edu/users/1", "type": "Person"},
    "object": {"id": "https://example.edu/attempts/1", "type": "Attempt"},
    "generated": {"id": "https://example.edu/scores/1", "type": "Score", "scoreGiven": 1, "maxScore": 10},
    "eventTime": "2026-01-12T14:00:00.000Z",
}

HOSTILE_VALUES = [
    b"9" * 401, b"-" + b"9" * 400, b"9" * 4300, b"9" * 5000, b"1e400", b"-1e400", b"1e-400", b"-0", b"0.0e0",
    b'"1e400"', b'"NaN"', b'"Infinity"', b'"\\u0000"', b'"' + b"z" * 100_000 + b'"', b"[" * 200 + b"]" * 200,
    b'{"id":' + b"9" * 401 + b"}", b'"0001-01-01T00:00:00+01:00"', b'"9999-12-31T23:59:59-01:00"', b"true",
    b"{}", b"[]", b"null", b'"\\ud83d\\ude00"',
    # deeper than the decoder recurses: the envelope cannot be decoded whole, the event still alone
    b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b'{"a[":' * 3000 + b'"}"' + b"}" * 3000,
]
FIELDS = [b'"scoreGiven":', b'"maxScore":', b'"eventTime":', b'"id":', b'"type":', b'"actor":', b'"object":',
          b'"generated":', b'"@context":', b'"action":']


def envelope(pieces: list[bytes]) -> bytes:
    return b'{"sensor":"s","sendTime":"2026-01-12T14:00:00.000Z","data":[' + b",".join(pieces) + b"]}"


def put(field: bytes, value: bytes) -> bytes:
    """The sample event with `field`'s (first) value replaced by raw `value` bytes."""
    raw = msgspec.json.encode(EVENT)
    at = raw.index(field) + len(field)
    return raw[:at] + value + b',"was":' + raw[at:]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), st.sampled_from(HOSTILE_VALUES), st.integers(0, 4))
def test_no_value_in_any_field_raises_or_costs_its_neighbours(field: bytes, value: bytes, at: int) -> None:
    good = msgspec.json.encode(EVENT)
    pieces = [good] * 5
    pieces[at] = put(field, value)
    items = list(read_bytes(envelope(pieces)))
    assert len(items) == 5
    batch = prepare(items, source="t")  # decodes, keys and extracts key data: must not raise
    assert len(batch) == 5
    assert sum(1 for row in batch.rows if row.raw == good) == 4
    for event in map(decode, items):
        event.warnings  # noqa: B018 - computing the warnings must not raise either
        validate(event, strict=True)
    for letter in batch.dead_letters:
        assert letter.raw == pieces[at]
        (reason,) = letter.reasons
        assert reason.path.startswith(f"data[{at}]")
        assert "not a JSON object" not in reason.message


@pytest.mark.parametrize(
    ("piece", "path", "message"),
    [
        (put(b'"scoreGiven":', b"1e400"), "data[0].generated.scoreGiven", "number too large: 1e400"),
        (put(b'"maxScore":', b"9" * 5000), "data[0].generated.maxScore", "number too large (5000 digits)"),
        (put(b'"eventTime":', b"NaN"), "data[0].eventTime", "invalid token 'NaN'"),
        (put(b'"eventTime":', b"01"), "data[0].eventTime", "invalid number '01'"),
        (put(b'"id":', b'"a\\ud800"'), "data[0].id", "lone surrogate \\ud800"),
        (put(b'"actor":', b'{"id":"\xc3\x28"}'), "data[0].actor.id", "invalid UTF-8 at byte"),
        (put(b'"type":', b'"\\q"'), "data[0].type", "invalid escape"),
    ],
)
def test_reasons_name_the_defect_and_its_path(piece: bytes, path: str, message: str) -> None:
    (item,) = read_bytes(envelope([piece]))
    event = decode(item)
    assert event.rejection is not None
    assert event.rejection.path == path
    assert event.rejection.message.startswith(message)


def test_an_event_time_that_is_no_time_is_a_warning_lenient_and_an_error_strict() -> None:
    (item,) = read_bytes(envelope([put(b'"eventTime":', b"-0")]))
    event = decode(item)
    assert event.accepted
    assert event.event_time is None
    assert [str(w) for w in event.noted] == ["data[0].eventTime: eventTime is not a date-time string: 0"]
    assert any(p.severity == "error" and p.path.endswith("eventTime") for p in validate(event, strict=True))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([b"null", b"1", b'"s"', b"[]", b"{}", b"NaN", b"tru", b"{]", b"[}"]), min_size=1, max_size=8),
       st.integers(0, 3))
def test_every_piece_comes_out_whole(junk: list[bytes], good_count: int) -> None:
    good = msgspec.json.encode(EVENT)
    pieces = [good] * good_count + junk
    items = list(read_bytes(envelope(pieces)))
    raws = [i.raw for i in items]
    assert raws.count(good) == good_count
    failures = [i.raw for i in items if i.error is not None]
    for piece in junk:  # `null`, `NaN`, even `{]`: whole, alone or with the run it stands in
        assert any(piece in raw for raw in failures) or piece in raws
    assert sum(len(i.raw) for i in items) >= sum(len(p) for p in pieces)  # nothing cut short


def test_dense_inputs_are_counted_one_piece_at_a_time() -> None:
    items = DENSE_CHECK_BYTES // 2 + 10
    body = b"[" + b",".join([b"0"] * items) + b"]"
    tracemalloc.start()
    try:
        with pytest.raises(TooManyItems):
            for _ in read_bytes(body, max_items=1000):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 1024 * 1024  # not one object per item (that would be ~110 MB here)
    small = b"[" + b",".join([b"{}"] * 5000) + b"]"
    assert sum(1 for _ in read_bytes(small)) == 5000  # without a limit every piece comes out


def test_an_unreadable_piece_is_kept_whole_however_large() -> None:
    line = b'{"junk":"' + b"x" * 300_000 + b'",NaN}'
    good = msgspec.json.encode(EVENT)
    items = list(read_bytes(good + b"\n" + line + b"\n"))
    assert [i.raw for i in items] == [good, line]


@pytest.mark.parametrize("command", ["inspect", "validate"])
def test_cli_reads_hostile_files_without_a_traceback(tmp_path: Path, command: str) -> None:
    dump = tmp_path / "hostile.json.gz"
    pieces = [put(b'"scoreGiven":', b"9" * 401), put(b'"scoreGiven":', b"1e400"), put(b'"eventTime":', b"NaN"),
              put(b'"eventTime":', b'"0001-01-01T00:00:00+01:00"'), msgspec.json.encode(EVENT)]
    dump.write_bytes(gzip.compress(envelope(pieces)))
    out = subprocess.run([sys.executable, "-m", "caliper_stream", command, str(dump)],
                         capture_output=True, text=True, timeout=60)
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    assert out.returncode in (0, 1), out.stderr


def test_import_of_hostile_values_stores_every_piece(tmp_path: Path) -> None:
    dump = tmp_path / "hostile.json"
    pieces = [put(b'"scoreGiven":', b"9" * 401), put(b'"scoreGiven":', b"1e400"), put(b'"eventTime":', b"NaN")]
    dump.write_bytes(envelope(pieces))
    db = f"sqlite:///{tmp_path / 'events.db'}"
    out = subprocess.run([sys.executable, "-m", "caliper_stream", "import", str(dump), "--db", db],
                         capture_output=True, text=True, timeout=60)
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    from caliper_stream.store import open_store

    with open_store(db) as store:
        assert store.query("SELECT raw FROM events") == [(pieces[0],)]
        assert sorted(dl.raw for dl in store.list_dead_letters()) == sorted(pieces[1:])
