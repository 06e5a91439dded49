"""Entity types inside entities, derived from the spec's JSON Schemas: for every entity-valued
property of every entity that the schema restricts to some entity types, an entity of another
type is rejected in strict mode, in Caliper 1.1 and 1.2 (as a bare entity and inside an event)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from caliper_stream.event import decode
from caliper_stream.read import read_bytes
from caliper_stream.validate import rules, validate
from refdata import SPEC

SCHEMAS = SPEC / "json_schema"
#: the schema files name the EPUB types in lower camel case
_NAMES = {"epubChapter": "EpubChapter", "epubPart": "EpubPart", "epubSubChapter": "EpubSubChapter", "epubVolume": "EpubVolume"}
CONTEXT = {"1.1": "http://purl.imsglobal.org/ctx/caliper/v1p1", "1.2": "http://purl.imsglobal.org/ctx/caliper/v1p2"}


def _load(folder: str) -> dict[str, dict[str, Any]]:
    return {_NAMES.get(p.stem, p.stem): json.loads(p.read_text()) for p in (SCHEMAS / folder).glob("*.json")}


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while schema.get("$ref", "").startswith("CaliperTypeDefinitions#/"):
        schema = defs[schema["$ref"].split("/")[-1]]
    return schema


def _entity_types(schema: dict[str, Any], defs: dict[str, Any]) -> frozenset[str] | None:
    """The entity types a property schema allows (items of an array alike), None if not entities."""
    schema = _resolve(schema, defs)
    if schema.get("type") == "array":
        return _entity_types(schema.get("items", {}), defs)
    refs = [schema] if "$ref" in schema else [_resolve(a, defs) for a in schema.get("anyOf", [])]
    names = {_NAMES.get(r["$ref"], r["$ref"]) for r in refs if "$ref" in r}
    return frozenset(names) if names else None


def _restricted(version: str) -> list[tuple[str, str, frozenset[str]]]:
    """(entity type, property, allowed types) where the schema names a few entity types."""
    schemas = _load("schema_1_" + version[-1])
    defs = schemas["CaliperTypeDefinitions"]
    found = []
    for owner, schema in sorted(schemas.items()):
        if owner not in rules.ENTITY_TYPES[version] or owner.endswith("Event"):
            continue
        for name, prop in sorted(schema.get("properties", {}).items()):
            allowed = _entity_types(prop, defs)
            # 70+ types is "any entity"; Profile/Metric/Status/Action are terms in the schema's own words
            if allowed and len(allowed) < 70 and allowed <= rules.ANCESTORS.keys() and name in rules.PROPERTIES[owner]:
                found.append((owner, name, allowed))
    return found


def _strict_errors(doc: dict[str, Any]) -> list[str]:
    (item,) = read_bytes(json.dumps(doc).encode())
    return [str(p) for p in validate(decode(item), strict=True) if p.severity == "error"]


CASES = [(v, *case) for v in ("1.1", "1.2") for case in _restricted(v)]


def test_the_schemas_restrict_many_entity_properties() -> None:
    assert len(CASES) > 150


@pytest.mark.parametrize(("version", "owner", "name", "allowed"), CASES, ids=lambda c: c if isinstance(c, str) else "")
def test_an_entity_of_a_type_the_schema_does_not_allow_is_rejected(
    version: str, owner: str, name: str, allowed: frozenset[str]
) -> None:
    table = rules.PROPERTIES[owner][name]
    ours = table.types or frozenset({"Entity"})
    wrong = [
        t for t in sorted(rules.ENTITY_TYPES[version] - rules.UNIDENTIFIED)
        if t not in allowed and not rules.is_a(t, ours) and t not in ("Entity",)
    ]
    assert wrong, (owner, name)
    for kind in wrong[:3]:
        value: Any = {"id": "https://example.edu/wrong", "type": kind}
        doc = {"@context": CONTEXT[version], "id": "https://example.edu/e", "type": owner, name: [value] if table.many else value}
        if owner in rules.UNIDENTIFIED:
            doc.pop("id")
        found = _strict_errors(doc)
        assert any(f"expected {' or '.join(sorted(ours))}, got {kind}" in e for e in found), (kind, found)


def test_inside_an_event_too() -> None:
    event = json.loads((SPEC / "v1p2" / "caliperEventGradeGraded.json").read_text())
    event["generated"]["scoredBy"] = {"id": "https://example.edu/doc", "type": "Document"}
    event["object"]["assignee"] = {"id": "https://example.edu/doc", "type": "Assessment"}
    found = _strict_errors(event)
    assert "generated.scoredBy: expected Agent, got Document" in found
    assert "object.assignee: expected Agent, got Assessment" in found


def test_parents_the_spec_names() -> None:
    """isPartOf is any Entity in general, but the spec names the parent of an AssessmentItem
    (its Assessment), of a Message (its Thread) and of a Thread (its Forum)."""
    for owner, parent in (("AssessmentItem", "Assessment"), ("Message", "Thread"), ("Thread", "Forum")):
        doc = {"@context": CONTEXT["1.2"], "id": "https://example.edu/e", "type": owner,
               "isPartOf": {"id": "https://example.edu/p", "type": "Document"}}
        assert f"isPartOf: expected {parent}, got Document" in _strict_errors(doc)
        doc["isPartOf"] = {"id": "https://example.edu/p", "type": parent}
        assert _strict_errors(doc) == []
