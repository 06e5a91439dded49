"""``validate`` and ``inspect`` as a user runs them: a real process, real files, exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from caliper_stream.keydata import FIELDS
from refdata import LEARN, SPEC, seed_payloads


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caliper_stream", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_validate_learn_samples_lenient_is_accepted_with_warnings() -> None:
    result = run("validate", str(LEARN))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("  ")]
    # a directory is reported file by file, so that every problem names its file
    assert [line.split(": ")[0] for line in lines] == [str(p) for p in sorted(LEARN.glob("*.json"))]
    assert all("0 rejected" in line for line in lines)
    assert "warning: data[0].id: event id is a bare UUID" in result.stdout
    assert "warning ×2: data[*].id: event id is a bare UUID" in result.stdout


def test_validate_strict_json_reports_every_problem_with_its_path(tmp_path: Path) -> None:
    bad = SPEC / "v1p2" / "commonErrorFixtures" / "caliperEvent-NoActor.json"
    good = SPEC / "v1p2" / "caliperEventViewViewedDocument.json"
    result = run("validate", "--strict", "--format", "json", str(bad), str(good))
    assert result.returncode == 1
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in reports] == [str(bad), str(good)]
    assert set(reports[0]) >= {"path", "events", "accepted", "rejected", "errors", "warnings", "unreadable"}
    assert (reports[0]["events"], reports[0]["rejected"]) == (1, 1)
    assert reports[0]["errors"][0]["event"] == 0
    assert "actor" in reports[0]["errors"][0]["message"]
    assert (reports[1]["accepted"], reports[1]["errors"]) == (1, [])


def test_validate_strict_names_the_json_path_of_a_wrong_type(tmp_path: Path) -> None:
    doc = json.loads((SPEC / "v1p2" / "caliperEventGradeGraded.json").read_bytes())
    doc["generated"]["maxScore"] = "fifteen"
    envelope = {"sensor": "https://example.edu/sensor", "sendTime": "2021-01-01T00:00:00.000Z", "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p2", "data": [doc, doc]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(envelope))
    result = run("validate", "--strict", str(path))
    assert result.returncode == 1
    assert "data[1].generated.maxScore" in result.stdout
    assert "2 events, 0 accepted, 2 rejected" in result.stdout


def test_validate_stdin_and_exit_codes(tmp_path: Path) -> None:
    (seed,) = seed_payloads("outcome-events.md")
    assert run("validate", "-", stdin=seed).returncode == 0
    assert run("validate", "-", stdin=b'{"type": "ViewEvent"').returncode == 1
    missing = run("validate", str(tmp_path / "missing.json"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    assert run("validate", "--format", "xml", str(LEARN)).returncode == 2
    assert "Traceback" not in missing.stderr


def test_inspect_formats_use_the_documented_field_names() -> None:
    path = str(LEARN / "grade-events.json")
    jsonl = run("inspect", "--format", "jsonl", path)
    assert jsonl.returncode == 0
    (record,) = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert list(record) == list(FIELDS)
    assert record["score"] == 39.45205
    assert record["grade_action"] == "instructor.grade.history.event.attempt.grade"
    rows = list(csv.DictReader(io.StringIO(run("inspect", "--format", "csv", path).stdout)))
    assert len(rows) == 1
    assert rows[0]["course_number"] == "BIO-101"
    table = run("inspect", path)
    assert table.returncode == 0
    assert "BIO-101" in table.stdout


def test_inspect_sample_shipped_with_the_package() -> None:
    result = run("inspect", "--sample", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) >= 5
    assert {r["type"] for r in records} >= {"SessionEvent", "GradeEvent"}


def test_validate_dir_reports_each_problem_with_its_file(tmp_path: Path) -> None:
    bad = SPEC / "v1p2" / "commonErrorFixtures"
    for name in ("caliperEvent-NoActor.json", "caliperEvent-NoId.json"):
        (tmp_path / name).write_bytes((bad / name).read_bytes())
    result = run("validate", "--strict", "--format", "json", str(tmp_path))
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).name for r in reports] == ["caliperEvent-NoActor.json", "caliperEvent-NoId.json"]
    assert all(r["errors"] and r["errors"][0]["event"] == 0 for r in reports)
    text = run("validate", "--strict", str(tmp_path)).stdout
    assert f"{tmp_path / 'caliperEvent-NoId.json'}: 1 events, 0 accepted, 1 rejected" in text


def test_empty_and_unreadable_files_are_unreadable_inputs_not_events(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_bytes(b"")
    (tmp_path / "notjson.json").write_bytes(b"this is not json\n")
    for name in ("empty.json", "notjson.json"):
        result = run("validate", "--format", "json", str(tmp_path / name))
        (report,) = [json.loads(line) for line in result.stdout.splitlines()]
        assert (report["events"], report["unreadable"]) == (0, 1)
        assert result.returncode == 1
    assert "0 events, 0 accepted, 0 rejected, 0 warnings; 1 unreadable" in run("validate", str(tmp_path / "empty.json")).stdout


def test_an_entity_document_is_named_in_both_modes_and_strict_accepts_no_more() -> None:
    path = str(SPEC / "v1p1" / "caliperEntityAgent.json")
    for mode in ((), ("--strict",)):
        result = run("validate", *mode, path)
        assert "an Agent entity, not an event" in result.stdout
        assert "0 events, 0 accepted" in result.stdout
    wrong = str(SPEC / "v1p2" / "commonErrorFixtures" / "caliperEntityMembership-MalformedMemberWrongEntityType.json")
    assert run("validate", "--strict", wrong).returncode == 1
    config = run("validate", "--strict", str(SPEC / "v1p2" / "caliperEndpointConfigPayload.json"))
    assert config.returncode == 0, config.stdout
    assert "an endpoint configuration payload" in config.stdout


def test_lenient_warnings_are_counted_by_kind_unless_all(tmp_path: Path) -> None:
    doc = json.loads((LEARN / "assessment-events-2.json").read_bytes())
    doc["data"] = doc["data"] * 50
    path = tmp_path / "many.json"
    path.write_text(json.dumps(doc))
    grouped = run("validate", str(path))
    assert grouped.returncode == 0
    assert "  warning ×100: data[*].id: event id is a bare UUID, not a urn:uuid: URN" in grouped.stdout
    every = run("validate", "--all", str(path))
    assert every.stdout.count("event id is a bare UUID") == 100
    assert len(grouped.stdout.splitlines()) < len(every.stdout.splitlines()) / 20


def test_inspect_says_what_a_document_that_is_not_an_event_is() -> None:
    result = run("inspect", str(SPEC / "v1p1" / "caliperEntityAgent.json"))
    assert result.returncode == 1
    assert "an Agent entity, not an event" in result.stderr
