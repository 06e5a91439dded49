"""The simulator's own Grade Center: what Learn shows after everything the term did.

The term generator tells `GradeCenter` each grading step as it decides it (submit, grade,
feedback, override, clear, delete), in the order an instructor would have clicked, and the
Grade Center keeps *state*, not events: an attempt's score is the last one given to it, an
override is set or cleared, a deleted attempt is gone. That is how Learn computes a cell, and
it is independent of the events and of how they are delivered, so it is the ground truth the
gradebook report (which only sees events, in any order) is tested against
(``simulate --truth gradebook.csv``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import msgspec

from caliper_stream.sensor.builders import grading as g

TRUTH_COLUMNS = ("course_number", "user_uuid", "user_pk", "user_external_id", "gradable_item_pk", "score", "source", "max_score", "status", "attempts", "deleted_attempts", "override")


class _Attempt(msgspec.Struct):
    started: str
    count: int
    score: float | None = None
    submitted: bool = False
    deleted: bool = False


class _Cell(msgspec.Struct):
    user_pk: str
    user_external_id: str
    max_score: float
    attempts: dict[str, _Attempt] = msgspec.field(default_factory=dict)
    override: float | None = None
    overridden: bool = False
    cleared: bool = False


class GradeCenter:
    """Cells by (courseNumber, user uuid, gradable item pk1)."""

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str, str], _Cell] = {}

    def record(
        self, course: str, user_uuid: str, user_pk: str, user_external_id: str, item_pk: str, max_score: float,
        action: str, attempt: str, started: str, count: int, score: float | None,
    ) -> None:
        """Apply one grading step (``action`` is its ``bb:action.name``)."""
        cell = self.cells.get((course, user_uuid, item_pk))
        if cell is None:
            cell = self.cells[(course, user_uuid, item_pk)] = _Cell(user_pk, user_external_id, max_score)
        if action == g.OVERRIDE:
            cell.override, cell.overridden, cell.cleared = score, True, False
            return
        if action == g.CLEAR_OVERRIDE:
            cell.override, cell.overridden, cell.cleared = None, False, True
            return
        state = cell.attempts.get(attempt)
        if state is None:
            state = cell.attempts[attempt] = _Attempt(started, count)
        if action == g.DELETE_ATTEMPT:
            state.deleted = True
        elif action in (g.SUBMIT_ASSIGNMENT, g.SUBMIT_GROUP_ASSIGNMENT, g.SUBMIT_TEST):
            state.submitted = True
            if score is not None:
                state.score = score
        elif action in (g.GRADE, g.MANUAL_GRADE):
            state.score = score
        # feedback (entered or updated) changes no score

    def rows(self) -> list[dict[str, Any]]:
        """What Grade Center shows, one row per cell, in course, user, item order."""
        out = []
        for (course, user, item), cell in sorted(self.cells.items()):
            live = sorted((a for a in cell.attempts.values() if not a.deleted), key=lambda a: (a.started, a.count))
            graded = [a for a in live if a.score is not None]
            if cell.overridden:
                score, source, status = cell.override, "override", "overridden"
            elif graded:
                score, source, status = graded[-1].score, "attempt", "graded"
            elif live:
                score, source, status = None, None, "needs grading"
            elif cell.attempts:
                score, source, status = None, None, "attempt deleted"
            else:
                score, source, status = None, None, None
            out.append({
                "course_number": course, "user_uuid": user, "user_pk": cell.user_pk, "user_external_id": cell.user_external_id,
                "gradable_item_pk": item, "score": score, "source": source, "max_score": cell.max_score, "status": status,
                "attempts": len(live), "deleted_attempts": len(cell.attempts) - len(live),
                "override": "active" if cell.overridden else "cleared" if cell.cleared else None,
            })
        return out

    def write_csv(self, path: Path) -> int:
        rows = self.rows()
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=TRUTH_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return len(rows)
