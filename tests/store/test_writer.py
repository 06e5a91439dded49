"""The group-commit writer on a real store: grouping, per-request results, errors, shutdown."""

from __future__ import annotations

import asyncio

import pytest
from storekit import dead_letter, synthetic_rows

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.ingest import Batch
from caliper_stream.store import Store, WriteResult, open_store
from caliper_stream.store.writer import CommitInfo, Writer


def test_concurrent_requests_share_commits_and_get_their_own_results(store: Store) -> None:
    batches = [Batch(synthetic_rows(10)) for _ in range(50)]
    infos: list[CommitInfo] = []

    async def main() -> list[WriteResult]:
        writer = Writer(store, on_commit=infos.append)
        await writer.start()
        try:
            return await asyncio.gather(*(writer.write(b) for b in batches))
        finally:
            await writer.stop()

    results = asyncio.run(main())
    assert results == [WriteResult(accepted=10)] * 50
    assert store.query("SELECT count(*) FROM events") == [(500,)]
    assert len(infos) < 10, "requests were not grouped"
    assert sum(i.rows for i in infos) == 500
    assert all(i.ok for i in infos)


def test_duplicates_across_concurrent_requests_are_counted_once(store: Store) -> None:
    rows = synthetic_rows(20)

    async def main() -> list[WriteResult]:
        writer = Writer(store)
        await writer.start()
        try:
            return await asyncio.gather(
                writer.write(Batch(rows)),
                writer.write(Batch(rows[:10], [dead_letter(b"x")])),
                writer.write(Batch(rows[5:] + rows[5:])),
            )
        finally:
            await writer.stop()

    results = asyncio.run(main())
    assert sum(r.accepted for r in results) == 20
    assert sum(r.duplicates for r in results) == 20 + 10 + 30 - 20
    assert results[1].dead_letters == 1
    assert store.query("SELECT count(*) FROM events") == [(20,)]


def test_transactions_respect_the_row_cap(store: Store) -> None:
    infos: list[CommitInfo] = []

    async def main() -> None:
        writer = Writer(store, max_rows=1000, on_commit=infos.append)
        await writer.start()
        try:
            await asyncio.gather(*(writer.write(Batch(synthetic_rows(300))) for _ in range(10)))
            await writer.write(Batch(synthetic_rows(1500)))  # larger than the cap: alone, whole
        finally:
            await writer.stop()
        assert writer.rows_committed == 4500
        assert writer.commits == len(infos)
        assert writer.last_commit_rows == 1500

    asyncio.run(main())
    assert all(i.rows <= 1000 for i in infos[:-1])
    assert infos[-1] == CommitInfo(batches=1, rows=1500, seconds=infos[-1].seconds, ok=True)


def test_errors_reach_every_waiting_request(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    store.close()  # every commit now fails
    infos: list[CommitInfo] = []

    async def main() -> list[WriteResult | BaseException]:
        writer = Writer(store, on_commit=infos.append)
        await writer.start()
        try:
            return await asyncio.gather(
                *(writer.write(Batch(synthetic_rows(5))) for _ in range(5)), return_exceptions=True
            )
        finally:
            await writer.stop()
            assert writer.failures == len(infos) >= 1

    results = asyncio.run(main())
    assert all(isinstance(r, StoreError) for r in results)
    assert not any(i.ok for i in infos)


def test_stop_drains_queue_and_refuses_later_writes(store: Store) -> None:
    async def main() -> None:
        writer = Writer(store)
        with pytest.raises(StoreUnavailable):
            await writer.write(Batch(synthetic_rows(1)))
        await writer.start()
        assert writer.running
        tasks = [asyncio.create_task(writer.write(Batch(synthetic_rows(5)))) for _ in range(20)]
        await asyncio.sleep(0)  # let every request enqueue
        await writer.stop()
        assert [t.result() for t in tasks] == [WriteResult(accepted=5)] * 20
        assert not writer.running
        assert writer.pending == 0
        with pytest.raises(StoreUnavailable):
            await writer.write(Batch(synthetic_rows(1)))

    asyncio.run(main())
    assert store.query("SELECT count(*) FROM events") == [(100,)]


def test_a_failing_metrics_hook_does_not_lose_results(store: Store) -> None:
    def hook(info: CommitInfo) -> None:
        raise RuntimeError("metrics are down")

    async def main() -> WriteResult:
        writer = Writer(store, on_commit=hook)
        await writer.start()
        try:
            return await writer.write(Batch(synthetic_rows(3)))
        finally:
            await writer.stop()

    assert asyncio.run(main()) == WriteResult(accepted=3)


def test_empty_batch_needs_no_commit(store: Store) -> None:
    async def main() -> None:
        writer = Writer(store)
        await writer.start()
        try:
            assert await writer.write(Batch()) == WriteResult()
        finally:
            await writer.stop()
        assert writer.commits == 0

    asyncio.run(main())


def test_write_sync_from_a_thread(store: Store) -> None:
    async def main() -> WriteResult:
        writer = Writer(store)
        await writer.start()
        try:
            return await asyncio.to_thread(writer.write_sync, Batch(synthetic_rows(4)))
        finally:
            await writer.stop()

    assert asyncio.run(main()) == WriteResult(accepted=4)
