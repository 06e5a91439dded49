"""The gradebook, cell by cell, as Learn's Grade Center shows it.

Learn sends one GradeEvent (Caliper 1.0: OutcomeEvent) per change in a cell's grade history:
submissions, grades, feedback, overrides, cleared overrides, deleted attempts. The
instructor-side ones arrive in the nightly bulk, hours late, sometimes twice, and imports bring
old dumps, so a cell is *folded* from all of its events and the answer never depends on the
order they arrived in. A cell is one (course, user, gradable item); ``bb:action.name`` says what
each event did (its last two segments: ``override.grade``, ``override.clear``,
``attempt.delete``, ``…feedback``/``feedback.update``, ``…submit``; anything else that carries
a score — ``attempt.grade``, ``manual.grade``, an unnamed 1.0 Result — is a grade).

The rules (Grade Center's, in this order):

1. **An active override wins.** The latest, by eventTime, of the cell's *override.grade* and
   *override.clear* events decides: an override gives its score; a clear means no override,
   whatever score the clear event carries.
2. **Else the last graded attempt that was not deleted.** Attempts are ordered by their start
   time (``startedAtTime``), then by pk1 (Learn numbers attempts as it creates them); the
   latest one that has a score is current, so regrading an earlier attempt does not make it
   current, and deleting the last attempt brings back the one before it. An attempt's score is
   that of its latest scoring event by eventTime (a grade, a manual grade, or a submission
   that carries a score, e.g. an auto-graded test); feedback, entered or updated, never changes
   a score. An attempt with a delete event is deleted, whenever the delete was sent.
3. **Else no score**: ``needs grading`` if a submitted attempt waits, ``attempt deleted`` if
   every attempt was deleted.

Statuses: a cell is ``overridden``, ``graded``, ``needs grading``, ``attempt deleted`` or
None (nothing gradable happened, e.g. only a cleared override); an attempt is ``graded``
(it has a score), ``needs grading`` (submitted, no score yet), ``deleted``, or ``submitted``
(known from grade history events only, without a submission or a score). The max score of an
item is the latest positive ``maxScore`` its grade events carry, else the points possible an
admin loaded (`caliper_stream.analyse.names`; Caliper 1.0 events carry none). Ties in eventTime
are broken by the event's content (action, score), never by arrival.

Filters: ``course`` (courseNumber), ``user`` (uuid, pk1 or batch_uid), ``item`` (gradable item
pk1); ``until`` gives the gradebook as it stood then (events up to that eventTime), ``since``
keeps the cells that changed at or after it (ISO 8601 UTC, compared with eventTime).

Speed: reports read the cells kept in ``gb_cells`` (migration 0004), which `refresh` brings up
to date first: the courses with grade events above a high-water mark are folded again from their
grade events (through the partial index ``events_grades``, covering on SQLite), every course
when events were deleted or rewritten; with a course's cells, its items' statistics are kept in
``gb_items`` (migration 0014), which a site's grade distribution reads. ``until``, ``detail``
and one cell fold from the events.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from caliper_stream.analyse.names import Names, load_names
from caliper_stream.errors import StoreError
from caliper_stream.store.base import Store

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode

OVERRIDE, CLEAR, DELETE, FEEDBACK, SUBMIT, GRADE = "override", "clear", "delete", "feedback", "submit", "grade"
OVERRIDDEN, GRADED, NEEDS_GRADING, DELETED, SUBMITTED = "overridden", "graded", "needs grading", "attempt deleted", "submitted"


def change_kind(action: str | None) -> str:
    """What a ``bb:action.name`` does to a cell (see the module docstring)."""
    if not action:
        return GRADE
    if action.endswith(".override.grade"):
        return OVERRIDE
    if action.endswith(".override.clear"):
        return CLEAR
    if action.endswith(".attempt.delete"):
        return DELETE
    if ".feedback" in action:
        return FEEDBACK
    if action.endswith(".submit"):
        return SUBMIT
    return GRADE


class Change(msgspec.Struct, frozen=True):
    """One event of a cell's history: when, what (``bb:action.name``), by whom, when it arrived."""

    event_time: str | None
    action: str | None
    kind: str
    attempt_pk: str | None
    score: float | None
    who: str | None
    received_at: str | None

    def order(self) -> tuple[str, str, float]:
        """eventTime first; ties broken by content, never by arrival."""
        return (self.event_time or "", self.action or "", -math.inf if self.score is None else self.score)


class Attempt(msgspec.Struct):
    attempt_pk: str | None
    started_at: str | None
    status: str
    score: float | None
    scored_at: str | None


class Override(msgspec.Struct):
    score: float | None
    at: str | None
    who: str | None
    #: False when a later override.clear cleared it
    active: bool


class Cell(msgspec.Struct):
    """One gradebook cell; ``attempts`` and ``history`` are None unless asked for (``detail``)."""

    course_number: str | None
    user_uuid: str | None
    user_pk: str | None
    user_external_id: str | None
    item_pk: str | None
    score: float | None
    source: str | None
    max_score: float | None
    status: str | None
    attempt_count: int
    deleted_count: int
    #: ``active``, ``cleared`` or None
    override_state: str | None
    changed_at: str | None
    events: int
    #: the ``bb:action.name`` that set the score (else of the latest change)
    grade_action: str | None
    attempts: list[Attempt] | None = None
    override: Override | None = None
    history: list[Change] | None = None
    user_key: str | None = None

    @property
    def percent(self) -> float | None:
        if self.score is None or not self.max_score:
            return None
        return round(100 * self.score / self.max_score, 2)


def _attempt_order(a: Attempt) -> tuple[str, int, str]:
    pk = a.attempt_pk or ""
    parts = pk.split("_")
    number = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else -1
    return (a.started_at or "", number, pk)


class Folded(msgspec.Struct):
    """What `fold` decides for one cell; ``action`` is the ``bb:action.name`` that set the score."""

    score: float | None
    source: str | None
    status: str | None
    attempts: list[Attempt]
    override: Override | None
    action: str | None


def fold(history: Iterable[Change], started: dict[str | None, str | None] | None = None) -> Folded:
    """Score, source, status, attempts and override of one cell from its changes, in any order
    (the rules of the module docstring). ``started`` maps an attempt pk to its start time."""
    started = started or {}
    latest_override: Change | None = None
    scored: dict[str | None, Change] = {}
    submitted: set[str | None] = set()
    deleted: set[str | None] = set()
    seen: dict[str | None, None] = {}
    for c in history:
        if c.kind in (OVERRIDE, CLEAR):
            if latest_override is None or c.order() > latest_override.order():
                latest_override = c
            continue
        seen[c.attempt_pk] = None
        if c.kind == DELETE:
            deleted.add(c.attempt_pk)
        elif c.kind == FEEDBACK:
            continue
        else:
            if c.kind == SUBMIT:
                submitted.add(c.attempt_pk)
            if c.score is not None:
                best = scored.get(c.attempt_pk)
                if best is None or c.order() > best.order():
                    scored[c.attempt_pk] = c
    attempts = []
    for pk in seen:
        got = scored.get(pk)
        if pk in deleted:
            status = "deleted"
        elif got is not None:
            status = GRADED
        elif pk in submitted:
            status = NEEDS_GRADING
        else:
            status = SUBMITTED
        attempts.append(Attempt(pk, started.get(pk), status, got.score if got else None, got.event_time if got else None))
    attempts.sort(key=_attempt_order)
    override = None
    if latest_override is not None:
        active = latest_override.kind == OVERRIDE
        override = Override(latest_override.score if active else None, latest_override.event_time, latest_override.who, active)
        if active:
            return Folded(latest_override.score, "override", OVERRIDDEN, attempts, override, latest_override.action)
    for a in reversed(attempts):
        if a.status == GRADED:
            return Folded(a.score, "attempt", GRADED, attempts, override, scored[a.attempt_pk].action)
    if any(a.status in (NEEDS_GRADING, SUBMITTED) for a in attempts):
        return Folded(None, None, NEEDS_GRADING, attempts, override, None)
    return Folded(None, None, DELETED if attempts else None, attempts, override, None)


_SELECT = """
    SELECT course_number, gradable_item_pk, user_uuid, user_pk, user_external_id, actor_id, attempt_pk,
           started_at, event_time, grade_action, score, max_score, received_at
    FROM event_view WHERE type IN ('GradeEvent', 'OutcomeEvent') AND gradable_item_pk IS NOT NULL
"""
_KINDS: dict[str | None, str] = {}


def _filters(course: str | None, user: str | None, item: str | None, *, events: bool) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if course is not None:
        clauses.append("course_number = ?")
        params.append(course if events or course else "")
    if item is not None:
        clauses.append("gradable_item_pk = ?" if events else "item_pk = ?")
        params.append(item)
    if user is not None:
        clauses.append("(user_uuid = ? OR user_pk = ? OR user_external_id = ?)")
        params += [user, user, user]
    return clauses, params


def compute(
    store: Store, *, course: str | None = None, user: str | None = None, item: str | None = None,
    until: str | None = None, null_course: bool = False,
) -> list[Cell]:
    """Fold cells straight from the grade events, with attempts and history (``until``: only
    events up to that eventTime; ``null_course``: the grade events without a course)."""
    clauses, params = _filters(course, user, item, events=True)
    if null_course:
        clauses.append("course_number IS NULL")
    if until is not None:
        clauses.append("event_at <= ?")
        params.append(store.time_key(until))
    sql = _SELECT + "".join(" AND " + c for c in clauses)
    groups: dict[tuple[Any, Any, Any], list[tuple[Any, ...]]] = defaultdict(list)
    item_max: dict[Any, tuple[str, float]] = {}
    for r in store.query(sql, params):
        groups[(r[0], r[2] or r[3] or r[5], r[1])].append(r)
        if r[11] is not None and r[11] > 0:
            known = item_max.get(r[1])
            at = r[8] or ""
            if known is None or (at, r[11]) > known:
                item_max[r[1]] = (at, float(r[11]))
    out = []
    for (course_number, user_key, item_pk), rs in groups.items():
        history = []
        started: dict[str | None, str | None] = {}
        for r in rs:
            kind = _KINDS.get(r[9])
            if kind is None:
                kind = _KINDS[r[9]] = change_kind(r[9])
            history.append(Change(r[8], r[9], kind, r[6], r[10], r[5], r[12]))
            if r[7] is not None and (started.get(r[6]) is None or r[7] < (started[r[6]] or "")):
                started[r[6]] = r[7]
        f = fold(history, started)
        history.sort(key=Change.order)
        found = item_max.get(item_pk)
        out.append(Cell(
            course_number, next((r[2] for r in rs if r[2]), None), next((r[3] for r in rs if r[3]), None),
            next((r[4] for r in rs if r[4]), None), item_pk, f.score, f.source, found[1] if found else None, f.status,
            sum(a.status != "deleted" for a in f.attempts), sum(a.status == "deleted" for a in f.attempts),
            None if f.override is None else "active" if f.override.active else "cleared",
            history[-1].event_time if history else None, len(history), f.action or history[-1].action,
            f.attempts, f.override, history, user_key,
        ))
    return out


def refresh(store: Store) -> int:
    """Bring ``gb_cells`` up to date: recompute every course with grade events above the
    high-water mark (every course when events were deleted or rewritten since the last build).
    Returns the number of courses recomputed (0 when nothing is new: one indexed query)."""
    high_water, generation, built = store.query("SELECT high_water, generation, built_generation FROM gb_state WHERE id = 1")[0]
    top = int(store.query("SELECT max(id) FROM events")[0][0] or 0)
    if top == high_water and generation == built:
        return 0
    top = store.events_high_water()
    grade_filter = "type IN ('GradeEvent', 'OutcomeEvent') AND gradable_item_pk IS NOT NULL"
    if generation != built:
        found = store.query(f"SELECT DISTINCT course_number FROM events WHERE {grade_filter} AND id <= ?", [top])
        found += store.query("SELECT DISTINCT course_number FROM gb_cells")
    else:
        found = store.query(f"SELECT DISTINCT course_number FROM events WHERE {grade_filter} AND id > ? AND id <= ?", [high_water, top])
    courses = sorted({c or "" for (c,) in found})
    rows: list[tuple[Any, ...]] = []
    items: list[tuple[str, str, str]] = []
    for number in courses:
        computed = compute(store, course=number or None, null_course=not number)
        items += _item_statistics(number, computed)
        for c in computed:
            rows.append((
                number, c.user_external_id or "", c.user_key or "", c.item_pk, c.user_uuid, c.user_pk, c.user_external_id, c.score, c.source,
                c.max_score, c.status, c.attempt_count, c.deleted_count, c.override_state, c.changed_at, c.events,
                c.grade_action,
            ))
    store.put_gradebook(courses, rows, items, top, generation)
    return len(courses)


def _tally(found: Iterable[Cell]) -> list[Counted]:
    """`found` counted as the statistics need them: equal (course, item, score, status, max) once."""
    tally: dict[tuple[Any, ...], int] = defaultdict(int)
    for c in found:
        tally[(c.course_number, c.item_pk, c.score, c.status, c.max_score)] += 1
    return [(*k, n) for k, n in tally.items()]


def _item_statistics(number: str, found: list[Cell]) -> list[tuple[str, str, str]]:
    """``gb_items`` rows: each item's `_statistics` over the cells of one course, as JSON."""
    by_item: dict[str, list[Counted]] = defaultdict(list)
    for g in _tally(found):
        by_item[g[1] or ""].append(g)
    return [(number, pk, _encode(_statistics(group)).decode()) for pk, group in by_item.items()]


_CELLS = """
    SELECT course_number, user_uuid, user_pk, user_external_id, item_pk, score, source, max_score, status,
           attempts, deleted_attempts, override, changed_at, grade_events, grade_action, user_key
    FROM gb_cells
"""
#: the order every report lists cells in: course, batch_uid, user key, item (gb_cells' primary key)
_ORDER_BY = " ORDER BY course_number, user_sort, user_key, item_pk"


def _where_kept(course: str | None, user: str | None, item: str | None, since: str | None) -> tuple[str, list[Any]]:
    clauses, params = _filters(course, user, item, events=False)
    if since is not None:
        clauses.append("changed_at >= ?")
        params.append(since)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _kept(
    store: Store, course: str | None, user: str | None, item: str | None, since: str | None,
    page: tuple[int, int] | None = None,
) -> list[tuple[Any, ...]] | None:
    """The kept cells as ``_CELLS`` tuples in report order, after a `refresh` (``page``: only
    ``(limit, offset)`` of them); None when the store cannot be refreshed (e.g. read-only)."""
    try:
        refresh(store)
    except StoreError:
        return None
    where, params = _where_kept(course, user, item, since)
    if page is not None:
        return store.query(_CELLS + where + _ORDER_BY + " LIMIT ? OFFSET ?", [*params, *page])
    return store.query(_CELLS + where + _ORDER_BY, params)


def cells(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    item: str | None = None,
    since: str | None = None,
    until: str | None = None,
    names: Names | None = None,
    detail: bool = False,
) -> list[Cell]:
    """Every cell of the gradebook (filters: see the module docstring), in course, user, item
    order. Read from ``gb_cells`` after a `refresh`, unless ``detail`` or ``until`` ask for
    what only the events hold (or the store is read-only): then folded from the events."""
    kept = None if detail or until is not None else _kept(store, course, user, item, since)
    if kept is not None:
        return [_kept_cell(r, names) for r in kept]
    found = compute(store, course=course, user=user, item=item, until=until)
    if since is not None:
        found = [c for c in found if (c.changed_at or "") >= since]
    found.sort(key=lambda c: (c.course_number or "", c.user_external_id or "", c.user_key or "", c.item_pk or ""))
    if names is not None:
        for c in found:
            if c.max_score is None and c.item_pk in names.items:
                c.max_score = names.items[c.item_pk].max_score
    return found


def _kept_cell(r: tuple[Any, ...], names: Names | None) -> Cell:
    """A `Cell` from a kept ``_CELLS`` tuple (max score: the loaded points possible if none)."""
    cell = Cell(r[0] or None, r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
                user_key=r[15] or None)
    if names is not None and cell.max_score is None and cell.item_pk in names.items:
        cell.max_score = names.items[cell.item_pk].max_score
    return cell


def _row(cell: Cell, names: Names, detail: bool) -> dict[str, Any]:
    course_name = names.courses.get(cell.course_number or "")
    item = names.items.get(cell.item_pk or "")
    row: dict[str, Any] = {
        "course_number": cell.course_number,
        "course_name": course_name,
        "user_uuid": cell.user_uuid,
        "user_pk": cell.user_pk,
        "user_external_id": cell.user_external_id,
        "user_name": names.user_name(cell.user_uuid, cell.user_pk, cell.user_external_id),
        "gradable_item_pk": cell.item_pk,
        "item_name": item.name if item else None,
        "score": cell.score,
        "source": cell.source,
        "max_score": cell.max_score,
        "percent": cell.percent,
        "status": cell.status,
        "attempts": cell.attempt_count,
        "deleted_attempts": cell.deleted_count,
        "override": cell.override_state,
        "grade_action": cell.grade_action,
        "changed_at": cell.changed_at,
        "grade_events": cell.events,
    }
    if detail:
        row["attempt_list"] = msgspec.to_builtins(cell.attempts)
        row["override_detail"] = msgspec.to_builtins(cell.override)
        row["history"] = msgspec.to_builtins(cell.history)
    return row


def gradebook(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    item: str | None = None,
    since: str | None = None,
    until: str | None = None,
    detail: bool = False,
) -> list[dict[str, Any]]:
    """One row per (course, user, gradable item): current score, its source, status, counts,
    and names next to ids when loaded; ``detail`` adds the attempts, override and history."""
    names = load_names(store)
    kept = None if detail or until is not None else _kept(store, course, user, item, since)
    if kept is None:
        found = cells(store, course=course, user=user, item=item, since=since, until=until, names=names, detail=detail)
        return [_row(c, names, detail) for c in found]
    return _kept_rows(kept, names)


def gradebook_page(
    store: Store,
    *,
    limit: int,
    offset: int = 0,
    course: str | None = None,
    user: str | None = None,
    item: str | None = None,
    since: str | None = None,
) -> tuple[list[dict[str, Any]], int] | None:
    """Rows ``offset`` to ``offset + limit`` of `gradebook` and how many there are in all, read
    from the kept cells a page at a time: a site's gradebook grows with the term (~500k cells at
    10 M events), a page does not. None when the kept cells cannot answer (read-only store)."""
    kept = _kept(store, course, user, item, since, page=(limit, offset))
    if kept is None:
        return None
    where, params = _where_kept(course, user, item, since)
    total = store.query("SELECT count(*) FROM gb_cells" + where, params)
    return _kept_rows(kept, load_names(store)), int(total[0][0])


#: The columns of a `gradebook` row without ``detail``, in order (a streamed download's header).
GRADEBOOK_COLUMNS = (
    "course_number", "course_name", "user_uuid", "user_pk", "user_external_id", "user_name", "gradable_item_pk",
    "item_name", "score", "source", "max_score", "percent", "status", "attempts", "deleted_attempts", "override",
    "grade_action", "changed_at", "grade_events",
)


def stream_gradebook(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    item: str | None = None,
    since: str | None = None,
) -> Iterator[dict[str, Any]] | None:
    """`gradebook`'s rows one at a time, streamed from the kept cells in report order (a site's
    download starts at once and holds one batch in memory); None when the kept cells cannot
    answer (read-only store)."""
    try:
        refresh(store)
    except StoreError:
        return None
    where, params = _where_kept(course, user, item, since)
    names = load_names(store)
    return _batched_rows(store.stream(_CELLS + where + _ORDER_BY, params), names)


def _batched_rows(found: Iterable[tuple[Any, ...]], names: Names, size: int = 2000) -> Iterator[dict[str, Any]]:
    batch: list[tuple[Any, ...]] = []
    for r in found:
        batch.append(r)
        if len(batch) >= size:
            yield from _kept_rows(batch, names)
            batch = []
    yield from _kept_rows(batch, names)


def _kept_rows(kept: list[tuple[Any, ...]], names: Names) -> list[dict[str, Any]]:
    """`gradebook` rows straight from kept ``_CELLS`` tuples (the hot path: no Cell objects)."""
    courses, items, user_name = names.courses, names.items, names.user_name
    out = []
    for r in kept:
        known = items.get(r[4])
        score, max_score = r[5], r[7]
        if max_score is None and known is not None:
            max_score = known.max_score
        out.append({
            "course_number": r[0] or None,
            "course_name": courses.get(r[0]),
            "user_uuid": r[1],
            "user_pk": r[2],
            "user_external_id": r[3],
            "user_name": user_name(r[1], r[2], r[3]) if names.has_users else None,
            "gradable_item_pk": r[4],
            "item_name": known.name if known is not None else None,
            "score": score,
            "source": r[6],
            "max_score": max_score,
            "percent": round(100 * score / max_score, 2) if score is not None and max_score else None,
            "status": r[8],
            "attempts": r[9],
            "deleted_attempts": r[10],
            "override": r[11],
            "grade_action": r[14],
            "changed_at": r[12],
            "grade_events": r[13],
        })
    return out


def gradebook_cell(store: Store, course: str, user: str, item: str) -> dict[str, Any] | None:
    """One cell with its attempts, override and full history (``who`` is the Score's
    ``scoredBy`` when the event names one, else the actor); None when there is no such cell."""
    names = load_names(store)
    found = cells(store, course=course, user=user, item=item, names=names, detail=True)
    if not found:
        return None
    row = _row(found[0], names, True)
    scored_by = _scored_by(store, course, item, user)
    for change in row["history"]:
        who = scored_by.get((change["event_time"], change["action"], change["attempt_pk"]))
        if who:
            change["who"] = who
    return row


def _scored_by(store: Store, course: str, item: str, user: str) -> dict[tuple[Any, Any, Any], str]:
    """``generated.scoredBy`` of a cell's events, read from their raw bytes (one cell only)."""
    sql = """
        SELECT event_time, grade_action, attempt_pk, raw_codec, raw FROM event_view
        WHERE type IN ('GradeEvent', 'OutcomeEvent') AND gradable_item_pk IS NOT NULL
          AND course_number = ? AND gradable_item_pk = ? AND (user_uuid = ? OR user_pk = ? OR user_external_id = ?)
    """
    out = {}
    for at, action, attempt, codec, raw in store.query(sql, [course, item, user, user, user]):
        try:
            doc = msgspec.json.decode(store.decode_raw(codec, raw), strict=False)
        except msgspec.DecodeError:
            continue
        generated = doc.get("generated") if isinstance(doc, dict) else None
        by = generated.get("scoredBy") if isinstance(generated, dict) else None
        who = by if isinstance(by, str) else (by.get("id") or by.get("@id")) if isinstance(by, dict) else None
        if isinstance(who, str):
            out[(at, action, attempt)] = who
    return out


def grade_matrix(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    item: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """Users × items, like a Grade Center export: one row per (course, user), one column per
    item of that row's course, headed ``Name [Total Pts: X Score] |pk1``; a cell is its score,
    ``Needs Grading`` or empty. Site-wide, each row holds its own course's columns only: a
    row of every item of the site would be mostly empty (a term of 40 courses: 239 MB)."""
    names = load_names(store)
    found = cells(store, course=course, user=user, item=item, since=since, until=until, names=names)
    max_by_item: dict[str, dict[str, float | None]] = {}
    for c in found:
        of_course = max_by_item.setdefault(c.course_number or "", {})
        if c.max_score is not None or (c.item_pk or "") not in of_course:
            of_course[c.item_pk or ""] = c.max_score
    tuples = ((c.course_number, c.user_uuid, c.user_pk, c.user_external_id, c.item_pk, c.score, c.status, c.user_key) for c in found)
    return _matrix_rows(tuples, _headers(max_by_item, names), names)


def grade_matrix_page(
    store: Store,
    *,
    limit: int,
    offset: int = 0,
    course: str | None = None,
    user: str | None = None,
    item: str | None = None,
    since: str | None = None,
) -> tuple[list[dict[str, Any]], int] | None:
    """Rows ``offset`` to ``offset + limit`` of `grade_matrix` and how many rows there are, read
    from the kept cells a page of users at a time (a site's matrix at 10 M events: 30,000 rows);
    None when the kept cells cannot answer (read-only store)."""
    try:
        refresh(store)
    except StoreError:
        return None
    where, params = _where_kept(course, user, item, since)
    keys = store.query(
        "SELECT DISTINCT course_number, user_sort, user_key FROM gb_cells" + where
        + " ORDER BY course_number, user_sort, user_key LIMIT ? OFFSET ?", [*params, limit, offset],
    )
    total = int(store.query(f"SELECT count(*) FROM (SELECT DISTINCT course_number, user_key FROM gb_cells{where}) AS t", params)[0][0])
    if not keys:
        return [], total
    names = load_names(store)
    joiner = " AND " if where else " WHERE "
    span = "(course_number, user_sort, user_key) >= (?, ?, ?) AND (course_number, user_sort, user_key) <= (?, ?, ?)"
    kept = store.query(_MATRIX_CELLS + where + joiner + span + _ORDER_BY, [*params, *keys[0], *keys[-1]])
    courses = sorted({k[0] for k in keys})
    where_items = where + joiner + f"course_number IN ({', '.join('?' * len(courses))})"
    max_by_item: dict[str, dict[str, float | None]] = {}
    for course_number, item_pk, max_score in store.query(
        "SELECT course_number, item_pk, max(max_score) FROM gb_cells" + where_items + " GROUP BY course_number, item_pk",
        [*params, *courses],
    ):
        if max_score is None and item_pk in names.items:
            max_score = names.items[item_pk].max_score
        max_by_item.setdefault(course_number or "", {})[item_pk or ""] = max_score
    return _matrix_rows(kept, _headers(max_by_item, names), names), total


def _headers(max_by_item: dict[str, dict[str, float | None]], names: Names) -> dict[str, dict[str, str]]:
    """Per course, each item's Grade Center column heading, in Grade Center's column order."""
    headers: dict[str, dict[str, str]] = {}
    for course_number, of_course in max_by_item.items():
        heads = headers[course_number] = {}
        for pk in sorted(of_course, key=lambda p: _item_sort(p, names)):
            known = names.items.get(pk)
            points = of_course[pk]
            heads[pk] = f"{known.name if known else pk} [Total Pts: {_num(points) if points is not None else '-'} Score] |{pk}"
    return headers


#: What a grade matrix reads of a kept cell: course, uuid, pk1, batch_uid, item, score, status, user key.
_MATRIX_CELLS = "SELECT course_number, user_uuid, user_pk, user_external_id, item_pk, score, status, user_key FROM gb_cells"


def _matrix_rows(found: Iterable[tuple[Any, ...]], headers: dict[str, dict[str, str]], names: Names) -> list[dict[str, Any]]:
    """One row per (course, user) of `found` (`_MATRIX_CELLS` tuples in cell order), with its
    course's `headers`."""
    rows: dict[tuple[Any, Any], dict[str, Any]] = {}
    courses, user_of = names.courses, names.user
    for number, uuid, pk, external, item_pk, score, status, user_key in found:
        key = (number, user_key)
        heads = headers[number or ""]
        row = rows.get(key)
        if row is None:
            user_row = user_of(uuid, pk, external)
            row = rows[key] = {
                "course_number": number or None,
                "course_name": courses.get(number or ""),
                "Last Name": user_row.family_name if user_row else None,
                "First Name": user_row.given_name if user_row else None,
                "Username": user_row.username if user_row else None,
                "Student ID": external,
                "user_uuid": uuid,
                "user_pk": pk,
                **dict.fromkeys(heads.values(), ""),
            }
        if score is not None:
            value: Any = _num(score)
        else:
            value = "Needs Grading" if status == NEEDS_GRADING else ""
        row[heads[item_pk or ""]] = value
    return list(rows.values())


def _item_sort(pk: str, names: Names) -> tuple[int, str]:
    parts = pk.split("_")
    return (int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0, pk)


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 4)


#: Grade Center's column statistics: percent ranges, top first.
BANDS = ((">100", 100.0001, math.inf), ("90-100", 90, 100.0001), ("80-89", 80, 90), ("70-79", 70, 80), ("60-69", 60, 70),
         ("50-59", 50, 60), ("40-49", 40, 50), ("30-39", 30, 40), ("20-29", 20, 30), ("10-19", 10, 20), ("0-9", 0, 10), ("<0", -math.inf, 0))


#: One group of equal cells of an item: (course, item, score, status, max score, how many).
Counted = tuple[str | None, str | None, float | None, str | None, float | None, int]


def _median(values: list[tuple[float, int]], n: int) -> float:
    """The median of `n` values given as sorted (value, count) pairs (`statistics.median`'s)."""
    wanted, seen, low = ((n - 1) // 2, n // 2), 0, None
    for value, count in values:
        if low is None and seen + count > wanted[0]:
            low = value
        if seen + count > wanted[1]:
            return (low + value) / 2 if low is not None else value
        seen += count
    raise ValueError("no values")


def _statistics(group: list[Counted]) -> dict[str, Any]:
    """Grade Center's column statistics of one item from its counted cells: one pass over the
    distinct scores, however many students share each."""
    scores = sorted((g[2], g[5]) for g in group if g[2] is not None)
    n = sum(count for _, count in scores)
    counts = dict.fromkeys((band for band, _, _ in BANDS), 0)
    for _, _, score, _, max_score, count in group:
        if score is None or not max_score:
            continue
        percent = round(100 * score / max_score, 2)
        for band, lo, hi in BANDS:
            if lo <= percent < hi:
                counts[band] += count
                break
    status: dict[str | None, int] = defaultdict(int)
    for g in group:
        status[g[3]] += g[5]
    mean = stdev = median = None
    if n:
        mean = math.fsum(v * c for v, c in scores) / n
        stdev = round(math.sqrt(math.fsum(c * (v - mean) ** 2 for v, c in scores) / n), 2)
        mean, median = round(mean, 2), round(_median(scores, n), 2)
    return {
        "max_score": next((g[4] for g in group if g[4] is not None), None),
        "cells": sum(g[5] for g in group),
        "graded": status[GRADED], "overridden": status[OVERRIDDEN],
        "needs_grading": status[NEEDS_GRADING], "attempt_deleted": status[DELETED],
        "min": scores[0][0] if scores else None, "max": scores[-1][0] if scores else None,
        "mean": mean, "median": median, "stdev": stdev,
        **counts,
    }


def _counted(
    store: Store, course: str | None, user: str | None, item: str | None, since: str | None, names: Names,
) -> list[Counted] | None:
    """The kept cells grouped in the database by what the statistics need (a site's 10^5 cells
    become a few thousand rows); None when the kept cells cannot answer (read-only store)."""
    try:
        refresh(store)
    except StoreError:
        return None
    where, params = _where_kept(course, user, item, since)
    found = store.query(
        "SELECT course_number, item_pk, score, status, max_score, count(*) FROM gb_cells" + where
        + " GROUP BY course_number, item_pk, score, status, max_score", params,
    )
    out: list[Counted] = []
    for course_number, item_pk, score, status, max_score, count in found:
        if max_score is None and item_pk in names.items:
            max_score = names.items[item_pk].max_score
        out.append((course_number or None, item_pk, score, status, max_score, int(count)))
    return out


def grade_distribution(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    item: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """Per gradable item, Grade Center's column statistics: how many are graded, overridden,
    need grading or had attempts deleted; min, max, mean, median, standard deviation of the
    current scores; and how many scores fall in each percent band (``90-100`` …)."""
    names = load_names(store)
    kept = _kept_statistics(store, course, item, names) if until is None and user is None and since is None else None
    if kept is not None:
        return _distribution_rows(kept, names)
    counted = None if until is not None else _counted(store, course, user, item, since, names)
    if counted is None:
        counted = _tally(cells(store, course=course, user=user, item=item, since=since, until=until, names=names))
    by_item: dict[tuple[Any, Any], list[Counted]] = defaultdict(list)
    for g in counted:
        by_item[(g[0], g[1])].append(g)
    return _distribution_rows({k: _statistics(group) for k, group in by_item.items()}, names)


def _distribution_rows(stats: dict[tuple[Any, Any], dict[str, Any]], names: Names) -> list[dict[str, Any]]:
    out = []
    for (course_number, item_pk), figures in sorted(stats.items(), key=lambda kv: (kv[0][0] or "", _item_sort(kv[0][1] or "", names))):
        known = names.items.get(item_pk or "")
        out.append({
            "course_number": course_number,
            "course_name": names.courses.get(course_number or ""),
            "gradable_item_pk": item_pk,
            "item_name": known.name if known else None,
            **figures,
        })
    return out


def _kept_statistics(
    store: Store, course: str | None, item: str | None, names: Names,
) -> dict[tuple[Any, Any], dict[str, Any]] | None:
    """Each item's statistics as `refresh` kept them (``gb_items``); an item whose cells carry
    no max score but whose points possible were loaded since is counted again from its cells
    (its percent bands depend on them). None when the store cannot be refreshed."""
    try:
        refresh(store)
    except StoreError:
        return None
    where, params = _where_kept(course, None, item, None)
    out: dict[tuple[Any, Any], dict[str, Any]] = {}
    for number, item_pk, stats in store.query("SELECT course_number, item_pk, stats FROM gb_items" + where, params):
        figures = _decode(stats)
        loaded = names.items.get(item_pk)
        if figures["max_score"] is None and loaded is not None and loaded.max_score is not None:
            counted = _counted(store, number, None, item_pk, None, names) or []
            figures = _statistics(counted)
        out[(number or None, item_pk)] = figures
    return out
