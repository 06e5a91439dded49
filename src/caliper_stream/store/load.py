"""Bulk import of dumps into a store: read → prepare → write, in chunks.

Every transaction holds up to `CHUNK` events, so an interrupted import keeps what it committed
and a re-run stores nothing twice (events deduplicate on event_key, dead letters on source and
bytes).

Reading and preparing (JSON decoding, key data) cost a quarter to a half of an import's time,
so a large import runs them in a second process while this one writes (`pipelined`): the parser sends
prepared chunks, in input order, through a bounded queue, which keeps memory independent of
the input's size. Both paths run the same `parse` generator and the same write loop; only
where `parse` runs differs. A pseudonymous store is imported in one process: its protection
records identities in the store as it goes.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import IO

import msgspec

from caliper_stream.errors import CaliperStreamError, ReadError
from caliper_stream.ingest import Batch, Protection, prepare
from caliper_stream.privacy import protection_for
from caliper_stream.read import RawEvent, input_files, raise_read_error, read_stream
from caliper_stream.store.base import Store, WriteResult

#: Events per transaction. In a large database each inserted event lands on a random leaf page
#: of the event_key index (and of the user/time one), and a commit writes every page it changed
#: to the WAL: in a 1M-event store 5000 events touch some 3000 distinct 16 KiB pages of that
#: index alone, ~50 MB of WAL for ~15 MB of events. Ten times as many events per transaction
#: share those pages (measured 16 % faster at 1M events); memory stays bounded by this count.
CHUNK = 50_000
#: Events the parser prepares at a time (the unit of the queue): transactions are whole chunks.
PARSE_CHUNK = 5000
#: Prepared chunks the parser may be ahead of the writer: enough to ride out a slow commit
#: (a WAL checkpoint), few enough to bound memory (~2 × chunk × event size each).
QUEUE_CHUNKS = 4
#: Inputs smaller than this are parsed in-process: starting a parser costs more than it saves.
PIPELINE_MIN_BYTES = 16 * 1024 * 1024
#: Imports that store at least this many events refresh the planner's statistics of ``events``.
ANALYZE_AFTER = 100_000
#: How often (seconds) each side of the pipeline checks that the other is still there.
_POLL = 1.0


class ImportSummary(msgspec.Struct):
    files: int = 0
    bytes: int = 0
    events: int = 0
    repaired: int = 0
    result: WriteResult = msgspec.field(default_factory=WriteResult)
    #: inputs that yielded no event at all (empty, unreadable, or only dead letters)
    no_events: list[str] = msgspec.field(default_factory=list)


class Parsed(msgspec.Struct, array_like=True):
    """One prepared chunk, and where the input stands after it."""

    batch: Batch
    #: raw events read for this chunk (rows + dead letters, before deduplication)
    events: int
    #: bytes of the inputs read so far, all files together (stdin counts as 0)
    position: int
    #: set on the marker that closes each input: its path
    finished: str | None = None


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


def total_bytes(paths: Iterable[str | Path]) -> int:
    """The size of everything `import_paths` will read (stdin counts as 0)."""
    return sum(f.stat().st_size for f in planned_files(paths) if str(f) != "-")


def _chunks(items: Iterator[RawEvent], size: int) -> Iterator[list[RawEvent]]:
    while chunk := list(islice(items, size)):
        yield chunk


def _is_stdin(path: Path) -> bool:
    return str(path) == "-"


def _position(fh: IO[bytes]) -> int:
    try:
        return fh.tell()
    except (OSError, ValueError):
        return 0


def parse(
    files: Sequence[tuple[Path, str]],
    *,
    chunk: int = PARSE_CHUNK,
    strict: bool = False,
    privacy: Protection | None = None,
    stdin: IO[bytes] | None = None,
) -> Generator[Parsed, None, None]:
    """Read and prepare `files` (path, source) in order: a `Parsed` per chunk of `chunk`
    events, and after each file a marker (empty batch) naming it. ``-`` reads `stdin`."""
    done = 0
    for path, source in files:
        fh: IO[bytes]
        if _is_stdin(path):
            fh = stdin or sys.stdin.buffer
        else:
            try:
                fh = path.open("rb")
            except OSError as exc:
                raise_read_error(str(path), exc)
        try:
            for raw_events in _chunks(read_stream(fh, str(path)), chunk):
                batch = prepare(raw_events, source=source, strict=strict, privacy=privacy)
                yield Parsed(batch, len(raw_events), done + _position(fh))
        finally:
            if not _is_stdin(path):
                fh.close()
        if not _is_stdin(path):
            done += path.stat().st_size
        yield Parsed(Batch(), 0, done, finished=str(path))


def pipelined(
    files: Sequence[tuple[Path, str]], *, chunk: int = PARSE_CHUNK, strict: bool = False
) -> Generator[Parsed, None, None]:
    """`parse` run in a second process: the same chunks, in the same order, while the caller
    writes. An error of the parser is raised here; closing the iterator stops the parser."""
    ctx = multiprocessing.get_context("fork")  # the parser needs nothing re-imported or re-opened
    chunks: multiprocessing.Queue[bytes | BaseException | None] = ctx.Queue(maxsize=QUEUE_CHUNKS)
    stdin_fd = os.dup(sys.stdin.fileno()) if any(_is_stdin(p) for p, _ in files) else None
    parser = ctx.Process(
        target=_parse_into,
        args=(chunks, list(files), chunk, strict, stdin_fd, os.getpid()),
        name="caliper-stream-import-parser",
        daemon=True,
    )
    parser.start()
    if stdin_fd is not None:
        os.close(stdin_fd)  # the parser holds its own copy; stdin is its alone from here
    decode = msgspec.msgpack.Decoder(Parsed).decode
    try:
        while True:
            try:
                item = chunks.get(timeout=_POLL)
            except queue.Empty:
                if parser.is_alive():
                    continue
                try:  # it may have sent its last chunks just before exiting
                    item = chunks.get(timeout=_POLL)
                except queue.Empty:
                    raise CaliperStreamError(
                        f"import: the parser process stopped unexpectedly (exit code {parser.exitcode})"
                    ) from None
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield decode(item)
    finally:
        if parser.is_alive():
            parser.terminate()
        parser.join()
        chunks.close()


def _parse_into(
    chunks: multiprocessing.Queue[bytes | BaseException | None],
    files: list[tuple[Path, str]],
    chunk: int,
    strict: bool,
    stdin_fd: int | None,
    writer_pid: int,
) -> None:
    """The parser process: encoded chunks into `chunks`, then None (or the exception)."""
    threading.Thread(target=_exit_without, args=(writer_pid,), daemon=True).start()
    encode = msgspec.msgpack.Encoder().encode
    stdin = os.fdopen(stdin_fd, "rb") if stdin_fd is not None else None
    try:
        for parsed in parse(files, chunk=chunk, strict=strict, stdin=stdin):
            chunks.put(encode(parsed))
    except BaseException as exc:  # every failure goes to the writer, which raises it
        chunks.put(_portable(exc))
        return
    chunks.put(None)


def _exit_without(writer_pid: int) -> None:
    """End the parser once its writer is gone (killed, crashed), wherever the parser waits: on
    a full queue, or on an input that sends nothing."""
    while os.getppid() == writer_pid:
        time.sleep(_POLL)
    os._exit(1)


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling (the queue pickles), else an error with its message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return CaliperStreamError(f"{type(exc).__name__}: {exc}")
    return exc


def import_paths(
    store: Store,
    paths: Iterable[str | Path],
    *,
    chunk: int = CHUNK,
    strict: bool = False,
    progress: Progress | None = None,
    source: str | None = None,
    pipeline: bool | None = None,
) -> ImportSummary:
    """Import files and directories (json, jsonl, gzip, any mix) into `store`, `chunk` events
    per transaction (a file's last transaction ends with it); see `planned_sources` for the
    source recorded (`source` overrides it).

    `pipeline`: parse in a second process (default: when the input is stdin or at least
    `PIPELINE_MIN_BYTES`); never for a pseudonymous store."""
    files = planned_sources(paths, source)
    privacy = protection_for(store)
    if pipeline is None:
        pipeline = any(_is_stdin(p) for p, _ in files) or sum(
            p.stat().st_size for p, _ in files if not _is_stdin(p)
        ) >= PIPELINE_MIN_BYTES
    size = max(1, min(chunk, PARSE_CHUNK))
    chunks = (
        pipelined(files, chunk=size, strict=strict)
        if pipeline and privacy is None
        else parse(files, chunk=size, strict=strict, privacy=privacy)
    )
    summary = ImportSummary()
    pending: list[Parsed] = []  # the next transaction
    rows = 0  # rows of the current input

    def commit() -> None:
        batches = [p.batch for p in pending if p.batch.rows or p.batch.dead_letters]
        for result in store.write_batches(batches) if batches else ():
            summary.result = summary.result + result
        for p in pending:
            summary.events += p.events
            summary.repaired += p.batch.repaired
        summary.bytes = pending[-1].position
        pending.clear()
        if progress is not None:
            progress(summary.bytes, summary)

    try:
        for parsed in chunks:
            pending.append(parsed)
            rows += len(parsed.batch.rows)
            if parsed.finished is not None:
                commit()
                summary.files += 1
                if not rows:
                    summary.no_events.append(parsed.finished)
                rows = 0
            elif sum(len(p.batch) for p in pending) >= chunk:
                commit()
    finally:
        chunks.close()  # stops the parser of an import that failed or was interrupted
    if summary.result.accepted >= ANALYZE_AFTER:
        store.analyze(["events"])  # a bulk load: the planner's row estimates are stale
    return summary
