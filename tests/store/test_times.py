"""Times as SQLite stores them (store/times.py): an integer only where it gives back the very
text, the view shows every time as it was sent, and ranges of times select what the text
compared before."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from storekit import learn_batch, raw_connection, schema_before

from caliper_stream.analyse.gradebook import compute
from caliper_stream.ingest import Row
from caliper_stream.store import Store, open_store
from caliper_stream.store.common import ROW_COLUMNS, row_values
from caliper_stream.store.export import Filters, export_query
from caliper_stream.store.keys import VIEW_FORMAT as KEY_VIEW
from caliper_stream.store.keys import key_text, stored_key
from caliper_stream.store.times import VIEW_FORMAT, bound_key, day_sql, time_key, time_text

_VIEW = sqlite3.connect(":memory:")


def _view_text(value: int | str | None) -> str | None:
    """What event_view's expression makes of a stored value, in SQLite itself."""
    return _VIEW.execute("SELECT " + VIEW_FORMAT.format(":v"), {"v": value}).fetchone()[0]


instants = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999000)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)


def _canonical(d: datetime) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}.{d.microsecond // 1000:03d}Z"


@given(instants)
def test_a_canonical_time_is_its_milliseconds_and_formats_back(d: datetime) -> None:
    text = _canonical(d)
    key = time_key(text)
    assert isinstance(key, int)
    assert key == (d.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert time_text(key) == text
    assert _view_text(key) == text


@given(instants, instants)
def test_integers_sort_as_the_times_do(a: datetime, b: datetime) -> None:
    ka, kb = time_key(_canonical(a)), time_key(_canonical(b))
    assert isinstance(ka, int)
    assert isinstance(kb, int)
    assert (ka < kb) == (_canonical(a) < _canonical(b))


_ODD = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789-T:.Z+ ", min_size=24, max_size=24),
    instants.map(_canonical).flatmap(
        lambda t: st.tuples(st.integers(0, 23), st.characters()).map(lambda p: t[: p[0]] + p[1] + t[p[0] + 1 :])
    ),
)


@settings(max_examples=500)
@given(_ODD)
def test_any_other_text_is_stored_as_sent(value: str) -> None:
    key = time_key(value)
    if isinstance(key, int):  # only when the text is exactly an instant's canonical form
        assert time_text(key) == value == _view_text(key)
    else:
        assert key == value
        assert _view_text(key) == value


@pytest.mark.parametrize(
    "odd",
    ["2026-02-30T00:00:00.000Z", "2026-01-12T24:00:00.000Z", "2026-01-12T06:17:60.000Z", "0000-01-01T00:00:00.000Z",
     "2026-01-12T06:17:24,199Z", "2026-01-12 06:17:24.199Z", "yesterday", ""],
)
def test_impossible_or_unusual_times_stay_text(odd: str) -> None:
    assert time_key(odd) == odd


def test_a_date_bound_is_its_midnight() -> None:
    assert bound_key("2026-01-12") == time_key("2026-01-12T00:00:00.000Z")
    assert bound_key("2026-01-12T06:17:24.199Z") == time_key("2026-01-12T06:17:24.199Z")
    assert bound_key("1970-01-01T00:00:00.000Z") == 0  # the epoch is a time too


def _stored_times(store: Store) -> dict[str, object]:
    """Each event's key (as the view shows it) and its event_time as ``events`` holds it."""
    return dict(store.query("SELECT v.event_key, e.event_time FROM events AS e JOIN event_view AS v ON v.id = e.id"))


def _rows_with_times(times: list[str | None]) -> list[Row]:
    base = learn_batch().rows[0]
    out = []
    for i, t in enumerate(times):
        k = base.keydata
        keydata = type(k)(**{**{f: getattr(k, f) for f in k.__struct_fields__}, "event_key": f"{i:032x}", "event_time": t})
        out.append(Row(f"{i:032x}", base.raw, keydata, base.source, base.received_at))
    return out


_TIMES = ["2026-01-12T06:17:24.199Z", "2026-01-12T23:59:59.999Z", "2026-01-13T00:00:00.000Z", "2025-12-31T23:00:00.000Z",
          "1969-07-20T20:17:40.000Z", "2026-02-30T00:00:00.000Z", "not a time", None]


def test_the_store_gives_back_every_time_as_it_was_and_selects_ranges(store: Store) -> None:
    rows = _rows_with_times(_TIMES)
    store.write(rows)
    got = dict(store.query("SELECT event_key, event_time FROM event_view"))
    assert got == {r.event_key: r.keydata.event_time for r in rows}
    stored = _stored_times(store)
    assert {k: store.time_text(v) for k, v in stored.items()} == got
    if store.dialect == "sqlite":  # the canonical ones are integers, the others text as sent
        assert {k for k, v in stored.items() if isinstance(v, int)} == {r.event_key for r in rows[:5]}
    since, until = store.time_key("2026-01-12"), store.time_key("2026-01-13")
    in_range = {k for (k,) in store.query("SELECT event_key FROM event_view WHERE event_at >= ? AND event_at < ?", (since, until))}
    assert in_range == {rows[0].event_key, rows[1].event_key}
    sql, params = export_query("jsonl", "keydata", Filters(since="2026-01-12T06:17:24.199Z", until="2026-01-13"), store.dialect)
    assert sorted(r[0] for r in store.query(sql, params)) == sorted([rows[0].event_key, rows[1].event_key])


def test_the_gradebook_until_compares_times(store: Store) -> None:
    rows = learn_batch().rows
    store.write(rows)
    times = sorted(t for (t,) in store.query("SELECT event_time FROM event_view WHERE type = 'GradeEvent'") if t)
    assert times
    everything = compute(store)
    assert everything
    assert compute(store, until=times[-1]) == everything
    assert compute(store, until="1970-01-01T00:00:00.000Z") == []


def _store_before_0016(url: str, rows: list[Row]) -> None:
    """A SQLite store at schema 15 holding `rows` as 0015 kept them: times and keys as text (the
    IRIs' parts, not needed here, left empty)."""
    schema_before(url, 16)
    conn, mark = raw_connection(url)
    with conn:
        columns = [c for c in ROW_COLUMNS if c not in ("sensor", "site", "actor_id", "object_id", "session_id")]
        keep = [i for i, c in enumerate(ROW_COLUMNS) if c in columns]
        conn.executemany(
            f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})",
            [tuple(v[i] for i in keep) for v in (row_values(r, lambda raw: (None, raw)) for r in rows)],
        )
    conn.close()


def _mutated(n: int) -> list[str]:
    """Canonical times with one character changed (seeded): digits out of range, impossible
    dates, other separators, and some left canonical."""
    rng = random.Random(16)
    out = []
    for _ in range(n):
        t = _canonical(datetime(1970, 1, 1) + timedelta(milliseconds=rng.randrange(-62135596800000, 253402300799999)))
        at = rng.randrange(24)
        out.append(t[:at] + rng.choice("0123456789:-.TZ+ x") + t[at + 1 :])
    return out


def test_migration_0016_keeps_every_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    rows = _rows_with_times(_TIMES)
    _store_before_0016(url, rows)
    with open_store(url) as migrated:
        assert migrated.schema_version() >= 16
        got = dict(migrated.query("SELECT event_key, event_time FROM event_view"))
        assert got == {r.event_key: r.keydata.event_time for r in rows}
        kinds = dict(migrated.query(
            "SELECT v.event_key, typeof(e.event_time) FROM events AS e JOIN event_view AS v ON v.id = e.id"
        ))
        assert [kinds[r.event_key] for r in rows] == ["integer"] * 5 + ["text", "text", "null"]
        received = {t for (t,) in migrated.query("SELECT received_at FROM event_view")}
        assert received == {rows[0].received_at}


def test_migration_0016_converts_exactly_what_the_writer_would(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    times = _mutated(3000)
    rows = _rows_with_times(list(times))
    _store_before_0016(url, rows)
    with open_store(url) as migrated:
        stored = _stored_times(migrated)
        shown = dict(migrated.query("SELECT event_key, event_time FROM event_view"))
    assert [stored[r.event_key] for r in rows] == [time_key(t) for t in times]
    assert [shown[r.event_key] for r in rows] == times
    assert 0 < sum(isinstance(v, int) for v in stored.values()) < len(times)


@given(st.text(max_size=40) | st.text(alphabet="0123456789abcdefABCDEF ", min_size=32, max_size=32))
def test_a_key_is_its_bytes_only_when_it_is_lowercase_hex(key: str) -> None:
    stored = stored_key(key)
    assert key_text(stored) == key
    hex_digits = len(key) == 32 and all(c in "0123456789abcdef" for c in key)
    assert isinstance(stored, bytes) == hex_digits
    assert _VIEW.execute("SELECT " + KEY_VIEW.format(":k"), {"k": stored}).fetchone()[0] == key


def test_migrated_keys_still_deduplicate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    rows = _rows_with_times(_TIMES)
    odd = Row("k-1", rows[0].raw, rows[0].keydata, "test", rows[0].received_at)  # a key that is not hex
    _store_before_0016(url, [*rows, odd])
    with open_store(url) as migrated:
        kinds = [t for (t,) in migrated.query("SELECT typeof(event_key) FROM events ORDER BY id")]
        assert kinds == ["blob"] * len(rows) + ["text"]
        assert sorted(k for (k,) in migrated.query("SELECT event_key FROM event_view")) == sorted(
            [r.event_key for r in rows] + ["k-1"]
        )
        again = migrated.write([*rows, odd])
        assert (again.accepted, again.duplicates) == (0, len(rows) + 1)


# stored key data never holds U+0000 (the store replaces it: common.NUL_REPLACEMENT), and SQLite's
# substr stops at one
@given(st.lists(instants, min_size=1, max_size=20), st.lists(_ODD.filter(lambda t: "\x00" not in t), max_size=3))
def test_the_day_of_a_stored_time_is_the_date_of_its_text(moments: list[datetime], odd: list[str]) -> None:
    texts = [_canonical(d) for d in moments] + odd
    got = [_VIEW.execute(f"SELECT {day_sql('sqlite', ':t')}", {"t": time_key(t)}).fetchone()[0] for t in texts]
    assert got == [t[:10] for t in texts]
