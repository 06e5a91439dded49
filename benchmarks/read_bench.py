"""Reader speed: lenient read + decode (version, terms, event key) + key data, per envelope size.

Reports events/s for 100- and 1000-event envelopes of the simulator's mix (what
``caliper-stream simulate`` writes) and of Learn's published samples, and in the same run the
rate of ``json.loads`` and of ``orjson.loads`` on the same bytes as references (the machine is
shared, so compare ratios, not absolute numbers). Also reports the full canonical document path
(``Event.document()``) and lenient validation, which the ingest path does not need.

    python benchmarks/read_bench.py [--seconds 2] [--stages]

``--stages`` prints where the time goes instead: µs per event of each step of the hot path
(split, typed view, event key, key data) for the 100-event simulator envelope.

``--scanner`` times the structural scanner instead, which splits what msgspec cannot take
whole: a dump too large to hold that is not JSON Lines (an indented array of ~100 MB of
envelopes, streamed), and an envelope with one event nested deeper than the decoder goes, in
MB/s next to ``json.loads`` of the same bytes (of the dump; of the envelope without the deep
event, which json.loads refuses).
"""

from __future__ import annotations

import argparse
import json
import os

import orjson

from caliper_stream.event import decode, event_key
from caliper_stream.keydata import extract
from caliper_stream.model.views import view_decoder
from caliper_stream.read import read_bytes
from learn_payloads import envelope, sample_events, simulated_bodies, simulated_envelope
from timing import rate


def hot_path(body: bytes) -> None:
    for item in read_bytes(body):
        event = decode(item)
        event.keydata()


def stages(body: bytes, seconds: float) -> None:
    """µs per event of each step, each timed on its own over the same events."""
    items = list(read_bytes(body))
    events = [decode(item) for item in items]
    steps = {
        "split (read_bytes)": lambda: list(read_bytes(body)),
        "typed view decode": lambda: [view_decoder.decode(item.raw) for item in items],
        "decode (view, version, terms, key)": lambda: [decode(item) for item in items],
        "event key": lambda: [event_key(event) for event in events],
        "key data": lambda: [extract(event) for event in events],
        "json.loads of the envelope": lambda: json.loads(body),
    }
    for name, fn in steps.items():
        print(f"{name:>36} {1e6 / rate(fn, len(items), seconds):6.2f} µs/event")


def scanner(seconds: float) -> None:
    """MB/s of the scanner on an indented dump and on a depth bomb, next to json.loads."""
    import io

    from caliper_stream.read import WHOLE_INPUT_LIMIT, read_stream

    bodies = simulated_bodies(1000)
    envelopes = [json.loads(simulated_envelope(bodies[i : i + 10], 10)) for i in range(0, 1000, 10)]
    copies = WHOLE_INPUT_LIMIT * 3 // 2 // len(json.dumps(envelopes, indent=2)) + 1
    dump = json.dumps(envelopes * copies, indent=2).encode()  # past the limit: streamed
    good = simulated_envelope(bodies[:100], 100)
    deep = good[:-2] + b',{"deep":' + b'{"a":' * 1_000_000 + b"0" + b"}" * 1_000_001 + b"]}"
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'input':>32} {'MB':>7} {'pieces':>8} {'scanner':>11} {'json.loads':>11}")
    for name, body, ref in (("indented dump, streamed", dump, dump), ("100 events + one 1M levels deep", deep, good)):
        pieces = sum(1 for _ in read_stream(io.BytesIO(body)))
        ours = rate(lambda body=body: sum(1 for _ in read_stream(io.BytesIO(body))), len(body), seconds) / 1e6
        plain = rate(lambda ref=ref: json.loads(ref), len(ref), seconds) / 1e6
        print(f"{name:>32} {len(body) / 1e6:7.1f} {pieces:>8,} {ours:8.1f}/s {plain:9.1f}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--stages", action="store_true", help="time each step of the hot path")
    parser.add_argument("--scanner", action="store_true", help="time the structural scanner (dumps, deep values)")
    args = parser.parse_args()
    if args.scanner:
        scanner(args.seconds)
        return
    if args.stages:
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        stages(simulated_envelope(simulated_bodies(1000), 100), args.seconds)
        return
    simulated = simulated_bodies(1000)
    learn = sample_events()
    bodies = {
        ("simulator", size): simulated_envelope(simulated, size) for size in (100, 1000)
    } | {("learn", size): envelope(learn, size) for size in (100, 1000)}
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{'mix':>9} {'envelope':>9} {'bytes/event':>11} {'read+decode+keydata':>20}"
        f" {'json.loads':>12} {'orjson.loads':>13} {'ratio vs json':>14}"
    )
    for (mix, size), body in bodies.items():
        ours = rate(lambda body=body: hot_path(body), size, args.seconds)
        ref = rate(lambda body=body: json.loads(body), size, args.seconds)
        ref2 = rate(lambda body=body: orjson.loads(body), size, args.seconds)
        print(
            f"{mix:>9} {size:>9} {len(body) // size:>11} {ours:>17,.0f}/s {ref:>10,.0f}/s"
            f" {ref2:>11,.0f}/s {ours / ref:>13.2f}x"
        )
    body = bodies["learn", 100]
    full = rate(lambda: [decode(i).document() for i in read_bytes(body)], 100, args.seconds)
    print(f"full canonical document (100-event Learn envelope): {full:,.0f} events/s")
    try:
        from caliper_stream.validate import validate
    except ImportError:
        return
    lenient = rate(lambda: [validate(decode(i)) for i in read_bytes(body)], 100, args.seconds)
    print(f"lenient validation with all warnings (100-event Learn envelope): {lenient:,.0f} events/s")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
