"""IRI prefixes stored once (store/prefixes.py, migration 0015) on both backends: every value
reads back exactly from ``event_view``, whatever its shape, through rollbacks, purges and other
processes' remembered ids, and a database of migration 0014 moves over unchanged."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from storekit import learn_batch, raw_connection, schema_before

from caliper_stream.ingest import Row, now
from caliper_stream.keydata import KeyData
from caliper_stream.store import Store, open_store
from caliper_stream.store.common import (
    EVENT_COLUMNS,
    ROW_COLUMNS,
    TIME_COLUMNS,
    Tx,
    event_values,
    row_values,
)
from caliper_stream.store.keys import stored_key
from caliper_stream.store.prefixes import COLUMNS, MAX_PREFIX, WHOLE, Prefixes, purge, split
from caliper_stream.store.times import time_key

SITE = "https://caliper-mapping.cloudbb.blackboard.com/v1/sites/6513270e-269e-4d37-b2a7-4de452e6b438"
#: IRIs of every shape: Learn's, none, empty, no "/", only "/", a prefix too long to store,
#: characters beyond ASCII, a NUL (stored as U+FFFD), a trailing "/".
ODD = [
    f"{SITE}/users/02f4b342742a80631f2642aadcded204",
    None,
    "",
    "urn:uuid:9b0c5e1a-3d1c-4f55-8a53-0c8d1f8c2a11",
    "/",
    "https://example.edu/" + "p" * (MAX_PREFIX + 10) + "/x",
    "https://exämple.edu/用户/ünïcode",
    "https://example.edu/users/a\x00b",
    "https://example.edu/sessions/",
]


def row(i: int, iri: str | None) -> Row:
    key = uuid.uuid4().hex
    kd = KeyData(
        event_key=key, type="ViewEvent", action="Viewed", event_time=f"2026-01-12T10:00:{i % 60:02d}.000Z",
        sensor=iri, site=iri, actor_id=iri, object_id=iri, session_id=iri,
    )
    return Row(key, msgspec.json.encode({"id": key, "actor": iri}), kd, "test", now())  # raw holds what key data does


def viewed(store: Store) -> dict[str, tuple[str | None, ...]]:
    cols = ", ".join(COLUMNS)
    return {k: tuple(v) for k, *v in store.query(f"SELECT event_key, {cols} FROM event_view")}


def expected(rows: list[Row]) -> dict[str, tuple[str | None, ...]]:
    def stored(v: str | None) -> str | None:
        return None if v is None else v.replace("\x00", "\ufffd")

    return {r.event_key: tuple(stored(getattr(r.keydata, c)) for c in COLUMNS) for r in rows}


@given(st.sampled_from(COLUMNS), st.text(alphabet=st.sampled_from("ab/:é\x00"), max_size=40) | st.none())
def test_a_split_puts_the_value_back_together(column: str, value: str | None) -> None:
    prefix, suffix = split(column, value)
    if value is None:
        assert (prefix, suffix) == (None, None)
        return
    assert (prefix or "") + (suffix or "") == value
    if prefix is not None:
        assert 0 < len(prefix) <= MAX_PREFIX
        assert suffix == "" if column in WHOLE else prefix.endswith("/") and "/" not in (suffix or "")


def test_every_shape_of_iri_reads_back_exactly(store_url: str) -> None:
    rows = [row(i, v) for i, v in enumerate(ODD)] + learn_batch().rows
    with open_store(store_url) as store:
        store.write(rows[:3])
        store.write(rows[3:])
        assert viewed(store) == expected(rows)
        prefixes = [p for (p,) in store.query("SELECT prefix FROM iri_prefixes")]
        assert not any(len(p) > MAX_PREFIX for p in prefixes)
        assert {p for p in prefixes if p.startswith(SITE)} >= {f"{SITE}/users/"}
        # and the whole IRIs are not in events any more
        suffixes = store.query("SELECT actor_id_suffix FROM events WHERE actor_id_prefix IS NOT NULL")
        assert suffixes
        assert not any(s.startswith("https://") for (s,) in suffixes)


def test_a_rolled_back_prefix_is_never_named(store_url: str) -> None:
    first = row(1, "https://example.edu/rolled/back")
    with open_store(store_url) as store:

        def fails(tx: object) -> None:
            tx.event_values([first])  # type: ignore[attr-defined]  # inserts the new prefix
            raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            store.transact(fails)
        assert store.query("SELECT count(*) FROM iri_prefixes WHERE prefix = 'https://example.edu/rolled/'") == [(0,)]
        store.write([row(2, "https://example.edu/other/one")])  # may take the id the rollback freed
        store.write([first])
        assert viewed(store)[first.event_key] == expected([first])[first.event_key]


def test_a_purge_deletes_unused_prefixes_and_other_processes_notice(store_url: str) -> None:
    gone, kept = row(1, "https://example.edu/people/jsmith/profile"), row(2, f"{SITE}/users/abc")
    with open_store(store_url) as one, open_store(store_url) as two:
        one.write([gone, kept])
        two.write([row(3, "https://example.edu/people/jsmith/other")])  # `two` now knows the prefix
        one.transact(lambda tx: tx.execute("DELETE FROM events WHERE event_key <> ?", (tx.stored_key(kept.event_key),)))
        assert one.transact(lambda tx: purge(tx, containing=["nobody"])) == 0  # no prefix holds it
        assert one.transact(lambda tx: purge(tx, containing=["jsmith"])) >= 2  # every unused one
        prefixes = {p for (p,) in one.query("SELECT prefix FROM iri_prefixes")}
        assert not any("jsmith" in p for p in prefixes)
        assert f"{SITE}/users/" in prefixes
        again = row(4, "https://example.edu/people/jsmith/profile")
        two.write([again])  # its remembered id was deleted: it must not name it
        assert viewed(two) == expected([kept, again])


def test_a_database_of_0014_moves_over_unchanged(store_url: str) -> None:
    rows = [row(i, v) for i, v in enumerate(ODD)] + learn_batch().rows
    schema_before(store_url, 15)
    conn, mark = raw_connection(store_url)
    with conn:
        conn.cursor().executemany(
            f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join([mark] * len(ROW_COLUMNS))})",
            [row_values(r, lambda raw: (None, raw)) for r in rows],
        )
        if mark == "%s":  # PostgreSQL claims keys in event_keys (0010)
            conn.cursor().executemany("INSERT INTO event_keys (event_key) VALUES (%s)", [(r.event_key,) for r in rows])
    conn.close()
    with open_store(store_url) as store:
        assert viewed(store) == expected(rows)
        cols = {c for (c,) in store.query("SELECT name FROM pragma_table_info('events')")} if store.dialect == "sqlite" else {
            c for (c,) in store.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'events'"
                                      " AND table_schema = current_schema()")}
        assert not cols & set(COLUMNS)
        assert store.query("SELECT count(*) FROM bi_events") == [(len(rows),)]
        assert store.write(rows).duplicates == len(rows)
        new = row(99, f"{SITE}/users/new")
        assert store.write([new]).accepted == 1
        assert viewed(store) == expected([*rows, new])


def test_db_vacuum_gives_the_space_of_deleted_rows_back(sqlite_url: str) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with open_store(sqlite_url) as store:
        store.write([row(i, f"{SITE}/users/{i:032x}") for i in range(3000)])
        store.transact(lambda tx: tx.execute("DELETE FROM events"))
        store.checkpoint()
    before = path.stat().st_size
    done = subprocess.run(
        [sys.executable, "-m", "caliper_stream", "db", "vacuum", "--db", sqlite_url],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "vacuumed" in done.stdout
    assert path.stat().st_size < before * 0.7  # what is left is the empty schema


IRIS = st.none() | st.text(alphabet=st.sampled_from("ab/:é\x00"), max_size=12) | st.sampled_from(ODD[:1] + ODD[5:6])


TIMES = st.none() | st.sampled_from(["2026-01-12T10:00:00.000Z", "1969-12-31T23:59:59.999Z", "2026-02-30T00:00:00.000Z", "x"])


@given(st.tuples(IRIS, IRIS, IRIS, IRIS, IRIS), st.sampled_from(["ViewEvent", "x" * 300, "a\x00b"]), st.booleans(),
       st.tuples(TIMES, TIMES, TIMES, TIMES), st.sampled_from(["sqlite", "postgresql"]))
def test_event_values_are_row_values_with_each_iri_split(
    iris: tuple[str | None, ...], type_: str, nul_in_raw: bool, times: tuple[str | None, ...], dialect: str
) -> None:
    """The one-tuple path (nearly every row) and the fixing path agree with `row_values`, with
    each IRI split and each time as the dialect stores it (store/times.py)."""
    sent = dict(zip(("event_time", "send_time", "started_at", "ended_at"), times, strict=True))
    kd = KeyData(event_key="k", type=type_, **dict(zip(COLUMNS, iris, strict=True)), **sent)  # type: ignore[arg-type]
    r = Row("k", b'{"a": "\\u0000"}' if nul_in_raw else b"{}", kd, "src", "2026-01-12T10:00:00.000Z")
    stores = time_key if dialect == "sqlite" else (lambda t: t)
    keys = stored_key if dialect == "sqlite" else (lambda k: k)
    prefixes = Prefixes()
    ids: dict[str, int] = {}
    prefixes._id = lambda prefix: ids.setdefault(prefix, len(ids))  # type: ignore[method-assign]
    prefixes._tx = tx = object()  # type: ignore[assignment]
    [stored] = event_values([r], lambda raw: (None, raw), prefixes.splitters(tx), stores, keys)  # type: ignore[arg-type]
    names = dict(zip(EVENT_COLUMNS, stored, strict=True))
    whole = dict(zip(ROW_COLUMNS, row_values(r, lambda raw: (None, raw)), strict=True))
    by_id = {i: p for p, i in ids.items()}
    for column in ROW_COLUMNS:
        if column in COLUMNS:
            prefix, suffix = names[f"{column}_prefix"], names[f"{column}_suffix"]
            assert (None if suffix is None else by_id.get(prefix, "") + suffix) == whole[column]
        elif column == "event_key":
            assert names[column] == keys(whole[column])
        elif column in TIME_COLUMNS:
            assert names[column] == stores(whole[column])
        else:
            assert names[column] == whole[column]


@pytest.mark.postgres
def test_a_purge_waits_for_a_writer_that_uses_a_remembered_prefix(pg_url: str) -> None:
    """PostgreSQL, two processes' worth of stores: a writer holding an id it remembers (its
    prefix unused by any event at that moment) is not undercut by a concurrent purge."""
    first, second = row(1, "https://example.edu/race/one"), row(2, "https://example.edu/race/two")
    with open_store(pg_url) as writer, open_store(pg_url) as purger:
        writer.write([first])
        writer.transact(lambda tx: tx.execute("DELETE FROM events"))  # the prefix is unused now
        locked = threading.Event()

        def insert_slowly(tx: Tx) -> None:
            [values] = tx.event_values([second])  # the remembered id, and the insert's lock
            locked.set()
            time.sleep(1.0)
            tx.execute("INSERT INTO event_keys (event_key) VALUES (?)", (second.event_key,))
            tx.execute(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(values))})", values)

        thread = threading.Thread(target=writer.transact, args=(insert_slowly,))
        thread.start()
        assert locked.wait(10)
        started = time.monotonic()
        purger.transact(purge)  # waits for the writer's commit, then sees its row
        waited = time.monotonic() - started
        thread.join(10)
        assert waited > 0.5
        assert viewed(purger) == expected([second])
