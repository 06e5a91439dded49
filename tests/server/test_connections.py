"""Slow and greedy clients, and overload, against a real server: deadlines for headers and
bodies, bounded header sections, a connection cap per client, and 429 before latency grows."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import Site, start_site
from payloads import envelope, learn_events


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("strict")
    yield from start_site(
        f"sqlite:///{tmp / 'events.db'}", tmp, "--header-timeout", "1", "--body-timeout", "1",
        "--max-client-connections", "6",
    )


def connect(site: Site) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", site.server.port), timeout=10)
    return sock


def read_all(sock: socket.socket, timeout: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    started = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data, time.monotonic() - started
        data += chunk


def test_headers_trickled_or_stalled_are_timed_out(strict: Site) -> None:
    with connect(strict) as sock:
        sock.sendall(b"POST /caliper HTTP/1.1\r\nHost: x\r\n")
        data, took = read_all(sock)
    assert data.startswith(b"HTTP/1.1 408")
    assert took < 4
    with connect(strict) as sock:  # a byte now and then does not keep it open
        started = time.monotonic()
        closed = False
        for byte in b"POST /caliper HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.1)
        if not closed:
            data, _ = read_all(sock)
        assert closed or data.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 6


def test_a_stalled_body_is_timed_out_and_stores_nothing(strict: Site) -> None:
    before = strict.count()
    with connect(strict) as sock:
        sock.sendall(
            b"POST /caliper HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: " + strict.key.encode() + b"\r\nContent-Length: 1000\r\n\r\n" + b'{"sensor":'
        )
        data, took = read_all(sock)
    assert data.startswith(b"HTTP/1.1 408")
    assert b"application/problem+json" in data
    assert took < 5
    assert strict.count() == before
    assert strict.post(envelope(learn_events(1))).status_code == 200  # the server is fine


def refused_header_section(site: Site, head: bytes) -> tuple[bytes, float]:
    """Send `head` (an over-large header section) and return what came back until the close."""
    with connect(site) as sock:
        started = time.monotonic()
        try:
            sock.sendall(head)
        except OSError:  # the server closed while we were still sending: refused early
            return b"", time.monotonic() - started
        try:
            data, _ = read_all(sock)
        except ConnectionResetError:
            data = b""
        return data, time.monotonic() - started


def test_header_sections_are_bounded_in_size_and_count(strict: Site) -> None:
    big = b"POST /caliper HTTP/1.1\r\nHost: x\r\nAuthorization: " + b"x" * (32 * 1024 * 1024) + b"\r\n\r\n"
    data, took = refused_header_section(strict, big)
    assert data == b"" or data.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431"))
    assert took < 3
    many = b"POST /caliper HTTP/1.1\r\nHost: x\r\n" + b"".join(b"x-h%d: v\r\n" % i for i in range(200_000)) + b"\r\n"
    data, took = refused_header_section(strict, many)
    assert data == b"" or data.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431"))
    assert took < 3
    assert strict.post(envelope(learn_events(1))).status_code == 200


def test_a_header_section_just_over_the_limit_is_refused_even_in_one_read(strict: Site) -> None:
    """64 KiB is the limit whether the section trickles in or arrives whole with its body."""
    body = envelope(learn_events(1))
    head = (b"POST /caliper HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: "
            + strict.key.encode() + b"\r\nX-Pad: " + b"p" * (66 * 1024) + b"\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n")
    data, _ = refused_header_section(strict, head + body)
    assert data.startswith(b"HTTP/1.1 431"), data[:100]
    assert b"application/problem+json" in data
    fits = head.replace(b"p" * (66 * 1024), b"p" * (60 * 1024))
    with connect(strict) as sock:
        sock.sendall(fits + body)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]


def test_pipelined_requests_are_each_answered(strict: Site) -> None:
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(strict) as sock:
        sock.sendall(get * 3 + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_all(sock)
    assert data.count(b"HTTP/1.1 200") == 4


def test_connections_per_client_are_capped(strict: Site) -> None:
    socks = [connect(strict) for _ in range(10)]
    try:
        time.sleep(0.3)
        closed = 0
        for sock in socks:
            sock.settimeout(0.5)
            try:
                if sock.recv(1) == b"":
                    closed += 1
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed += 1
        assert closed >= 4  # beyond the cap of 6 (the module's client may hold one more)
    finally:
        for sock in socks:
            sock.close()
    time.sleep(0.3)
    assert strict.post(envelope(learn_events(1))).status_code == 200  # closed ones free their slots


# --- 11.9: overload ---------------------------------------------------------------------------

CLIENTS = 40
LOAD_SECONDS = 6.0


@pytest.fixture
def budgeted(tmp_path: Path) -> Iterator[Site]:
    yield from start_site(f"sqlite:///{tmp_path / 'events.db'}", tmp_path, "--latency-budget", "0.25")


def test_overload_answers_429_before_latency_grows(budgeted: Site) -> None:
    site = budgeted
    bodies = [envelope(learn_events(100, offset=i * 100)) for i in range(CLIENTS)]
    results: list[tuple[int, float, str | None]] = []
    stop = threading.Event()

    def client(body: bytes) -> None:
        headers = {"Authorization": site.key, "Content-Type": "application/json"}
        with httpx.Client(base_url=site.server.url, timeout=60) as http:
            while not stop.is_set():
                started = time.monotonic()
                r = http.post("/caliper", content=body, headers=headers)
                results.append((r.status_code, time.monotonic() - started, r.headers.get("retry-after")))

    threads = [threading.Thread(target=client, args=(b,), daemon=True) for b in bodies]
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    statuses = {s for s, _, _ in results}
    assert statuses <= {200, 429}, statuses
    assert 429 in statuses
    assert all(int(ra) > 0 for s, _, ra in results if s == 429 and ra is not None)
    assert all(ra is not None for s, _, ra in results if s == 429)
    latencies = sorted(t for _, t, _ in results)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    refused = sum(1 for s, _, _ in results if s == 429)
    print(f"overload: {len(results)} requests, {refused} answered 429, p99 {p99:.2f} s")
    assert p99 < 5.0, f"p99 {p99:.2f} s over {len(latencies)} requests"
