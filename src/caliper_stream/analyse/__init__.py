"""Read-only questions over a store, one module per question.

Each function takes a `Store` and filters and returns plain rows (dicts), so that the CLI, the
HTTP API and notebooks share them. They read only the key-data columns, never the raw JSON, and
use SQL that SQLite and PostgreSQL both accept; time arithmetic happens in Python.
"""

from collections.abc import Callable
from typing import Any

from caliper_stream.analyse.activity import activity
from caliper_stream.analyse.funnel import funnel
from caliper_stream.analyse.gradebook import (
    grade_distribution,
    grade_matrix,
    gradebook,
    gradebook_cell,
)
from caliper_stream.analyse.timing import item_timings

#: Every report: ``fn(store, *, course=None, user=None, …) -> list[dict]`` (keyword filters).
REPORTS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "gradebook": gradebook,
    "grade-matrix": grade_matrix,
    "grade-distribution": grade_distribution,
    "funnel": funnel,
    "items": item_timings,
    "activity": activity,
}

__all__ = ["REPORTS", "activity", "funnel", "grade_distribution", "grade_matrix", "gradebook", "gradebook_cell", "item_timings"]
