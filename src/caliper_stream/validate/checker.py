"""The conformance walk: one pass over an event (or entity) as sent, collecting findings.

Findings come in two levels. A *violation* breaks a MUST of the specification (a wrong kind of
value, an unknown type, an action the event type does not have): strict mode rejects the event,
lenient mode reports it as a tolerated deviation. An *advisory* breaks only a SHOULD (nulls and
empties left in, a sensor that is not an IRI, a deprecated term) and is a warning in both modes.

The walk reads the JSON exactly as sent, so that every path names what the operator sees in the
payload (``data[3].object.maxScore``), ``@id``/``@type`` and IRIs included; names are compared as
terms (`caliper_stream.vocab.term`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from caliper_stream.problems import join
from caliper_stream.validate import rules, values
from caliper_stream.validate.rules import Kind
from caliper_stream.vocab import term

Level = Literal["violation", "advisory"]

_IDENTITY_KEYS = frozenset({"id", "@id", "type", "@type", "@context"})
_EVENT_KEYS = frozenset({"@context", "id", "@id", "type", "@type", "action"}) | frozenset(rules.EVENT_FIELDS)
_ENTITY = frozenset({"Entity"})


class Finding(NamedTuple):
    path: str
    message: str
    level: Level


def context_version(context: Any) -> str | None:
    """The Caliper version a ``@context`` (string, list or inline object) names, if any."""
    if isinstance(context, str):
        if context in rules.EXTENSION_CONTEXTS:
            return "1.1"
        return rules.CALIPER_CONTEXTS.get(context)
    if isinstance(context, list):
        found = None
        for item in context:
            found = context_version(item) or found
        return found
    return None


def is_open(context: Any) -> bool:
    """Whether a ``@context`` brings vocabulary from outside Caliper and Learn (an inline
    definition or another context IRI), which may define types and properties of its own."""
    items = context if isinstance(context, list) else [context]
    for item in items:
        if isinstance(item, dict):
            return True
        if (
            isinstance(item, str)
            and item not in rules.CALIPER_CONTEXTS
            and item not in rules.EXTENSION_CONTEXTS
            and item != rules.LEARN_CONTEXT
        ):
            return True
    return False


def _names(types: frozenset[str]) -> str:
    return " or ".join(sorted(types))


class Checker:
    """Collects the findings of one document; `version` is the Caliper version it is read as."""

    def __init__(self, version: str, context: Any = None) -> None:
        self.version = version
        self.legacy = version == "1.0"
        self.context = context
        self.open = is_open(context)
        self.entity_types = rules.ENTITY_TYPES[version]
        self.findings: list[Finding] = []

    def violation(self, path: str, message: str) -> None:
        self.findings.append(Finding(path, message, "violation"))

    def advisory(self, path: str, message: str) -> None:
        self.findings.append(Finding(path, message, "advisory"))

    # -- documents ----------------------------------------------------------------------------

    def event(self, doc: dict[str, Any], path: str, skip_required: frozenset[str] = frozenset()) -> None:
        """Check an event: context, required properties, type, id, action, slots, fields."""
        version = self.version
        if "@context" in doc:
            self.check_context(doc["@context"], join(path, "@context"), top=True)
        for name in rules.EVENT_REQUIRED[version]:
            if name not in skip_required and _get(doc, name) is None:
                self.violation(join(path, name), f"required property missing (Caliper {version})")
        self._legacy_keys(doc, path)
        kind = _term_of(doc)
        event_rules = rules.EVENTS[version]
        rule = event_rules.get(kind) if kind else None
        if kind and rule is None:
            self._unknown_event_type(kind, join(path, "type"))
        elif kind in rules.DEPRECATED_TYPES and not self.legacy:
            self.advisory(join(path, "type"), f"{kind} is deprecated since Caliper 1.1")
        self._event_id(doc, path)
        action = self._action(doc, path, kind, rule)
        slots = rules.EVENT_SLOTS_10 if self.legacy else rules.EVENT_SLOTS
        for name, default in slots.items():
            if name not in doc:
                continue
            expected = getattr(rule, name, None) if name in ("actor", "object", "target", "generated") else default
            if name == "actor" and rule is None:
                expected = frozenset({"Agent"})
            self.value(rules.Kind("entity", types=expected or _ENTITY), doc[name], join(path, name))
        if not self.legacy and action and (kind, action) in rules.REQUIRED_WHEN:
            needed = rules.REQUIRED_WHEN[(kind, action)]
            if _get(doc, needed) is None:
                self.violation(join(path, needed), f"required when a {kind} is {action}")
        for name, field in rules.EVENT_FIELDS.items():
            if name in doc:
                self.value(field, doc[name], join(path, name))
        for key in doc:
            if key not in _EVENT_KEYS and key not in slots:
                self._unknown_property(join(path, key), "the event")

    def entity_document(self, doc: dict[str, Any], path: str) -> None:
        """Check an entity sent on its own (a Caliper "describe")."""
        if "@context" in doc:
            self.check_context(doc["@context"], join(path, "@context"), top=True)
        self.entity(doc, path, None)

    # -- parts --------------------------------------------------------------------------------

    def check_context(self, value: Any, path: str, *, top: bool) -> None:
        repeated = value == self.context or (isinstance(self.context, list) and value in self.context)
        if not top and repeated:
            if not self.legacy:
                self.advisory(path, "nested @context repeats the event's (SHOULD be left out)")
            return
        if isinstance(value, str):
            if value in rules.CALIPER_CONTEXTS or value in rules.EXTENSION_CONTEXTS:
                return
            if value == rules.LEARN_CONTEXT:
                self.violation(path, "Learn's context alone defines no Caliper terms")
            else:
                self.violation(path, f"unknown @context {value!r} (not a Caliper context)")
        elif isinstance(value, list):
            if context_version(value) is None:
                self.violation(path, "no Caliper context in the @context list")
            for i, item in enumerate(value):
                if isinstance(item, str) and not values.is_iri(item):
                    self.violation(join(path, i), f"expected a context IRI, got {item!r}")
                elif not isinstance(item, str | dict):
                    self.violation(join(path, i), f"expected a context IRI or object, got {values.json_kind(item)}")
        elif not isinstance(value, dict):
            self.violation(path, f"expected a context IRI, list or object, got {values.json_kind(value)}")

    def value(self, kind: Kind, value: Any, path: str) -> None:
        """Check one property value against its kind."""
        if value is None:
            if not self.legacy:
                self.violation(path, f"expected {_describe(kind)}, got null (leave the property out)")
            return
        if kind.many:
            if isinstance(value, str) and (parsed := values.parse_list(value)) is not None:
                self.violation(path, "JSON encoded in a string where a list belongs")
                value = parsed
            elif not isinstance(value, list):
                self.violation(path, f"expected {_describe(kind)}, got {values.json_kind(value)}")
                return
            if not value and not self.legacy:
                self.advisory(path, "empty list (SHOULD be left out)")
            single = Kind(kind.base, kind.types, kind.vocab)
            for i, item in enumerate(value):
                if item is None:
                    self.violation(join(path, i), f"expected {_describe(single)}, got null")
                else:
                    self.value(single, item, join(path, i))
            return
        check = _CHECKS[kind.base]
        check(self, kind, value, path)

    def entity(self, value: Any, path: str, expected: frozenset[str] | None) -> None:
        """An entity slot: a full entity object or an IRI naming one ("thinned")."""
        if isinstance(value, dict):
            self._entity_object(value, path, expected)
        elif isinstance(value, str):
            if not values.is_iri(value):
                why = "a bare UUID" if values.UUID.match(value) else "not an IRI"
                self.violation(path, f"expected an entity or its IRI, got a string that is {why}: {value!r}")
            elif value.startswith(rules.ANONYMOUS_BASE) and expected:
                named = value[len(rules.ANONYMOUS_BASE) :]
                if named in rules.ANCESTORS and not rules.is_a(named, expected):
                    self.violation(path, f"expected {_names(expected)}, got anonymous {named}")
        else:
            self.violation(path, f"expected an entity object or IRI, got {values.json_kind(value)}")

    # -- helpers ------------------------------------------------------------------------------

    def _entity_object(self, doc: dict[str, Any], path: str, expected: frozenset[str] | None) -> None:
        if "@context" in doc and path:
            self.check_context(doc["@context"], join(path, "@context"), top=False)
        self._legacy_keys(doc, path)
        raw = doc.get("type", doc.get("@type"))
        if raw is None and self.legacy and expected and expected <= rules.UNIDENTIFIED:
            return  # Caliper 1.0 selectors were untyped objects ({"start": "455", "end": "489"})
        if not isinstance(raw, str):
            got = "missing" if raw is None else f"not a string ({values.json_kind(raw)})"
            self.violation(join(path, "type"), f"entity type {got}")
            self._generic(doc, path)
            return
        kind = term(raw)
        known = kind in self.entity_types
        if kind.startswith("bb:"):
            self.violation(join(path, "type"), f"Learn's own type {kind} (not a Caliper type)")
        elif not known:
            if kind in rules.ANCESTORS or any(kind in e for e in rules.EVENTS.values()):
                self.violation(join(path, "type"), f"{kind} is not a Caliper {self.version} entity type")
            elif self.open:
                self.advisory(join(path, "type"), f"{kind} is not a Caliper type (defined by another context)")
            else:
                self.violation(join(path, "type"), f"unknown entity type {kind!r}")
        elif expected and not rules.is_a(kind, expected):
            self.violation(path, f"expected {_names(expected)}, got {kind}")
        elif kind in rules.DEPRECATED_TYPES and not self.legacy:
            self.advisory(join(path, "type"), f"{kind} is deprecated since Caliper 1.1")
        if kind not in rules.UNIDENTIFIED:
            self._entity_id(doc, path)
        if not known:
            self._generic(doc, path)
            return
        for name in rules.REQUIRED.get(kind, ()):
            if doc.get(name) is None:
                self.violation(join(path, name), f"required property of {kind} missing")
        table = rules.PROPERTIES[kind]
        for key, value in doc.items():
            if key in _IDENTITY_KEYS:
                continue
            field = table.get(key)
            if field is None:
                self._unknown_property(join(path, key), kind)
            else:
                self.value(field, value, join(path, key))

    def _generic(self, doc: dict[str, Any], path: str) -> None:
        """Walk into an entity whose type has no table: its nested entities still get checked."""
        for key, value in doc.items():
            if key in _IDENTITY_KEYS or key == "extensions":
                continue
            at = join(path, key)
            if value is None:
                if not self.legacy:
                    self.violation(at, "null value (leave the property out)")
            elif isinstance(value, dict) and ("type" in value or "@type" in value):
                self._entity_object(value, at, None)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, dict) and ("type" in item or "@type" in item):
                        self._entity_object(item, join(at, i), None)

    def _entity_id(self, doc: dict[str, Any], path: str) -> None:
        key = "id" if "id" in doc else "@id"
        at = join(path, key)
        if key not in doc:
            self.violation(at, "entity id missing")
            return
        value = doc[key]
        if not isinstance(value, str):
            self.violation(at, f"expected an IRI, got {values.json_kind(value)}")
        elif not values.is_iri(value):
            why = "a bare UUID" if values.UUID.match(value) else "not an IRI"
            self.violation(at, f"entity id is {why}: {value!r}")

    def _event_id(self, doc: dict[str, Any], path: str) -> None:
        if self.legacy:
            return
        key = "id" if "id" in doc else "@id"
        value = doc.get(key)
        if value is None:
            return  # reported as a missing required property
        at = join(path, key)
        if not isinstance(value, str):
            self.violation(at, f"expected a urn:uuid: URN, got {values.json_kind(value)}")
        elif not values.URN_UUID.match(value):
            if values.UUID.match(value):
                self.violation(at, "event id is a bare UUID, not a urn:uuid: URN")
            else:
                self.violation(at, f"event id is not a urn:uuid: URN: {value!r}")

    def _action(self, doc: dict[str, Any], path: str, kind: str, rule: rules.EventRule | None) -> str:
        raw = doc.get("action")
        at = join(path, "action")
        if raw is None:
            return ""
        if not isinstance(raw, str):
            self.violation(at, f"expected an action term, got {values.json_kind(raw)}")
            return ""
        action = term(raw)
        if action not in rules.ACTIONS:
            self.violation(at, f"unknown action {action!r}")
        elif rule is not None and rule.actions is not None and action not in rule.actions:
            allowed = ", ".join(sorted(rule.actions - rule.deprecated_actions))
            self.violation(at, f"{action} is not an action of {kind} (expected one of {allowed})")
        elif rule is not None and action in rule.deprecated_actions:
            self.advisory(at, f"{action} is a deprecated action of {kind}")
        if raw != action and not self.legacy and not action.startswith("bb:"):
            self.advisory(at, "an IRI where Caliper 1.1+ uses the term")
        return action

    def _unknown_event_type(self, kind: str, path: str) -> None:
        if kind.startswith("bb:"):
            self.violation(path, f"Learn's own event type {kind} (not a Caliper event type)")
        elif any(kind in table for table in rules.EVENTS.values()):
            self.violation(path, f"{kind} is not a Caliper {self.version} event type")
        else:
            self.violation(path, f"unknown event type {kind!r}")

    def _unknown_property(self, path: str, owner: str) -> None:
        if self.open:
            self.advisory(path, f"not a Caliper property of {owner} (defined by another context)")
        else:
            self.violation(path, f"not a Caliper property of {owner}; custom properties belong in extensions")

    def _legacy_keys(self, doc: dict[str, Any], path: str) -> None:
        if self.legacy:
            return
        for key in ("@id", "@type"):
            if key in doc:
                self.advisory(join(path, key), f"{key} is deprecated since Caliper 1.1 (use {key[1:]})")


def _get(doc: dict[str, Any], name: str) -> Any:
    if name in ("id", "type"):
        return doc.get(name, doc.get("@" + name))
    return doc.get(name)


def _term_of(doc: dict[str, Any]) -> str:
    raw = doc.get("type", doc.get("@type"))
    return term(raw) if isinstance(raw, str) else ""


def _describe(kind: Kind) -> str:
    if kind.base == "entity":
        one = _names(kind.types) if kind.types else "entity"
        one = f"{one} (object or IRI)"
    elif kind.base == "term":
        one = f"{kind.vocab} term"
    else:
        one = _KIND_NAMES[kind.base]
    return f"a list of {one}" if kind.many else one


_KIND_NAMES: Mapping[str, str] = {
    "string": "string",
    "integer": "integer",
    "count": "non-negative integer",
    "decimal": "decimal number",
    "number": "number",
    "boolean": "boolean",
    "datetime": "DateTime (YYYY-MM-DDTHH:mm:ss.SSSZ)",
    "duration": "ISO 8601 duration",
    "object": "object",
    "any": "any value",
}


def _mismatch(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    checker.violation(path, f"expected {_describe(kind)}, got {values.json_kind(value)}")


def _check_string(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    if not isinstance(value, str):
        _mismatch(checker, kind, value, path)


def _check_integer(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    if not values.is_integer(value):
        _mismatch(checker, kind, value, path)


def _check_count(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    if not values.is_integer(value):
        _mismatch(checker, kind, value, path)
    elif value < 0:
        checker.violation(path, f"expected {_describe(kind)}, got {value}")


def _check_number(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    if not values.is_number(value):
        _mismatch(checker, kind, value, path)


def _check_boolean(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    if not isinstance(value, bool):
        _mismatch(checker, kind, value, path)


def _check_datetime(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    if not isinstance(value, str):
        _mismatch(checker, kind, value, path)
    elif not values.DATETIME.match(value):
        if values.ISO_DATETIME.match(value):
            checker.violation(path, f"not in Caliper's DateTime form YYYY-MM-DDTHH:mm:ss.SSSZ: {value!r}")
        else:
            checker.violation(path, f"expected {_describe(kind)}, got {value!r}")


def _check_duration(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    if checker.legacy and values.is_number(value):
        return  # Caliper 1.0 media durations and positions were seconds
    if not isinstance(value, str):
        _mismatch(checker, kind, value, path)
    elif not values.DURATION.match(value):
        checker.violation(path, f"expected {_describe(kind)}, got {value!r}")


def _check_object(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    if not isinstance(value, dict):
        _mismatch(checker, kind, value, path)
    elif not value and not checker.legacy:
        checker.advisory(path, "empty object (SHOULD be left out)")


def _check_any(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    return


def _check_term(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    if not isinstance(value, str):
        _mismatch(checker, kind, value, path)
        return
    name = term(value)
    if name not in rules.VOCABULARIES[kind.vocab]:
        checker.violation(path, f"unknown {kind.vocab} {value!r}")
    elif name != value and not checker.legacy:
        checker.advisory(path, "an IRI where Caliper 1.1+ uses the term")


def _check_entity(checker: Checker, kind: Kind, value: Any, path: str) -> None:
    checker.entity(value, path, kind.types or None)


_CHECKS = {
    "string": _check_string,
    "integer": _check_integer,
    "count": _check_count,
    "decimal": _check_number,
    "number": _check_number,
    "boolean": _check_boolean,
    "datetime": _check_datetime,
    "duration": _check_duration,
    "object": _check_object,
    "any": _check_any,
    "term": _check_term,
    "entity": _check_entity,
}
