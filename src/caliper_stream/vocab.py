"""Caliper vocabulary: turning the IRIs of Caliper 1.0 and of Learn into stable terms.

Caliper 1.1/1.2 terms are the canonical names. Rules (all pure string functions, memoised
because the same few hundred IRIs repeat in every payload):

- ``http://purl.imsglobal.org/caliper/v1/lis/Person`` → ``Person`` (any IMS type IRI: last segment);
- ``http://purl.imsglobal.org/vocab/caliper/v1/action#Graded`` → ``Graded``;
- ``http://purl.imsglobal.org/vocab/lis/v2/membership#Learner`` → ``Learner``, and
  ``…/membership/Instructor#TeachingAssistant`` → ``Instructor#TeachingAssistant``;
- ``…/vocab/lis/v2/status#Active`` → ``Active``;
- anything Blackboard-specific under ``caliper.blackboard.com`` → ``bb:`` + last segment, e.g.
  ``http://caliper.blackboard.com/caliper/v1/ForumEvent`` → ``bb:ForumEvent`` (Learn's own
  ForumEvent is not Caliper's ForumEvent, so the prefix keeps them apart);
- the 1.0 EPUB types (``http://www.idpf.org/epub/vocab/structure/#volume``) → ``EpubVolume`` etc.;
- a term that is already a term is returned unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Final

BB_TYPE_BASE = "http://caliper.blackboard.com/caliper/v1/"
BB_CONTEXT = "http://caliper.blackboard.com/ctx/caliper/v1/Context"
CONTEXTS = {
    "1.0": "http://purl.imsglobal.org/ctx/caliper/v1/Context",
    "1.1": "http://purl.imsglobal.org/ctx/caliper/v1p1",
    "1.2": "http://purl.imsglobal.org/ctx/caliper/v1p2",
}
#: dataVersion / @context IRI → version
VERSION_OF_CONTEXT = {iri: v for v, iri in CONTEXTS.items()} | {
    "https://purl.imsglobal.org/ctx/caliper/v1p1": "1.1",
    "https://purl.imsglobal.org/ctx/caliper/v1p2": "1.2",
    "https://purl.imsglobal.org/caliper/v1p2/context/Core": "1.2",
    "http://purl.imsglobal.org/ctx/caliper/v1p0": "1.0",
}
_EPUB = {"volume": "EpubVolume", "chapter": "EpubChapter", "part": "EpubPart", "subchapter": "EpubSubChapter"}
_LIS_PREFIXES = (
    "http://purl.imsglobal.org/vocab/lis/v2/membership#",
    "http://purl.imsglobal.org/vocab/lis/v2/membership/",
    "http://purl.imsglobal.org/vocab/lis/v2/status#",
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#",
)


#: Memo of `term`: the same few hundred IRIs repeat in every payload. A plain dict, so that hot
#: callers can write ``TERMS.get(v) or term(v)`` (a dict lookup costs a third of a cached call).
TERMS: dict[str, str] = {}
_TERMS_MAX = 4096


def term(value: str) -> str:
    """The canonical term for a type, action, role or status IRI (see module docstring)."""
    found = TERMS.get(value)
    if found is None:
        found = _term(value)
        if len(TERMS) < _TERMS_MAX:  # bounded: arbitrary input must not grow it without end
            TERMS[value] = found
    return found


def _term(value: str) -> str:
    if "/" not in value and ":" not in value:
        return value
    if "caliper.blackboard.com" in value:
        return "bb:" + _tail(value)
    if value.startswith("http://www.idpf.org/epub/vocab/structure/"):
        return _EPUB.get(_tail(value), "Epub" + _tail(value).capitalize())
    for prefix in _LIS_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    if "imsglobal.org/" in value:
        return _tail(value)
    return value


def _tail(iri: str) -> str:
    cut = max(iri.rfind("/"), iri.rfind("#"))
    return iri[cut + 1 :] if cut >= 0 else iri


@lru_cache(maxsize=256)
def bb_iri(value: str) -> str:
    """The IRI Learn writes for a ``bb:`` term (inverse of `term` for Blackboard types)."""
    return BB_TYPE_BASE + value[3:] if value.startswith("bb:") else value


def version_of_context(context: object) -> str | None:
    """The Caliper version a ``@context`` value (string or array) names, if any."""
    if isinstance(context, str):
        return VERSION_OF_CONTEXT.get(context)
    if isinstance(context, list):
        found = None
        for item in context:
            found = version_of_context(item) or found
        return found
    if isinstance(context, dict):
        return None
    return None


#: event types a later Caliper version renamed, to their successor: key data, stats and export
#: speak of the successor (Caliper 1.1 replaced 1.0's OutcomeEvent by GradeEvent) and keep the
#: type as sent next to it; the event key and the stored bytes keep what was sent
RENAMED_TYPES: Final[Mapping[str, str]] = {"OutcomeEvent": "GradeEvent"}
