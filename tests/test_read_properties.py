"""Property-based tests of the reader: any shape gives back the same events; no input crashes it."""

from __future__ import annotations

import gzip
import importlib
import io
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caliper_stream.event import decode
from caliper_stream.read import _repair_all, read_bytes, read_stream, repair
from refdata import LEARN, SPEC

FIXTURE_BYTES = [p.read_bytes() for p in sorted(LEARN.glob("*.json"))] + [
    p.read_bytes() for p in sorted((SPEC / "v1p0").glob("*.json"))
] + [p.read_bytes() for p in sorted((SPEC / "v1p2").glob("caliperEvent*.json"))[:20]]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["ViewEvent", "GradeEvent", "http://caliper.blackboard.com/caliper/v1/ForumEvent"]),
        "action": st.sampled_from(["Viewed", "Graded", "Created"]),
        "actor": st.text(min_size=1, max_size=30) | st.fixed_dictionaries({"id": st.text(min_size=1, max_size=30)}),
        "object": st.text(min_size=1, max_size=30),
        "id": st.uuids().map(lambda u: f"urn:uuid:{u}"),
    },
    optional={"extensions": st.dictionaries(st.text(max_size=10), json_values, max_size=3), "eventTime": st.text(max_size=30)},
)


def _shape(shape: str, docs: list[bytes]) -> bytes:
    if shape == "envelope":
        return b'{"sensor":"s","sendTime":"t","dataVersion":"http://purl.imsglobal.org/ctx/caliper/v1p1","data":[' + b",".join(docs) + b"]}"
    if shape == "array":
        return b"[" + b", ".join(docs) + b"]"
    if shape == "jsonl":
        return b"\n".join(docs) + b"\n"
    return b"\n".join(b'{"data": [' + d + b'], "sensor": "s"}' for d in docs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, min_size=1, max_size=8), st.sampled_from(["envelope", "array", "jsonl", "envelopes-jsonl"]))
def test_every_shape_gives_back_the_exact_event_bytes(batch: list[dict[str, Any]], shape: str) -> None:
    docs = [msgspec.json.encode(e) for e in batch]
    body = _shape(shape, docs)
    for items in (list(read_bytes(body)), list(read_bytes(gzip.compress(body)))):
        assert [i.raw for i in items] == docs
        decoded = [decode(i) for i in items]
        assert all(e.accepted for e in decoded)
        assert [e.key for e in decoded] == [decode(i).key for i in read_bytes(body)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(events, min_size=1, max_size=30), st.sampled_from(["envelope", "array", "jsonl", "envelopes-jsonl"]))
def test_streaming_agrees_with_the_in_memory_reader(
    monkeypatch: pytest.MonkeyPatch, batch: list[dict[str, Any]], shape: str
) -> None:
    reader = importlib.import_module("caliper_stream.read")
    body = _shape(shape, [msgspec.json.encode(e) for e in batch])
    expected = [i.raw for i in read_bytes(body)]
    with monkeypatch.context() as m:
        m.setattr(reader, "WHOLE_INPUT_LIMIT", 64)
        m.setattr(reader, "_CHUNK", 13)
        streamed = [i.raw for i in read_stream(io.BytesIO(body))]
    assert [json.loads(r) for r in streamed] == [json.loads(r) for r in expected]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(events, min_size=2, max_size=6), st.integers(0, 5), st.sampled_from([b"[", b'{"k":', b'{"[\\"{":']),
       st.integers(1, 40))
def test_streaming_splits_around_a_piece_too_deep_to_decode(
    monkeypatch: pytest.MonkeyPatch, batch: list[dict[str, Any]], at: int, opener: bytes, chunk: int
) -> None:
    """A value nested deeper than the decoder goes costs only its own event, read whole or
    streamed in chunks of any size."""
    closer = b"]" if opener == b"[" else b"}"
    docs = [msgspec.json.encode(e) for e in batch]
    at %= len(docs)
    docs[at] = docs[at][:-1] + b',"deep":' + opener * 3000 + b"0" + closer * 3000 + b"}"
    body = _shape("envelope", docs)
    with monkeypatch.context() as m:
        m.setattr(importlib.import_module("caliper_stream.read"), "WHOLE_INPUT_LIMIT", 64)
        m.setattr(importlib.import_module("caliper_stream.read"), "_CHUNK", chunk * 97)
        streamed = list(read_stream(io.BytesIO(body)))
    for items in (list(read_bytes(body)), streamed):
        assert [i.raw for i in items] == docs
        rejected = [i for i, e in enumerate(map(decode, items)) if not e.accepted]
        assert rejected == [at]


#: bytes that matter to the repairs, in any order: strings, escapes, raw control characters, U+00A0
repair_pieces = st.lists(st.sampled_from([b'"', b"\\", b"\n", b"\t", b"\x01", b"\xc2\xa0", b"\xc2", b"\xa0", b"a", b"[", b":"]),
                         max_size=40).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(repair_pieces)
def test_repair_skips_only_input_that_needs_no_repair(data: bytes) -> None:
    assert repair(data) == _repair_all(data)


mutations = st.sampled_from(["truncate", "flip", "insert", "delete", "control", "nbsp"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURE_BYTES), st.lists(st.tuples(mutations, st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_fixtures_never_crash_the_reader(data: bytes, edits: list[tuple[str, int, int]]) -> None:
    buf = bytearray(data)
    for kind, where, byte in edits:
        at = where % (len(buf) + 1)
        if kind == "truncate":
            del buf[at:]
        elif kind == "flip" and buf:
            buf[at % len(buf)] = byte
        elif kind == "insert":
            buf[at:at] = bytes([byte])
        elif kind == "delete" and buf:
            del buf[at % len(buf)]
        elif kind == "control":
            buf[at:at] = b"\n\t\x01"
        elif kind == "nbsp":
            buf[at:at] = b"\xc2\xa0"
    body = bytes(buf)
    items = list(read_bytes(body))
    assert items, "every input yields at least one item: an event or an error"
    for item in items:
        event = decode(item)
        if item.error is not None:
            assert not event.accepted
        if event.accepted:
            assert len(event.key) == 32
            event.keydata()


def test_fixture_paths_exist() -> None:
    assert FIXTURE_BYTES
    assert all(isinstance(b, bytes) for b in FIXTURE_BYTES)
    assert Path(LEARN).is_dir()
