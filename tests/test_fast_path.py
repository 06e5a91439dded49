"""The ingest fast path (typed views, inline slot reads, memoised id parts) against a reference.

The reference below is written the straightforward way: ``json.loads`` of each event's bytes,
dict look-ups following the rules of `caliper_stream.keydata`'s table, the identity tuple of
`caliper_stream.event`'s docstring hashed with BLAKE2b-128. Generated Learn-shaped events (1.0
and 1.1, bare IRIs, missing and mistyped values, repaired bytes) must give exactly the same rows,
dead letters and warnings through `prepare`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caliper_stream.event import canonical_time
from caliper_stream.ingest import prepare
from caliper_stream.keydata import KeyData, id_parts
from caliper_stream.read import read_bytes
from caliper_stream.vocab import RENAMED_TYPES, VERSION_OF_CONTEXT, term

BASE = "https://caliper-mapping.cloudbb.blackboard.com/v1/sites/"
CTX = {"1.0": "http://purl.imsglobal.org/ctx/caliper/v1/Context", "1.1": "http://purl.imsglobal.org/ctx/caliper/v1p1"}
BB_CTX = "http://caliper.blackboard.com/ctx/caliper/v1/Context"
RECEIVED = "2026-01-12T10:00:00.000Z"

# ---------------------------------------------------------------------------------------------
# generated events

sites = st.sampled_from(["e3e70682-c209-4cac-a29f-6fbed82c07cd", "df1b6234", ""])
pks = st.sampled_from(["_1_1", "_893_1", "", "x/y", "a?b"])
odd = st.none() | st.integers(-5, 10**20) | st.floats(allow_nan=True) | st.sampled_from(["", "12.5", "1e400", "NaN", "x"])
texts = st.sampled_from(["", "s5225196", "_156_1", "HIST-103", "tab\there", "ctl\x01"]) | odd


def iri(kind: str) -> st.SearchStrategy[str]:
    tail = {
        "user": st.sampled_from(["users/82339e23", "users/", "users/a/b", "users/q?x"]),
        "course": st.sampled_from(["courses/_101_1", "courses/"]),
        "item": st.builds(lambda a, b, c: f"gradableItems/{a}/assessments/{b}/questions/{c}", pks, pks, pks),
        "attempt": st.builds(lambda a: f"attempts/{a}", pks),
        "content": st.sampled_from(["content/_123_1", "applications/learn", "sessions/", "sessions/ABC"]),
    }[kind]
    return st.builds(lambda s, t: f"{BASE}{s}/{t}" if s else f"urn:x:{t}", sites, tail)


ext = st.fixed_dictionaries(
    {"bb:user.id": texts, "bb:course.id": texts},  # null counts as absent
    optional={
        "bb:user.externalId": texts,
        "bb:course.externalId": texts,
        "bb:action.name": texts,
        "bb:questionType": texts,
        "bb:assessment.gradeableItemId": texts,
        "bb:request.headers.agent": st.just("Mozilla/5.0 (X11; Linux x86_64)"),
    },
)
types = st.sampled_from(["Person", "SoftwareApplication", "http://purl.imsglobal.org/caliper/v1/lis/Person", 3, None])


def entity(kind: str, **more: Any) -> st.SearchStrategy[Any]:
    """A bare IRI, or an object whose id, type and extensions are always there (null counts as
    absent for a view) so that people and their Learn extensions meet often."""
    required = {"id": iri(kind) | odd, "type": types, "extensions": ext | st.just(None)}
    required |= {k: v for k, v in more.items() if k in required}
    return iri(kind) | st.fixed_dictionaries(required, optional={k: v for k, v in more.items() if k not in required})


agent = entity("user")
org = entity("course", courseNumber=texts, subOrganizationOf=entity("course", courseNumber=texts))
attempt = entity("attempt", assignee=agent, actor=agent, startedAtTime=texts)
node = entity(
    "item",
    isPartOf=entity("item", extensions=ext),
    assignable=entity("item", maxScore=odd, isPartOf=entity("item")),
    assignee=agent,
    actor=agent,
    user=agent,
    attempt=attempt,
    course=org,
    maxScore=odd,
    scoreGiven=odd,
    normalScore=odd,
    totalScore=odd,
    resultScore=odd,
    maxResultScore=odd,
    startedAtTime=texts,
    endedAtTime=texts,
    duration=texts,
)
membership = entity(
    "user", organization=org, member=agent, roles=st.lists(st.sampled_from(["Learner", "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor", 4]), max_size=3) | odd
)
event_fields = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["ViewEvent", "GradeEvent", "OutcomeEvent", "http://caliper.blackboard.com/caliper/v1/ForumEvent", "http://purl.imsglobal.org/caliper/v1/SessionEvent", ""]),
        "action": st.sampled_from(["Viewed", "Graded", "http://purl.imsglobal.org/vocab/caliper/v1/action#Started", ""]),
        "actor": agent,
        "object": node,
    },
    optional={
        "@context": st.sampled_from([CTX["1.1"], CTX["1.0"], [BB_CTX, CTX["1.1"]], [CTX["1.0"], BB_CTX], "urn:other"]),
        "id": st.uuids().map(lambda u: f"urn:uuid:{u}") | st.uuids().map(str) | odd,
        "target": entity("content"),
        "generated": node,
        "edApp": entity("content"),
        "group": org,
        "membership": membership,
        "session": entity("content"),
        "federatedSession": entity("content"),
        "eventTime": st.sampled_from(["2026-01-12T05:08:40.014Z", "2026-01-12T05:08:40Z", "2026-01-12T00:08:40.5-05:00", "yesterday"]) | odd,
    },
)
# now and then one of the four properties every event needs is left out (a dead letter)
events_sent = st.tuples(event_fields, st.sets(st.sampled_from(["type", "actor", "action", "object"]), max_size=1)).map(
    lambda pair: {k: v for k, v in pair[0].items() if k not in pair[1]}
)


def legacy(value: Any) -> Any:
    """Caliper 1.0 spelling: ``@id`` and ``@type``."""
    if isinstance(value, dict):
        return {{"id": "@id", "type": "@type"}.get(k, k): legacy(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# the reference computation


def s_(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    return str(value)


def ident(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) and found else None
    return None


def ent(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        found = float(value)
    except (ValueError, OverflowError):
        return None
    return found if math.isfinite(found) else None


def person(value: Any) -> bool:
    if isinstance(value, str):
        return "/users/" in value
    return isinstance(value, dict) and isinstance(value.get("type"), str) and term(value["type"]) == "Person"


def site_of(value: str | None) -> str | None:
    if not value:
        return None
    for at in range(len(value)):
        if value.startswith("/sites/", at):
            end = value.find("/", at + 7)
            if end > at + 7:
                return value[at + 7 : end]
    return None


def segments(ids: list[str | None]) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in filter(None, ids):
        at = 0
        while at < len(value):
            for kind in ("gradableItems", "assessments", "questions", "attempts"):
                if value.startswith(f"/{kind}/", at):
                    start = at + len(kind) + 2
                    end = start
                    while end < len(value) and value[end] not in "/?#\n":
                        end += 1
                    if end > start:
                        found.setdefault(kind, value[start:end])
                        at = end
                        break
            else:
                at += 1
    return found


def reference_keydata(doc: dict[str, Any], key: str, version: str, env: dict[str, Any]) -> tuple[KeyData, list[str]]:
    notes: list[str] = []
    actor, obj, gen, mem, group = doc.get("actor"), ent(doc.get("object")), ent(doc.get("generated")), ent(doc.get("membership")), ent(doc.get("group"))
    subject = actor
    if not person(actor):
        att = ent(gen.get("attempt"))
        cands = [obj.get("assignee"), obj.get("actor"), obj.get("user"), gen.get("assignee"), att.get("assignee"), att.get("actor"), mem.get("member")]
        subject = next((c for c in cands if c is not None and person(c)), actor)
    sx, mx = ent(ent(subject).get("extensions")), ent(mem.get("extensions"))
    user_pk = s_(sx.get("bb:user.id")) or s_(mx.get("bb:user.id"))
    user_ext = s_(sx.get("bb:user.externalId")) or s_(mx.get("bb:user.externalId"))
    ids = [ident(doc.get("object")), ident(doc.get("generated"))]
    for n in (obj, gen):
        ids += [ident(n.get("assignable")), ident(n.get("attempt")), ident(n.get("isPartOf")), ident(ent(n.get("assignable")).get("isPartOf"))]
    ids.append(ident(doc.get("target")))
    found = segments(ids)
    gradable = found.get("gradableItems") or s_(ent(obj.get("extensions")).get("bb:assessment.gradeableItemId"))
    gradable = gradable or s_(ent(ent(obj.get("isPartOf")).get("extensions")).get("bb:assessment.gradeableItemId"))
    orgs = [group, ent(group.get("subOrganizationOf")), ent(mem.get("organization")), ent(obj.get("course"))]
    course_number = next((s_(o.get("courseNumber")) for o in orgs if s_(o.get("courseNumber"))), None) or s_(mx.get("bb:course.externalId"))
    course_pk = next((s_(ent(o.get("extensions")).get("bb:course.id")) for o in orgs if s_(ent(o.get("extensions")).get("bb:course.id"))), None)
    course_pk = course_pk or s_(mx.get("bb:course.id"))
    roles_sent = mem.get("roles")
    roles = (",".join(term(r) for r in roles_sent if isinstance(r, str)) or None) if isinstance(roles_sent, list) else None
    sent_scores = [gen.get(k) for k in ("scoreGiven", "normalScore", "resultScore", "totalScore")]
    score = next((number(v) for v in sent_scores if number(v) is not None), None)
    max_score = number(gen.get("maxScore")) or number(gen.get("maxResultScore"))
    if (score is None and any(v is not None for v in sent_scores)) or (max_score is None and gen.get("maxScore") not in (None, 0)):
        for v in [*sent_scores, gen.get("maxScore"), gen.get("maxResultScore")]:
            if isinstance(v, int | str) and not isinstance(v, bool) and number(v) is None:
                try:
                    float(v)
                except ValueError:
                    continue
                except OverflowError:
                    pass
                shown = "an integer of more than 308 digits" if isinstance(v, int) else repr(v[:40])
                notes.append(f"score not usable as a number ({shown}): left out of key data")
                break
    if not max_score and doc.get("object") is not None and isinstance(doc.get("object"), dict):
        for scored in (ent(obj.get("assignable")), obj, ent(gen.get("assignable"))):
            if number(scored.get("maxScore")):
                max_score = number(scored.get("maxScore"))
                break
    xg, xo = ent(gen.get("extensions")), ent(obj.get("extensions"))
    question_type = s_(xg.get("bb:questionType")) or s_(xo.get("bb:questionType"))
    times = []
    for k in ("startedAtTime", "endedAtTime", "duration"):
        value = gen.get(k)
        if not value and isinstance(doc.get("object"), dict):
            value = obj.get(k)
        times.append(None if value is None else s_(value))
    session = ident(doc.get("federatedSession")) or ident(doc.get("session"))
    if session is not None and session.endswith("/sessions/"):
        session = None
    subject_id = ident(subject)
    site = next((found_site for c in (ident(actor), ident(doc.get("object")), ident(doc.get("edApp")), subject_id) if (found_site := site_of(c))), None)
    tail = subject_id.rsplit("/users/", 1)[1] if subject_id and "/users/" in subject_id else ""
    sent_type = term(doc["type"])
    canonical = RENAMED_TYPES.get(sent_type, sent_type)
    event_time = canonical_time(doc["eventTime"]) if isinstance(doc.get("eventTime"), str) else None
    return (
        KeyData(
            event_key=key, event_id=doc.get("id") if isinstance(doc.get("id"), str) else None, version=version,
            type=canonical, action=term(doc["action"]), event_time=event_time,
            send_time=s_(env.get("sendTime")), sensor=s_(env.get("sensor")), site=site, actor_id=ident(actor),
            user_uuid=tail if tail and not any(c in tail for c in "/?#") else None,
            user_pk=user_pk, user_external_id=user_ext, course_number=course_number, course_pk=course_pk, roles=roles,
            object_id=ident(doc.get("object")),
            object_type=term(obj["type"]) if isinstance(obj.get("type"), str) else None,
            gradable_item_pk=gradable, assessment_pk=found.get("assessments"), question_pk=found.get("questions"),
            attempt_pk=found.get("attempts"), score=score, max_score=max_score,
            grade_action=s_(xg.get("bb:action.name")), question_type=question_type, session_id=session,
            started_at=times[0], ended_at=times[1], duration=times[2],
            original_type=sent_type if canonical != sent_type else None,
        ),
        notes,
    )


def reference_key(doc: dict[str, Any]) -> str:
    gen = doc.get("generated")
    score = action = None
    if isinstance(gen, dict):
        score = next((gen[k] for k in ("scoreGiven", "normalScore", "resultScore") if gen.get(k) is not None), None)
        action = ent(gen.get("extensions")).get("bb:action.name")
    # a slot's id as sent (no emptiness rule here, unlike key data), or the bare IRI
    slot = [v if v is None or isinstance(v, str) else (v.get("id") if isinstance(v.get("id"), str) else None) for v in (doc.get(k) for k in ("actor", "object", "target", "generated"))]
    event_time = canonical_time(doc["eventTime"]) if isinstance(doc.get("eventTime"), str) else ""
    identity = ("ek1", doc.get("id") if isinstance(doc.get("id"), str) else "", term(doc["type"]), term(doc["action"]), event_time, *slot, score, action)
    try:
        packed = msgspec.msgpack.encode(identity)
    except (OverflowError, TypeError):
        packed = repr(identity).encode()
    return hashlib.blake2b(packed, digest_size=16).hexdigest()


def shown(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a very large integer"
    text = repr(value) if isinstance(value, int | float | bool) else f"a JSON {'array' if isinstance(value, list) else 'object'}"
    return text if len(text) <= 40 else text[:40] + "…"


def reference(
    sent: list[tuple[int, dict[str, Any], bytes]], env: dict[str, Any], legacy_spelling: bool
) -> tuple[list[Any], list[Any], list[tuple[str, str]]]:
    """Rows, dead letters and warnings of the readable events (position in data, event, bytes)."""
    rows, dead, warnings = [], [], []
    for i, doc, raw in sent:
        kinds = {n: term(doc[n]) if isinstance(doc.get(n), str) else "" for n in ("type", "action")}
        present = {"type": kinds["type"], "actor": doc.get("actor") is not None, "action": kinds["action"], "object": doc.get("object") is not None}
        if not all(present.values()):
            dead.append((raw, [f"not a Caliper event: missing {', '.join(n for n, ok in present.items() if not ok)}"]))
            continue
        context = doc.get("@context")
        versions = [VERSION_OF_CONTEXT.get(c) for c in (context if isinstance(context, list) else [context]) if isinstance(c, str)]
        version = next((v for v in reversed(versions) if v), None) or VERSION_OF_CONTEXT.get(env.get("dataVersion", ""))
        version = version or ("1.0" if legacy_spelling else "1.1")
        sent_time = doc.get("eventTime")
        if sent_time is not None and not isinstance(sent_time, str):
            warnings.append((f"data[{i}].eventTime", f"eventTime is not a date-time string: {shown(sent_time)}"))
        keydata, notes = reference_keydata(doc, reference_key(doc), version, env)
        rows.append((keydata.event_key, raw, keydata))
        warnings += [(f"data[{i}].generated", n) for n in notes]
    return rows, dead, warnings


# ---------------------------------------------------------------------------------------------


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.lists(events_sent, min_size=1, max_size=6),
    st.booleans(),
    st.sampled_from([None, CTX["1.1"], CTX["1.0"]]),
    st.sampled_from(["", "control", "nbsp"]),
)
def test_prepare_agrees_with_a_plain_json_reference(events: list[dict[str, Any]], old: bool, data_version: str | None, repair: str) -> None:
    sent = [legacy(e) if old else e for e in events]
    raws = [json.dumps(e).encode() for e in sent]  # NaN and Infinity are left in: the reader dead-letters them
    if repair == "control":
        raws = [r.replace(b"\\t", b"\t").replace(b"\\u0001", b"\x01") for r in raws]
    env = {"sensor": "s1", "sendTime": "2026-01-12T05:08:41.000Z"} | ({"dataVersion": data_version} if data_version else {})
    joiner = b",\xc2\xa0" if repair == "nbsp" else b","
    body = json.dumps(env).encode()[:-1] + b', "data": [' + joiner.join(raws) + b"]}"
    batch = prepare(read_bytes(body), source="test", received_at=RECEIVED)

    readable = []
    for i, (event, raw) in enumerate(zip(events, raws, strict=True)):
        try:
            msgspec.json.decode(raw.replace(b"\t", b"\\t").replace(b"\x01", b"\\u0001"))
        except msgspec.DecodeError:  # NaN or Infinity: not JSON, so a dead letter of its own
            continue
        readable.append((i, event, raw))
    rows, dead, warnings = reference(readable, env, old)
    assert [(r.event_key, r.raw, r.keydata) for r in batch.rows] == rows
    assert all((r.source, r.received_at) == ("test", RECEIVED) for r in batch.rows + batch.dead_letters)
    missing = [(d.raw, [p.message for p in d.reasons]) for d in batch.dead_letters if "missing" in d.reasons[0].message]
    assert missing == dead
    assert len(batch.dead_letters) - len(missing) == len(events) - len(readable)
    assert len(batch) == len(events)  # every event is a row or a dead letter
    assert [(w.path, w.message) for w in batch.warnings if not w.message.startswith("repaired:")] == warnings
    if repair == "control" and any(b"\t" in r.raw or b"\x01" in r.raw for r in batch.rows):
        assert batch.repaired > 0
        assert any(w.message == "repaired: raw control characters inside strings" for w in batch.warnings)


def test_the_reference_and_the_fast_path_agree_where_the_searches_overlap() -> None:
    """One event where every search has more than one candidate: the actor's and the
    membership's user ids differ, the course is named twice, ids carry several segments."""
    item = f"{BASE}s1/gradableItems/_9_1/assessments/_8_1/questions/_7_1"
    event = {
        "@context": [BB_CTX, CTX["1.1"]],
        "type": "GradeEvent",
        "action": "Graded",
        "id": "urn:uuid:0b0b6a55-5a2c-4a56-9d6b-3e0b1c7e6a11",
        "actor": {"id": f"{BASE}s1/users/u1", "type": "Person", "extensions": {"bb:user.id": "_1_1", "bb:user.externalId": ""}},
        "object": {"id": item, "type": "Attempt", "assignable": {"id": f"{BASE}s1/gradableItems/_6_1", "maxScore": 10}},
        "generated": {"id": f"{BASE}s1/attempts/_5_1", "type": "Score", "scoreGiven": "7", "maxScore": 0},
        "group": {"id": "g", "courseNumber": "", "extensions": {"bb:course.id": "_2_1"}, "subOrganizationOf": {"courseNumber": "C-1"}},
        "membership": {"extensions": {"bb:user.id": "_3_1", "bb:user.externalId": "ext-3", "bb:course.id": "_4_1"}, "roles": ["Learner", 4, "Instructor"]},
        "eventTime": "2026-01-12T00:08:40.5-05:00",
    }
    raw = json.dumps(event).encode()
    env = {"sensor": "s1", "sendTime": "2026-01-12T05:08:41.000Z"}
    batch = prepare(read_bytes(json.dumps(env).encode()[:-1] + b', "data": [' + raw + b"]}"), source=None)
    rows, dead, warnings = reference([(0, event, raw)], env, False)
    assert [(r.event_key, r.raw, r.keydata) for r in batch.rows] == rows
    keydata = batch.rows[0].keydata
    assert (keydata.user_pk, keydata.user_external_id, keydata.course_number, keydata.course_pk) == ("_1_1", "ext-3", "C-1", "_2_1")
    assert (keydata.gradable_item_pk, keydata.attempt_pk, keydata.score, keydata.max_score) == ("_9_1", "_5_1", 7.0, 10.0)
    assert not dead
    assert not warnings


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["/sites/", "/users/", "/attempts/", "/questions/", "/", "?", "#", "\n", "a", "_1_1", "sites"]), max_size=12).map("".join))
def test_id_parts_find_what_the_documented_patterns_find(value: str) -> None:
    site = re.search(r"/sites/([^/]+)/", value)
    user = re.search(r"/users/([^/?#]+)$", value)
    parts = id_parts(value)
    assert parts.site == (site.group(1) if site else None)
    assert parts.user == (user.group(1) if user else None)
    assert list(parts.segments) == re.findall(r"/(gradableItems|assessments|questions|attempts)/([^/?#\n]+)", value)
    assert id_parts(value) == parts  # memoised or not, the same answer
