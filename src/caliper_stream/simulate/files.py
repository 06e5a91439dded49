"""Writing a simulated term as the JSON Lines of envelopes Learn would have posted.

``out`` is a file when its name ends in ``.jsonl``, ``.json``, ``.ndjson`` or ``.gz`` (gzip,
level 1: fast, and the JSON still shrinks ~20x); anything else is a directory that receives
``events-0001.jsonl``, ``events-0002.jsonl``, … of at most `EVENTS_PER_FILE` events each.

Envelopes are grouped the way the sensor groups them (same rules as
`caliper_stream.sensor.flow`): immediate events in envelopes of at most ``batch_size`` that
close ``max_delay`` seconds after their first event, nightly events held and written in bulk at
the next nightly run. ``sendTime`` is that emulated send time. Each event's bytes are exactly
what the sensor would send, so ``--out`` and ``--to`` with one seed carry the same events.
"""

from __future__ import annotations

import gc
import gzip
import queue
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import msgspec

from caliper_stream.sensor.builders.base import CTX_1P1, ms_time
from caliper_stream.sensor.flow import next_nightly, parse_hhmm
from caliper_stream.simulate.term import Planned

EVENTS_PER_FILE = 100_000
_CHUNK = 1 << 20
FILE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".gz")


class WriteStats(msgspec.Struct):
    events: int = 0
    envelopes: int = 0
    bytes: int = 0
    files: list[str] = msgspec.field(default_factory=list)


class _Background:
    """A file written by a helper thread: zlib and write(2) release the GIL, so compression and
    the copy into the page cache run on another core while the generator keeps building events."""

    def __init__(self, fh: IO[bytes] | gzip.GzipFile) -> None:
        self.fh = fh
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="simulate-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (chunk := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.fh.write(chunk)
                except BaseException as exc:  # reported by close()
                    self.error = exc

    def write(self, chunk: bytes) -> int:
        if self.error is not None:
            raise self.error
        self.queue.put(chunk)
        return len(chunk)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.fh.close()
        if self.error is not None:
            raise self.error


class _Sink:
    """One output file, or a directory of numbered files rotated every `EVENTS_PER_FILE`."""

    def __init__(self, out: Path, stats: WriteStats) -> None:
        self.single = out.name.lower().endswith(FILE_SUFFIXES)
        self.out = out
        self.stats = stats
        self.fh: _Background | None = None
        self.in_file = 0
        self.buffer: list[bytes] = []
        self.buffered = 0
        if self.single:
            out.parent.mkdir(parents=True, exist_ok=True)
        else:
            out.mkdir(parents=True, exist_ok=True)

    def _open(self) -> _Background:
        if self.single:
            path = self.out
        else:
            path = self.out / f"events-{len(self.stats.files) + 1:04d}.jsonl"
        self.stats.files.append(str(path))
        if path.name.lower().endswith(".gz"):
            return _Background(gzip.GzipFile(path, "wb", compresslevel=1))
        return _Background(path.open("wb"))

    def _spill(self) -> None:
        if self.fh is not None and self.buffer:
            self.fh.write(b"".join(self.buffer))
        self.buffer, self.buffered = [], 0

    def write(self, line: bytes, events: int) -> None:
        if self.fh is None or (not self.single and self.in_file >= EVENTS_PER_FILE):
            if self.fh is not None:
                self._spill()
                self.fh.close()
            self.fh = self._open()
            self.in_file = 0
        self.buffer.append(line)
        self.buffered += len(line)
        if self.buffered >= _CHUNK:
            self._spill()
        self.in_file += events
        self.stats.events += events
        self.stats.envelopes += 1
        self.stats.bytes += len(line)

    def close(self) -> None:
        if self.fh is not None:
            self._spill()
            self.fh.close()


def write_term(
    planned: Iterable[Planned],
    out: str | Path,
    *,
    sensor_id: str,
    version: str = "1.1",
    batch_size: int = 100,
    max_delay: float = 1.0,
    nightly_at: str = "02:00",
    timezone: str = "America/New_York",
) -> WriteStats:
    """Write ``planned`` events as envelopes (see the module docstring)."""
    stats = WriteStats()
    sink = _Sink(Path(out), stats)
    encode = msgspec.json.Encoder().encode
    head = b'{"sensor":' + msgspec.json.encode(sensor_id) + b',"sendTime":"'
    tail = b'",' if version == "1.0" else b'","dataVersion":"' + CTX_1P1.encode() + b'",'
    hhmm, tz = parse_hhmm(nightly_at), ZoneInfo(timezone)

    def emit(bodies: list[bytes], send_at: float) -> None:
        line = b"".join((head, ms_time(int(send_at * 1000)).encode(), tail, b'"data":[', b",".join(bodies), b"]}\n"))
        sink.write(line, len(bodies))

    batch: list[bytes] = []
    batch_end = 0.0
    held: list[bytes] = []
    run = float("inf")
    was_enabled = gc.isenabled()
    gc.disable()  # built events hold no reference cycles; collections only cost time here
    try:
        for item in planned:
            at = item.at
            if batch and at > batch_end:
                emit(batch, batch_end)
                batch = []
            if held and at >= run:
                for i in range(0, len(held), batch_size):
                    emit(held[i : i + batch_size], run)
                held = []
            body = encode(item.built.event)
            if item.built.nightly:
                if not held:
                    run = next_nightly(at, hhmm, tz)
                held.append(body)
                continue
            if not batch:
                batch_end = at + max_delay
            batch.append(body)
            if len(batch) >= batch_size:
                emit(batch, at)
                batch = []
        if batch:
            emit(batch, batch_end)
        for i in range(0, len(held), batch_size):
            emit(held[i : i + batch_size], run)
    finally:
        sink.close()
        if was_enabled:
            gc.enable()
    return stats
