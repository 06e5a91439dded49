"""The endpoint end to end: a real server process, a real SQLite file, real HTTP."""

from __future__ import annotations

import gzip
import json

import httpx
import msgspec
import pytest
from harness import Site, add_key, cli
from payloads import LEARN, broken, envelope, ids, learn_events

from caliper_stream.server.ingest import DUPLICATE_NOTE
from caliper_stream.vocab import CONTEXTS

PROBLEM = "application/problem+json"


def dead_letters_with(site: Site, raw: bytes) -> list[object]:
    return [d for d in site.store.list_dead_letters(limit=10_000) if d.raw == raw]


@pytest.mark.parametrize("bearer", [True, False], ids=["bearer", "raw-key"])
def test_both_auth_forms_store_events_with_the_key_name(site: Site, bearer: bool) -> None:
    events = learn_events(5)
    r = site.post(envelope(events), summary=False, bearer=bearer)
    assert r.status_code == 200
    assert r.content == b""  # the spec's SHOULD: an empty body
    site.digested()
    assert site.count_ids(ids(events)) == 5
    marks = ", ".join("?" * 5)
    assert site.count(f"event_id IN ({marks}) AND source = ?", (*ids(events), site.name)) == 5


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer not-a-key", "not-a-key"], ids=["none", "empty", "scheme-only", "wrong-bearer", "wrong-raw"]
)
def test_missing_or_wrong_key_is_401_and_stores_nothing(site: Site, authorization: str | None) -> None:
    events = learn_events(3)
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    before = len(site.store.list_dead_letters(limit=10_000))
    r = site.client.post("/caliper", content=envelope(events), headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["status"] == 401
    assert site.count_ids(ids(events)) == 0
    assert len(site.store.list_dead_letters(limit=10_000)) == before


def test_revoked_key_is_401_and_stores_nothing(site: Site) -> None:
    key = add_key(site.server.db, "old-site")
    assert site.post(envelope(learn_events(1)), key=key).status_code == 200
    cli("keys", "revoke", "old-site", "--db", site.server.db)
    events = learn_events(2)
    r = site.post(envelope(events), key=key)
    assert r.status_code == 401
    assert site.count_ids(ids(events)) == 0
    assert cli("keys", "revoke", "old-site", "--db", site.server.db, check=False).returncode == 1
    listing = cli("keys", "list", "--db", site.server.db).stdout
    assert "old-site" in listing
    assert key not in listing


def test_summary_on_request_only(site: Site) -> None:
    events = learn_events(4)
    r = site.client.post(
        "/caliper?summary=1", content=envelope(events), headers={"Authorization": f"Bearer {site.key}"}
    )
    assert r.status_code == 200
    assert r.json() == {"accepted": 4, "duplicates": 0, "rejected": 0}


def test_duplicate_repost_is_stored_once_and_answered_200(site: Site) -> None:
    events = learn_events(10)
    body = envelope(events)
    assert site.post(body).json() == {"accepted": 10, "duplicates": 0, "rejected": 0}
    again = site.post(body)
    assert again.status_code == 200
    assert again.json() == {"accepted": 0, "duplicates": 10, "rejected": 0, "note": DUPLICATE_NOTE}
    assert site.count_ids(ids(events)) == 10


def test_two_events_sharing_an_id_are_both_stored(site: Site) -> None:
    body = (LEARN / "assessment-events-2.json").read_bytes()
    doc = json.loads(body)
    shared = {e["id"] for e in doc["data"]}
    assert len(doc["data"]) == 2
    assert len(shared) == 1
    r = site.post(body)
    assert r.status_code == 200
    assert r.json()["accepted"] + r.json()["duplicates"] == 2
    assert site.count("event_id = ?", (shared.pop(),)) == 2


def test_one_bad_event_never_costs_its_batch(site: Site) -> None:
    events = learn_events(5)
    bad = broken(learn_events(1)[0])
    body = envelope([*events[:2], bad, *events[2:]])
    r = site.post(body)
    assert r.status_code == 200
    summary = r.json()
    assert (summary["accepted"], summary["duplicates"], summary["rejected"]) == (5, 0, 1)
    assert "data[2]" in summary["problems"][0]
    assert site.count_ids(ids(events)) == 5
    bad_raw = msgspec.json.encode(bad)
    letters = dead_letters_with(site, bad_raw)
    assert len(letters) == 1


def test_not_json_is_400_and_kept_as_a_dead_letter(site: Site) -> None:
    body = b"this is not JSON at all \x00\xff " + learn_events(1)[0]["id"].encode()
    r = site.post(body)
    assert r.status_code == 400
    assert r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["status"] == 400
    assert "dead letter" in problem["detail"]
    [letter] = site.store.list_dead_letters(limit=10_000)[-1:]
    assert letter.raw == body
    assert letter.source == site.name
    assert letter.received_at
    assert letter.reasons


def test_json_that_is_no_caliper_payload_is_400(site: Site) -> None:
    body = b'{"hello": "world", "marker": "' + learn_events(1)[0]["id"].encode() + b'"}'
    r = site.post(body)
    assert r.status_code == 400
    assert len(dead_letters_with(site, body)) == 1


def test_unsupported_data_version_is_422_and_kept(site: Site) -> None:
    events = learn_events(2)
    body = envelope(events, data_version="http://purl.imsglobal.org/ctx/caliper/v9p9")
    r = site.post(body)
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert "v9p9" in r.json()["detail"]
    assert site.count_ids(ids(events)) == 0
    assert len(dead_letters_with(site, body)) == 1


def test_caliper_1_0_envelope_without_data_version_is_accepted(site: Site) -> None:
    events = learn_events(2)
    assert site.post(envelope(events, data_version=None)).json()["accepted"] == 2


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "multipart/form-data; boundary=x"])
def test_non_json_content_type_is_415_unless_the_body_is_caliper(site: Site, ctype: str) -> None:
    events = learn_events(1)
    assert site.post(envelope(events), headers={"Content-Type": ctype}).status_code == 200  # label aside, Caliper
    assert site.count_ids(ids(events)) == 1
    body = b"<event><actor>not caliper</actor></event>"
    r = site.post(body, headers={"Content-Type": ctype})
    assert r.status_code == 415
    assert r.headers["content-type"] == PROBLEM
    # nothing an authenticated source sends is lost: the body waits as a dead letter
    (letter,) = dead_letters_with(site, body)
    assert any("is not JSON" in p.message for p in letter.reasons)  # type: ignore[attr-defined]


def test_unknown_content_encoding_is_415(site: Site) -> None:
    body = envelope(learn_events(1))
    r = site.post(body, headers={"Content-Encoding": "br"})
    assert r.status_code == 415
    assert len(dead_letters_with(site, body)) == 1


def test_refused_media_type_is_not_stored_for_an_unknown_key(site: Site) -> None:
    body = envelope(learn_events(1))
    r = site.post(body, headers={"Content-Type": "text/plain", "Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert dead_letters_with(site, body) == []


@pytest.mark.parametrize(
    "ctype", [None, "application/json; charset=utf-8", "application/ld+json", "application/x-ndjson"]
)
def test_json_content_types_and_none_are_accepted(site: Site, ctype: str | None) -> None:
    events = learn_events(2)
    headers = {"Authorization": f"Bearer {site.key}", "Prefer": "return=representation"}
    if ctype:
        headers["Content-Type"] = ctype
    r = site.client.post("/caliper", content=envelope(events), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2


def test_gzip_and_json_lines_bodies(site: Site) -> None:
    events = learn_events(6)
    lines = b"\n".join(envelope([e]) for e in events[:3])
    assert site.post(lines, headers={"Content-Type": "application/x-ndjson"}).json()["accepted"] == 3
    packed = gzip.compress(envelope(events[3:]))
    r = site.post(packed, headers={"Content-Encoding": "gzip"})
    assert r.json()["accepted"] == 3
    assert site.count_ids(ids(events)) == 6


def test_bare_event_and_array_of_events(site: Site) -> None:
    events = learn_events(3)
    assert site.post(msgspec.json.encode(events[0])).json()["accepted"] == 1
    assert site.post(msgspec.json.encode(events[1:])).json()["accepted"] == 2


def test_thousand_event_envelope(site: Site) -> None:
    events = learn_events(1000)
    r = site.post(envelope(events))
    assert r.status_code == 200
    assert r.json() == {"accepted": 1000, "duplicates": 0, "rejected": 0}
    assert site.count_ids(ids(events)) == 1000


def test_get_answers_the_caliper_1_2_configuration_request(site: Site) -> None:
    r = site.client.get("/caliper", headers={"Authorization": f"Bearer {site.key}"})
    assert r.status_code == 200
    config = r.json()
    assert set(config) == {"caliperMaximumPayloadSize", "caliperSupportedVersions", "caliperSupportedExtensions"}
    assert config["caliperMaximumPayloadSize"] == 16 * 1024
    assert set(config["caliperSupportedVersions"]) == set(CONTEXTS.values())
    assert config["caliperSupportedExtensions"] == {}
    assert site.client.get("/caliper").status_code == 401
    assert site.client.get("/caliper", headers={"Authorization": "nope"}).status_code == 401


def test_unknown_routes_and_methods_are_problems(site: Site) -> None:
    r = site.client.get("/nowhere")
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM
    r = site.client.put("/caliper", content=b"{}")
    assert r.status_code == 405
    assert r.headers["content-type"] == PROBLEM


def test_health_readiness_openapi_and_metrics(site: Site) -> None:
    assert site.client.get("/healthz").json() == {"status": "ok"}
    site.digested()
    ready = site.client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["inbox"] == {"rows": 0, "events": 0, "bytes": 0}
    spec = site.client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"post", "get"} <= set(spec["paths"]["/caliper"])
    site.post(envelope(learn_events(1, offset=0)))
    assert site.client.get("/metrics").status_code == 401  # a key is needed by default
    text = site.metrics()
    assert f'caliper_events_total{{outcome="accepted",source="{site.name}",type=' in text
    assert 'caliper_http_requests_total{method="POST",status="200"}' in text
    assert 'caliper_http_requests_total{method="POST",status="401"}' in text
    assert "caliper_commit_rows_bucket" in text
    assert "caliper_commit_seconds_bucket" in text
    assert "caliper_pending_events 0.0" in text


def test_one_json_log_line_per_request(site: Site) -> None:
    marker = learn_events(1)
    site.post(envelope(marker))
    lines = [json.loads(line) for line in site.server.log.read_text().splitlines() if line.startswith("{")]
    posts = [line for line in lines if line["method"] == "POST" and line["status"] == 200]
    last = posts[-1]
    assert last["source"] == site.name
    assert last["accepted"] == 1
    assert {"latency_ms", "duplicates", "rejected", "bytes", "time", "path"} <= set(last)


def test_no_traceback_reaches_the_client(site: Site) -> None:
    r = site.post(b'{"data": "not an array", "sensor": "x", "sendTime": "2021-01-01T00:00:00.000Z"}')
    assert r.status_code == 400
    assert "Traceback" not in r.text
    with httpx.Client(base_url=site.server.url) as c:
        r = c.post("/caliper", content=b"\x1f\x8b\x08garbage", headers={"Authorization": site.key})
    assert r.status_code == 400
    assert "Traceback" not in r.text


def test_gzip_bomb_is_413(site: Site) -> None:
    bomb = gzip.compress(b" " * (129 * 1024 * 1024), compresslevel=1)
    assert len(bomb) < 16 * 1024 * 1024
    r = site.post(bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert "decompressed" in r.json()["detail"]
