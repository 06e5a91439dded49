"""Bulk import of dumps into a store: read → prepare → write, in chunks.

Every chunk is one transaction, so an interrupted import keeps what it committed and a re-run
stores nothing twice (events deduplicate on event_key, dead letters on source and bytes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO

import msgspec

from caliper_stream.errors import ReadError
from caliper_stream.ingest import Batch, prepare
from caliper_stream.privacy import protection_for
from caliper_stream.read import RawEvent, input_files, raise_read_error, read_stream
from caliper_stream.store.base import Store, WriteResult

#: Events per transaction: large enough to amortise the commit, small enough to bound memory.
CHUNK = 2000


class ImportSummary(msgspec.Struct):
    files: int = 0
    bytes: int = 0
    events: int = 0
    repaired: int = 0
    result: WriteResult = msgspec.field(default_factory=WriteResult)
    #: inputs that yielded no event at all (empty, unreadable, or only dead letters)
    no_events: list[str] = msgspec.field(default_factory=list)


#: ``progress(bytes_read, summary)``, called after every committed chunk.
Progress = Callable[[int, ImportSummary], None]


def source_name(path: Path | str) -> str:
    """The source recorded for events imported from a file or a directory: ``import:<name>``."""
    return "import:stdin" if str(path) == "-" else f"import:{Path(path).resolve().name or path}"


def planned_sources(paths: Iterable[str | Path], source: str | None = None) -> list[tuple[Path, str]]:
    """Every file the paths name, with the source its events are recorded under: `source` when
    given, else one source per file named and one per directory (all of its dumps), so that a
    directory of 20,000 files is one source, not 20,000. ``-`` is stdin."""
    files: list[tuple[Path, str]] = []
    for p in paths:
        path = Path(p)
        if str(p) == "-":
            files.append((path, source or source_name(p)))
        elif not path.exists():
            raise ReadError(f"{p}: no such file or directory")
        else:
            name = source or source_name(path)
            files.extend((f, name) for f in input_files(path))
    return files


def planned_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every file the paths name (directories are searched for dumps); ``-`` is stdin."""
    return [f for f, _ in planned_sources(paths)]


def _chunks(items: Iterator[RawEvent], size: int) -> Iterator[list[RawEvent]]:
    while chunk := list(islice(items, size)):
        yield chunk


def import_file(
    store: Store,
    path: Path,
    summary: ImportSummary,
    *,
    chunk: int = CHUNK,
    strict: bool = False,
    progress: Progress | None = None,
    done_before: int = 0,
    source: str | None = None,
) -> None:
    """Import one file (or stdin for ``-``) into `store`, adding to `summary` (`source`: what
    its events are recorded under, by default ``import:<file name>``)."""
    source = source or source_name(path)
    privacy = protection_for(store)
    rows = 0
    fh: IO[bytes]
    if str(path) == "-":
        fh = sys.stdin.buffer
    else:
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise_read_error(str(path), exc)
    try:
        for raw_events in _chunks(read_stream(fh, str(path)), chunk):
            batch = prepare(raw_events, source=source, strict=strict, privacy=privacy)
            rows += len(batch.rows)
            _write(store, batch, len(raw_events), summary, done_before + _position(fh), progress)
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()
    summary.files += 1
    if not rows:
        summary.no_events.append(str(path))


def _write(
    store: Store, batch: Batch, events: int, summary: ImportSummary, position: int, progress: Progress | None
) -> None:
    summary.result = summary.result + store.write(batch.rows, batch.dead_letters)
    summary.events += events
    summary.repaired += batch.repaired
    if progress is not None:
        progress(position, summary)


def _position(fh: IO[bytes]) -> int:
    try:
        return fh.tell()
    except (OSError, ValueError):
        return 0


def import_paths(
    store: Store,
    paths: Iterable[str | Path],
    *,
    chunk: int = CHUNK,
    strict: bool = False,
    progress: Progress | None = None,
    source: str | None = None,
) -> ImportSummary:
    """Import files and directories (json, jsonl, gzip, any mix) into `store`; see
    `planned_sources` for the source recorded (`source` overrides it)."""
    files = planned_sources(paths, source)
    summary = ImportSummary()
    done = 0
    for f, name in files:
        import_file(store, f, summary, chunk=chunk, strict=strict, progress=progress, done_before=done, source=name)
        if str(f) != "-":
            done += f.stat().st_size
    summary.bytes = done
    return summary


def total_bytes(paths: Iterable[str | Path]) -> int:
    """The size of everything `import_paths` will read (stdin counts as 0)."""
    return sum(f.stat().st_size for f in planned_files(paths) if str(f) != "-")
