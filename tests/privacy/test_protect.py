"""Pseudonymisation of single events: every place Learn puts personal data, 1.0 and 1.1."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import termdata
from hypothesis import given, settings
from hypothesis import strategies as st

from caliper_stream.ingest import prepare
from caliper_stream.privacy.protect import Protection
from caliper_stream.privacy.rules import truncate_agent, truncate_ip
from caliper_stream.privacy.secret import Pseudonym
from caliper_stream.read import RawEvent, read_bytes
from caliper_stream.simulate import generate
from refdata import LEARN

P = Pseudonym(termdata.SECRET)


def protection(**kw: Any) -> Protection:
    return Protection(P, **kw)


def _client_data() -> list[str]:
    data = termdata.client_data()
    return sorted(data["ip"]) + sorted(data["agent"]) + sorted(data["oauth"]) + ["learn-tool-key"]


@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_no_identifier_of_the_term_survives_and_key_data_is_pseudonymised(version: str) -> None:
    config = msgspec.structs.replace(termdata.CONFIG, version=version, days=5)
    evs = [p.built.event for p in generate(config)]
    raw = [RawEvent(i, f"[{i}]", msgspec.json.encode(e)) for i, e in enumerate(evs)]
    clear = prepare(raw, source="t")
    pseudo = prepare(raw, source="t", privacy=protection())
    assert len(pseudo.rows) == len(clear.rows) == len(evs)
    assert not pseudo.dead_letters
    extra = _client_data()
    for row in pseudo.rows:
        assert termdata.traces(row.raw, termdata.people(), extra) == [], row.raw[:400]
    for c, p in zip(clear.rows, pseudo.rows, strict=True):
        for field in ("user_uuid", "user_pk", "user_external_id"):
            value = getattr(c.keydata, field)
            assert getattr(p.keydata, field) == (P(value) if value else value)
        for field in ("type", "action", "event_time", "course_number", "gradable_item_pk", "attempt_pk", "score", "session_id"):
            assert getattr(p.keydata, field) == getattr(c.keydata, field)


def test_learn_samples_lose_every_personal_field() -> None:
    needles = ["ffc08009f0884c059192bac549e117b2", "administrator", "noreply@blackboard.com", "Blackboard Administrator",
               "PEPikqcsphXcnKe/WQajV2VDNcQ=", "mykeyagain", "171815513849839", "186.28.208.123", "98.10.178.27",
               "scott.hurrey@myschool.edu", "launch_time=1608831491592"]
    for path in sorted(LEARN.glob("*.json")):
        batch = prepare(read_bytes(path.read_bytes(), path.name), source="t", privacy=protection())
        assert batch.rows, path
        for row in batch.rows:
            assert termdata.occurrences(row.raw, needles) == [], (path.name, row.raw[:300])


def test_a_resent_event_gets_the_same_key_and_bytes() -> None:
    body = (LEARN / "session-events.json").read_bytes()
    a = prepare(read_bytes(body, "a"), source="a", privacy=protection())
    b = prepare(read_bytes(body, "b"), source="b", privacy=protection())
    assert [r.event_key for r in a.rows] == [r.event_key for r in b.rows]
    assert [r.raw for r in a.rows] == [r.raw for r in b.rows]
    other = prepare(read_bytes(body, "a"), source="a", privacy=Protection(Pseudonym(b"another secret, 16+ bytes")))
    assert {r.event_key for r in other.rows}.isdisjoint(r.event_key for r in a.rows)


def test_client_data_truncated_when_configured() -> None:
    body = (LEARN / "session-events.json").read_bytes()
    row = prepare(read_bytes(body, "s"), source="s", privacy=protection(ip="truncate", agent="truncate")).rows[0]
    doc = msgspec.json.decode(row.raw)
    assert doc["object"]["extensions"] == {"bb:request.headers.agent": "Chrome/87", "bb:request.headers.ipAddress": "98.10.178.0"}
    dropped = prepare(read_bytes(body, "s"), source="s", privacy=protection()).rows[0]
    assert msgspec.json.decode(dropped.raw)["object"]["extensions"] == {}
    assert truncate_ip("2001:db8:85a3::8a2e:370:7334") == "2001:db8:85a3::"
    assert truncate_agent("curl/8.0") == ""


def test_lti_launch_keeps_what_is_not_personal() -> None:
    body = (LEARN / "lti-events.json").read_bytes()
    params = msgspec.json.decode(prepare(read_bytes(body, "l"), source="l", privacy=protection()).rows[0].raw)[
        "object"]["launchParameters"]
    for gone in ("oauth_signature", "oauth_consumer_key", "oauth_nonce", "oauth_timestamp", "lis_person_name_full",
                 "lis_person_name_given", "lis_person_name_family", "lis_person_contact_email_primary"):
        assert gone not in params
    assert params["user_id"] == P("ffc08009f0884c059192bac549e117b2")
    assert params["lis_person_sourcedid"] == P("administrator")
    assert params["launch_presentation_return_url"] == (
        "https://support-ultra-test.blackboard.com/webapps/blackboard/execute/blti/launchReturn")
    assert params["context_id"] == "_41_1"
    assert params["oauth_version"] == "1.0"


def test_group_users_inside_a_json_string_are_pseudonymised() -> None:
    users = '[{"id":"_7_1","uuid":"aaaabbbbccccddddeeeeffff00001111","batchUid":"s123"}]'
    event = {"type": "CourseGroupEvent", "action": "Created", "actor": "https://x/v1/sites/s/users/u1",
             "object": {"id": "https://x/g", "extensions": {"bb:group.users": users}}, "eventTime": "2026-01-01T00:00:00.000Z"}
    row = prepare([RawEvent(0, "", msgspec.json.encode(event))], source="t", privacy=protection()).rows[0]
    inner = msgspec.json.decode(msgspec.json.decode(row.raw)["object"]["extensions"]["bb:group.users"])
    assert inner == [{"id": P("_7_1"), "uuid": P("aaaabbbbccccddddeeeeffff00001111"), "batchUid": P("s123")}]


def test_unreadable_dead_letters_are_scrubbed_by_pattern() -> None:
    broken = (b'{"actor": {"id": "https://x/users/ffc08009f0884c059192bac549e117b2", "extensions": {"bb:user.externalId": '
              b'"s0123456"}}, "ip": "98.10.178.27", "mail": "ann@uni.edu", "oauth_signature": "SIG=", "u": '
              b'"https://l/return?token=abc" ')
    batch = prepare(read_bytes(broken, "b"), source="b", privacy=protection())
    assert not batch.rows
    assert len(batch.dead_letters) == 1
    kept = batch.dead_letters[0].raw
    assert termdata.occurrences(kept, ["ffc08009f0884c059192bac549e117b2", "s0123456", "98.10.178.27", "ann@uni.edu", "SIG=", "token=abc"]) == []
    assert P("s0123456").encode() in kept
    assert P("ffc08009f0884c059192bac549e117b2").encode() in kept


_ident = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters='/?#"\\@'),
    min_size=3, max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(uuid=_ident, pk=_ident, ext=_ident, email_user=st.from_regex(r"[a-z]{3,10}", fullmatch=True))
def test_any_identifier_value_is_replaced_consistently(uuid: str, pk: str, ext: str, email_user: str) -> None:
    person = {"id": f"https://x/v1/sites/s/users/{uuid}", "type": "Person", "name": f"{email_user} Doe",
              "extensions": {"bb:user.id": pk, "bb:user.externalId": ext}}
    event = {"type": "ViewEvent", "action": "Viewed", "actor": person, "object": {"id": "https://x/content/_1_1"},
             "membership": {"id": f"https://x/courses/c/members/{uuid}", "member": person,
                            "extensions": {"bb:user.id": pk, "bb:user.externalId": ext}},
             "extensions": {"note": f"contact {email_user}@uni.example.edu"}, "eventTime": "2026-01-01T00:00:00.000Z"}
    raw = msgspec.json.encode(event)
    row = prepare([RawEvent(0, "", raw)], source="t", privacy=protection()).rows[0]
    doc = msgspec.json.decode(row.raw)
    assert doc["actor"]["id"] == f"https://x/v1/sites/s/users/{P(uuid)}"
    assert doc["actor"]["extensions"] == {"bb:user.id": P(pk), "bb:user.externalId": P(ext)}
    assert doc["membership"]["id"] == f"https://x/courses/c/members/{P(uuid)}"
    assert doc["actor"]["name"] == P(uuid)
    assert f"{email_user}@uni.example.edu" not in doc["extensions"]["note"]
    assert row.keydata.user_uuid == P(uuid)
    assert row.keydata.user_pk == P(pk)
    again = prepare([RawEvent(0, "", raw)], source="t", privacy=protection()).rows[0]
    assert again.raw == row.raw
    assert again.event_key == row.event_key


def test_dead_letter_replay_in_a_pseudonymous_store_pseudonymises_once(tmp_path: Any) -> None:
    from caliper_stream.privacy.settings import enable
    from caliper_stream.store import open_store
    from caliper_stream.store.replay import replay

    secret = tmp_path / "k"
    secret.write_bytes(termdata.SECRET)
    body = (LEARN / "session-events.json").read_bytes()
    doc = msgspec.json.decode(body)
    del doc["action"]  # not an event yet: a dead letter
    broken = msgspec.json.encode(doc)
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        from caliper_stream.privacy.secret import fingerprint

        store.write([], prepare(read_bytes(broken, "old"), source="old").dead_letters)  # stored clear
        enable(store, secret_source=f"file:{secret}", fingerprint=fingerprint(termdata.SECRET), ip="drop",
               agent="drop", identity="none")
        from caliper_stream.privacy import protection_for

        protection = protection_for(store)
        assert protection is not None
        store.write([], prepare(read_bytes(broken, "new"), source="new", privacy=protection).dead_letters)
        stored = [bytes(r[0]) for r in store.query("SELECT raw FROM dead_letters ORDER BY id")]
        assert b"ffc08009f0884c059192bac549e117b2" in stored[0]
        assert b"ffc08009f0884c059192bac549e117b2" not in stored[1]
        # both become the same pseudonymised event once Learn's missing action is supplied
        store.transact(lambda tx: tx.execute("UPDATE dead_letters SET raw = CAST(replace(CAST(raw AS TEXT), '\"actor\"', '\"action\":\"LoggedIn\",\"actor\"') AS BLOB)"))
        outcomes = replay(store)
        assert [o.ok for o in outcomes] == [True, True]
        assert [o.result.accepted for o in outcomes] == [1, 0]  # the second is a duplicate of the first
        (user,) = store.query("SELECT user_uuid FROM events")[0]
        assert user == P("ffc08009f0884c059192bac549e117b2")


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_a_truncated_event_kept_as_a_dead_letter_holds_no_whole_identifier(data: st.DataObject) -> None:
    lti = [e for e in termdata.events() if e["type"].endswith(("LTIEvent", "SessionEvent", "GradeEvent"))]
    event = data.draw(st.sampled_from(lti))
    raw = msgspec.json.encode(event)
    cut = data.draw(st.integers(min_value=1, max_value=len(raw) - 1))
    batch = prepare(read_bytes(raw[:cut], "cut"), source="cut", privacy=protection())
    assert not batch.rows
    kept = b"".join(dl.raw for dl in batch.dead_letters)
    assert termdata.traces(kept, termdata.people(), _client_data()) == []
