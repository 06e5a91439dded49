"""The canonical document: any Caliper 1.0, 1.1 or 1.2 event (or entity) in Caliper 1.1/1.2 terms.

`normalize` is total (it never raises, whatever JSON it is given) and pure. What it changes, each
rule a table below so that the mapping can be read in one place:

- ``@id``/``@type`` become ``id``/``type`` (`KEY_RENAMES`);
- type, action, role, status and other vocabulary IRIs become terms (`TERM_KEYS`,
  `TERM_LIST_KEYS`), Learn's own types ``bb:`` terms (see `caliper_stream.vocab.term`);
- a nested ``@context`` that repeats the one in effect is dropped; the event's own top-level
  ``@context`` is kept as given;
- Caliper 1.0 names the specification renamed in 1.1 are renamed (`LEGACY_RENAMES`): Attempt and
  Session ``actor`` → ``assignee``/``user``, NavigationEvent ``navigatedFrom`` → ``referrer``;
  1.0-only properties without a 1.1 equivalent (Result's ``normalScore`` …) are kept;
- JSON encoded in a string where a list belongs (Learn's 1.0 ``bb:group.users``) is parsed;
- properties whose value is ``null`` are dropped: in JSON-LD a null value means "absent", and
  Caliper 1.1 says they SHOULD be left out (the raw bytes keep them).

Everything else is kept: unknown properties, empty lists and objects, and ``extensions``, whose
content is custom and is left untouched. The result is itself canonical (normalizing twice
changes nothing), which is what lets `caliper_stream.write` round-trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from caliper_stream.validate.quirks import LIST_EXTENSIONS
from caliper_stream.validate.rules import LIST_PROPERTIES
from caliper_stream.validate.values import parse_list
from caliper_stream.vocab import term

KEY_RENAMES: Final[Mapping[str, str]] = {"@id": "id", "@type": "type"}
#: keys whose string value is a vocabulary IRI or term
TERM_KEYS: Final = frozenset({"type", "action", "status", "metric", "identifierType", "messageType", "profile"})
#: keys whose list value holds vocabulary IRIs or terms
TERM_LIST_KEYS: Final = frozenset({"roles"})
#: Caliper 1.0 → 1.1 renames, per entity type (the ``""`` entry applies to the event itself)
LEGACY_RENAMES: Final[Mapping[str, Mapping[str, str]]] = {
    "Attempt": {"actor": "assignee"},
    "Session": {"actor": "user"},
    "LtiSession": {"actor": "user"},
    "": {"navigatedFrom": "referrer"},
}
#: values kept exactly as sent: JSON-LD context definitions and custom data
OPAQUE_KEYS: Final = frozenset({"@context", "extensions", "messageParameters"})


def normalize(doc: Any, version: str) -> dict[str, Any]:
    """The canonical document of one event or entity (see the module docstring).

    `version` is the Caliper version the document was written in ("1.0", "1.1", "1.2"); it
    decides whether the 1.0 renames apply. Anything but a JSON object gives an empty document.
    The walk keeps its own stack, so no nesting depth makes it fail.
    """
    if not isinstance(doc, dict):
        return {}
    legacy = version == "1.0"
    root: dict[str, Any] = {}
    todo: list[_Task] = [(doc, root, doc.get("@context"), True)]
    while todo:
        source, target, context, top = todo.pop()
        if isinstance(source, dict) and isinstance(target, dict):
            _object(source, target, context, top, legacy, todo)
        elif isinstance(source, list) and isinstance(target, list):
            target.extend(_shell(item, context, todo) for item in source)
    return root


#: (source container, its empty copy to fill, the @context in effect, whether it is the document)
_Task = tuple[dict[str, Any] | list[Any], dict[str, Any] | list[Any], Any, bool]


def _shell(value: Any, context: Any, todo: list[_Task]) -> Any:
    """A container's empty copy, queued for filling; any other value as is."""
    if isinstance(value, dict | list):
        copy: dict[str, Any] | list[Any] = {} if isinstance(value, dict) else []
        todo.append((value, copy, context, False))
        return copy
    return value


def _object(
    doc: dict[str, Any], out: dict[str, Any], context: Any, top: bool, legacy: bool, todo: list[_Task]
) -> None:
    kind = _type_of(doc)
    renames: Mapping[str, str] = {}
    if legacy:
        renames = LEGACY_RENAMES.get(kind) or (LEGACY_RENAMES[""] if top else {})
    inner = doc.get("@context", context)
    for key, value in doc.items():
        if value is None:
            continue
        name = KEY_RENAMES.get(key, renames.get(key, key))
        if name != key and (doc.get(name) is not None or name in out):
            name = key  # never overwrite a property the document also has: nothing is lost
        if key == "@context":
            if not top and _repeats(value, context):
                continue
            out[key] = value
        elif name == "extensions":
            out[name] = _extensions(value)
        elif name in OPAQUE_KEYS:
            out[name] = value
        elif name in TERM_KEYS and isinstance(value, str):
            out[name] = term(value)
        elif name in TERM_LIST_KEYS and isinstance(value, list):
            out[name] = [term(v) if isinstance(v, str) else _shell(v, inner, todo) for v in value]
        elif name in LIST_PROPERTIES and isinstance(value, str):
            parsed = parse_list(value)
            out[name] = value if parsed is None else _shell(parsed, inner, todo)
        else:
            out[name] = _shell(value, inner, todo)


def _extensions(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key in LIST_EXTENSIONS & out.keys():
        parsed = parse_list(out[key]) if isinstance(out[key], str) else None
        if parsed is not None:
            out[key] = parsed
    return out


def _type_of(doc: dict[str, Any]) -> str:
    value = doc.get("type", doc.get("@type"))
    return term(value) if isinstance(value, str) else ""


def _repeats(nested: Any, context: Any) -> bool:
    """Whether a nested ``@context`` adds nothing to the one in effect."""
    if nested == context:
        return True
    outer = context if isinstance(context, list) else [context]
    inner = nested if isinstance(nested, list) else [nested]
    return all(item in outer for item in inner)
