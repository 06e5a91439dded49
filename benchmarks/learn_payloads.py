"""Learn-shaped test payloads for the benchmarks: the published Learn samples, re-identified.

Each event gets a fresh uuid4 id so that nothing deduplicates; the bytes are otherwise the
samples' own. Located through ``CALIPER_SHARED`` (default: ``../shared`` beside the checkout).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALIPER_SHARED", ROOT.parent / "shared"))
LEARN = SHARED / "fixtures" / "blackboard-learn-docs" / "v1p1"


def sample_events() -> list[dict[str, Any]]:
    """Every event of the Learn 1.1 samples, decoded (the reader's repairs applied)."""
    from caliper_stream.event import decode
    from caliper_stream.read import read

    events = []
    for path in sorted(LEARN.glob("*.json")):
        for item in read(path):
            events.append(decode(item).json())
    return events


def envelope(events: list[dict[str, Any]], size: int, offset: int = 0) -> bytes:
    """A Learn envelope of `size` events cycled from `events`, each with a fresh id."""
    data = []
    for i in range(size):
        event = dict(events[(offset + i) % len(events)])
        event["id"] = str(uuid.uuid4())
        data.append(event)
    return msgspec.json.encode(
        {
            "sensor": "54b54b42-dd02-42f8-88ed-07bd719bfb7c",
            "sendTime": "2021-01-05T14:50:26.769Z",
            "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1",
            "data": data,
        }
    )


def simulated_bodies(count: int, seed: int = 0) -> list[bytes]:
    """The first `count` events of a seeded simulated term (the mix ``caliper-stream simulate``
    writes), each encoded exactly as the simulator writes it."""
    from caliper_stream.simulate import TermConfig, generate

    encode = msgspec.json.Encoder().encode
    bodies: list[bytes] = []
    for planned in generate(TermConfig(courses=3, students=60, days=7, seed=seed)):
        bodies.append(encode(planned.built.event))
        if len(bodies) >= count:
            break
    return bodies


def simulated_envelope(bodies: list[bytes], size: int) -> bytes:
    """A 1.1 envelope of `size` simulated events cycled from `bodies` (as ``simulate`` frames it)."""
    data = b",".join(bodies[i % len(bodies)] for i in range(size))
    return (
        b'{"sensor":"54b54b42-dd02-42f8-88ed-07bd719bfb7c","sendTime":"2026-01-12T14:50:26.769Z",'
        b'"dataVersion":"http://purl.imsglobal.org/ctx/caliper/v1p1","data":[' + data + b"]}"
    )
