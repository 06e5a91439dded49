"""``outbox retry --send`` and ``outbox send`` deliver what an outbox holds to a real ``serve``."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from sensor_catalogue import COURSE, SESSION, STUDENT, catalogue
from typer.testing import CliRunner

from caliper_stream.cli import emit
from caliper_stream.sensor import ManualClock, Sensor
from caliper_stream.sensor import builders as b
from caliper_stream.sensor.outbox import Outbox
from caliper_stream.simulate.replay import LocalServer

NY = ZoneInfo("America/New_York")
app = typer.Typer()
emit.register(app)


def stored(server: LocalServer) -> int:
    server.digested()  # acknowledged bodies are events once the server has digested them
    with sqlite3.connect(server.db_path) as db:
        return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def test_refused_events_are_delivered_by_retry_send_and_held_ones_by_send_held(tmp_path: Path) -> None:
    box = tmp_path / "o.db"
    with LocalServer(tmp_path / "store.db", log=tmp_path / "serve.log") as server:
        clock = ManualClock(datetime(2026, 3, 3, 12, tzinfo=NY).timestamp())
        sensor = Sensor(server.url, "not-a-key", outbox=box, clock=clock, background=False, timezone="America/New_York")
        lt = b.Learn("site-outbox")
        for minute in range(5):
            sensor.send(b.view_event(lt, STUDENT, COURSE, f"2026-03-03T17:0{minute}:00.000Z", SESSION, content_pk="_1_1"))
        assert sensor.drain(30)
        sensor.close()
        counts = Outbox(box).counts(clock.now())
        assert (counts.failed, counts.sent) == (5, 0)

        plain = CliRunner().invoke(app, ["outbox", "retry", str(box)])
        assert plain.exit_code == 0
        assert "nothing is sent until" in plain.output
        assert stored(server) == 0

        sent = CliRunner().invoke(app, ["outbox", "retry", str(box), "--send", "--to", server.url, "--key", server.key])
        assert sent.exit_code == 0, sent.output
        assert "sent 5 events" in sent.output
        assert stored(server) == 5

        # an instructor grade, held for the next nightly run (real time: hours away at least a second)
        later = Sensor(server.url, server.key, outbox=box, background=False, timezone="America/New_York")
        later.send(catalogue(lt)["grade-grade"])
        later.close()
        waiting = CliRunner().invoke(app, ["outbox", "send", str(box), "--to", server.url, "--key", server.key])
        assert waiting.exit_code == 0, waiting.output
        assert "sent 0 events" in waiting.output
        assert "held 1" in waiting.output
        held = CliRunner().invoke(app, ["outbox", "send", str(box), "--to", server.url, "--key", server.key, "--held"])
        assert held.exit_code == 0, held.output
        assert "sent 1 events" in held.output
        assert stored(server) == 6
        after = Outbox(box).counts()
        assert (after.pending, after.failed, after.sent) == (0, 0, 6)

        wrong = CliRunner().invoke(app, ["outbox", "send", str(box), "--to", server.url])
        assert wrong.exit_code == 1
        assert "--key" in wrong.output


def test_a_file_that_is_no_outbox_is_a_clear_error_and_stays_untouched(tmp_path: Path) -> None:
    store = tmp_path / "events.db"
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY)")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all, " * 100)
    cut = tmp_path / "cut.db"
    Outbox(cut).close()
    cut.write_bytes(cut.read_bytes()[:1500])
    before = {p: p.read_bytes() for p in (store, junk, cut)}
    for path, says in ((store, "not an outbox"), (junk, "file is not a database"), (cut, "cannot open the outbox")):
        for args in (["outbox", "list", str(path)], ["outbox", "purge", str(path), "--yes"],
                     ["outbox", "send", str(path), "--to", "http://127.0.0.1:9/caliper", "--key", "k" * 20]):
            done = CliRunner().invoke(app, args)
            assert done.exit_code == 1, (args, done.output)
            assert says in done.output, (args, done.output)
            assert done.exception is None or isinstance(done.exception, SystemExit)
    assert {p: p.read_bytes() for p in before} == before  # an event store given by mistake gains no table
    with sqlite3.connect(store) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["events"]
