"""Cost of pseudonymisation at the door: `ingest.prepare` of Learn envelopes with and without a
store's `Protection` (rewrite of every personal field, re-encoding, identity capture off), in
the same run, so the ratio is what to read on a shared machine.

    python benchmarks/privacy_bench.py [--seconds 2]
"""

from __future__ import annotations

import argparse

from caliper_stream.ingest import prepare
from caliper_stream.privacy.protect import Protection
from caliper_stream.privacy.secret import Pseudonym
from caliper_stream.read import read_bytes
from learn_payloads import envelope, sample_events
from timing import rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    protection = Protection(Pseudonym(b"benchmark secret, 32 bytes long!"))
    events = sample_events()
    for size in (100, 1000):
        body = envelope(events, size)
        clear = rate(lambda body=body: prepare(read_bytes(body), source="b"), size, args.seconds)
        pseudo = rate(lambda body=body: prepare(read_bytes(body), source="b", privacy=protection), size, args.seconds)
        print(f"{size:>5}-event envelope: clear {clear:>9,.0f} events/s  pseudonymous {pseudo:>9,.0f} events/s"
              f"  ratio {pseudo / clear:.2f}")


if __name__ == "__main__":
    main()
