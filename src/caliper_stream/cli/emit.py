"""``simulate`` (a Learn term to files or to an endpoint), ``demo`` and ``outbox`` (the sensor's
durable queue). Thin: the work is in `caliper_stream.simulate` and `caliper_stream.sensor`."""

from __future__ import annotations

import atexit
import contextlib
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from caliper_stream.cli.common import SQL_INT_MAX, fail, print_table
from caliper_stream.errors import OutboxError

if TYPE_CHECKING:
    from caliper_stream.sensor.outbox import Outbox

outbox_app = typer.Typer(help="The sensor's outbox: events not yet acknowledged, and refused ones.", no_args_is_help=True)

DEMO_KEY = "demo-learn"
DEMO_READ_KEY = "demo-dashboard"
OutboxArg = Annotated[Path, typer.Argument(help="Outbox file (the sensor's --outbox).", exists=True, dir_okay=False)]

#: Bounds of a simulated site, far beyond any real one: a larger number is a typo, and would
#: run until memory is gone instead of saying so.
MAX_COURSES = 100_000
MAX_STUDENTS = 10_000_000
MAX_DAYS = 3_660


def _config(courses: int, students: int, days: int, seed: int, start: str | None, version: str, timezone: str) -> Any:
    from caliper_stream.simulate import TermConfig

    if version not in ("1.0", "1.1"):
        fail("--version must be 1.0 or 1.1")
    if courses < 1 or students < 1 or days < 1:
        fail("--courses, --students and --days must be at least 1")
    try:
        first = date.fromisoformat(start) if start else TermConfig().start
    except ValueError:
        fail(f"--start must be a date (YYYY-MM-DD), got {start!r}")
    return TermConfig(courses=courses, students=students, days=days, seed=seed, start=first, version=version, timezone=timezone)


def simulate(
    courses: Annotated[int, typer.Option(max=MAX_COURSES, help="Courses at the site.")] = 3,
    students: Annotated[int, typer.Option(max=MAX_STUDENTS, help="Students at the site (each takes 1-4 of the courses).")] = 30,
    days: Annotated[int, typer.Option(max=MAX_DAYS, help="Length of the term in days.")] = 7,
    seed: Annotated[int, typer.Option(help="Random seed: one seed, one term, byte for byte.")] = 0,
    start: Annotated[str | None, typer.Option(metavar="YYYY-MM-DD", help="First day of the term (YYYY-MM-DD).")] = None,
    version: Annotated[str, typer.Option(metavar="1.1|1.0", help="Caliper version Learn sends: 1.1 or 1.0.")] = "1.1",
    timezone: Annotated[str, typer.Option(metavar="ZONE", help="The site's time zone (activity hours, nightly run).")] = "America/New_York",
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE|DIR", help="Write JSON Lines envelopes: a FILE (.jsonl, .json, .ndjson, .gz = gzip) or a DIR "
                     "(events-0001.jsonl, … of 100,000 events each)."),
    ] = None,
    to: Annotated[str | None, typer.Option(metavar="URL", help="Send to this Caliper endpoint through the sensor.")] = None,
    key: Annotated[str | None, typer.Option(metavar="KEY", help="API key for --to.")] = None,
    auth: Annotated[str, typer.Option(metavar="raw|bearer", help="Authorization header: raw (Learn's) or bearer.")] = "raw",
    outbox: Annotated[
        Path, typer.Option(help="Sensor outbox file for --to; undelivered events stay there ('caliper-stream outbox').")
    ] = Path("caliper-outbox.db"),
    speed: Annotated[
        float | None,
        typer.Option(metavar="SPEED", help="--to: replay at SPEED times real time (e.g. 20000: a week in 30 s). "
                     "Default: jump from event to event as fast as the endpoint allows."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Events per envelope at most (Learn's Event Batch Size).")] = 100,
    max_delay: Annotated[float, typer.Option("--max-delay", help="Seconds an immediate event waits for its batch to fill.")] = 1.0,
    nightly_at: Annotated[str, typer.Option("--nightly-at", metavar="HH:MM", help="Local time of Learn's nightly run.")] = "02:00",
    truth: Annotated[
        Path | None, typer.Option(help="Also write what Grade Center shows at the end of the term (CSV), from what the term did.")
    ] = None,
    names: Annotated[
        Path | None, typer.Option(help="Also write the term's courses, items and people as a names CSV ('names load').")
    ] = None,
) -> None:
    """Simulate a term of Blackboard Learn activity, deterministically for a seed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from caliper_stream.simulate.term import Term

    if (out is None) == (to is None):
        fail("give exactly one of --out DIR|FILE and --to URL")
    if to is not None and not key:
        fail("--to needs --key")
    if auth not in ("raw", "bearer"):
        fail("--auth must be raw or bearer")
    config = _config(courses, students, days, seed, start, version, timezone)
    term = Term(config)
    site = term.roster.site
    if names is not None:
        from caliper_stream.analyse.names import write_names
        from caliper_stream.simulate.roster import name_set

        try:
            write_names(names, name_set(term.roster))
        except OSError as exc:
            fail(f"cannot write --names {names}: {exc}")
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
        TextColumn("{task.fields[events]:,} events"), TimeElapsedColumn(), transient=False,
    )
    task = progress.add_task("simulating", total=days, events=0)
    day_ends = [t / 1000 for t in term.day_start[1 : days + 1]]
    count = 0
    day = 0

    def tick(item: Any) -> None:
        nonlocal count, day
        count += 1
        while day < days and item.at >= day_ends[day]:
            day += 1
            progress.update(task, completed=day, events=count)
        if count % 5000 == 0:
            progress.update(task, events=count)

    def counted(items: Any) -> Any:
        for item in items:
            tick(item)
            yield item

    t0 = time.perf_counter()
    with progress:
        if out is not None:
            from caliper_stream.simulate.files import write_term

            written = write_term(
                counted(term.planned()), out, sensor_id=site, version=version, batch_size=batch_size,
                max_delay=max_delay, nightly_at=nightly_at, timezone=timezone,
            )
            progress.update(task, completed=days, events=count)
            _write_truth(term, truth)
            elapsed = time.perf_counter() - t0
            typer.echo(
                f"{written.events:,} events in {written.envelopes:,} envelopes ({written.bytes / 1e6:,.1f} MB) "
                f"to {', '.join(written.files) or out} in {elapsed:.1f} s ({written.events / max(elapsed, 1e-9):,.0f} events/s)",
                err=True,
            )
            return
        assert to is not None
        assert key is not None
        stats = _send(term, config, to, key, auth, outbox, speed, batch_size, max_delay, nightly_at, tick)
        progress.update(task, completed=days, events=count)
        _write_truth(term, truth)
    elapsed = time.perf_counter() - t0
    typer.echo(
        f"{count:,} events handed to the sensor in {elapsed:.1f} s: sent {stats.sent:,}, "
        f"failed {stats.failed:,}, pending {stats.pending:,}, retries {stats.retries:,}",
        err=True,
    )
    if stats.failed or stats.pending:
        fail(f"{stats.failed + stats.pending:,} events were not delivered; see 'caliper-stream outbox list {outbox}'")


def _write_truth(term: Any, path: Path | None) -> None:
    if path is not None:
        try:
            cells = term.gradecenter.write_csv(path)
        except OSError as exc:
            fail(f"cannot write --truth {path}: {exc}")
        typer.echo(f"Grade Center truth: {cells:,} cells to {path}", err=True)


def _send(term: Any, config: Any, to: str, key: str, auth: str, outbox: Path, speed: float | None,
          batch_size: int, max_delay: float, nightly_at: str, tick: Any) -> Any:
    from caliper_stream.sensor import ManualClock, ScaledClock, Sensor
    from caliper_stream.simulate.replay import replay

    first = term.day_start[0] / 1000
    clock: Any = ManualClock(first) if speed is None else ScaledClock(first, speed)
    sensor = Sensor(
        to, key, auth=auth, batch_size=batch_size, version=config.version, outbox=outbox, nightly_at=nightly_at,
        timezone=config.timezone, max_delay=max_delay, clock=clock, sensor_id=term.roster.site,
        background=speed is not None,
    )
    try:
        return replay(term.planned(), sensor, on_event=tick)
    finally:
        sensor.close()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _earlier_demo(db: Path) -> bool:
    """Whether `db` is a store an earlier ``demo`` made (only the demo key ever wrote to it), so
    running the README's command twice works, while a real store is never replaced silently."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            keys = {name for (name,) in conn.execute("SELECT DISTINCT name FROM api_keys")}
            sources = {src for (src,) in conn.execute("SELECT DISTINCT source FROM events")}
    except sqlite3.Error:
        return False
    return DEMO_KEY in keys and keys <= {DEMO_KEY, DEMO_READ_KEY} and sources <= {DEMO_KEY}


def demo(
    db_path: Annotated[
        Path, typer.Option("--db", help="SQLite file for the demo store (an earlier demo's is replaced; anything else needs --replace).")
    ] = Path("caliper-demo.db"),
    replace: Annotated[bool, typer.Option(help="Replace --db even if it is not an earlier demo's store.")] = False,
    temp: Annotated[bool, typer.Option(help="Use a temporary store, deleted at the end.")] = False,
    courses: Annotated[int, typer.Option(max=MAX_COURSES, help="Courses to simulate.")] = 3,
    students: Annotated[int, typer.Option(max=MAX_STUDENTS, help="Students to simulate.")] = 40,
    days: Annotated[int, typer.Option(metavar="N", max=MAX_DAYS, help="Days to simulate.")] = 7,
    port: Annotated[int, typer.Option(metavar="PORT", help="Loopback port for the demo store (0: any free one).")] = 0,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Stop the server at once instead of serving the dashboard until Ctrl-C.")
    ] = False,
) -> None:
    """Start a local store, send it a simulated week of Learn through the sensor, show what arrived,
    then serve the dashboard until Ctrl-C."""
    from rich.console import Console

    from caliper_stream.analyse import REPORTS
    from caliper_stream.sensor import ManualClock, Sensor
    from caliper_stream.simulate.replay import LocalServer, replay
    from caliper_stream.simulate.term import Term
    from caliper_stream.store import open_store

    console = Console()
    config = _config(courses, students, days, 7, None, "1.1", "America/New_York")
    if not 0 <= port <= 65535:
        fail("--port must be between 0 and 65535")
    if port and not _port_free(port):
        fail(f"port {port} on 127.0.0.1 is in use; choose another --port, or leave it out for a free one")
    with tempfile.TemporaryDirectory(prefix="caliper-demo-") as tmp:
        db = Path(tmp) / "caliper-demo.db" if temp else db_path.resolve()
        if db.exists():
            if not (replace or _earlier_demo(db)):
                fail(f"{db} exists and is not a demo store; use --replace, another --db, or --temp")
            console.print(f"replacing {db}", highlight=False, soft_wrap=True)
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        t0 = time.perf_counter()
        with console.status("starting caliper-stream serve …"):
            server = LocalServer(db, key_name=DEMO_KEY, port=port or None, log=Path(tmp) / "serve.log").start()
        atexit.register(server.stop)  # the server outlives the simulation: never leave it behind
        try:
            console.print(
                f"store: [bold]{server.db_url}[/] served at [bold]{server.url}[/] (port {server.port}, key {DEMO_KEY!r})",
                soft_wrap=True,
            )
            term = Term(config)
            sent = Counter[str]()
            sensor = Sensor(
                server.url, server.key, outbox=Path(tmp) / "outbox.db", clock=ManualClock(term.day_start[0] / 1000),
                background=False, timezone=config.timezone, sensor_id=term.roster.site, batch_size=100,
            )
            with console.status(f"simulating {days} days of {courses} courses and {students} students …"):
                stats = replay(term.planned(), sensor, on_event=lambda p: sent.update([p.built.delivery]))
                sensor.close()
        except BaseException:
            server.stop()
            raise
        elapsed = time.perf_counter() - t0
        console.print(
            f"sensor: {sum(sent.values()):,} events handed over ({sent['immediate']:,} immediate, "
            f"{sent['nightly']:,} nightly), {stats.sent:,} sent, {stats.failed} failed, {stats.retries} retries "
            f"in {elapsed:.1f} s",
            soft_wrap=True,
        )
        store = open_store(server.db_url)
        try:
            by_type = store.query("SELECT type, action, COUNT(*) FROM events GROUP BY type, action ORDER BY 3 DESC")
            grades = store.query(
                "SELECT grade_action, COUNT(*), ROUND(AVG(score), 1) FROM events WHERE grade_action IS NOT NULL "
                "GROUP BY grade_action ORDER BY 2 DESC"
            )
            rows = store.query(
                "SELECT course_number, user_pk, gradable_item_pk, attempt_pk, score, max_score, event_time, send_time "
                "FROM event_view WHERE grade_action = ? ORDER BY event_at LIMIT 5",
                ["instructor.grade.history.event.attempt.grade"],
            )
            total = store.query("SELECT COUNT(*) FROM events")[0][0]
            funnels = REPORTS["funnel"](store, course=None)
        finally:
            store.close()
        arrived = [{"type": kind, "action": action, "events": f"{n:,}"} for kind, action, n in by_type]
        print_table(arrived, ["type", "action", "events"], f"what arrived: {total:,} distinct events")
        if stats.sent > total:
            console.print(
                f"{stats.sent:,} sent − {total:,} distinct = {stats.sent - total:,}: the simulated duplicate deliveries "
                "(Learn sends some events twice), which the store recognised and stored once",
                highlight=False, soft_wrap=True,
            )
        graded = [{"bb:action.name": action, "events": f"{n:,}", "mean score": mean} for action, n, mean in grades]
        print_table(graded, ["bb:action.name", "events", "mean score"], "grade events")
        names = ("course_number", "user_pk", "gradable_item_pk", "attempt_pk", "score", "max_score", "event_time", "send_time")
        print_table([dict(zip(names, r, strict=True)) for r in rows], names, "key data: instructor grades (sent nightly)")
        if funnels:
            print_table(funnels, list(funnels[0]), "test funnels")
        where = "<temporary, deleted>" if temp else db
        console.print(
            "query it:\n"
            f"  caliper-stream stats --db sqlite:///{where}\n"
            f"  caliper-stream report gradebook --db sqlite:///{where}     (also: funnel, items, activity)\n"
            f"  caliper-stream export --db sqlite:///{where} --what keydata --format csv --out keydata.csv\n"
            f"  caliper-stream export --db sqlite:///{where} --type GradeEvent --out grades.jsonl",
            highlight=False, soft_wrap=True,
        )
        _serve_dashboard(console, server, no_wait)


def _serve_dashboard(console: Any, server: Any, no_wait: bool) -> None:
    """Print the dashboard's URL and a new read key, then serve until Ctrl-C (or stop now)."""
    from caliper_stream.server.auth import generate_key, hash_key
    from caliper_stream.store import open_store

    try:
        key = generate_key()
        store = open_store(server.db_url)
        try:
            store.add_key(DEMO_READ_KEY, hash_key(key), role="read")
        finally:
            store.close()
        console.print(
            f"dashboard: [bold]http://127.0.0.1:{server.port}/dashboard/[/]  sign in with the read key [bold]{key}[/]",
            soft_wrap=True,
        )
        if no_wait:
            return
        console.print("serving until Ctrl-C …", highlight=False)
        with contextlib.suppress(KeyboardInterrupt):
            while server.proc is not None and server.proc.poll() is None:
                time.sleep(0.5)
    finally:
        server.stop()


@outbox_app.command("list")
def outbox_list(path: OutboxArg, limit: Annotated[int, typer.Option(min=1, max=SQL_INT_MAX, help="Failed events to show.")] = 20) -> None:
    """Counts, and the failed events with the status and body the endpoint answered."""
    from rich.console import Console

    box = _outbox(path)
    try:
        counts = box.counts(time.time())
        failed = box.failed(limit)
    finally:
        box.close()
    console = Console()
    console.print(
        f"pending {counts.pending:,} (held for the nightly run {counts.held:,}), failed {counts.failed:,}, "
        f"sent {counts.sent:,}, retries {counts.retries:,}"
    )
    if failed:
        rows = [
            {"id": f.id, "attempts": f.attempts, "status": f.status or "-", "reason": (f.reason or "")[:120],
             "event": f.body[:60].decode(errors="replace") + "…"}
            for f in failed
        ]
        print_table(rows, ["id", "attempts", "status", "reason", "event"])


ToOpt = Annotated[str | None, typer.Option("--to", metavar="URL", help="Caliper endpoint to deliver to.")]
KeyOpt = Annotated[str | None, typer.Option("--key", metavar="KEY", help="API key for --to.")]
AuthOpt = Annotated[str, typer.Option(metavar="raw|bearer", help="Authorization header: raw (Learn's) or bearer.")]
VersionOpt = Annotated[str, typer.Option(metavar="1.1|1.0", help="Caliper version of the events (the envelope's dataVersion).")]
TimeoutOpt = Annotated[float, typer.Option(metavar="SECONDS", help="Give up after this long; what is left stays in the outbox.")]


@outbox_app.command("retry")
def outbox_retry(
    path: OutboxArg,
    send: Annotated[bool, typer.Option("--send", help="Deliver them now to --to with --key (see 'outbox send').")] = False,
    to: ToOpt = None,
    key: KeyOpt = None,
    auth: AuthOpt = "raw",
    version: VersionOpt = "1.1",
    timeout: TimeoutOpt = 300.0,
) -> None:
    """Make failed events pending again; with --send, deliver them (and everything pending) now.

    Without --send nothing is sent until a sensor runs on this outbox again."""
    if send:
        _deliver(path, to, key, auth, version, timeout, retry_failed=True, held=False)
        return
    box = _outbox(path)
    try:
        n = box.retry_failed()
    finally:
        box.close()
    typer.echo(f"{n:,} failed events are pending again; nothing is sent until a sensor runs on "
               f"{path}, or: caliper-stream outbox send {path} --to URL --key KEY")


@outbox_app.command("send")
def outbox_send(
    path: OutboxArg,
    to: ToOpt = None,
    key: KeyOpt = None,
    auth: AuthOpt = "raw",
    version: VersionOpt = "1.1",
    failed: Annotated[bool, typer.Option("--failed", help="Also send failed events again (after fixing the key).")] = False,
    held: Annotated[bool, typer.Option("--held", help="Also send events held for the nightly run, now.")] = False,
    timeout: TimeoutOpt = 300.0,
) -> None:
    """Deliver what the outbox holds to an endpoint, now: pending events (with --failed and
    --held also failed and nightly-held ones). Exit 1 if anything is left undelivered."""
    _deliver(path, to, key, auth, version, timeout, retry_failed=failed, held=held)


def _deliver(path: Path, to: str | None, key: str | None, auth: str, version: str, timeout: float,
             *, retry_failed: bool, held: bool) -> None:
    from caliper_stream.sensor import Sensor

    if not to or not key:
        fail("give the endpoint and its key: --to URL --key KEY")
    if auth not in ("raw", "bearer"):
        fail("--auth must be raw or bearer")
    if version not in ("1.0", "1.1"):
        fail("--version must be 1.0 or 1.1")
    try:
        sensor = Sensor(to, key, auth=auth, outbox=path, background=False, version=version)
    except OutboxError as exc:
        fail(str(exc))
    try:
        before = sensor.outbox.counts(time.time())
        again = sensor.outbox.retry_failed() if retry_failed else 0
        released = sensor.outbox.release_held(time.time()) if held else 0
        finished = sensor.drain(timeout)
        after = sensor.outbox.counts(time.time())
    finally:
        sensor.close()
    sent = after.sent - before.sent
    typer.echo(
        f"sent {sent:,} events to {to}" + (f" ({again:,} failed ones retried)" if again else "")
        + (f" ({released:,} held for the nightly run)" if released else "")
        + f"; left: pending {after.pending:,} (held {after.held:,}), failed {after.failed:,}"
        + ("" if finished else f" (stopped after {timeout:g} s)")
    )
    if after.failed > before.failed - again or not finished:
        fail(f"not everything was delivered; see 'caliper-stream outbox list {path}'")


@outbox_app.command("purge")
def outbox_purge(
    path: OutboxArg,
    all_: Annotated[bool, typer.Option("--all", help="Also delete pending events (everything not yet sent).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete failed events (with --all: every unsent event). They are lost for good."""
    what = "every unsent event" if all_ else "every failed event"
    if not yes and not typer.confirm(f"delete {what} in {path}?"):
        raise typer.Exit(1)
    box = _outbox(path)
    try:
        n = box.purge(everything=all_)
    finally:
        box.close()
    typer.echo(f"{n:,} events deleted")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("simulate")(simulate)
    app.command("demo")(demo)
    app.add_typer(outbox_app, name="outbox")


def _outbox(path: Path) -> Outbox:
    """The outbox at `path`, or a one-line error: a file that is no outbox is never changed."""
    from caliper_stream.sensor.outbox import Outbox

    try:
        return Outbox(path)
    except OutboxError as exc:
        fail(str(exc))
