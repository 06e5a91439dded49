"""Test payloads: the published Learn samples, re-identified so that nothing deduplicates."""

from __future__ import annotations

import copy
import functools
import os
import uuid
from pathlib import Path
from typing import Any

import msgspec

from caliper_stream.event import decode
from caliper_stream.read import read_path

ROOT = Path(__file__).resolve().parents[2]
LEARN = Path(os.environ.get("CALIPER_SHARED", ROOT.parent / "shared")) / "fixtures" / "blackboard-learn-docs" / "v1p1"
V1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"
SENSOR = "54b54b42-dd02-42f8-88ed-07bd719bfb7c"


@functools.cache
def _samples() -> tuple[bytes, ...]:
    out = []
    for path in sorted(LEARN.glob("*.json")):
        for item in read_path(path):
            event = decode(item)
            if event.accepted:
                out.append(msgspec.json.encode(event.json()))
    return tuple(out)


def learn_events(n: int, offset: int = 0) -> list[dict[str, Any]]:
    """`n` Learn sample events (cycled), each with a fresh ``urn:uuid`` id."""
    samples = _samples()
    events = []
    for i in range(n):
        event = msgspec.json.decode(samples[(offset + i) % len(samples)])
        event["id"] = f"urn:uuid:{uuid.uuid4()}"
        events.append(event)
    return events


def envelope(events: list[dict[str, Any]], data_version: str | None = V1P1) -> bytes:
    """A Learn envelope around `events` (no ``dataVersion`` when None, as in Caliper 1.0)."""
    env: dict[str, Any] = {"sensor": SENSOR, "sendTime": "2021-01-05T14:50:26.769Z"}
    if data_version is not None:
        env["dataVersion"] = data_version
    env["data"] = events
    return msgspec.json.encode(env)


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


def broken(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of `event` that is not a Caliper event (no actor)."""
    bad = copy.deepcopy(event)
    bad.pop("actor", None)
    return bad
