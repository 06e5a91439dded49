"""Consistency checks inside one event: deviations no schema catches, seen in Learn's payloads.

Learn refers to one entity from several places in an event and the copies do not always agree
(an AssessmentItem's ``isPartOf`` carries a mistyped site id while the Attempt's copy of the same
Assessment is right), and a Scala ``Option`` has leaked into some ids (``…/Some(_201_1)``). These
are reported as warnings in both modes: the event is still valid Caliper. So is Learn's 1.0 habit
of sending ``bb:group.users`` as a JSON-encoded string (extensions are free-form).
"""

from __future__ import annotations

from typing import Any, Final

from caliper_stream.problems import join
from caliper_stream.validate.checker import Finding
from caliper_stream.validate.values import parse_list
from caliper_stream.vocab import term

#: extension keys Learn fills with a JSON-encoded list (1.0)
LIST_EXTENSIONS: Final = frozenset({"bb:group.users"})
_CONTAINERS: Final = (dict, list)


def _walk(value: Any, path: str, found: list[Finding], entities: list[tuple[str, str, str]]) -> None:
    """One pass over objects and arrays (extensions and nested contexts excluded), collecting
    (type, id, path) of every identified entity and Learn's JSON-encoded list extensions (1.0
    ``bb:group.users``). Scalars are never visited: a path per scalar cost more than the checks."""
    if isinstance(value, dict):
        kind = value.get("type", value.get("@type"))
        ident = value.get("id", value.get("@id"))
        if isinstance(kind, str) and isinstance(ident, str):
            entities.append((term(kind), ident, path))
        extensions = value.get("extensions")
        if isinstance(extensions, dict):
            for key in LIST_EXTENSIONS & extensions.keys():
                item = extensions[key]
                if isinstance(item, str) and parse_list(item) is not None:
                    at = join(join(path, "extensions"), key)
                    found.append(Finding(at, "JSON encoded in a string where a list belongs", "advisory"))
        for key, item in value.items():
            if isinstance(item, _CONTAINERS) and key != "extensions" and key != "@context":
                _walk(item, join(path, key), found, entities)
    else:
        for i, item in enumerate(value):
            if isinstance(item, _CONTAINERS):
                _walk(item, f"{path}[{i}]", found, entities)


def _tail(iri: str, parts: int = 2) -> str:
    return "/".join(iri.rstrip("/").split("/")[-parts:])


def _support(candidates: set[str], ids: list[str]) -> dict[str, int]:
    """For each candidate id, how many of `ids` are it or build on it (``candidate/…``).

    One pass over the ``/`` positions of each id, not a scan of all ids per candidate: an event
    with thousands of members whose ids end alike made that quadratic."""
    support = dict.fromkeys(candidates, 0)
    for ident in ids:
        if ident in support:
            support[ident] += 1
        cut = ident.find("/")
        while cut >= 0:
            prefix = ident[:cut]
            if prefix in support:
                support[prefix] += 1
            cut = ident.find("/", cut + 1)
    return support


def quirks(doc: Any, path: str) -> list[Finding]:
    """Ids that disagree for one entity, and ids with a leaked ``Some(…)``.

    Two entities of one type whose ids end alike (``…/assessments/_12345_1``) but differ are one
    entity told two ways; the id that fewer ids of the event build on (as a prefix) is the odd one.
    """
    found: list[Finding] = []
    everything: list[tuple[str, str, str]] = []
    if isinstance(doc, _CONTAINERS):
        _walk(doc, path, found, everything)
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for kind, ident, at in everything:
        if "Some(" in ident:
            found.append(Finding(join(at, "id"), f"id embeds a Scala Option: {ident!r}", "advisory"))
        if "/" in ident:
            groups.setdefault((kind, _tail(ident)), []).append((ident, at))
    disputed: dict[tuple[str, str], list[str]] = {}
    for key, members in groups.items():
        distinct = list(dict.fromkeys(ident for ident, _ in members))
        if len(distinct) >= 2:
            disputed[key] = distinct
    if not disputed:
        return found
    support = _support({c for distinct in disputed.values() for c in distinct}, [i for _, i, _ in everything])
    for (kind, tail), distinct in disputed.items():
        members = groups[(kind, tail)]
        best = max(distinct, key=lambda c: support[c])
        for ident, at in members:
            if ident != best:
                found.append(
                    Finding(join(at, "id"), f"id {ident!r} disagrees with {best!r} for the same {kind}", "advisory")
                )
    return found
