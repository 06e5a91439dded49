"""The sensor's state machine, without a network: batching, nightly holding, outcomes."""

from __future__ import annotations

import json
import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from caliper_stream.sensor.flow import Backoff, Flow, Send, Wait, next_nightly, retry_after
from caliper_stream.sensor.outbox import Outbox

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 3, 3, 14, 0, tzinfo=NY).timestamp()  # a Tuesday afternoon in New York


def flow(**kw: object) -> Flow:
    options: dict[str, object] = {"sensor_id": "site-1", "batch_size": 3, "max_delay": 2.0, "timezone": "America/New_York", "rng": random.Random(1)}
    options.update(kw)
    return Flow(Outbox(":memory:"), **options)  # type: ignore[arg-type]


def ev(n: int) -> bytes:
    return json.dumps({"type": "ViewEvent", "n": n}).encode()


def sent_numbers(send: Send) -> list[int]:
    return [e["n"] for e in json.loads(send.body)["data"]]


def test_envelope_shape_and_send_time() -> None:
    f = flow()
    f.add([(ev(i), False) for i in range(3)], T0)
    step = f.poll(T0 + 0.5)
    assert isinstance(step, Send)
    env = json.loads(step.body)
    assert list(env) == ["sensor", "sendTime", "dataVersion", "data"]
    assert env["sensor"] == "site-1"
    assert env["dataVersion"] == "http://purl.imsglobal.org/ctx/caliper/v1p1"
    assert env["sendTime"] == datetime.fromtimestamp(T0 + 0.5, NY).astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.500Z")
    f10 = flow(version="1.0")
    f10.add([(ev(1), False)], T0)
    step = f10.poll(T0, flush=True)
    assert isinstance(step, Send)
    assert list(json.loads(step.body)) == ["sensor", "sendTime", "data"]


def test_batches_of_at_most_batch_size_in_order() -> None:
    f = flow()
    f.add([(ev(i), False) for i in range(7)], T0)
    seen = []
    while isinstance(step := f.poll(T0 + 10), Send):
        assert len(step.ids) <= 3
        seen += sent_numbers(step)
        assert f.handle(step, T0 + 10, status=200).verdict == "sent"
    assert seen == list(range(7))
    assert f.stats().sent == 7
    assert f.stats().pending == 0


def test_immediate_event_waits_at_most_max_delay() -> None:
    f = flow()
    f.add([(ev(1), False)], T0)
    assert f.poll(T0) == Wait(T0 + 2.0)
    assert isinstance(f.poll(T0 + 1.0, flush=True), Send)  # flush does not wait
    f.abandon()
    step = f.poll(T0 + 2.0)
    assert isinstance(step, Send)
    assert sent_numbers(step) == [1]


def test_one_request_in_flight() -> None:
    f = flow()
    f.add([(ev(i), False) for i in range(6)], T0)
    first = f.poll(T0 + 5)
    assert isinstance(first, Send)
    assert f.poll(T0 + 5) == Wait(None)
    f.handle(first, T0 + 5, status=202)  # any 2xx is success
    assert isinstance(f.poll(T0 + 5), Send)


def test_nightly_events_are_held_until_the_nightly_run() -> None:
    f = flow(nightly_at="02:00")
    f.add([(ev(i), True) for i in range(5)], T0)
    run = datetime(2026, 3, 4, 2, 0, tzinfo=NY).timestamp()
    assert f.poll(T0 + 3600) == Wait(run)
    assert f.poll(run - 0.001, flush=True) == Wait(run)
    assert f.stats(T0).held == 5
    batches = []
    while isinstance(step := f.poll(run), Send):  # due: sent in bulk, no fill wait
        batches.append(sent_numbers(step))
        f.handle(step, run, status=200)
    assert batches == [[0, 1, 2], [3, 4]]


def test_next_nightly_across_dst() -> None:
    before_spring = datetime(2026, 3, 7, 23, 0, tzinfo=NY).timestamp()
    assert datetime.fromtimestamp(next_nightly(before_spring, (2, 30), NY), NY).date().isoformat() == "2026-03-08"
    after = datetime(2026, 3, 8, 3, 0, tzinfo=NY).timestamp()
    nxt = datetime.fromtimestamp(next_nightly(after, (2, 0), NY), NY)
    assert (nxt.day, nxt.hour, nxt.minute) == (9, 2, 0)


@pytest.mark.parametrize("status", [None, 500, 502, 503, 504, 408, 429])
def test_retryable_outcomes_back_off(status: int | None) -> None:
    f = flow(backoff=Backoff(base=1.0, cap=60.0))
    f.add([(ev(1), False)], T0)
    delays = []
    now = T0
    for _ in range(8):
        step = f.poll(now, flush=True)
        assert isinstance(step, Send)
        out = f.handle(step, now, status=status, error="ConnectError" if status is None else None, body=b"busy")
        assert out.verdict == "retry"
        assert out.retry_at is not None
        delays.append(out.retry_at - now)
        assert f.poll(out.retry_at - 0.01, flush=True) == Wait(out.retry_at)
        now = out.retry_at
    assert delays[0] <= 1.0
    assert delays[-1] <= 60.0
    assert delays[5] > delays[1]
    assert f.stats().retries == 8
    assert f.stats().pending == 1


def test_retry_after_is_honoured() -> None:
    f = flow()
    f.add([(ev(1), False)], T0)
    step = f.poll(T0, flush=True)
    assert isinstance(step, Send)
    out = f.handle(step, T0, status=429, headers={"retry-after": "120"})
    assert out.retry_at == T0 + 120
    step = f.poll(T0 + 120, flush=True)
    assert isinstance(step, Send)
    out = f.handle(step, T0 + 120, status=503, headers={"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"})
    assert out.retry_at == T0 + 120 + 3600  # capped
    assert retry_after("garbage", T0) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 415, 422])
def test_definitive_refusals_are_kept_as_failed(status: int) -> None:
    f = flow()
    f.add([(ev(i), False) for i in range(2)], T0)
    step = f.poll(T0, flush=True)
    assert isinstance(step, Send)
    assert f.handle(step, T0, status=status, body=b'{"error":"bad key"}').verdict == "failed"
    assert f.poll(T0 + 10**6, flush=True) == Wait(None)
    stats = f.stats()
    assert (stats.failed, stats.pending, stats.sent) == (2, 0, 0)
    failed = f.outbox.failed()
    assert [(x.status, x.reason) for x in failed] == [(status, '{"error":"bad key"}')] * 2
    assert f.outbox.retry_failed() == 2
    assert f.stats().pending == 2


def test_outbox_survives_reopening(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "outbox.db"
    f = Flow(Outbox(path), sensor_id="s")
    f.add([(ev(i), i % 2 == 0) for i in range(4)], T0)
    step = f.poll(T0, flush=True)  # "crash" with a request in flight
    assert isinstance(step, Send)
    again = Flow(Outbox(path), sensor_id="s")
    assert again.stats().pending == 4
    step = again.poll(T0 + 86400 * 2, flush=True)
    assert isinstance(step, Send)
    assert len(step.ids) == 4


def test_concurrent_requests_never_share_an_event() -> None:
    f = flow(concurrency=3)
    f.add([(ev(i), False) for i in range(10)], T0)
    a, b, c = (f.poll(T0 + 5) for _ in range(3))
    assert isinstance(a, Send)
    assert isinstance(b, Send)
    assert isinstance(c, Send)
    assert f.poll(T0 + 5) == Wait(None)  # saturated
    assert sent_numbers(a) + sent_numbers(b) + sent_numbers(c) == list(range(9))
    f.handle(b, T0 + 5, status=503)  # out of order: b is retried later, a and c succeed
    f.handle(c, T0 + 5, status=200)
    d = f.poll(T0 + 5, flush=True)
    assert isinstance(d, Send)
    assert sent_numbers(d) == [9]
    f.handle(a, T0 + 5, status=200)
    f.handle(d, T0 + 5, status=200)
    retry = f.poll(T0 + 3600, flush=True)
    assert isinstance(retry, Send)
    assert sent_numbers(retry) == [3, 4, 5]
    with pytest.raises(RuntimeError):
        f.handle(a, T0, status=200)  # already handled
