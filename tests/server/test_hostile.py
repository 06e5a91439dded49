"""Hostile and broken input through a real server: one bad value never costs its batch, a small
body never costs more than its bytes, and every byte sent ends up an event or a dead letter."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import msgspec
import pytest
from harness import Site
from payloads import envelope, learn_events

from caliper_stream.server.payload import MAX_ITEMS


def rss_kib(site: Site, field: str = "VmRSS") -> int:
    """The server process's resident set (or its peak, ``VmHWM``), in KiB."""
    assert site.server.proc is not None
    for line in Path(f"/proc/{site.server.proc.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def serialized(events: list[dict[str, object]]) -> list[bytes]:
    return [msgspec.json.encode(e) for e in events]


def body_of(pieces: list[bytes]) -> bytes:
    """An envelope whose data holds exactly `pieces` (bytes as given, valid JSON or not)."""
    head = envelope([])[: -len(b"[]}")]
    return head + b"[" + b",".join(pieces) + b"]}"


def dead_letters_since(site: Site, after: int) -> list[bytes]:
    return [dl.raw for dl in site.store.list_dead_letters(10_000, after_id=after)]


def last_dead_letter(site: Site) -> int:
    rows = site.store.query("SELECT max(id) FROM dead_letters")
    return int(rows[0][0] or 0)


def grade_events(n: int) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    offset = 0
    while len(found) < n:
        found += [e for e in learn_events(20, offset) if e.get("type") == "GradeEvent"]
        offset += 20
    return found[:n]


# --- 11.1 and 11.19: no value raises; reasons say what and where ------------------------------


def test_a_401_digit_score_is_a_warning_and_costs_nothing(site: Site) -> None:
    events = learn_events(99) + grade_events(1)
    pieces = serialized(events)
    pieces[-1] = pieces[-1].replace(b'"scoreGiven":', b'"scoreGiven":' + b"9" * 401 + b',"was":', 1)
    assert b"9" * 401 in pieces[-1]
    r = site.post(body_of(pieces))
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["accepted"] == 100
    assert summary["rejected"] == 0
    assert any("data[99].generated: score not usable as a number" in w for w in summary["warnings"])
    [(codec, raw, score)] = site.store.query("SELECT raw_codec, raw, score FROM events WHERE event_id = ?", (events[-1]["id"],))
    assert site.store.decode_raw(codec, raw) == pieces[-1]
    assert score is None


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"1e400", "generated.scoreGiven: number too large: 1e400"),
        (b"9" * 5000, "generated.scoreGiven: number too large (5000 digits)"),
    ],
)
def test_a_number_beyond_range_is_one_dead_letter_with_its_path(site: Site, bad: bytes, reason: str) -> None:
    events = learn_events(9) + grade_events(1)
    pieces = serialized(events)
    pieces[-1] = pieces[-1].replace(b'"scoreGiven":', b'"scoreGiven":' + bad + b',"was":', 1)
    after = last_dead_letter(site)
    r = site.post(body_of(pieces))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 9
    assert r.json()["rejected"] == 1
    assert r.json()["problems"] == [f"data[9].{reason}"]
    assert dead_letters_since(site, after) == [pieces[-1]]


def test_an_event_time_that_is_no_time_is_a_warning_not_a_silent_null(site: Site) -> None:
    [event] = learn_events(1)
    event["eventTime"] = 0
    piece = msgspec.json.encode(event).replace(b'"eventTime":0', b'"eventTime":-0')
    r = site.post(body_of([piece]))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert r.json()["warnings"] == ["data[0].eventTime: eventTime is not a date-time string: 0"]
    assert site.store.query("SELECT event_time FROM event_view WHERE event_id = ?", (event["id"],)) == [(None,)]


# --- 11.2: one malformed token costs only its event -------------------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (b"NaN", "data[3].eventTime: invalid token 'NaN'"),
        (b'"\\ud800"', "data[3].eventTime: lone surrogate \\ud800"),
        (b"01", "data[3].eventTime: invalid number '01'"),
        (b'"2021-01-05T14:50:26\xff.769Z"', "data[3].eventTime: invalid UTF-8 at byte"),
    ],
)
def test_one_malformed_token_costs_only_its_event(site: Site, token: bytes, reason: str) -> None:
    events = learn_events(100)
    pieces = serialized(events)
    pieces[3] = pieces[3].replace(b'"eventTime":', b'"eventTime":' + token + b',"was":', 1)
    after = last_dead_letter(site)
    r = site.post(body_of(pieces))
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["accepted"] == 99
    assert summary["rejected"] == 1
    assert summary["problems"][0].startswith(reason)
    assert site.count_ids([str(e["id"]) for e in events]) == 99
    assert dead_letters_since(site, after) == [pieces[3]]  # the bad piece only, every byte of it


def test_junk_between_events_and_a_truncated_tail_are_dead_letters(site: Site) -> None:
    events = learn_events(3)
    pieces = serialized(events)
    body = body_of([pieces[0], b"null", pieces[1], b"tru"]) + b"\n" + pieces[2][:-40]
    after = last_dead_letter(site)
    r = site.post(body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    assert sorted(dead_letters_since(site, after)) == sorted([b"null", b"tru", pieces[2][:-40]])


# --- 11.16: a dead letter keeps every byte ----------------------------------------------------


def test_a_large_unreadable_line_is_kept_whole(site: Site) -> None:
    [event] = learn_events(1)
    line = b'{"type":"Event","junk":"' + b"x" * 200_000 + b'",NaN}'
    assert len(line) > 200_000
    after = last_dead_letter(site)
    r = site.post(msgspec.json.encode(event) + b"\n" + line + b"\n")
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert dead_letters_since(site, after) == [line]


def test_a_truncated_large_envelope_after_a_good_line_is_kept_whole(site: Site) -> None:
    good, *rest = learn_events(60)
    truncated = envelope(rest)[:-1000]
    assert len(truncated) > 100_000
    after = last_dead_letter(site)
    r = site.post(msgspec.json.encode(good) + b"\n" + truncated)
    assert r.status_code == 200, r.text
    letters = dead_letters_since(site, after)
    stored = {site.store.decode_raw(*r) for r in site.store.query("SELECT raw_codec, raw FROM events WHERE source = ?", (site.name,))}
    # every event sent whole is stored; the one cut off is a dead letter, to the last byte sent
    complete = [p for p in serialized(rest) if p in truncated]
    assert len(complete) == len(rest) - 1
    assert all(piece in stored for piece in complete)
    end = truncated.index(complete[-1]) + len(complete[-1])
    assert truncated[end : end + 1] == b","
    assert truncated[end + 1 :] in letters  # the cut-off event, from its first byte to the last sent


# --- 11.3, 11.14: bombs are refused early, memory stays flat -----------------------------------


def test_gzip_bombs_are_413_with_a_reason_and_memory_stays_flat(site: Site) -> None:
    tiny_items = gzip.compress(b"[" + b",".join([b"{}"] * 1_000_000) + b"]", 9)
    assert len(tiny_items) < 5_000
    ten_million = gzip.compress(b'{"data":[' + b",".join([b"0"] * 10_000_000) + b"]}", 9)
    nested = gzip.compress(gzip.compress(b" " * (300 * 1024 * 1024), 9), 9)
    assert len(nested) < 5_000
    baseline = rss_kib(site)
    stored = site.count(), last_dead_letter(site)
    for _round in range(2):
        for body, why in ((tiny_items, "more than"), (ten_million, "more than"), (nested, "expands beyond")):
            started = time.monotonic()
            r = site.post(body, headers={"Content-Encoding": "gzip"})
            assert r.status_code == 413, r.text
            assert why in r.json()["detail"]
            assert time.monotonic() - started < 20
    assert (site.count(), last_dead_letter(site)) == stored  # refused: nothing stored, the client is told
    # the process's peak stays bounded (a 128 MiB decompression limit, never a per-item blow-up)
    # and what it holds afterwards does not grow with the number of such requests
    assert rss_kib(site, "VmHWM") < 700 * 1024
    assert rss_kib(site) - baseline < 120 * 1024


def test_more_items_than_the_limit_is_413_before_the_work(site: Site) -> None:
    body = b"[" + b",".join([b"null"] * (MAX_ITEMS + 1)) + b"]"
    started = time.monotonic()
    r = site.post(body)
    assert r.status_code == 413
    assert f"more than {MAX_ITEMS}" in r.json()["detail"]
    assert time.monotonic() - started < 10


# --- 11.4: many tiny items are cheap and never block the loop ---------------------------------


def tiny_event(i: int) -> bytes:
    return (
        b'{"@context":"http://purl.imsglobal.org/ctx/caliper/v1p1","type":"Event","action":"Viewed",'
        b'"actor":"urn:a","object":"urn:o","id":"urn:uuid:%08d-0000-4000-8000-%012d",'
        b'"eventTime":"2026-01-01T00:00:00.000Z"}' % (i, time.time_ns() % 10**12)
    )


def reference_seconds(site: Site) -> float:
    """What a normal Learn batch (100 events, ~330 KB) costs right now: the machine is shared,
    so cost is judged against this rather than in absolute seconds."""
    best = float("inf")
    for _ in range(3):
        body = envelope(learn_events(100))
        started = time.monotonic()
        assert site.post(body).status_code == 200
        best = min(best, time.monotonic() - started)
    return best


@pytest.mark.parametrize(
    ("name", "make", "status", "budget"),
    [
        # (budget: times a normal 100-event batch; the issue saw 47-400, 100 and 120)
        ("100,000 nulls", lambda: b"[" + b",".join([b"null"] * 100_000) + b"]", 400, 25),
        # 10,000 rows to commit (dead letters or events): a hundred normal batches' worth
        ("10,000 empty objects", lambda: body_of([b"{}"] * 10_000), 200, 80),
        ("10,000 tiny valid events", lambda: body_of([tiny_event(i) for i in range(10_000)]), 200, 80),
    ],
)
def test_many_tiny_items_answer_fast_without_blocking_health(
    site: Site, name: str, make: object, status: int, budget: int
) -> None:
    body = make()  # type: ignore[operator]
    reference = reference_seconds(site)
    latencies: list[float] = []
    done, probing = threading.Event(), threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=site.server.url, timeout=30) as client:
            while not done.is_set():
                t0 = time.monotonic()
                client.get("/healthz")
                latencies.append(time.monotonic() - t0)
                probing.set()
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    assert probing.wait(30), "/healthz never answered"  # a POST faster than the first probe would prove nothing
    try:
        started = time.monotonic()
        r = site.post(body)
        took = time.monotonic() - started
    finally:
        done.set()
        prober.join()
    assert r.status_code == status, r.text
    assert took < budget * reference, f"{name} took {took:.2f} s, a normal batch {reference:.3f} s"
    assert latencies
    # parsed on the event loop, /healthz waited as long as the whole parse
    assert max(latencies) < max(0.25, took / 4), f"/healthz waited {max(latencies):.2f} s of {took:.2f} s"
    if status == 200:
        assert len(r.json().get("problems", [])) <= 21  # summarised past a limit


# --- issue 10 items 7 and 12 -------------------------------------------------------------------


def metric(site: Site, name: str) -> float:
    text = site.client.get("/metrics", headers={"Authorization": f"Bearer {site.key}"}).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


@pytest.mark.parametrize("ctype", ["application/x-www-form-urlencoded", "text/plain", "text/csv"])
def test_caliper_under_another_content_type_is_stored_with_a_warning(site: Site, ctype: str) -> None:
    events = learn_events(3)
    before = metric(site, "caliper_mislabelled_requests_total")
    r = site.post(envelope(events), headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3
    assert r.json()["warnings"][0].startswith(f"Content-Type {ctype!r} is not JSON; the body was read as JSON")
    assert metric(site, "caliper_mislabelled_requests_total") == before + 1


def test_a_body_that_is_not_caliper_under_another_content_type_is_415_and_kept(site: Site) -> None:
    after = last_dead_letter(site)
    r = site.post(b"name=value&other=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    assert dead_letters_since(site, after) == [b"name=value&other=1"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_documented_curl_example_stores_a_file(site: Site, tmp_path: Path) -> None:
    events = learn_events(2)
    payload = tmp_path / "payload.json"
    payload.write_bytes(envelope(events))
    # exactly the README's form: no Content-Type (curl then sends a form type)
    out = subprocess.run(
        ["curl", "-sS", "-X", "POST", "-H", f"Authorization: {site.key}", "--data-binary", f"@{payload}",
         f"{site.server.url}/caliper?summary=1"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    assert msgspec.json.decode(out.stdout)["accepted"] == 2
    assert site.count_ids([str(e["id"]) for e in events]) == 2


def test_an_unsupported_data_version_is_422_even_with_no_events(site: Site) -> None:
    body = b'{"sensor":"s","sendTime":"2026-01-01T00:00:00.000Z","dataVersion":"http://example.com/v9","data":[]}'
    after = last_dead_letter(site)
    r = site.post(body)
    assert r.status_code == 422, r.text
    assert dead_letters_since(site, after) == [body]

