"""A simulated term with every kind of personal data, through real ``serve`` processes into a
clear-text and a pseudonymous store, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import termdata
from stores import database_bytes

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))
from harness import cli, pg_schema_url, start_site

from caliper_stream.analyse import REPORTS, activity
from caliper_stream.privacy.secret import Pseudonym
from caliper_stream.store import Store, open_store

P = Pseudonym(termdata.SECRET)


class World(msgspec.Struct):
    clear: str
    pseudo: str
    identity: str
    secret: Path
    while_serving: dict[str, bytes]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"privacy-{request.param}")
    cleanups = []
    if request.param == "sqlite":
        clear, pseudo, identity = (f"sqlite:///{tmp / name}.db" for name in ("clear", "pseudo", "identity"))
    else:
        gens = [pg_schema_url() for _ in range(3)]
        clear, pseudo, identity = (next(g) for g in gens)
        cleanups = [g.close for g in gens]
    secret = tmp / "secret.key"
    secret.write_bytes(termdata.SECRET + b"\n")
    open_store(pseudo).close()
    cli("privacy", "enable", "--secret-file", str(secret), "--identity", identity, "--db", pseudo)
    snapshot: dict[str, bytes] = {}
    bodies = termdata.envelopes()
    for name, url in (("clear", clear), ("pseudo", pseudo)):
        site_tmp = tmp / name
        site_tmp.mkdir()
        sites = start_site(url, site_tmp)
        site = next(sites)
        try:
            for body in bodies:
                r = site.post(body)
                assert r.status_code == 200, r.text
                assert r.json()["rejected"] == 0
            # a body cut short in transit: its whole events are duplicates, the cut one is kept as a
            # dead letter (scrubbed, in the pseudonymous store)
            cut = site.post(bodies[1][: len(bodies[1]) // 2])
            assert cut.status_code == 200, cut.text
            assert cut.json()["rejected"] == 1
            assert site.store.stats().dead_letters == 1
            snapshot[name] = database_bytes(url)
        finally:
            sites.close()
    try:
        yield World(clear, pseudo, identity, secret, snapshot)
    finally:
        for c in cleanups:
            c()


def _student_with_everything() -> termdata.Person:
    """A student with sessions and LTI launches (so their IP, agent, name and e-mail occur)."""
    for person in termdata.people():
        launches = [e for e in termdata.events() if e["type"].endswith("LTIEvent") and person.uuid in e["actor"]["id"]]
        if launches:
            return person
    raise AssertionError("the term has no LTI launch")


def _ips_of(person: termdata.Person) -> list[str]:
    found = set()
    for e in termdata.events():
        if e["type"] == "SessionEvent" and person.uuid in msgspec.json.encode(e).decode() and e["action"] != "TimedOut":
            found.add(e["edApp"]["extensions"]["bb:request.headers.ipAddress"])
    return sorted(found)


def _client_data() -> list[str]:
    data = termdata.client_data()
    return sorted(data["ip"]) + sorted(data["agent"]) + sorted(data["oauth"]) + ["learn-tool-key"]


def test_the_pseudonymous_database_holds_no_plain_identifier(world: World) -> None:
    everyone = termdata.people()
    for data in (world.while_serving["pseudo"], database_bytes(world.pseudo)):
        assert termdata.traces(data, everyone, _client_data()) == []
    # the clear store of the same term holds them all, so the scan can see them
    assert set(termdata.traces(world.while_serving["clear"], everyone)) >= {p.external_id for p in everyone}
    # the separate identity table can re-identify, for authorised admins (one whose e-mail the term's
    # events carry: the identity table learns only what arrived)
    student = next(p for p in everyone if p.texts[2].encode() in world.while_serving["clear"])
    out = cli("identity", "lookup", P(student.uuid), "--db", world.pseudo).stdout
    assert student.uuid in out
    assert student.external_id in out
    assert student.texts[2] in out


def _pseudonymised(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        if value in mapping:
            return mapping[value]
        return re.sub(r"/users/([^/?#]+)", lambda m: "/users/" + mapping.get(m.group(1), m.group(1)), value)
    return value


def _reports(store: Store) -> dict[str, list[dict[str, Any]]]:
    out = {name: fn(store) for name, fn in REPORTS.items()}
    for by in ("user", "day"):
        out[f"activity by {by}"] = activity(store, by=by)
    return out


def _canonical(rows: list[dict[str, Any]], mapping: dict[str, str] | None = None) -> list[str]:
    """Rows as sorted JSON strings, the user columns mapped to pseudonyms (a user's pk1 such
    as ``_101_1`` is also an assessment's: only columns about people are mapped)."""

    def person_column(k: str) -> bool:
        return k.startswith(("user", "actor")) or k in ("Student ID", "Username")  # Grade Center headings

    return sorted(
        msgspec.json.encode(
            {
                k: _pseudonymised(v, mapping) if mapping and person_column(k) else v
                for k, v in r.items()
                # when the store received an event, and hours since a source's last event: the wall
                # clock of the run, not the term
                if "received" not in k and k != "hours_since_last_event"
            }
        ).decode()
        for r in rows
    )


def _mapping() -> dict[str, str]:
    return {v: P(v) for p in termdata.people() for v in (p.uuid, p.pk, p.external_id)}


def test_every_report_gives_the_clear_store_answers_up_to_the_ids(world: World) -> None:
    mapping = _mapping()
    with open_store(world.clear) as clear, open_store(world.pseudo) as pseudo:
        expected, got = _reports(clear), _reports(pseudo)
        assert clear.stats().events == pseudo.stats().events == len({msgspec.json.encode(e) for e in termdata.events()})
    for name in expected:
        assert expected[name], name
        assert _canonical(got[name]) == _canonical(expected[name], mapping), name


def test_privacy_apply_turns_a_clear_store_into_the_pseudonymous_one(world: World, tmp_path: Path) -> None:
    from caliper_stream.privacy import protection_for
    from caliper_stream.privacy.apply import apply
    from caliper_stream.store.load import import_paths

    dump = tmp_path / "term.jsonl"
    dump.write_bytes(b"\n".join(termdata.envelopes()))
    gen = None
    if world.clear.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'copy.db'}"
    else:
        gen = pg_schema_url()
        url = next(gen)
    try:
        with open_store(url) as store:
            import_paths(store, [dump])
            cli("privacy", "enable", "--secret-file", str(world.secret), "--identity", "none", "--db", url)
            protection = protection_for(store)
            assert protection is not None

            class Interrupted(Exception):
                pass

            def stop_after_first_batch(n: int) -> None:
                raise Interrupted

            with pytest.raises(Interrupted):
                apply(store, protection, batch=200, progress=stop_after_first_batch)
            status = cli("privacy", "status", "--db", url).stdout
            assert "still clear" in status
            assert " 0 events" not in status
        assert "events read" in cli("privacy", "apply", "--quiet", "--db", url).stdout
        with open_store(url) as store, open_store(world.pseudo) as pseudo:
            keys = {r[0] for r in store.query("SELECT event_key FROM events")}
            assert keys == {r[0] for r in pseudo.query("SELECT event_key FROM events")}
        assert termdata.traces(database_bytes(url), termdata.people(), _client_data()) == []
    finally:
        if gen is not None:
            gen.close()


def _others(rows: list[dict[str, Any]], allowed: set[str]) -> list[str]:
    """The rows about nobody in particular (course totals) or about the `allowed` people only."""
    return _canonical([r for r in rows if all(v is None or v in allowed for k, v in r.items() if k.startswith("user_"))])


def _ids(persons: list[termdata.Person], pseudonymous: bool) -> set[str]:
    values = {v for p in persons for v in (p.uuid, p.pk, p.external_id)}
    return {P(v) for v in values} if pseudonymous else values


def test_forget_in_the_pseudonymous_store_leaves_no_trace(world: World) -> None:
    student = _student_with_everything()
    others = [p for p in termdata.people() if p is not student]
    theirs = {P(student.uuid), P(student.pk), P(student.external_id)}
    allowed = _ids(others, pseudonymous=True)
    with open_store(world.pseudo) as store:
        before = {name: _others(rows, allowed) for name, rows in _reports(store).items()}
    assert termdata.traces(database_bytes(world.identity), [student])  # they are known before
    out = cli("forget", "--user", student.external_id, "--operator", "dpo-admin", "--db", world.pseudo).stdout
    assert "identity rows" in out
    for url in (world.identity, world.pseudo):
        data = database_bytes(url)
        assert termdata.traces(data, [student]) == []
        assert termdata.occurrences(data, sorted(theirs)) == []  # their pseudonyms are gone too
    assert termdata.traces(database_bytes(world.identity), others)  # everyone else is still known
    with open_store(world.pseudo) as store:
        after = {name: _others(rows, allowed) for name, rows in _reports(store).items()}
        audit = store.query("SELECT actor, action, what, detail FROM audit WHERE action = 'forget'")
    assert after == before
    assert len(audit) == 1
    assert audit[0][0] == "dpo-admin"
    assert termdata.occurrences(msgspec.json.encode(audit), [*student.identifiers(), *theirs]) == []


def test_forget_in_the_clear_store_removes_their_personal_fields(world: World) -> None:
    student = _student_with_everything()
    others = [p for p in termdata.people() if p is not student]
    allowed = _ids(others, pseudonymous=False)
    with open_store(world.clear) as store:
        before = {name: _others(rows, allowed) for name, rows in _reports(store).items()}
        events = store.stats().events
    assert termdata.traces(database_bytes(world.clear), [student], _ips_of(student))
    out = cli("forget", "--user", student.uuid, "--db", world.clear).stdout
    assert "events redacted" in out
    data = database_bytes(world.clear)
    assert termdata.traces(data, [student], _ips_of(student)) == []
    assert set(termdata.traces(data, others)) >= {p.external_id for p in others}
    with open_store(world.clear) as store:
        after = {name: _others(rows, allowed) for name, rows in _reports(store).items()}
        assert store.stats().events == events  # redacted, not deleted
    assert after == before


def test_retention_removes_exactly_what_the_policy_says(world: World) -> None:
    start = datetime(2026, 1, 12, tzinfo=UTC)
    at = start + timedelta(days=10)
    cutoff = (at - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    view_cutoff = (at - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    url = world.pseudo
    with open_store(url) as store:
        def count(where: str, *params: object) -> int:
            return int(store.query(f"SELECT count(*) FROM event_view WHERE {where}", params)[0][0])

        unique = {msgspec.json.encode(e): e for e in termdata.events()}.values()
        expected_sessions = sum(1 for e in unique if e["type"] == "SessionEvent" and e["eventTime"] < cutoff)
        expected_views = sum(1 for e in unique if e["type"] == "ViewEvent" and e["eventTime"] < view_cutoff)
        assert expected_sessions
        assert expected_views
        total = count("1 = 1")
        assert count("type = 'SessionEvent' AND event_time < ?", cutoff) == expected_sessions
        cli("retention", "set", "SessionEvent", "7", "--db", url)
        cli("retention", "set", "ViewEvent", "4", "--db", url)
        when = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        shown = cli("retention", "apply", "--dry-run", "--now", when, "--db", url).stdout
        assert str(expected_sessions) in shown
        assert str(expected_views) in shown
        assert count("1 = 1") == total
        out = cli("retention", "apply", "--batch", "50", "--now", when, "--db", url).stdout
        assert f"removed {expected_sessions + expected_views:,} events" in out
        assert count("type = 'SessionEvent' AND event_time < ?", cutoff) == 0
        assert count("type = 'ViewEvent' AND event_time < ?", view_cutoff) == 0
        assert count("1 = 1") == total - expected_sessions - expected_views
        audit = cli("audit", "--action", "retention", "--db", url).stdout
        assert "retention" in audit
