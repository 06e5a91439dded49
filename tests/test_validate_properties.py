"""Properties of normalize, validate and write under random input and mutated fixtures.

Mutations of valid fixtures that break a MUST (a required property dropped, a value of the wrong
kind, an action the event type does not have, truncated bytes) must be rejected in strict mode;
damage to an invalid fixture (raw control characters, truncation, a custom property) never makes
it acceptable; nothing ever raises; and what strict mode accepts, `write` reproduces.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caliper_stream.errors import ReadError
from caliper_stream.event import Event, decode
from caliper_stream.normalize import normalize
from caliper_stream.problems import join
from caliper_stream.read import read_bytes
from caliper_stream.validate import rules, validate
from caliper_stream.vocab import term
from caliper_stream.write import write
from refdata import LEARN, SPEC

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _items(paths: list[Any]) -> list[bytes]:
    found = []
    for path in paths:
        for item in read_bytes(path.read_bytes()):
            found.append(item.raw)
    return found


VALID_EVENTS = [
    raw
    for raw in _items([p for v in ("v1p0", "v1p1", "v1p2") for p in sorted((SPEC / v).glob("caliperEvent*.json"))])
    if decode(next(iter(read_bytes(raw)))).rejection is None
]
VALID_ANY = _items(
    [p for v in ("v1p1", "v1p2") for p in sorted((SPEC / v).glob("*.json")) if p.name != "caliperEndpointConfigPayload.json"]
)
#: the spec's invalid fixtures, but for the one that contradicts the JSON Schemas (maxScore: 15 is a number)
INVALID = _items(sorted(
    p for p in (SPEC / "v1p2" / "commonErrorFixtures").glob("*.json") if p.name != "caliperEntityScore-MalformedMaxScoreNotAnInt.json"
))
LEARN_ITEMS = _items(sorted(LEARN.glob("*.json")))


def one(raw: bytes) -> Event:
    items = list(read_bytes(raw))
    assert len(items) == 1
    return decode(items[0])


def rejected(event: Event) -> bool:
    return any(p.severity == "error" for p in validate(event, strict=True))


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


# -- mutations ------------------------------------------------------------------------------


def typed_leaves(doc: Any, path: str = "") -> list[tuple[str, list[Any], str]]:
    """(path, container path as keys, property) of every value whose kind is a scalar kind of a
    known entity type: replacing it with a list must be an error."""
    found: list[tuple[str, list[Any], str]] = []

    def walk(value: Any, keys: list[Any]) -> None:
        if isinstance(value, dict):
            kind = value.get("type", value.get("@type"))
            table = rules.PROPERTIES.get(term(kind)) if isinstance(kind, str) else None
            for key, item in value.items():
                if key in ("extensions", "@context", "messageParameters"):
                    continue
                if table and key in table and not table[key].many and table[key].base in (
                    "string",
                    "integer",
                    "decimal",
                    "boolean",
                    "datetime",
                    "duration",
                ):
                    found.append((join(path, key), keys, key))
                walk(item, [*keys, key])
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, [*keys, i])

    walk(doc, [])
    return found


def at(doc: Any, keys: list[Any]) -> Any:
    for key in keys:
        doc = doc[key]
    return doc


@SETTINGS
@given(raw=st.sampled_from(VALID_EVENTS), data=st.data())
def test_dropping_a_required_property_is_rejected(raw: bytes, data: st.DataObject) -> None:
    event = one(raw)
    doc = event.json()
    present = [k for k in ("actor", "action", "object", "eventTime", "id", "type", "@type") if k in doc]
    if event.version == "1.0":
        present = [k for k in present if k != "id"]
    key = data.draw(st.sampled_from(present))
    del doc[key]
    assert rejected(one(encode(doc)))


@SETTINGS
@given(raw=st.sampled_from(VALID_EVENTS), data=st.data())
def test_a_value_of_the_wrong_kind_is_rejected(raw: bytes, data: st.DataObject) -> None:
    doc = one(raw).json()
    choices = [("top", k) for k in ("actor", "action", "object", "eventTime") if k in doc]
    choices += [("leaf", i) for i in range(len(typed_leaves(doc)))]
    where, which = data.draw(st.sampled_from(choices))
    if where == "top":
        doc[which] = data.draw(st.sampled_from([42, 4.5, True, [1]]))
    else:
        _, keys, key = typed_leaves(doc)[int(which)]
        at(doc, keys)[key] = data.draw(st.sampled_from([[1], {"not": "a value"}]))
    assert rejected(one(encode(doc)))


@SETTINGS
@given(raw=st.sampled_from(VALID_EVENTS), data=st.data())
def test_an_action_the_event_type_lacks_is_rejected(raw: bytes, data: st.DataObject) -> None:
    event = one(raw)
    rule = rules.EVENTS[event.version].get(event.type)
    if rule is None or rule.actions is None:
        return  # the generic Event takes any action
    doc = event.json()
    doc["action"] = data.draw(st.sampled_from([*sorted(rules.ACTIONS - rule.actions), "NotAnAction"]))
    assert rejected(one(encode(doc)))


@SETTINGS
@given(raw=st.sampled_from(VALID_ANY + INVALID + LEARN_ITEMS), cut=st.integers(min_value=1))
def test_truncated_bytes_are_rejected(raw: bytes, cut: int) -> None:
    event = one(raw[: cut % len(raw)])
    assert rejected(event)
    assert event.rejection is not None


def _with_control(raw: bytes, data: st.DataObject) -> bytes:
    quotes = [i for i, b in enumerate(raw) if b == ord('"')]
    at_quote = data.draw(st.sampled_from(quotes[1:] or [0]))
    char = data.draw(st.sampled_from([b"\x01", b"\n", b"\t", b"\x1f"]))
    return raw[:at_quote] + char + raw[at_quote:]


@SETTINGS
@given(raw=st.sampled_from(INVALID), data=st.data())
def test_damage_never_makes_an_invalid_fixture_acceptable(raw: bytes, data: st.DataObject) -> None:
    mutation = data.draw(st.sampled_from(["control", "truncate", "custom"]))
    if mutation == "control":
        mutated = _with_control(raw, data)
    elif mutation == "truncate":
        mutated = raw[: data.draw(st.integers(min_value=1, max_value=len(raw) - 1))]
    else:
        mutated = raw.rstrip()[:-1] + b', "customProperty": {"x": 1}}'
    for item in read_bytes(mutated):
        assert rejected(decode(item))


@SETTINGS
@given(raw=st.sampled_from(VALID_ANY + LEARN_ITEMS), data=st.data())
def test_strict_accepted_output_of_write_reads_back_identically(raw: bytes, data: st.DataObject) -> None:
    if data.draw(st.booleans()):
        raw = _with_control(raw, data)
    for item in read_bytes(raw):
        event = decode(item)
        if rejected(event):
            continue  # a control character outside a string: not JSON any more
        (again,) = [decode(i) for i in read_bytes(write(event))]
        before, after = event.document(), again.document()
        if event.version == "1.0" or "@context" not in before:
            before.pop("@context", None)
            after.pop("@context", None)
        assert after == before


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.sampled_from(["@id", "@type", "id", "type", "actor", "action", "object", "roles", "keywords",
                         "extensions", "@context", "generated", "items", "eventTime", "maxScore", "x"]),
        inner,
        max_size=6,
    ),
    max_leaves=25,
)


@SETTINGS
@given(doc=JSON, version=st.sampled_from(["1.0", "1.1", "1.2", "unknown"]))
def test_normalize_is_total_and_idempotent(doc: Any, version: str) -> None:
    out = normalize(doc, version)
    assert isinstance(out, dict)
    assert normalize(out, version) == out


@SETTINGS
@given(doc=JSON, strict=st.booleans())
def test_any_json_goes_through_read_decode_validate_write(doc: Any, strict: bool) -> None:
    for item in read_bytes(encode(doc)):
        event = decode(item)
        problems = validate(event, strict=strict)
        assert all(p.severity in ("error", "warning") for p in problems)
        if isinstance(doc, dict) and event.rejection is None:
            write(event)


@SETTINGS
@given(body=st.binary(max_size=200))
def test_any_bytes_go_through(body: bytes) -> None:
    try:
        items = list(read_bytes(body))
    except ReadError:
        return  # a broken gzip stream: the reader refuses the whole input
    for item in items:
        validate(decode(item), strict=True)
        validate(decode(item))
