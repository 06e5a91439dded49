"""A full disk under a real server: first the inbox's filesystem, then the database's.

Each file lives on a small tmpfs of its own, mounted by the test (tests run as root; without
the right to mount they are skipped, and fail under CI=true). The inbox is always
``<database>-inbox``; a symlink there puts it (and, since SQLite resolves the link, its WAL and
shared-memory files) on another filesystem than the database.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import Site, start_site
from payloads import envelope, ids, learn_events

#: Generous bounds for what the server does behind (digests, retries with back-off).
SETTLE_SECONDS = 120.0


def _mount(path: Path, size: str) -> None:
    path.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True, timeout=30)
        why = (done.stderr.strip() or f"exit {done.returncode}") if done.returncode else ""
    except (OSError, subprocess.SubprocessError) as exc:
        why = str(exc)
    if why:
        message = f"cannot mount a tmpfs at {path}: {why} (the test needs root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _unmount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


class Disks:
    """The database's and the inbox's filesystems, each a tmpfs of its own."""

    def __init__(self, tmp: Path, db_size: str, inbox_size: str) -> None:
        self.tmp = tmp
        self.db_dir = tmp / "dbfs"
        self.inbox_dir = tmp / "inboxfs"
        self.mounted: list[Path] = []
        try:
            for path, size in ((self.db_dir, db_size), (self.inbox_dir, inbox_size)):
                _mount(path, size)
                self.mounted.append(path)
        except BaseException:  # a skip or failure of the second mount: the first goes too
            self.unmount()
            raise
        self.db = self.db_dir / "events.db"
        self.inbox = self.inbox_dir / "events.db-inbox"
        (self.db_dir / "events.db-inbox").symlink_to(self.inbox)

    def unmount(self) -> None:
        for path in self.mounted:
            _unmount(path)


@pytest.fixture
def disks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Disks]:
    db_size, inbox_size = request.param
    made = Disks(tmp_path, db_size, inbox_size)
    try:
        yield made
    finally:
        made.unmount()


@pytest.fixture
def site(disks: Disks) -> Iterator[Site]:
    yield from start_site(f"sqlite:///{disks.db}", disks.tmp, "--inbox-backlog", "1GiB")


def fill(directory: Path) -> Path:
    """A file that takes every free byte of `directory`'s filesystem (tmpfs allocates pages
    for zeros too); deleting it frees the space."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for chunk in (b"\0" * (1 << 20), b"\0" * 4096, b"\0"):
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    assert os.statvfs(directory).f_bavail == 0
    return filler


def metric(site: Site, name: str) -> float:
    for line in site.metrics().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def digester_of(site: Site) -> int:
    assert site.server.proc is not None
    pids = [int(c) for task in Path(f"/proc/{site.server.proc.pid}/task").iterdir()
            for c in (task / "children").read_text().split()]
    assert len(pids) == 1, pids
    return pids[0]


def pending(site: Site) -> int:
    """Inbox rows above the digested mark, read from the files (not through the server)."""
    with sqlite3.connect(f"file:{site.server.db.removeprefix('sqlite:///')}?mode=ro", uri=True) as db:
        mark = int(db.execute("SELECT digested_through FROM inbox_state").fetchone()[0])
    inbox = Path(site.server.db.removeprefix("sqlite:///") + "-inbox").resolve()
    with sqlite3.connect(f"file:{inbox}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM inbox WHERE id > ?", (mark,)).fetchone()[0])


def wait_digested(site: Site) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while pending(site):
        assert time.monotonic() < deadline, "the inbox was not digested in time"
        time.sleep(0.2)


def assert_once(site: Site, acknowledged: list[str]) -> None:
    """Every acknowledged event stored exactly once, and nothing else."""
    rows = site.store.query("SELECT event_id, count(*) FROM events GROUP BY event_id")
    stored = {event_id: int(n) for event_id, n in rows}
    assert len(set(acknowledged)) == len(acknowledged)
    missing = [i for i in acknowledged if i not in stored]
    assert not missing, f"{len(missing)} acknowledged events not stored"
    assert all(n == 1 for n in stored.values()), "an event stored twice"
    assert set(stored) == set(acknowledged)


def assert_problem(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) > 0
    assert r.json()["status"] == 503
    assert "Traceback" not in r.text


def integrity(path: Path) -> None:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("disks", [("64m", "6m")], indirect=True)
def test_a_full_inbox_filesystem_is_answered_503_and_recovers_without_a_restart(disks: Disks, site: Site) -> None:
    acknowledged: list[str] = []
    for _ in range(3):
        events = learn_events(100)
        assert site.post(envelope(events), summary=False).status_code == 200
        acknowledged += ids(events)
    wait_digested(site)
    server_pid = site.server.proc.pid if site.server.proc else 0

    filler = fill(disks.inbox_dir)
    refused: list[list[dict[str, object]]] = []
    for _ in range(40):  # the WAL may still hold a few bodies' worth of reusable frames
        events = learn_events(100)
        r = site.post(envelope(events), summary=False)
        if r.status_code == 200:
            acknowledged += ids(events)
            continue
        assert_problem(r)
        refused.append(events)
        if len(refused) == 3:
            break
    assert len(refused) == 3, "a full inbox filesystem was never refused"
    # nothing half-written: the refused bodies are neither in the inbox nor stored
    assert site.count_ids([i for events in refused for i in ids(events)]) == 0

    filler.unlink()
    deadline = time.monotonic() + SETTLE_SECONDS
    for events in refused:  # the client retries what was refused, as Learn does
        while (r := site.post(envelope(events), summary=False)).status_code != 200:
            assert_problem(r)
            assert time.monotonic() < deadline, "still refused once the space was back"
            time.sleep(0.5)
        acknowledged += ids(events)
    assert site.server.proc is not None
    assert site.server.proc.pid == server_pid
    assert site.server.proc.poll() is None
    wait_digested(site)
    assert_once(site, acknowledged)
    assert site.client.get("/readyz").status_code == 200
    integrity(disks.inbox)
    integrity(disks.db)


@pytest.mark.parametrize("disks", [("12m", "64m")], indirect=True)
def test_a_full_database_filesystem_keeps_bodies_in_the_inbox_until_space_returns(disks: Disks, site: Site) -> None:
    acknowledged: list[str] = []
    events = learn_events(100)
    assert site.post(envelope(events), summary=False).status_code == 200
    acknowledged += ids(events)
    wait_digested(site)
    digester = digester_of(site)
    failures = metric(site, "caliper_digest_failures_total")

    filler = fill(disks.db_dir)
    deadline = time.monotonic() + SETTLE_SECONDS
    # the database's WAL may still hold reusable frames: post until a digest fails, twice
    while metric(site, "caliper_digest_failures_total") < failures + 2:
        assert time.monotonic() < deadline, "no digest failure counted with a full database"
        events = learn_events(100)
        r = site.post(envelope(events), summary=False)
        assert r.status_code == 200, r.text  # the inbox has room: acknowledged all the same
        acknowledged += ids(events)
        time.sleep(0.5)
    assert pending(site) > 0  # acknowledged bodies wait in the inbox
    refused = learn_events(10)  # a summary is asked: parsed and stored at the door, which cannot be
    assert_problem(site.post(envelope(refused)))
    assert digester_of(site) == digester  # the digester retries, it does not die
    assert "Traceback" not in disks.tmp.joinpath("server.log").read_text(errors="replace")

    filler.unlink()
    wait_digested(site)
    assert digester_of(site) == digester
    assert site.count_ids(ids(refused)) == 0
    assert_once(site, acknowledged)
    assert site.client.get("/readyz").status_code == 200
    integrity(disks.db)
