"""A seeded corpus of hostile events, and the digest of what `prepare` makes of each.

Every fixture event and a simulated term's events, mutated: values anywhere in the event
(ids, types, scores, times, extensions, whole entities) replaced by JSON values of every other
kind. The compiled hot path checks types where plain Python does not (caliper_stream/compiled.py),
so `tests/test_compiled.py` prepares this corpus compiled and from source and compares.

``python tests/hostile_corpus.py [N]`` prints one ``<digest>  <case>`` line per case.
"""

from __future__ import annotations

import random
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).parent))

#: What a mutated value becomes: one of each JSON kind, and the edges key data meets.
HOSTILE: list[Any] = [
    None, True, False, 0, -1, 7, 2**63 - 1, 1.5, -0.0, 1e308, "", " ", "x", "NaN", "1e400", "/users/",
    "https://caliper-mapping.cloudbb.blackboard.com/v1/sites/s/users/u", "Person", "\u0000", [], [None],
    ["x", 1], {}, {"id": 5}, {"id": ["a"], "type": {"x": 1}}, {"type": "Person", "id": 3},
]
RECEIVED = "2026-01-12T10:00:00.000Z"


def _mutate(value: Any, rng: random.Random, rate: float) -> Any:
    if rng.random() < rate:
        return rng.choice(HOSTILE)
    if isinstance(value, dict):
        return {k: _mutate(v, rng, rate) for k, v in value.items()}
    if isinstance(value, list):
        return [_mutate(v, rng, rate) for v in value]
    return value


def _events() -> list[dict[str, Any]]:
    from caliper_stream.read import read_bytes
    from caliper_stream.simulate import TermConfig, generate
    from refdata import FIXTURES

    found: list[dict[str, Any]] = []
    for path in sorted(FIXTURES.rglob("*.json")):
        for item in read_bytes(path.read_bytes()):
            try:
                value = msgspec.json.decode(item.text if item.text is not None else item.raw)
            except msgspec.DecodeError:
                continue
            if isinstance(value, dict):
                found.append(value)
    for n, planned in enumerate(generate(TermConfig(courses=2, students=20, days=3, seed=3))):
        found.append(msgspec.json.decode(msgspec.json.encode(planned.built.event)))
        if n >= 300:
            break
    return found


def cases(count: int, seed: int = 11) -> Iterator[tuple[str, bytes]]:
    """`count` envelopes of 1–5 mutated events each (some with a hostile envelope too)."""
    rng = random.Random(seed)
    events = _events()
    encode = msgspec.json.Encoder().encode
    for n in range(count):
        picked = [_mutate(rng.choice(events), rng, rng.choice((0.02, 0.08, 0.25))) for _ in range(rng.randint(1, 5))]
        envelope: dict[str, Any] = {
            "sensor": rng.choice(["s", *HOSTILE[:12]]),
            "sendTime": rng.choice(["2026-01-12T14:50:26.769Z", *HOSTILE[:12]]),
            "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1",
            "data": picked,
        }
        yield f"case-{n}", encode(envelope)


def digests(count: int) -> dict[str, str]:
    from caliper_stream.ingest import prepare
    from caliper_stream.read import read_bytes
    from test_prepared_pins import digest

    out = {}
    for name, body in cases(count):
        try:
            batch = prepare(read_bytes(body, source=name), source=name, received_at=RECEIVED)
        except Exception as exc:  # never expected: named by where it was raised, to compare
            where = traceback.extract_tb(exc.__traceback__)[-1]
            out[name] = f"raised {type(exc).__name__} at {Path(where.filename).name}:{where.lineno}: {exc}"
            continue
        out[name] = digest(batch)
    return out


if __name__ == "__main__":
    for name, value in digests(int(sys.argv[1]) if len(sys.argv) > 1 else 2000).items():
        print(f"{value}  {name}")
