"""Read-only questions over a store, one module per question.

Each function takes a `Store` and filters and returns plain rows (dicts), so that the CLI, the
HTTP API and notebooks share them. They read only the key-data columns, never the raw JSON, and
use SQL that SQLite and PostgreSQL both accept; time arithmetic happens in Python.
"""

from caliper_stream.analyse.activity import activity
from caliper_stream.analyse.funnel import funnel
from caliper_stream.analyse.gradebook import gradebook
from caliper_stream.analyse.timing import item_timings

REPORTS = {
    "gradebook": gradebook,
    "funnel": funnel,
    "items": item_timings,
    "activity": activity,
}

__all__ = ["REPORTS", "activity", "funnel", "gradebook", "item_timings"]
