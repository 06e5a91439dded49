"""Compression of events' raw bytes: zstd with dictionaries trained on the store's own events.

Learn's events repeat the same envelope, URLs and vocabulary, so one event alone compresses
only ~4× while a dictionary trained on a few thousand of them brings a 3.2 KB event to
~270 bytes (~12×, docs/storage.md "Compression"). A row says which dictionary its bytes need
(``events.raw_codec``: NULL is plain bytes, else ``dictionaries.id``); plain and compressed
rows coexist forever, and a dictionary is deleted only by `retrain`, once no row names it.

Training: a store without a dictionary trains one once it holds `TRAIN_AFTER` events (from the
newest of them, a tenth held out to measure the ratio, which is stored with the dictionary) and
compresses the plain rows among the newest 2 × `TRAIN_AFTER` (a young store's all of them;
`compress_stored`, ``caliper-stream db compress``, does older ones in batches). From then on every `WINDOW` events compressed with the
current dictionary are compared with that ratio; when they compress less than `DRIFT` times as
well (new event types, a new site) a new dictionary is trained from the newest events. Older
rows keep theirs. `retrain` replaces them all (privacy: a dictionary holds fragments of the
events it was trained on).

This object is shared by a store's threads: encoding and training happen in the store's write
transactions (under its write lock), decoding anywhere (a decompressor per thread and
dictionary, since zstd contexts are not thread-safe).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from functools import partial
from typing import TYPE_CHECKING

import zstandard

from caliper_stream.ingest import now

if TYPE_CHECKING:
    from caliper_stream.store.base import Store
    from caliper_stream.store.common import Tx

log = logging.getLogger(__name__)

#: Events a store holds before its first dictionary is trained (~0.15 s of training). On a
#: simulated term 1,000, 2,000 and 5,000 gave the same ratio (15–16× on held-out events), but
#: the rows written before are stored plain and, once compressed, leave SQLite pages mostly
#: empty: 5,000 made the file 7 % larger than 2,000 did. Drift retrains anyway.
TRAIN_AFTER = 2_000
#: Bytes of a dictionary: 112 KiB measured 12.1× against 11.9× for 64 KiB.
DICT_SIZE = 112 * 1024
LEVEL = 3
#: Events compressed with one dictionary between two checks of its ratio.
WINDOW = 20_000
#: Retrain when a window compresses less than this fraction of the dictionary's own ratio.
DRIFT = 0.8
#: Every HOLD_OUT-th sampled event measures the ratio instead of training the dictionary.
HOLD_OUT = 10
#: Fewer samples than this train no dictionary (zstd needs a few; so does a fair ratio).
MIN_SAMPLES = 50

Raw = bytes | bytearray | memoryview


class Dictionary:
    """One stored dictionary: its id, the zstd dictionary and the ratio measured on held-out events."""

    __slots__ = ("id", "ratio", "zdict")

    def __init__(self, id: int, data: bytes, ratio: float) -> None:
        self.id = id
        self.zdict = zstandard.ZstdCompressionDict(data)
        self.ratio = ratio


class Codec:
    """Encodes raw bytes with the newest dictionary and decodes them with the one a row names.

    `fetch(id)` reads a dictionary this process does not know yet (another process trained it)
    as ``(data, ratio)``, or None.
    """

    def __init__(
        self,
        fetch: Callable[[int], tuple[bytes, float] | None],
        *,
        enabled: bool = True,
        train_after: int = TRAIN_AFTER,
        window: int = WINDOW,
    ) -> None:
        self.enabled = enabled
        self.train_after = train_after
        self.window = window
        self._fetch = fetch
        self._lock = threading.Lock()
        self._dicts: dict[int, Dictionary] = {}
        self._current: Dictionary | None = None
        self._compressor: zstandard.ZstdCompressor | None = None
        self._local = threading.local()
        self._loaded = False
        #: events written since the last dictionary (or in all, while there is none)
        self._since = 0
        self._window_raw = 0
        self._window_stored = 0
        #: a dictionary trained in the open transaction: usable only once it commits
        self._uncommitted: int | None = None

    # --- decoding ------------------------------------------------------------------------------

    def decode(self, codec: int | None, blob: Raw) -> bytes:
        """The exact bytes of a stored ``(raw_codec, raw)`` pair."""
        if not codec:
            return bytes(blob)
        found = self._dictionary(codec)
        # keyed by the object: one trained in a transaction that then rolled back is never reused
        cache: dict[Dictionary, zstandard.ZstdDecompressor] | None = getattr(self._local, "decompressors", None)
        if cache is None:
            cache = self._local.decompressors = {}
        dctx = cache.get(found)
        if dctx is None:
            dctx = cache[found] = zstandard.ZstdDecompressor(dict_data=found.zdict)
        return dctx.decompress(blob)

    def _dictionary(self, id: int) -> Dictionary:
        with self._lock:
            found = self._dicts.get(id)
        if found is None:
            row = self._fetch(id)
            if row is None:
                raise LookupError(f"dictionary {id} is missing from the store")
            found = Dictionary(id, row[0], row[1])
            with self._lock:
                found = self._dicts.setdefault(id, found)
        return found

    # --- encoding (in write transactions) ------------------------------------------------------

    def prepare(self, tx: Tx) -> None:
        """At the start of each write transaction: use the newest stored dictionary (another
        process may have trained one, or `retrain` replaced the one in use), so rows never name
        one that `retrain` deleted; one indexed lookup."""
        if not self.enabled:
            return
        newest = tx.fetchall("SELECT max(id) FROM dictionaries")[0][0]
        if newest is not None and (self._current is None or int(newest) != self._current.id):
            row = tx.fetchall("SELECT dictionary, ratio FROM dictionaries WHERE id = ?", (int(newest),))[0]
            self._use(Dictionary(int(newest), bytes(row[0]), float(row[1])))
        elif newest is None and not self._loaded:
            self._since = int(tx.fetchall("SELECT count(*) FROM events")[0][0])
        self._loaded = True

    def encode(self, raw: bytes) -> tuple[int | None, bytes]:
        """``(raw_codec, raw)`` as stored: compressed with the current dictionary, or plain."""
        cctx = self._compressor
        if cctx is None or self._current is None:
            return None, raw
        blob = cctx.compress(raw)
        self._window_raw += len(raw)
        self._window_stored += len(blob)
        return self._current.id, blob

    def writing(self, tx: Tx, raws: Sequence[bytes]) -> None:
        """Before rows are inserted: when they bring a store without a dictionary to
        `train_after` events, train from them now, so that they are stored compressed (an import
        writes 50,000 events per transaction; trained after the insert, all but the newest would
        stay plain)."""
        if self.enabled and self._current is None and self._since + len(raws) >= self.train_after:
            self.train(tx, pending=raws)

    def wrote(self, tx: Tx, events: int) -> None:
        """Account for `events` new rows; train a (new) dictionary when one is due."""
        if not self.enabled or not events:
            return
        self._since += events
        if self._current is None:
            if self._since >= self.train_after:
                self.train(tx)
        elif self._since >= self.window:
            ratio = self._window_raw / max(self._window_stored, 1)
            if ratio < DRIFT * self._current.ratio:
                log.info("events compress %.1f× with dictionary %d (trained %.1f×): retraining",
                         ratio, self._current.id, self._current.ratio)
                self.train(tx)
            else:
                self._since = self._window_raw = self._window_stored = 0

    def train(self, tx: Tx, *, pending: Sequence[bytes] = ()) -> Dictionary | None:
        """Train a dictionary from the newest `train_after` events (the `pending` ones about to
        be written first), store it, use it from now on and compress the plain rows among the
        newest 2 × `train_after` (pending included); None when the events cannot train one."""
        if not self.enabled:
            return None
        samples: list[Raw] = list(pending[-self.train_after :])
        rows = tx.fetchall(
            "SELECT id, raw_codec, raw FROM events ORDER BY id DESC LIMIT ?", (self.train_after,)
        )
        samples += [self.decode(c, blob) for _, c, blob in rows[: self.train_after - len(samples)]]
        held = samples[::HOLD_OUT]
        learn: list[Raw] = [s for i, s in enumerate(samples) if i % HOLD_OUT]
        self._since = self._window_raw = self._window_stored = 0
        try:  # training is optional: it must never fail the write that triggered it
            if len(learn) < MIN_SAMPLES:
                raise ValueError("too few events")
            zdict = zstandard.train_dictionary(DICT_SIZE, learn, level=LEVEL)
        except (zstandard.ZstdError, ValueError) as exc:  # too few or too small samples: later
            log.info("no compression dictionary from %d events yet: %s", len(learn), exc)
            return None
        data = zdict.as_bytes()
        cctx = zstandard.ZstdCompressor(level=LEVEL, dict_data=zdict, write_checksum=False, write_dict_id=False)
        ratio = sum(map(len, held)) / max(sum(len(cctx.compress(s)) for s in held), 1)
        created = tx.fetchall(
            "INSERT INTO dictionaries (dictionary, created_at, trained_on, ratio) VALUES (?, ?, ?, ?) RETURNING id",
            (data, now(), len(learn), ratio),
        )
        self._use(Dictionary(int(created[0][0]), data, ratio))
        self._uncommitted = int(created[0][0])
        # the newest plain rows (all of a young store's; the pending ones count among them):
        # older ones are left to compress_stored, so that training on a large plain store stays
        # a short transaction
        newest = max(self.train_after, 2 * self.train_after - len(pending))
        plain = (
            tx.fetchall("SELECT id, raw FROM events WHERE id > ? AND raw_codec IS NULL", (int(rows[0][0]) - newest,))
            if rows
            else []
        )
        tx.executemany(
            "UPDATE events SET raw_codec = ?, raw = ? WHERE id = ?",
            [(*self.encode(bytes(raw)), row_id) for row_id, raw in plain],
        )
        self._window_raw = self._window_stored = 0
        log.info("compression dictionary %d trained on %d events: %.1f× on held-out events",
                 self._current.id if self._current else 0, len(learn), ratio)
        return self._current

    def end(self, *, committed: bool) -> None:
        """The write transaction ended: a dictionary trained in it is kept only if it committed;
        otherwise everything is learnt again from the database by the next `prepare`."""
        if self._uncommitted is not None and not committed:
            with self._lock:
                self._dicts.pop(self._uncommitted, None)
            self._current = self._compressor = None
            self._loaded = False
        self._uncommitted = None

    def _use(self, found: Dictionary) -> None:
        with self._lock:
            self._dicts[found.id] = found
        self._current = found
        self._compressor = zstandard.ZstdCompressor(
            level=LEVEL, dict_data=found.zdict, write_checksum=False, write_dict_id=False
        )
        self._since = self._window_raw = self._window_stored = 0

    @property
    def current(self) -> int | None:
        """The id of the dictionary new rows are compressed with (None: stored plain)."""
        return self._current.id if self._current else None


def compress_stored(store: Store, *, batch: int = 1000, progress: Callable[[int], None] | None = None) -> int:
    """Compress the plain rows of `store` (stored before its first dictionary, or by an older
    version) with the current dictionary, a batch per transaction (read and rewritten in it, so
    a concurrent rewrite is never undone); return how many. Trains a dictionary first when the
    store has none yet (whatever `train_after`: compressing was asked for), which compresses the
    newest rows itself; 0 when it cannot (compression off, or too few events)."""

    def step(tx: Tx, after: int) -> tuple[int, int]:
        rows = tx.fetchall(
            "SELECT id, raw FROM events WHERE id > ? AND raw_codec IS NULL ORDER BY id LIMIT ?", (after, batch)
        )
        values = [(*tx.encode_raw(bytes(raw)), int(row_id)) for row_id, raw in rows]
        tx.executemany("UPDATE events SET raw_codec = ?, raw = ? WHERE id = ?", values)
        return len(values), int(rows[-1][0]) if rows else -1

    def first(tx: Tx) -> int | None:
        if tx.codec.current is not None:
            return 0
        plain = "SELECT count(*) FROM events WHERE raw_codec IS NULL"
        before = int(tx.fetchall(plain)[0][0])
        if tx.codec.train(tx) is None:
            return None
        return before - int(tx.fetchall(plain)[0][0])

    trained = store.transact(first)
    if trained is None:
        return 0
    done, after = trained, 0
    while after >= 0:
        n, after = store.transact(partial(step, after=after))
        done += n
        if progress is not None and n:
            progress(n)
    return done


def retrain(store: Store, *, batch: int = 1000, containing: Collection[bytes] | None = None) -> int:
    """Replace every dictionary by one trained on the events as they are now, re-encode every
    row with it and delete the others; return how many rows were re-encoded.

    A dictionary holds fragments of the events it was trained on: after events were
    pseudonymised or a person erased, the old ones may still hold the identifiers. With
    `containing`, nothing happens unless some dictionary holds one of those byte strings (and
    nothing ever on a store without dictionaries)."""
    stored = store.query("SELECT dictionary FROM dictionaries")
    if not stored:
        return 0
    if containing is not None and not any(n in bytes(d) for (d,) in stored for n in containing if n):
        return 0
    if store.transact(lambda tx: tx.codec.train(tx)) is None:
        return 0

    def step(tx: Tx, after: int) -> tuple[int, int]:
        current = tx.codec.current
        rows = tx.fetchall(
            "SELECT id, raw_codec, raw FROM events WHERE id > ? AND (raw_codec IS NULL OR raw_codec <> ?)"
            " ORDER BY id LIMIT ?",
            (after, current, batch),
        )
        values = [(*tx.encode_raw(tx.codec.decode(c, raw)), int(row_id)) for row_id, c, raw in rows]
        tx.executemany("UPDATE events SET raw_codec = ?, raw = ? WHERE id = ?", values)
        return len(values), int(rows[-1][0]) if rows else -1

    done = after = 0
    while after >= 0:
        n, after = store.transact(partial(step, after=after))
        done += n
    store.transact(_drop_unused)
    return done


def _drop_unused(tx: Tx) -> int:
    """Delete the dictionaries no row names, except the current one. On PostgreSQL, first wait
    for inserts in flight (a writer that started before `retrain` trained may still be
    committing rows that name an older dictionary)."""
    if tx.dialect == "postgresql":
        tx.execute("LOCK TABLE events IN SHARE MODE")
    return tx.execute(
        "DELETE FROM dictionaries WHERE id <> ? AND NOT EXISTS (SELECT 1 FROM events WHERE raw_codec = dictionaries.id)",
        (tx.codec.current,),
    )
