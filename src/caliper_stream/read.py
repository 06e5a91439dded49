"""The one reader: any Caliper input as bytes in, events with their exact raw bytes out.

Every source (an HTTP body, a file, stdin, a directory of dumps) goes through `read`, so a quirk
in the *shape* of a payload is handled once. Shapes understood, detected from the bytes:

- an envelope ``{sensor, sendTime, dataVersion?, data: [...]}``;
- a bare event, or a JSON array of events and/or envelopes (Open edX's bulk form);
- JSON Lines of any of these, and several JSON documents one after another;
- gzip compression (by magic number, whatever the file name).

Nothing is parsed deeper than needed to split events: each event is a `msgspec.Raw` slice of
the input, so its bytes are exactly as received. Payloads that are not strict JSON but that
Learn is known to send (raw control characters inside strings, U+00A0 used as indentation) are
repaired for decoding only; the raw bytes stay untouched and the repair is reported as a warning.
Input that cannot be read becomes a `RawEvent` with ``error`` set, never an exception, so that
the caller can keep it as a dead letter.

Memory: small inputs are read whole; larger streams are split on the fly (JSON Lines by line,
anything else by a structural scanner), so a multi-GB dump needs memory for one event at a time.
Input over `DENSE_CHECK_BYTES` with more than `DENSE_PIECES` separators (``[{},{},…]``, a gzip bomb of tiny items)
is split by the scanner too, which yields one piece at a time, so that a caller can stop at a
number of items (``max_items``: `TooManyItems`) before paying memory for all of them.

Malformed JSON inside one event (``NaN``, a lone surrogate, ``01``, invalid UTF-8) does not make
its envelope unreadable: the scanner still finds the event boundaries, and only the broken piece
comes out with ``error`` set (see `caliper_stream.diagnose` for the reason and its path).
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

from caliper_stream.problems import Problem, error, join, warning

#: Inputs up to this size are read into memory and split by msgspec (fast path).
WHOLE_INPUT_LIMIT = 64 * 1024 * 1024
#: One event (or one JSON Lines line) larger than this is refused rather than buffered.
MAX_EVENT_BYTES = 16 * 1024 * 1024
#: How much of a piece too large to buffer (streamed input only) is kept for the dead letter.
KEEP_HEAD_BYTES = 64 * 1024
#: Inputs with more commas than this are split by the scanner, piece by piece: the msgspec split
#: would first build one object per item (56 bytes for a 2-byte ``0,``), so it is kept to inputs
#: whose split costs at most ~56 MB for an instant (Learn's JSON has a comma every ~30 bytes:
#: a 30 MB body of real events still takes the fast split).
DENSE_PIECES = 1_000_000
#: Inputs up to this size are not counted (counting costs ~1.3 ms per MB); they hold at most
#: 2 M items, whose split is ~110 MB for an instant before `max_items` refuses them.
DENSE_CHECK_BYTES = 4 * 1024 * 1024


class TooManyItems(Exception):
    """The input holds more pieces (events, dead letters) than the caller's ``max_items``."""

_CHUNK = 1024 * 1024
_WS = b" \t\r\n"
_NBSP = b"\xc2\xa0"
_BOM = b"\xef\xbb\xbf"


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """The envelope an event arrived in: who sent it, when, and which Caliper version it claims."""

    sensor: Any = None
    send_time: Any = None
    data_version: Any = None
    #: Properties other than the four the spec allows (kept so that nothing is lost).
    extra: dict[str, Any] | None = None
    #: Position of the envelope in the input (the n-th envelope), for error messages.
    index: int = 0


class RawEvent(msgspec.Struct, omit_defaults=True, gc=False):
    """One event as received: its exact bytes and where it sat in the input.

    ``gc=False``: it holds bytes, strings, an `Envelope` and `Problem`s, never a cycle, and an
    import makes one per event.

    ``error`` is set when the piece could not be read as a JSON object at all; ``raw`` then holds
    the unreadable bytes (or their first `KEEP_HEAD_BYTES` when oversized) for a dead letter.
    ``text`` holds repaired bytes to decode instead of ``raw`` when the reader had to repair them.
    """

    index: int
    path: str
    raw: bytes
    envelope: Envelope | None = None
    source: str | None = None
    line: int | None = None
    text: bytes | None = None
    warnings: tuple[Problem, ...] = ()
    error: Problem | None = None

    @property
    def location(self) -> str:
        """Human-readable position: file, line and JSON path."""
        parts = [p for p in (self.source, f"line {self.line}" if self.line else None, self.path) if p]
        return " ".join(parts)


class _Envelope(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """An envelope with exactly the spec's properties, split in one pass (the common case)."""

    data: list[msgspec.Raw]
    sensor: Any = None
    send_time: Any = None
    data_version: Any = None


_split_envelope = msgspec.json.Decoder(_Envelope)
_split_any = msgspec.json.Decoder(list[msgspec.Raw] | dict[str, msgspec.Raw])
_split_list = msgspec.json.Decoder(list[msgspec.Raw])
_any = msgspec.json.Decoder()

_ENVELOPE_KEYS = {"sensor", "sendTime", "dataVersion", "data"}


def _describe(exc: BaseException) -> str:
    """Turn a decoding exception into the message an operator reads."""
    if isinstance(exc, RecursionError):
        return "JSON is nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 at byte {exc.start}"
    text = str(exc)
    if text == "Integer value out of range":
        return "number too large"
    return text or type(exc).__name__


def _unsound(ev: RawEvent) -> bool:
    """A piece that looks like an object or array but does not read as JSON."""
    if ev.raw[:1] not in (b"{", b"["):
        return False
    return ev.error is not None or _decode(_any, ev.text if ev.text is not None else ev.raw)[1] is not None


def _run_end(items: list[msgspec.Raw], start: int) -> int:
    """The end of the run of items from `start` that are not JSON objects."""
    end = start + 1
    while end < len(items) and bytes(items[end])[:1] != b"{":
        end += 1
    return end


def _dense(data: bytes) -> bool:
    """Whether `data` is large and has more than `DENSE_PIECES` commas (counted a MiB at a time,
    stopping as soon as that many are seen, so that a bomb is told quickly and the GIL is let go)."""
    if len(data) <= DENSE_CHECK_BYTES:
        return False
    found = 0
    for at in range(0, len(data), _CHUNK):
        found += data.count(b",", at, at + _CHUNK)
        if found > DENSE_PIECES:
            return True
    return False


def _decode(decoder: msgspec.json.Decoder[Any], data: bytes) -> tuple[Any, str | None]:
    try:
        return decoder.decode(data), None
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError) as exc:
        return None, _describe(exc)


# ---------------------------------------------------------------------------------------------
# Repairs for near-JSON that Learn is known to send


_STRING_OR_NBSP = re.compile(rb'"(?:[^"\\]++|\\.)*+"|\xc2\xa0', re.DOTALL)
_CONTROL = re.compile(rb"[\x00-\x1f]")
_CONTROL_OR_NBSP = re.compile(rb"[\x00-\x1f]|\xc2\xa0")
#: a string with nothing to repair; removing them all leaves no quote when every string is one
_CLEAN_STRING = re.compile(rb'"(?:[^"\\\x00-\x1f]++|\\[^\x00-\x1f])*+"')


def _escape_control(m: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % m.group()[0]


def repair(data: bytes) -> tuple[bytes, list[str]]:
    """Make Learn's near-JSON decodable: escape raw control characters inside strings and
    turn U+00A0 used as whitespace outside strings into spaces. Returns the repaired bytes and
    a note per kind of repair made (empty when nothing needed repair)."""
    if not _CONTROL_OR_NBSP.search(data):
        return data, []
    rest = _CLEAN_STRING.sub(b"", data)
    if b'"' not in rest and _NBSP not in rest:
        return data, []  # line breaks between values only: told without a Python call per string
    return _repair_all(data)


def _repair_all(data: bytes) -> tuple[bytes, list[str]]:
    """`repair` token by token: every string and every U+00A0 outside strings."""
    notes: set[str] = set()

    def fix(m: re.Match[bytes]) -> bytes:
        token = m.group()
        if token == _NBSP:
            notes.add("non-breaking spaces (U+00A0) used as whitespace")
            return b"  "
        if _CONTROL.search(token):
            notes.add("raw control characters inside strings")
            return _CONTROL.sub(_escape_control, token)
        return token

    fixed = _STRING_OR_NBSP.sub(fix, data)
    return fixed, sorted(notes)


# ---------------------------------------------------------------------------------------------
# Splitting one JSON document (in memory)


_DATA_PATHS: list[str] = []
_DATA_PATHS_KEPT = 10_000


def _data_paths(count: int) -> list[str]:
    """``data[0]`` … ``data[count - 1]``: every event of an envelope needs its path, so the first
    `_DATA_PATHS_KEPT` are made once and kept; a larger envelope gets a list of its own."""
    if len(_DATA_PATHS) < count:
        if count > _DATA_PATHS_KEPT:
            return [f"data[{i}]" for i in range(count)]
        _DATA_PATHS.extend(f"data[{i}]" for i in range(len(_DATA_PATHS), count))
    return _DATA_PATHS


class _Reader:
    """Splits documents into events, numbering events and envelopes across the whole input."""

    def __init__(self, source: str | None, max_items: int | None = None, streamed: bool = False) -> None:
        self.source = source
        self.events = 0
        self.envelopes = 0
        #: set while splitting input that msgspec refused: events are checked for repairs
        self.repairing = False
        self.max_items = max_items
        #: the input is a stream: a piece too large to buffer is cut to its head
        self.streamed = streamed

    def _count(self, more: int = 1) -> None:
        if self.max_items is not None and self.events + more > self.max_items:
            raise TooManyItems(f"more than {self.max_items} events and unreadable pieces in one input")

    def _event(self, path: str, raw: bytes, **kw: Any) -> RawEvent:
        self._count()
        ev = RawEvent(index=self.events, path=path, raw=raw, source=self.source, **kw)
        self.events += 1
        if self.repairing:
            fixed, notes = repair(raw)
            if notes:
                ev.text = fixed
                ev.warnings = tuple(warning(path, f"repaired: {n}", ev.index) for n in notes)
        return ev

    def failure(
        self, path: str, raw: bytes, message: str, line: int | None = None, envelope: Envelope | None = None
    ) -> RawEvent:
        """An unreadable piece, kept whole (every byte of it goes to the dead letter)."""
        was, self.repairing = self.repairing, False
        try:
            ev = self._event(path, raw, line=line, envelope=envelope)
        finally:
            self.repairing = was
        ev.error = error(path, message, ev.index)
        return ev

    def document(
        self, data: bytes, line: int | None = None, prefix: str = "", depth: int = 0
    ) -> Iterator[RawEvent]:
        """Yield the events of one complete JSON document (`depth`: how many scanners already
        split around it; an array item is scanned again at most once, for Open edX's arrays
        of envelopes)."""
        scan = data[:1] in (b"{", b"[") and depth < 2
        if scan and _dense(data):
            yield from self._split_repaired(data, line, prefix, [], depth)
            return
        top, problem = _decode(_split_any, data)
        if problem is None:
            yield from self._split(top, data, line, prefix, None)
            return
        fixed, notes = repair(data) if depth < 2 else (data, [])
        if notes:
            top, again = _decode(_split_any, fixed)
            if again is None:
                yield from self._split(top, data, line, prefix, notes, depth)
                return
        if scan:
            # malformed somewhere: the scanner still finds the pieces, and only the broken ones
            # become failures (decoding them names the defect and its path)
            yield from self._split_repaired(data, line, prefix, [], depth)
            return
        if problem.startswith("Expected `"):
            problem = "not a Caliper payload: expected a JSON object or array"
        yield self.failure(prefix, data, f"not readable as JSON: {problem}", line)

    def _split(
        self,
        top: list[msgspec.Raw] | dict[str, msgspec.Raw],
        data: bytes,
        line: int | None,
        prefix: str,
        notes: list[str] | None,
        depth: int = 0,
    ) -> Iterator[RawEvent]:
        if notes:
            # Repaired input: find the original bytes of each piece with the scanner, which
            # tolerates what msgspec refused, and decode each piece from its repaired copy.
            yield from self._split_repaired(data, line, prefix, notes, depth)
            return
        if isinstance(top, dict):
            yield from self._object(top, bytes(data).strip(_WS), line, prefix)
            return
        if not top:
            yield self.failure(prefix, data, "empty array: no events", line)
        self._count(len(top))
        skip = 0
        for i, item in enumerate(top):
            if i < skip:
                continue
            raw = bytes(item)
            if raw[:1] == b"{":
                path = join(prefix, i)
                members, _ = _decode(_split_any, raw)
                if isinstance(members, dict):
                    yield from self._object(members, raw, line, path)
                    continue
                yield self.failure(path, raw, "not a Caliper event: expected a JSON object", line)
                continue
            skip = _run_end(top, i)
            yield self._junk(top, i, skip, prefix, line, None)

    def _object(
        self, members: dict[str, msgspec.Raw], raw: bytes, line: int | None, path: str
    ) -> Iterator[RawEvent]:
        if "data" not in members:
            yield self._event(path, raw, line=line)
            return
        envelope = self._envelope({k: v for k, v in members.items() if k != "data"})
        items, problem = _decode(_split_list, members["data"])
        data_path = join(path, "data")
        if problem is not None:
            yield self.failure(
                data_path, bytes(members["data"]), f"envelope data must be an array: {problem}", line, envelope
            )
            return
        if not items:
            yield self.failure(data_path, raw, "envelope holds no events (empty data array)", line, envelope)
        self._count(len(items))
        skip = 0
        for i, item in enumerate(items):
            if i < skip:
                continue
            item_raw = bytes(item)
            if item_raw[:1] != b"{":
                skip = _run_end(items, i)
                yield self._junk(items, i, skip, data_path, line, envelope)
                continue
            yield self._event(join(data_path, i), item_raw, envelope=envelope, line=line)

    def _junk(
        self, items: list[msgspec.Raw], start: int, end: int, prefix: str, line: int | None, envelope: Envelope | None
    ) -> RawEvent:
        """Items ``start`` … ``end - 1`` of an array, none of them an object: one failure, so that
        100,000 ``null`` cost one dead letter (their bytes joined by commas), not 100,000."""
        path = join(prefix, start)
        if end - start == 1:
            return self.failure(path, bytes(items[start]), "not a Caliper event: expected a JSON object", line, envelope)
        raw = b",".join([bytes(item) for item in items[start:end]])
        message = (
            f"not Caliper events: {end - start} items from {path} to {join(prefix, end - 1)} are not JSON objects"
            " (kept together, joined by commas)"
        )
        return self.failure(path, raw, message, line, envelope)

    def _data(self, split: _Envelope, raw: bytes) -> Iterator[RawEvent]:
        """The events of an envelope that has exactly the spec's four properties."""
        envelope = Envelope(split.sensor, split.send_time, split.data_version, None, self.envelopes)
        self.envelopes += 1
        if not split.data:
            yield self.failure("data", raw, "envelope holds no events (empty data array)", envelope=envelope)
        self._count(len(split.data))
        index = self.events
        source = self.source
        paths = _data_paths(len(split.data))
        skip = 0
        for i, item in enumerate(split.data):
            if i < skip:
                continue
            item_raw = bytes(item)
            if item_raw[:1] != b"{":
                self.events = index
                skip = _run_end(split.data, i)
                yield self._junk(split.data, i, skip, "data", None, envelope)
                index = self.events
                continue
            yield RawEvent(index, paths[i], item_raw, envelope, source)
            index += 1
            self.events = index

    def _envelope(self, members: dict[str, Any]) -> Envelope:
        values = {k: _decode(_any, v)[0] if isinstance(v, msgspec.Raw) else v for k, v in members.items()}
        extra = {k: v for k, v in values.items() if k not in _ENVELOPE_KEYS}
        env = Envelope(
            sensor=values.get("sensor"),
            send_time=values.get("sendTime"),
            data_version=values.get("dataVersion"),
            extra=extra or None,
            index=self.envelopes,
        )
        self.envelopes += 1
        return env

    def _split_repaired(
        self, data: bytes, line: int | None, prefix: str, notes: list[str], depth: int = 0
    ) -> Iterator[RawEvent]:
        scanner = _Scanner(self, prefix, line, depth + 1)
        was, self.repairing = self.repairing, True
        try:
            if self.streamed:
                yield from scanner.feed(data, final=True)
                return
            found = [(scanner.last_start, ev) for ev in scanner.feed(data, final=True)]
        finally:
            self.repairing = was
        if not scanner.broken:
            yield from (ev for _, ev in found)
            return
        # Brackets or quotes that do not balance (a string cut off before the next event) make
        # every boundary after the first bad piece a guess: the pieces before it are sound, the
        # rest of the input is kept as ONE failure rather than as fragments of events.
        bad = next((k for k, (_, ev) in enumerate(found) if _unsound(ev)), None)
        yield from (ev for _, ev in found[:bad])
        if bad is None:
            return
        start, ev = found[bad]
        self.events = ev.index
        why = ev.error.message if ev.error is not None else "not readable as JSON"
        yield self.failure(
            ev.path, data[start:],
            f"{why}; the brackets or quotes of the input do not balance from here on, so all of its"
            f" last {len(data) - start} bytes are kept as one piece",
            line, ev.envelope,
        )

    def _piece(self, raw: bytes, line: int | None, path: str) -> Iterator[RawEvent]:
        """A top-level object that the scanner found to be a bare event."""
        yield self._event(path, raw, line=line)


# ---------------------------------------------------------------------------------------------
# Splitting a stream too large to hold, or too broken for msgspec (structural scanner)

_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}:,"]', re.DOTALL)
_STRING_BODY = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
#: tokens inside a piece, where only the balance of brackets matters: everything up to the next
#: closer (strings whole) is one token, and so is a run of closers, so that a piece costs a few
#: regex matches however deeply it nests
_DEEP = re.compile(rb'(?:[^\]}"]++|"(?:[^"\\]++|\\.)*+")++|[\]}]++|"', re.DOTALL)
#: what is not an opening bracket outside strings (removed to leave a token's openers)
_NOT_OPENER = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[^\[{"]++', re.DOTALL)
_OPENERS = {ord("["): b"[", ord("{"): b"{"}
_OPENER_OF = bytes.maketrans(b"]}", b"[{")
_BUT_OPENERS_QUOTES = bytes(sorted(set(range(256)) - set(b'[{"\\')))


def _openers(tok: bytes) -> bytes:
    """The opening brackets of a deep token outside its strings, in order: by byte deletion
    while its strings hold no bracket and no escape, else by removing each string."""
    kept = tok.translate(None, _BUT_OPENERS_QUOTES)
    if b'"' not in kept:
        return kept.replace(b"\\", b"")
    if b"\\" not in kept:
        # strings without brackets left a pair of quotes each; any other quote means one had
        kept = kept.replace(b'""', b"")
        if b'"' not in kept:
            return kept
    return _NOT_OPENER.sub(b"", tok)


class _Scanner:
    """Splits concatenated JSON documents into events without holding more than one event.

    It visits only structural characters (a string is skipped whole by one regex match), so it
    is slower than msgspec; it serves inputs too big to hold, inputs msgspec refused and inputs
    of very many tiny pieces. A top-level array yields its elements (each read again as a
    document: it may be an envelope); a top-level object is a bare event unless it has a
    ``data`` array, whose elements are then yielded one by one with the envelope built from the
    members seen before ``data``. Bytes between pieces that are not whitespace (a scalar item
    such as ``null``, junk between documents) come out as failures, so none is dropped.
    """

    def __init__(self, reader: _Reader, prefix: str, line: int | None, depth: int = 1) -> None:
        self.reader = reader
        self.depth = depth  # scanners around this one, itself included
        self.prefix = prefix
        self.line = line
        #: only streamed input cuts pieces to their head; in memory a piece is kept whole
        self.max_piece = MAX_EVENT_BYTES if reader.streamed else None
        self.buf = b""
        self.base = 0  # stream offset of buf[0]
        self.pos = 0  # next index of buf to scan
        self.stack: list[bytes] = []
        self.docs = 0
        self.piece: int | None = None  # stream offset where the current piece starts
        self.piece_path = ""
        #: the stack depth from which only the current piece's end matters: inside an array
        #: item (a document read again on its own) or an envelope's event; not in a top-level
        #: object, whose members may make it an envelope
        self.floor = 3
        self.oversized = False
        self.expect_key = False
        self.key: bytes | None = None
        self.data_next = False  # the next value opened at depth 1 is the envelope's data
        self.in_string = False  # skipping the rest of an oversized string
        self.in_data = False
        self.header: dict[str, Any] = {}
        self.envelope: Envelope | None = None
        self.count = 0  # pieces in the current container
        #: stream offset where the piece (or junk) last yielded starts
        self.last_start = 0
        #: brackets that do not match or balance, or input ending inside a value
        self.broken = False
        #: stream offset after the last separator at a piece level (top level, array items,
        #: envelope data): bytes from here to the next piece are not part of any piece
        self.gap: int | None = 0

    def feed(self, chunk: bytes, final: bool = False) -> Iterator[RawEvent]:
        self.buf += chunk
        buf, pos = self.buf, self.pos
        while True:
            if self.in_string:
                # inside a string too long to hold: skip to its closing quote
                body = _STRING_BODY.match(buf, pos)
                end = body.end() if body else pos
                if end < len(buf) and buf[end : end + 1] == b'"':
                    pos, self.in_string = end + 1, False
                    continue
                pos = end
                break
            stack = self.stack
            if len(stack) >= self.floor:
                # inside a piece: nothing but its end matters, so runs are taken whole
                m = _DEEP.search(buf, pos)
                if m is None:
                    pos = len(buf)
                    break
                tok = m.group()
                c = tok[0]
                if c == 0x5D or c == 0x7D:  # ] }
                    k = min(len(tok), len(stack) - self.floor)  # the closers that leave the piece open
                    if k > 0:
                        if b"".join(stack[-k:]) != tok[:k].translate(_OPENER_OF)[::-1]:
                            self.broken = True
                        del stack[-k:]
                        pos = m.start() + k
                        continue
                elif len(tok) > 1 or c != 0x22:  # not a lone quote (a string cut off)
                    if b"[" in tok or b"{" in tok:
                        stack.extend(map(_OPENERS.__getitem__, _openers(tok)))
                    pos = m.end()
                    continue
            m = _TOKEN.search(buf, pos)
            if m is None:
                pos = len(buf)
                break
            tok = m.group()
            if tok == b'"' and not final:
                if self.max_piece is None or len(buf) - m.start() <= self.max_piece:
                    pos = m.start()  # an unterminated string: wait for more bytes
                    break
                self.in_string, pos = True, m.end()
                if self.piece is not None:
                    self.oversized = True
                continue
            pos = m.end()
            yield from self._token(tok, m.start() + self.base, m.end() + self.base)
        self.pos = pos
        if final and not (self.stack or self.in_string):
            yield from self._gap(self.base + len(self.buf))
        self._trim()
        if final and (self.stack or self.in_string):
            self.broken = True
            self.last_start = self.piece if self.piece is not None else self.base
            start = (self.piece - self.base) if self.piece is not None else 0
            yield self.reader.failure(
                self.piece_path if self.piece is not None else self._doc_prefix(),
                self.buf[start:] if self.max_piece is None else self.buf[start : start + KEEP_HEAD_BYTES],
                "not readable as JSON: truncated: input ended inside a value",
                self.line,
                self.envelope if self.in_data else None,
            )
            self.stack.clear()

    def _trim(self) -> None:
        """Forget scanned bytes no piece needs; keep only the head of an oversized piece."""
        if self.piece is None:
            cut = self.pos
            if self.gap is not None and self.gap - self.base < cut:
                if self.max_piece is not None and self.pos - (self.gap - self.base) > self.max_piece:
                    self.gap = None  # junk longer than any piece, streamed: not held
                else:
                    cut = max(0, self.gap - self.base)
        else:
            start = self.piece - self.base
            if self.max_piece is not None and len(self.buf) - start > self.max_piece:
                self.oversized = True
            if self.oversized:
                head = self.buf[start : start + KEEP_HEAD_BYTES]
                self.buf = head + self.buf[self.pos :]
                self.base += self.pos - len(head)
                self.piece = self.base
                self.pos = len(head)
                return
            cut = start
        if cut > 0:
            self.base += cut
            self.buf = self.buf[cut:]
            self.pos -= cut

    def _doc_prefix(self) -> str:
        return self.prefix if self.docs <= 1 else join(self.prefix, f"document[{self.docs - 1}]")

    def _begin(self, offset: int, path: str, floor: int = 3) -> None:
        self.piece, self.piece_path, self.oversized, self.floor = offset, path, False, floor

    def _take(self, end: int) -> tuple[bytes, bool]:
        """The bytes of the piece ending at stream offset `end`, and whether it was oversized
        (then only its head is left)."""
        assert self.piece is not None
        start = self.piece - self.base
        raw = self.buf[start : end - self.base]
        self.last_start, self.piece, self.floor = self.piece, None, 3
        return (raw[:KEEP_HEAD_BYTES], True) if self.oversized else (raw, False)

    def _level(self) -> bool:
        """Whether the scanner stands where pieces are: top level, array items, envelope data."""
        depth = len(self.stack)
        return depth == 0 or (depth == 1 and self.stack[0] == b"[") or (depth == 2 and self.in_data)

    def _gap_path(self) -> str:
        depth = len(self.stack)
        if depth == 0:
            return self._doc_prefix()
        if depth == 1:
            return join(self._doc_prefix(), self.count)
        return join(join(self._doc_prefix(), "data"), self.count)

    def _gap(self, end: int, extra: bytes = b"") -> Iterator[RawEvent]:
        """Bytes between the last separator and stream offset `end` that belong to no piece
        (plus `extra`, a string item) become one failure."""
        if self.gap is None:
            return
        junk = self.buf[max(0, self.gap - self.base) : end - self.base].strip(_WS) + extra
        self.last_start, self.gap = self.gap, None
        if not junk.replace(_NBSP, b"").strip(_WS):  # Learn indents with U+00A0 too
            return
        path = self._gap_path()
        if len(self.stack) == 0:
            message = "not a Caliper payload: a JSON value that is not an object or array"
            if not _is_document(junk):
                message = "not readable as JSON: bytes outside any JSON document"
        else:
            self.count += 1
            message = "not a Caliper event: expected a JSON object"
        yield self.reader.failure(path, junk, message, self.line, self.envelope if self.in_data else None)

    def _token(self, tok: bytes, start: int, end: int) -> Iterator[RawEvent]:
        depth = len(self.stack)
        c = tok[:1]
        if depth > 2 and len(tok) > 1:
            return  # a string inside a piece: the common case, nothing to do
        self.last_start = start
        level = depth == 0 or (depth == 1 and self.stack[0] == b"[") or (depth == 2 and self.in_data)
        if c in b"[{" and len(c) == 1:
            if level:
                yield from self._gap(start)
            if depth == 0:
                self.docs += 1
                self.header, self.envelope, self.count, self.in_data = {}, None, 0, False
                if c == b"{":
                    self._begin(start, self._doc_prefix())  # a bare event, unless it has data
            elif depth == 1 and self.stack[0] == b"[":
                self._begin(start, join(self._doc_prefix(), self.count), floor=2)
                self.count += 1
            elif depth == 1 and self.data_next and c == b"[":
                self.piece, self.in_data, self.count = None, True, 0  # the document is an envelope
                self.envelope = self.reader._envelope(dict(self.header))
            elif depth == 2 and self.in_data:
                self._begin(start, join(join(self._doc_prefix(), "data"), self.count))
                self.count += 1
            if depth == 1:
                self.data_next = False
            self.stack.append(c)
            self.expect_key = c == b"{"
            if c == b"[" and self._level():
                self.gap = end
            return
        if c in b"]}" and len(c) == 1:
            if not self.stack:
                yield from self._gap(start)
                self.broken, self.last_start = True, start
                yield self.reader.failure(self._doc_prefix(), tok, "not JSON: unbalanced bracket", self.line)
                self.gap = end
                return
            if level and depth > 0:
                yield from self._gap(start)
            if (self.stack.pop() == b"{") != (c == b"}"):
                self.broken = True
            depth = len(self.stack)
            if self.piece is not None and (
                depth == 0 or (depth == 1 and self.stack[0] == b"[") or (depth == 2 and self.in_data)
            ):
                path = self.piece_path
                raw, oversized = self._take(end)
                if oversized:
                    yield self.reader.failure(
                        path, raw, f"event larger than {MAX_EVENT_BYTES} bytes: only its first {len(raw)} bytes are kept",
                        self.line, self.envelope if depth == 2 else None,
                    )
                elif depth == 2:
                    yield self.reader._event(path, raw, envelope=self.envelope, line=self.line)
                elif depth == 1:
                    yield from self.reader.document(raw, self.line, path, self.depth)
                else:
                    yield from self.reader._piece(raw, self.line, path)
            if depth == 1 and self.in_data:
                self.in_data = False
                if self.count == 0:
                    yield self.reader.failure(
                        join(self._doc_prefix(), "data"), b"", "envelope holds no events (empty data array)",
                        self.line, self.envelope,
                    )
            if depth == 0 and c == b"]" and self.count == 0:
                yield self.reader.failure(self._doc_prefix(), b"[]", "empty array: no events", self.line)
            if depth == 0:
                self.gap = end
            return
        if c == b":":
            self.expect_key = False
            self.data_next = depth == 1 and self.stack[0] == b"{" and self.key == b"data"
            return
        if c == b",":
            if level and depth > 0:
                yield from self._gap(start)
                self.gap = end
            self.expect_key = bool(self.stack) and self.stack[-1] == b"{"
            return
        # a string
        if depth == 1 and self.stack[0] == b"{":
            if self.expect_key:
                self.key = tok[1:-1]
            elif self.key is not None and self.piece is not None:
                self.header[self.key.decode("utf-8", "replace")] = _decode(_any, repair(tok)[0])[0]
        elif level:
            # a string where a piece belongs: not an event, kept with any junk before it
            if depth == 0:
                yield from self._gap(start)
                self.gap = end
                yield self.reader.failure(
                    self._doc_prefix(), tok, "not a Caliper payload: a bare JSON string", self.line
                )
            else:
                if self.gap is None:
                    self.gap = start
                yield from self._gap(end)


def _scan_stream(reader: _Reader, chunks: Iterable[bytes]) -> Iterator[RawEvent]:
    scanner = _Scanner(reader, "", None)
    reader.repairing = True  # nothing here was checked by msgspec yet
    empty = True
    for chunk in chunks:
        if empty and chunk.strip(_WS):
            empty = False
        yield from scanner.feed(chunk)
    yield from scanner.feed(b"", final=True)
    if empty:
        yield reader.failure("", b"", "empty input: no JSON document")


# ---------------------------------------------------------------------------------------------
# Entry points


def read_bytes(data: bytes, source: str | None = None, max_items: int | None = None) -> Iterator[RawEvent]:
    """Yield the events of an input held in memory (an HTTP body, a small file).

    With `max_items`, `TooManyItems` is raised as soon as the input is found to hold more
    pieces, before memory is spent on the rest."""
    reader = _Reader(source, max_items)
    data = bytes(data)
    if data[:2] == b"\x1f\x8b":
        yield from read_stream(io.BytesIO(data), source, max_items)
        return
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    body = data.strip(_WS)
    if not body:
        yield reader.failure("", b"", "empty input: no JSON document")
        return
    if body[:1] in (b"{", b"[") and _dense(body):
        yield from reader._split_repaired(body, None, "", [])
        return
    if body[:1] == b"{":
        try:
            envelope = _split_envelope.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
            pass
        else:
            yield from reader._data(envelope, body)
            return
    top, problem = _decode(_split_any, body)
    if problem is None:
        yield from reader._split(top, body, None, "", None)
        return
    nl = body.find(b"\n")
    if nl > 0 and _is_document(body[:nl]):
        yield from _read_lines(reader, _lines(body))
        return
    yield from reader.document(body)


def _lines(data: bytes) -> Iterator[bytes]:
    """The lines of `data`, one at a time (a list of a million tiny lines costs ~50 MB)."""
    pos = 0
    while (nl := data.find(b"\n", pos)) >= 0:
        yield data[pos:nl]
        pos = nl + 1
    yield data[pos:]


def _is_document(line: bytes) -> bool:
    line = line.strip(_WS)
    return bool(line) and _decode(_split_any, line)[1] is None


def _read_lines(reader: _Reader, lines: Iterator[bytes]) -> Iterator[RawEvent]:
    """JSON Lines: each non-blank line is a document of its own."""
    for number, line in enumerate(lines, start=1):
        if reader.streamed and len(line) > MAX_EVENT_BYTES:
            head = line[:KEEP_HEAD_BYTES]
            yield reader.failure(
                "", head, f"line longer than {MAX_EVENT_BYTES} bytes: only its first {len(head)} bytes are kept", number
            )
            continue
        line = line.strip(_WS)
        if line:
            yield from reader.document(line, number)


def _bounded_lines(stream: IO[bytes], first: bytes) -> Iterator[bytes]:
    """Lines of a stream, where a line longer than `MAX_EVENT_BYTES` comes back as its head
    followed by a marker byte count instead of the whole line (never held in memory).

    Lines are sliced off the buffer by offset: re-slicing the rest of a 64 MB head after every
    line would copy it once per line (quadratic)."""
    buf, pos = first, 0
    while True:
        nl = buf.find(b"\n", pos)
        if nl >= 0:
            yield buf[pos:nl]
            pos = nl + 1
            continue
        rest = buf[pos:]
        more = stream.read(_CHUNK)
        if not more:
            if rest:
                yield rest
            return
        if len(rest) > MAX_EVENT_BYTES:
            # oversized line: keep the head, skip to the next newline
            head = rest[: MAX_EVENT_BYTES + 1]
            buf = more
            while (nl := buf.find(b"\n")) < 0:
                buf = stream.read(_CHUNK)
                if not buf:
                    yield head
                    return
            yield head
            pos = nl + 1
            continue
        buf, pos = rest + more, 0


def read_stream(stream: IO[bytes], source: str | None = None, max_items: int | None = None) -> Iterator[RawEvent]:
    """Yield the events of a binary stream (stdin, an open file), gzip or not."""
    magic = stream.read(2)
    if magic == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=_Prepend(magic, stream), mode="rb")  # type: ignore[assignment]
        magic = b""
    try:
        head = magic + stream.read(WHOLE_INPUT_LIMIT + 1 - len(magic))
    except (OSError, EOFError) as exc:
        raise_read_error(source, exc)
    if len(head) <= WHOLE_INPUT_LIMIT:
        yield from read_bytes(head, source, max_items)
        return
    reader = _Reader(source, max_items, streamed=True)
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    nl = head.find(b"\n")
    if 0 <= nl <= MAX_EVENT_BYTES and _is_document(head[:nl]):
        yield from _read_lines(reader, _bounded_lines(stream, head))
        return

    def chunks() -> Iterator[bytes]:
        yield head
        while True:
            try:
                chunk = stream.read(_CHUNK)
            except (OSError, EOFError) as exc:
                raise_read_error(source, exc)
            if not chunk:
                return
            yield chunk

    yield from _scan_stream(reader, chunks())


def raise_read_error(source: str | None, exc: BaseException) -> Any:
    from caliper_stream.errors import ReadError

    raise ReadError(f"{source or 'input'}: cannot read: {exc}") from exc


class _Prepend(io.RawIOBase):
    """A stream with some bytes already read put back in front."""

    def __init__(self, first: bytes, rest: IO[bytes]) -> None:
        self.first = first
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.first:
            n = min(len(b), len(self.first))
            b[:n] = self.first[:n]
            self.first = self.first[n:]
            return n
        data = self.rest.read(len(b))
        b[: len(data)] = data
        return len(data)


INPUT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz", ".txt")


def input_files(path: Path) -> list[Path]:
    """The files a path names: itself, or the Caliper dumps found under a directory."""
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(INPUT_SUFFIXES)
        )
    return [path]


def read_path(path: str | os.PathLike[str]) -> Iterator[RawEvent]:
    """Yield the events of a file, or of every dump under a directory (``-`` is stdin)."""
    import sys

    if str(path) == "-":
        yield from read_stream(sys.stdin.buffer, "-")
        return
    p = Path(path)
    if not p.exists():
        from caliper_stream.errors import ReadError

        raise ReadError(f"{p}: no such file or directory")
    for f in input_files(p):
        try:
            fh = f.open("rb")
        except OSError as exc:
            raise_read_error(str(f), exc)
        with fh:
            yield from read_stream(fh, str(f))


def read(source: bytes | bytearray | memoryview | IO[bytes] | str | os.PathLike[str]) -> Iterator[RawEvent]:
    """Yield every event of `source`: bytes, a binary stream, or a path (file or directory)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return read_bytes(bytes(source))
    if isinstance(source, str | os.PathLike):
        return read_path(source)
    return read_stream(source)
