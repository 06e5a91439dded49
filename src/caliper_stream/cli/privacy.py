"""``privacy``, ``identity``, ``forget``, ``retention`` and ``audit``: a store's personal data.

Each command opens the store named by ``--db``, calls one function of `caliper_stream.privacy`
and prints the outcome; expected failures (no secret, wrong secret, unreachable database)
print one line and exit with status 2. Commands that touch personal data record what they did
in the audit trail under ``--operator`` (default: the login name).
"""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from caliper_stream.cli.common import (
    SQL_INT_MAX,
    DbOpt,
    err_console,
    fail,
    opened_store,
    out_console,
    print_table,
)

privacy_app = typer.Typer(help="Pseudonymisation of a store: enable, status, scan, apply.", no_args_is_help=True)
identity_app = typer.Typer(help="The identity table: pseudonym → real identity (authorised admins).", no_args_is_help=True)
retention_app = typer.Typer(help="How long each event type is kept, and removing what is older.", no_args_is_help=True)

OperatorOpt = Annotated[
    str | None,
    typer.Option("--operator", help="Who runs this, for the audit trail (default: $CALIPER_STREAM_OPERATOR or login name)."),
]
_json = msgspec.json.Encoder()


def operator(value: str | None) -> str:
    if value:
        return value
    try:
        return os.environ.get("CALIPER_STREAM_OPERATOR") or f"cli:{getpass.getuser()}"
    except OSError:
        return "cli"


# --- privacy ---------------------------------------------------------------------------------


@privacy_app.command("enable")
def privacy_enable(
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="File holding the secret (≥ 16 bytes), kept outside the database.")
    ] = None,
    secret_env: Annotated[
        str | None, typer.Option("--secret-env", help="Or: the environment variable holding the secret.")
    ] = None,
    ip: Annotated[str, typer.Option(help="Client IP addresses: 'drop' or 'truncate' (IPv4 /24, IPv6 /48).")] = "drop",
    agent: Annotated[str, typer.Option(help="User agents: 'drop' or 'truncate' (browser and major version).")] = "drop",
    identity: Annotated[
        str, typer.Option(help="Keep pseudonym → identity in 'table' (this database), 'none', or a database URL.")
    ] = "table",
    db: DbOpt = None,
    who: OperatorOpt = None,
) -> None:
    """Switch the store to pseudonymous: from now on every way in pseudonymises before storing."""
    from caliper_stream.privacy import audit
    from caliper_stream.privacy.secret import fingerprint, read_secret
    from caliper_stream.privacy.settings import enable

    if (secret_file is None) == (secret_env is None):
        fail("give exactly one of --secret-file PATH or --secret-env NAME")
    if ip not in ("drop", "truncate") or agent not in ("drop", "truncate"):
        fail("--ip and --agent take 'drop' or 'truncate'")
    source = f"file:{secret_file.resolve()}" if secret_file is not None else f"env:{secret_env}"
    with opened_store(db) as store:
        secret = read_secret(source)
        settings = enable(
            store, secret_source=source, fingerprint=fingerprint(secret), ip=ip, agent=agent, identity=identity  # type: ignore[arg-type]
        )
        audit.record(store, operator(who), "privacy.enable", f"pseudonymous, secret {source}, identity {identity}")
        from caliper_stream.privacy.apply import remaining

        events, letters = remaining(store, settings)
    out_console.print(f"pseudonymous: new events are pseudonymised before they are stored (secret {source})", highlight=False)
    if events or letters:
        err_console.print(
            f"{events:,} events and {letters:,} dead letters stored earlier are still clear text:"
            " run `caliper-stream privacy apply`",
            highlight=False,
        )


@privacy_app.command("status")
def privacy_status(db: DbOpt = None) -> None:
    """Which mode the store is in, where its secret is expected and whether it is there."""
    from caliper_stream.privacy import PrivacyError, load_settings, protection_for
    from caliper_stream.privacy.apply import remaining

    with opened_store(db) as store:
        s = load_settings(store)
        rows: list[dict[str, str | None]] = [{"setting": "mode", "value": s.mode}]
        if s.mode == "pseudonymous":
            try:
                protection_for(store)
                secret = "found, matches the fingerprint"
            except PrivacyError as exc:
                secret = f"NOT USABLE: {exc}"
            events, letters = remaining(store, s)
            rows += [
                {"setting": "secret expected in", "value": s.secret},
                {"setting": "secret", "value": secret},
                {"setting": "fingerprint", "value": s.fingerprint},
                {"setting": "IP addresses", "value": s.ip},
                {"setting": "user agents", "value": s.agent},
                {"setting": "identity table", "value": s.identity},
                {"setting": "enabled at", "value": s.enabled_at},
                {"setting": "still clear (privacy apply)", "value": f"{events} events, {letters} dead letters"},
            ]
    print_table(rows, ["setting", "value"])


@privacy_app.command("scan")
def privacy_scan(
    db: DbOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table or jsonl.")] = "table",
) -> None:
    """Which kinds of personal data the store holds: counts by field and event type."""
    from caliper_stream.privacy import load_settings
    from caliper_stream.privacy.scan import scan

    with opened_store(db) as store:
        mode = load_settings(store).mode
        findings = scan(store)
    if fmt == "jsonl":
        for f in findings:
            out_console.file.write(_json.encode(f).decode() + "\n")
        return
    print_table([msgspec.to_builtins(f) for f in findings], ["table", "event_type", "field", "count"])
    if mode == "pseudonymous":
        err_console.print("pseudonymous store: identifier fields hold pseudonyms (counted all the same)", highlight=False)


@privacy_app.command("apply")
def privacy_apply(
    db: DbOpt = None,
    batch: Annotated[int, typer.Option(help="Rows per transaction.")] = 1000,
    vacuum: Annotated[bool, typer.Option(help="Vacuum afterwards so the clear bytes leave the files.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    who: OperatorOpt = None,
) -> None:
    """Pseudonymise the events and dead letters stored before `privacy enable`, in place
    (resumable: run it again after an interruption)."""
    from caliper_stream.privacy import load_settings, protection_for
    from caliper_stream.privacy.apply import apply, remaining

    with opened_store(db) as store:
        protection = protection_for(store)
        if protection is None:
            fail("this store is not pseudonymous; run `caliper-stream privacy enable` first")
        events, letters = remaining(store, load_settings(store))
        progress = Progress(
            TextColumn("pseudonymising"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            console=err_console, disable=quiet,
        )
        with progress:
            task = progress.add_task("apply", total=events + letters)
            done = apply(store, protection, batch=batch, vacuum=vacuum, actor=operator(who),
                         progress=lambda n: progress.advance(task, n))
    out_console.print(
        f"events read {done.events:,}  rewritten {done.updated:,}  merged as duplicates {done.merged:,}"
        f"  dead letters rewritten {done.dead_letters:,}",
        highlight=False,
    )
    for w in done.warnings:
        err_console.print(f"warning: {w}", highlight=False, markup=False)


# --- identity --------------------------------------------------------------------------------


@identity_app.command("lookup")
def identity_lookup(
    term: Annotated[str, typer.Argument(help="A pseudonym, or a uuid, pk1, batch_uid, name or e-mail address.")],
    db: DbOpt = None,
    who: OperatorOpt = None,
) -> None:
    """Re-identify: the person a pseudonym stands for (or the pseudonyms of a person). Recorded
    in the audit trail."""
    from caliper_stream.privacy import audit, identity_store, load_settings, protection_for
    from caliper_stream.privacy.identity import people

    with opened_store(db) as store:
        settings = load_settings(store)
        protection = protection_for(store)
        ids = identity_store(store, settings)
        if ids is None:
            fail("this store keeps no identity table (privacy enable --identity none)")
        found = people(ids, term, protection.pseudonym(term) if protection else None)
        audit.record(store, operator(who), "identity.lookup", f"{len(found)} person(s) re-identified")
    if not found:
        fail(f"nobody known as {term!r}")
    rows = [
        {"person": p.person, "kind": kind, "value": value, "pseudonym": p.pseudonyms.get(kind)}
        for p in found
        for kind, value in p.values.items()
    ]
    print_table(rows, ["person", "kind", "value", "pseudonym"])


# --- forget ----------------------------------------------------------------------------------


def forget(
    user: Annotated[str, typer.Option("--user", help="uuid, pk1, batch_uid or pseudonym of the person.")],
    delete_events: Annotated[
        bool, typer.Option("--delete-events", help="Delete their events instead of removing their personal fields.")
    ] = False,
    vacuum: Annotated[bool, typer.Option(help="Vacuum so that nothing of them is left in the database files.")] = True,
    db: DbOpt = None,
    who: OperatorOpt = None,
) -> None:
    """Erase a person: identity rows, their personal fields (or events), dead letters naming them."""
    from caliper_stream.privacy.forget import forget as run

    with opened_store(db) as store:
        done = run(store, user, actor=operator(who), delete_events=delete_events, vacuum=vacuum)
    if not (done.identities or done.events_redacted or done.events_deleted or done.dead_letters):
        err_console.print(f"warning: nothing in this store names {user!r}", highlight=False, markup=False)
    out_console.print(
        f"identity rows {done.identities}  events redacted {done.events_redacted}  events deleted {done.events_deleted}"
        f"  dead letters deleted {done.dead_letters}",
        highlight=False,
    )
    for w in done.warnings:
        err_console.print(f"warning: {w}", highlight=False, markup=False)


# --- retention -------------------------------------------------------------------------------


@retention_app.command("set")
def retention_set(
    event_type: Annotated[str, typer.Argument(help="Canonical event type (SessionEvent, GradeEvent, bb:ForumEvent…) or * for all others.")],
    days: Annotated[int, typer.Argument(min=0, max=1_000_000, help="Keep events for this many days (e.g. 730 for 2 years).")],
    db: DbOpt = None,
    who: OperatorOpt = None,
) -> None:
    """Keep EVENT_TYPE for DAYS days."""
    from caliper_stream.privacy import audit
    from caliper_stream.privacy.retention import set_policy

    if days < 1:
        fail("DAYS must be at least 1")
    with opened_store(db) as store:
        set_policy(store, event_type, days)
        audit.record(store, operator(who), "retention.set", f"{event_type} kept {days} days")


@retention_app.command("remove")
def retention_remove(event_type: Annotated[str, typer.Argument()], db: DbOpt = None) -> None:
    """Remove the policy of EVENT_TYPE (its events are then kept)."""
    from caliper_stream.privacy.retention import remove_policy

    with opened_store(db) as store:
        if not remove_policy(store, event_type):
            fail(f"no retention policy for {event_type!r}")


@retention_app.command("list")
def retention_list(db: DbOpt = None) -> None:
    """The policies, with what each would remove now."""
    from caliper_stream.privacy.retention import plan

    with opened_store(db) as store:
        found = plan(store)
    print_table([msgspec.to_builtins(e) | {"expired": e.events} for e in found], ["event_type", "days", "cutoff", "expired"])


@retention_app.command("schedule")
def retention_schedule(
    at: Annotated[str | None, typer.Argument(help="HH:MM (UTC) at which `serve` applies retention daily; omit to stop.")] = None,
    db: DbOpt = None,
) -> None:
    """Have `serve` apply the retention policies every night at AT (UTC)."""
    from caliper_stream.privacy.nightly import set_schedule

    with opened_store(db) as store:
        try:
            set_schedule(store, at)
        except ValueError as exc:
            fail(str(exc))


@retention_app.command("apply")
def retention_apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be removed.")] = False,
    batch: Annotated[int, typer.Option(help="Events deleted per transaction.")] = 5000,
    now: Annotated[str | None, typer.Option(help="Apply as of this ISO 8601 time instead of now.")] = None,
    db: DbOpt = None,
    who: OperatorOpt = None,
) -> None:
    """Show, then remove, every event older than its type's retention period, in batches."""
    from caliper_stream.privacy.retention import apply, month_drops, plan

    try:
        at = datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(UTC) if now else datetime.now(UTC)
    except ValueError:
        fail(f"--now {now!r} is not an ISO 8601 time")
    with opened_store(db) as store:
        planned = plan(store, at)
        print_table([msgspec.to_builtins(e) for e in planned], ["event_type", "days", "cutoff", "events"],
                    title="would remove" if dry_run else "removing")
        drops = month_drops(store, at)
        if drops:
            print_table([msgspec.to_builtins(d) for d in drops], ["month", "partition", "events"],
                        title="month partitions that would be dropped" if dry_run else "dropping month partitions")
        if dry_run:
            return
        done = apply(store, at=at, batch=batch, actor=operator(who))
    out_console.print(f"removed {sum(e.events for e in done):,} events", highlight=False)


# --- audit -----------------------------------------------------------------------------------


def audit(
    db: DbOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=SQL_INT_MAX, help="At most this many, newest first.")] = 100,
    action: Annotated[str | None, typer.Option(help="Only this action (read, forget, retention, …).")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this key name or operator.")] = None,
    since: Annotated[str | None, typer.Option(help="Only from this ISO 8601 time on.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or jsonl.")] = "table",
) -> None:
    """The audit trail: reads of personal data, erasures, retention runs, privacy changes."""
    from caliper_stream.privacy.audit import records

    with opened_store(db) as store:
        found = records(store, limit=limit, action=action, actor=actor, since=since)
    if fmt == "jsonl":
        for r in found:
            out_console.file.write(_json.encode(r).decode() + "\n")
        return
    print_table([msgspec.to_builtins(r) for r in found], ["id", "at", "actor", "action", "what"])


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.add_typer(privacy_app, name="privacy")
    app.add_typer(identity_app, name="identity")
    app.add_typer(retention_app, name="retention")
    app.command("forget")(forget)
    app.command("audit")(audit)
