"""Synthetic Learn traffic for the benchmarks: the Learn samples with fresh ids.

Each generated event is one of Learn's documented sample events on one line, with its ``id``
(and the session/attempt ids inside it are left alone) replaced by a new UUID, so every
generated event is a new event for the store.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from caliper_stream.formats.jsonl import single_line
from caliper_stream.read import read_path

ROOT = Path(__file__).resolve().parents[1]
LEARN = Path(os.environ.get("CALIPER_SHARED", ROOT.parent / "shared")) / "fixtures" / "blackboard-learn-docs" / "v1p1"

_ID = re.compile(rb'"id":\s*"(?:urn:uuid:)?[0-9a-fA-F-]{36}"')


def templates() -> list[bytes]:
    """The sample events as single-line JSON with their event id replaced by ``{ID}``."""
    out = []
    for ev in read_path(LEARN):
        if ev.error is not None:
            continue
        line = single_line(ev.raw)
        # the event's own id is the first top-level "id" that holds a bare UUID
        line, n = _ID.subn(b'"id": "urn:uuid:{ID}"', line, count=1)
        if n:
            out.append(line)
    return out


def events(n: int) -> Iterator[bytes]:
    """`n` single-line events, cycling through the templates, each with a fresh id."""
    tpl = templates()
    for i in range(n):
        yield tpl[i % len(tpl)].replace(b"{ID}", str(uuid.uuid4()).encode())


def write_jsonl(path: Path, size: int) -> int:
    """Write about `size` bytes of JSON Lines to `path`; return the number of events."""
    tpl = templates()
    written = count = 0
    with path.open("wb", buffering=1 << 20) as fh:
        while written < size:
            line = tpl[count % len(tpl)].replace(b"{ID}", str(uuid.uuid4()).encode()) + b"\n"
            fh.write(line)
            written += len(line)
            count += 1
    return count
