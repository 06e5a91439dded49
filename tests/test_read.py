"""The reader: every input shape, exact raw bytes, streaming, and bad input."""

from __future__ import annotations

import gzip
import importlib
import io
import json
from pathlib import Path

import msgspec
import pytest

from caliper_stream import read as read_module_function
from caliper_stream.event import decode
from caliper_stream.read import RawEvent, read_bytes, read_path, read_stream
from refdata import LEARN, SPEC, seed_payloads

EVENT_A = b'{"type":"ViewEvent","action":"Viewed","actor":"https://x/users/1","object":"https://x/c/1","eventTime":"2021-01-01T00:00:00.000Z","id":"urn:uuid:a"}'
EVENT_B = b'{"type":"ViewEvent","action":"Viewed","actor":"https://x/users/2","object":"https://x/c/2","eventTime":"2021-01-01T00:00:01.000Z","id":"urn:uuid:b"}'


def envelope(*events: bytes, sensor: bytes = b'"https://x/sensor"') -> bytes:
    return (
        b'{"sensor":' + sensor + b',"sendTime":"2021-01-01T00:00:02.000Z",'
        b'"dataVersion":"http://purl.imsglobal.org/ctx/caliper/v1p1","data":[' + b",".join(events) + b"]}"
    )


def raws(items: list[RawEvent]) -> list[bytes]:
    return [i.raw for i in items]


def test_envelope_yields_each_event_with_its_exact_bytes() -> None:
    pretty_b = b'{ "type" : "ViewEvent",\n  "action":"Viewed", "actor":"a", "object":"o" }'
    items = list(read_bytes(envelope(EVENT_A, pretty_b)))
    assert raws(items) == [EVENT_A, pretty_b]
    assert [i.path for i in items] == ["data[0]", "data[1]"]
    assert items[0].envelope is not None
    assert items[0].envelope.sensor == "https://x/sensor"
    assert items[0].envelope.data_version == "http://purl.imsglobal.org/ctx/caliper/v1p1"
    assert all(i.error is None for i in items)


def test_envelope_with_extra_properties_keeps_them() -> None:
    body = envelope(EVENT_A)[:-1] + b',"custom":{"x":1}}'
    (item,) = read_bytes(body)
    assert item.raw == EVENT_A
    assert item.envelope is not None
    assert item.envelope.extra == {"custom": {"x": 1}}


def test_bare_event_array_of_events_and_array_of_envelopes() -> None:
    assert raws(list(read_bytes(EVENT_A))) == [EVENT_A]
    assert raws(list(read_bytes(b"[" + EVENT_A + b"," + EVENT_B + b"]"))) == [EVENT_A, EVENT_B]
    items = list(read_bytes(b"[" + envelope(EVENT_A) + b"," + envelope(EVENT_B, EVENT_A) + b"]"))
    assert raws(items) == [EVENT_A, EVENT_B, EVENT_A]
    assert [i.path for i in items] == ["[0].data[0]", "[1].data[0]", "[1].data[1]"]
    assert [i.envelope.index for i in items if i.envelope] == [0, 1, 1]
    assert [i.index for i in items] == [0, 1, 2]


def test_json_lines_of_any_shape() -> None:
    body = EVENT_A + b"\n\n" + envelope(EVENT_B) + b"\n[" + EVENT_A + b"]\n"
    items = list(read_bytes(body))
    assert raws(items) == [EVENT_A, EVENT_B, EVENT_A]
    assert [i.line for i in items] == [1, 3, 4]


def test_gzip_is_transparent(tmp_path: Path) -> None:
    path = tmp_path / "dump.bin"  # detected by magic number, not by name
    path.write_bytes(gzip.compress(EVENT_A + b"\n" + EVENT_B + b"\n"))
    assert raws(list(read_path(path))) == [EVENT_A, EVENT_B]
    assert raws(list(read_bytes(gzip.compress(envelope(EVENT_A))))) == [EVENT_A]


def test_directory_reads_every_dump_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(envelope(EVENT_A))
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.jsonl.gz").write_bytes(gzip.compress(EVENT_B + b"\n"))
    (tmp_path / "notes.md").write_text("not a dump")
    items = list(read_path(tmp_path))
    assert raws(items) == [EVENT_A, EVENT_B]
    assert items[0].source is not None
    assert items[0].source.endswith("a.json")


def test_public_read_accepts_bytes_streams_and_paths(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_bytes(EVENT_A)
    for source in (EVENT_A, io.BytesIO(EVENT_A), path, str(path)):
        assert raws(list(read_module_function(source))) == [EVENT_A]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty input"),
        (b"  \n ", "empty input"),
        (b"nope", "not readable as JSON"),
        (b'{"type": "ViewEvent", "actor":', "truncated"),
        (b"[]", "empty array"),
        (b'{"sensor":"s","data":[]}', "no events"),
        (b'"just a string"', "expected a JSON object or array"),
        (b"\xff\xfe{}", "not readable as JSON"),
        (b"[" * 10_000 + b"]" * 10_000, "nested too deeply"),
    ],
)
def test_bad_input_is_a_clear_error_not_an_exception(body: bytes, message: str) -> None:
    items = list(read_bytes(body))
    assert items, "bad input must still produce an item (a dead letter)"
    assert items[0].error is not None
    assert message in items[0].error.message


def test_huge_numbers_and_non_objects_in_arrays() -> None:
    items = list(read_bytes(b"[" + b"1" * 10_000 + b"," + EVENT_A + b"]"))
    assert items[0].error is not None
    assert "expected a JSON object" in items[0].error.message
    assert items[1].raw == EVENT_A
    assert items[1].error is None
    event = decode(next(read_bytes(b'{"type":"ViewEvent","action":"Viewed","actor":"a","object":"o","x":' + b"9" * 10_000 + b"}")))
    assert event.accepted  # the number is kept in the raw bytes; key data does not need it


def test_one_bad_line_does_not_cost_the_rest() -> None:
    items = list(read_bytes(EVENT_A + b"\n{broken\n" + EVENT_B))
    assert [i.error is None for i in items] == [True, False, True]
    assert items[1].line == 2
    assert items[1].raw == b"{broken"


def test_control_characters_and_nbsp_are_repaired_for_decoding_only() -> None:
    raw = b'{"type":"ViewEvent","action":"Viewed","actor":{"id":"u","extensions":{"bb:user.externalId":"a\nb"}},"object":"o"}'
    items = list(read_bytes(envelope(raw)))
    assert items[0].raw == raw
    assert items[0].text is not None
    assert b"\\u000a" in items[0].text
    assert any("control characters" in w.message for w in items[0].warnings)
    assert decode(items[0]).keydata().user_external_id == "a\nb"
    nbsp = b'{\xc2\xa0"type":"ViewEvent",\xc2\xa0"action":"Viewed","actor":"u","object":"o"}'
    (item,) = read_bytes(nbsp)
    assert item.raw == nbsp
    assert decode(item).accepted
    assert any("U+00A0" in w.message for w in item.warnings)


def test_learn_samples_and_seeds_read_completely() -> None:
    counts = {p.name: len(list(read_path(p))) for p in sorted(LEARN.glob("*.json"))}
    assert counts["assessment-events-2.json"] == 2
    assert counts["content-events.json"] == 2
    assert counts["session-events.json"] == 1
    assert [len(list(read_bytes(b))) for b in seed_payloads("outcome-events.md")] == [2]
    for path in LEARN.glob("*.json"):
        assert all(i.error is None for i in read_path(path)), path


def test_spec_fixtures_read_completely() -> None:
    for path in sorted((SPEC / "v1p1").glob("caliperEnvelope*.json")):
        data = json.loads(path.read_bytes())
        items = list(read_path(path))
        assert len(items) == len(data["data"]), path
        for item, event in zip(items, data["data"], strict=True):
            assert json.loads(item.raw) == event


# -- streaming: inputs too large to hold are split on the fly ---------------------------------


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make 'large' mean a few KB so that the streaming paths run on small inputs."""
    reader = importlib.import_module("caliper_stream.read")  # the package exports a function `read`
    monkeypatch.setattr(reader, "WHOLE_INPUT_LIMIT", 2048)
    monkeypatch.setattr(reader, "MAX_EVENT_BYTES", 4096)
    monkeypatch.setattr(reader, "KEEP_HEAD_BYTES", 1024)
    monkeypatch.setattr(reader, "_CHUNK", 97)


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize(
    "shape",
    ["envelope", "array", "array-of-envelopes", "jsonl", "pretty-concatenated", "envelope-data-first"],
)
def test_streaming_shapes_match_the_in_memory_reader(shape: str) -> None:
    events = [EVENT_A, EVENT_B] * 40
    if shape == "envelope":
        body = envelope(*events)
    elif shape == "array":
        body = b"[" + b",\n".join(events) + b"]"
    elif shape == "array-of-envelopes":
        body = b"[" + b",".join(envelope(*events[i : i + 7]) for i in range(0, len(events), 7)) + b"]"
    elif shape == "jsonl":
        body = b"\n".join(events) + b"\n"
    elif shape == "pretty-concatenated":
        body = b"\n".join(envelope(*events[i : i + 9]).replace(b",", b",\n  ") for i in range(0, len(events), 9))
    else:
        body = b'{"data":[' + b",".join(events) + b'],"sensor":"s"}'
    streamed = list(read_stream(io.BytesIO(body)))
    assert [json.loads(r) for r in raws(streamed)] == [json.loads(e) for e in events]
    if shape != "pretty-concatenated":
        assert raws(streamed) == events
    assert all(i.error is None for i in streamed)
    assert [i.index for i in streamed] == list(range(len(events)))


@pytest.mark.usefixtures("small_limits")
def test_streaming_keeps_envelope_header_seen_before_data() -> None:
    body = envelope(*([EVENT_A] * 50))
    items = list(read_stream(io.BytesIO(body)))
    assert items[0].envelope is not None
    assert items[0].envelope.sensor == "https://x/sensor"
    assert items[-1].path == "data[49]"


@pytest.mark.usefixtures("small_limits")
def test_oversized_line_and_event_are_refused_without_being_held() -> None:
    huge = b'{"type":"ViewEvent","x":"' + b"y" * 20_000 + b'"}'
    items = list(read_stream(io.BytesIO(EVENT_A + b"\n" + huge + b"\n" + EVENT_B + b"\n")))
    assert [i.error is None for i in items] == [True, False, True]
    assert items[1].error is not None
    assert "longer than" in items[1].error.message
    items = list(read_stream(io.BytesIO(b"[" + EVENT_A + b"," + huge + b"," + EVENT_B + b"]")))
    assert [i.error is None for i in items] == [True, False, True]
    assert items[1].error is not None
    assert "larger than" in items[1].error.message
    assert len(items[1].raw) < 20_000


@pytest.mark.usefixtures("small_limits")
def test_streaming_truncated_input_is_reported() -> None:
    body = envelope(*([EVENT_A] * 50))[:-300]
    items = list(read_stream(io.BytesIO(body)))
    assert items[-1].error is not None
    assert "truncated" in items[-1].error.message
    assert all(i.error is None for i in items[:-1])


def test_large_gzip_stream_is_read_in_bounded_pieces(tmp_path: Path, small_limits: None) -> None:
    lines = [msgspec.json.encode({**json.loads(EVENT_A), "id": f"urn:uuid:{n}"}) for n in range(500)]
    path = tmp_path / "dump.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines)))
    assert raws(list(read_path(path))) == lines
