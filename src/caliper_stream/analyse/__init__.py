"""Read-only questions over a store, one module per subject.

Every report is a function ``fn(store, *, <keyword filters>) -> list[dict]`` registered in
`REPORTS` under a stable name: the CLI (``report NAME``) and the read API build their options and
routes from these signatures. Filters they share: ``course`` (courseNumber; ``(no course)`` for
events without one), ``user`` (uuid, pk1 or batch_uid), ``test`` (assessment pk), ``since`` /
``until`` (ISO 8601; a time without an offset is in the site's zone) and ``tz`` (IANA zone for
days and hours). Activity and assessment reports read the summary tables that
`caliper_stream.analyse.summary` keeps current (docs/analytics.md says what each answers).
"""

from collections.abc import Callable
from typing import Any

from caliper_stream.analyse.activity import activity, content, lti, sources
from caliper_stream.analyse.assessments import attempts, funnel, items, question_types, scores
from caliper_stream.analyse.gradebook import (
    grade_distribution,
    grade_matrix,
    gradebook,
    gradebook_cell,
)
from caliper_stream.analyse.summary import refresh

REPORTS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "gradebook": gradebook,
    "grade-matrix": grade_matrix,
    "grade-distribution": grade_distribution,
    "funnel": funnel,
    "scores": scores,
    "items": items,
    "question-types": question_types,
    "attempts": attempts,
    "activity": activity,
    "lti": lti,
    "content": content,
    "sources": sources,
}

__all__ = [
    "REPORTS",
    "activity",
    "attempts",
    "content",
    "funnel",
    "grade_distribution",
    "grade_matrix",
    "gradebook",
    "gradebook_cell",
    "items",
    "lti",
    "question_types",
    "refresh",
    "scores",
    "sources",
]
