"""Pins what `ingest.prepare` gives for every reference fixture and a seeded simulated term.

Why: the read path is tuned for speed (typed views, memos, inline reads); any change there must
leave every stored value as it was. Each input is read with `read_bytes`, prepared leniently,
and everything the store writes is reduced to one SHA-256 digest per input: each row's event
key, raw bytes, every key-data field, source and received time; each dead letter's raw bytes
and reasons; the repaired count and the warnings. The digests live in
``tests/data/prepared-fixtures.sha256``, one ``<digest>  <input>`` line per input.

Regenerate after an intended change of output (and say why in the commit)::

    CALIPER_STREAM_REPIN=1 pytest -q -p no:randomly tests/test_prepared_pins.py
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caliper_stream.ingest import Batch, prepare
from caliper_stream.keydata import FIELDS, clear_memos
from caliper_stream.problems import Problem
from caliper_stream.read import read_bytes
from refdata import FIXTURES

PINS = Path(__file__).parent / "data" / "prepared-fixtures.sha256"
RECEIVED = "2026-01-12T10:00:00.000Z"
SIMULATED = "simulator:seed=0:events=1000"


def _problem(p: Problem) -> list[Any]:
    return [p.path, p.message, p.event, p.severity]


def canonical(batch: Batch) -> list[Any]:
    """Every value of `batch` the store writes, as plain JSON values (independent of the
    classes that hold them)."""
    rows = [
        [
            row.event_key,
            hashlib.sha256(row.raw).hexdigest(),
            [getattr(row.keydata, name) for name in FIELDS],
            row.source,
            row.received_at,
        ]
        for row in batch.rows
    ]
    dead = [
        [hashlib.sha256(d.raw).hexdigest(), [_problem(p) for p in d.reasons], d.source, d.received_at]
        for d in batch.dead_letters
    ]
    return [list(FIELDS), rows, dead, batch.repaired, [_problem(p) for p in batch.warnings]]


def digest(batch: Batch) -> str:
    return hashlib.sha256(msgspec.json.encode(canonical(batch))).hexdigest()


def inputs() -> Iterator[tuple[str, bytes]]:
    """Every fixture file (by path under the fixtures folder), then the simulated events."""
    for path in sorted(p for p in FIXTURES.rglob("*") if p.is_file()):
        yield path.relative_to(FIXTURES).as_posix(), path.read_bytes()
    from caliper_stream.simulate import TermConfig, generate

    encode = msgspec.json.Encoder().encode
    bodies: list[bytes] = []
    for planned in generate(TermConfig(courses=3, students=60, days=7, seed=0)):
        bodies.append(encode(planned.built.event))
        if len(bodies) >= 1000:
            break
    yield SIMULATED, b'{"sensor":"s","sendTime":"2026-01-12T14:50:26.769Z","data":[' + b",".join(bodies) + b"]}"


def prepared(name: str, data: bytes) -> Batch:
    return prepare(read_bytes(data, source=name), source=name, received_at=RECEIVED)


def current() -> dict[str, str]:
    return {name: digest(prepared(name, data)) for name, data in inputs()}


def load() -> dict[str, str]:
    pins = {}
    for line in PINS.read_text(encoding="utf-8").splitlines():
        value, name = line.split("  ", 1)
        pins[name] = value
    return pins


def test_prepare_output_is_pinned() -> None:
    found = current()
    if os.environ.get("CALIPER_STREAM_REPIN"):
        PINS.parent.mkdir(exist_ok=True)
        PINS.write_text("".join(f"{value}  {name}\n" for name, value in found.items()), encoding="utf-8")
        pytest.skip(f"re-pinned {len(found)} inputs into {PINS}")
    pins = load()
    assert sorted(found) == sorted(pins), "inputs added or removed: re-pin (see the docstring)"
    changed = [name for name, value in found.items() if pins[name] != value]
    assert not changed, f"prepare output changed for {len(changed)} inputs: {changed[:10]}"


def test_memos_change_no_output() -> None:
    """Cold memos, memos warmed by every input, and memos warmed in another order give the
    pinned output for each input."""
    pins, named = load(), list(inputs())
    for name, data in named:
        clear_memos()
        assert digest(prepared(name, data)) == pins[name], f"{name}, cold memos"
    for name, data in reversed(named):
        assert digest(prepared(name, data)) == pins[name], f"{name}, warm memos"


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_memos_change_no_output_in_any_order(data: st.DataObject) -> None:
    """Inputs prepared in any order, memos cleared at any point, give their pinned output."""
    pins, named = load(), _inputs()
    order = data.draw(st.permutations(range(len(named))).map(lambda p: p[:40]))
    clear_at = data.draw(st.sets(st.integers(0, 39), max_size=3))
    for step, k in enumerate(order):
        if step in clear_at:
            clear_memos()
        name, body = named[k]
        assert digest(prepared(name, body)) == pins[name], name


@functools.cache
def _inputs() -> list[tuple[str, bytes]]:
    return list(inputs())
