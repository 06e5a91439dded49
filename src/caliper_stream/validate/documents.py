"""Caliper documents that are not events: entity *describes* and the endpoint configuration.

A sensor's envelope may carry entities on their own (the spec's "describes"), and a 1.2 endpoint
answers a configuration GET with a small JSON object of its own. Both are Caliper, neither is an
event: `what` names such a document ("an Agent entity", "an endpoint configuration payload") so
that both validation modes can say so and check it as what it is. The store keeps events only.
"""

from __future__ import annotations

from typing import Any

from caliper_stream.problems import join
from caliper_stream.validate import rules, values
from caliper_stream.validate.checker import Checker
from caliper_stream.vocab import term

CONFIGURATION = "an endpoint configuration payload"
#: the configuration's properties: the fixture's snake_case and the 1.2 text's camelCase spellings
_CONFIG_KEYS = {
    "caliper_supported_versions": "versions",
    "caliperSupportedVersions": "versions",
    "caliper_maximum_payload_size": "size",
    "caliperMaximumPayloadSize": "size",
    "caliper_supported_extensions": "extensions",
    "caliperSupportedExtensions": "extensions",
}


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def entity_type(doc: dict[str, Any]) -> str | None:
    """The Caliper entity type a document has (None for events and unknown types)."""
    raw = doc.get("type", doc.get("@type"))
    if not isinstance(raw, str):
        return None
    kind = term(raw)
    if kind in rules.ANCESTORS and not kind.endswith("Event"):
        return kind
    return None


def what(doc: Any) -> str | None:
    """What a non-event Caliper document is, in words; None when it is not one."""
    if not isinstance(doc, dict):
        return None
    kind = entity_type(doc)
    if kind is not None:
        return f"{_article(kind)} {kind} entity"
    if "type" not in doc and "@type" not in doc and any(k in _CONFIG_KEYS for k in doc):
        return CONFIGURATION
    return None


def check_configuration(checker: Checker, doc: dict[str, Any], path: str) -> None:
    """The 1.2 endpoint configuration: supported versions (Caliper context IRIs, required), the
    maximum payload size (a whole number of kilobytes) and an object of supported extensions."""
    seen = {_CONFIG_KEYS[k] for k in doc if k in _CONFIG_KEYS}
    if "versions" not in seen:
        checker.violation(join(path, "caliper_supported_versions"), "required property of the configuration missing")
    for key, value in doc.items():
        at = join(path, key)
        role = _CONFIG_KEYS.get(key)
        if role is None:
            checker.violation(at, "not a property of an endpoint configuration")
        elif role == "versions":
            if not isinstance(value, list) or not value:
                checker.violation(at, f"expected a list of Caliper context IRIs, got {values.json_kind(value)}")
                continue
            for i, item in enumerate(value):
                known = isinstance(item, str) and (item in rules.CALIPER_CONTEXTS or item in rules.EXTENSION_CONTEXTS)
                if not known:
                    checker.violation(join(at, i), f"not a Caliper context IRI: {item!r}")
        elif role == "size":
            if not values.is_integer(value) or value <= 0:
                checker.violation(at, f"expected a positive whole number of kilobytes, got {value!r}")
        elif not isinstance(value, dict):
            checker.violation(at, f"expected an object, got {values.json_kind(value)}")
