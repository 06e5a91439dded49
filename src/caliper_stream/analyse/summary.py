"""Summary tables kept current from the events table, so that reports stay fast at term scale.

Every ``an_*`` table (migration 0005) is derived from ``events``. `refresh` folds the events with
``id > an_state.high_water`` into them, chunk by chunk, each chunk in one write transaction that
also advances the high-water mark, so a crash never counts an event twice or skips one. Why this
is correct without touching ingest:

* a late event is a new row with a new, higher id, so the next refresh sees it; every summary is
  order-independent (sums, minimum start, maximum end, latest score by eventTime then id);
* a duplicate delivery is never inserted (``event_key`` is unique), so it is never counted;
* deleting or rewriting stored events fires a trigger that marks the summaries dirty, and the
  next refresh rebuilds them from scratch;
* on PostgreSQL, ids are handed out before commit, so a refresh only goes up to the largest id
  read under a short ``SHARE`` lock on events (which waits for in-flight inserts): every lower
  id is then committed or gone. SQLite commits writers one at a time, in id order.

Reports call `ensure_current` first (one indexed query when nothing is new); the server may also
call `refresh` periodically. Medians and percentiles need every value of a group, so each
chunk notes the tests and courses it touched in ``an_stale``, and once the refresh has caught up
their figures are recomputed from their rows and cached as JSON in ``an_figures`` (once per
refresh, not per chunk: that kept building a term's summaries quadratic).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import msgspec

from caliper_stream.analyse import figures
from caliper_stream.analyse._sql import NO_COURSE, zone
from caliper_stream.errors import StoreError
from caliper_stream.store.base import Store
from caliper_stream.store.common import translate

log = logging.getLogger(__name__)

#: events folded per transaction: bounds how long a refresh holds the SQLite write lock
CHUNK = 50_000

_SELECT = """
    SELECT id, type, action, event_time, COALESCE(course_number, ''),
           COALESCE(user_uuid, user_pk, actor_id, ''), user_uuid, user_pk, user_external_id,
           COALESCE(session_id, ''), object_id, gradable_item_pk, assessment_pk, question_pk,
           attempt_pk, score, max_score, grade_action, question_type, COALESCE(source, ''),
           received_at, CASE WHEN type LIKE '%LTIEvent' THEN raw_codec END,
           CASE WHEN type LIKE '%LTIEvent' THEN raw END
    FROM event_view WHERE id > ? AND id <= ? ORDER BY id
"""

TABLES = (
    "an_users",
    "an_counts",
    "an_members",
    "an_lti",
    "an_views",
    "an_sources",
    "an_test_attempts",
    "an_scores",
    "an_question_attempts",
    "an_figures",
    "an_daily",
    "an_stale",
)

_launch = msgspec.json.Decoder()


class LocalTime:
    """The local day (YYYY-MM-DD) and hour of the week (``000``–``167``, 0 = Monday 00:00) of
    Caliper times in one time zone, cached per UTC minute (a term has ~10⁵ of them)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._cache: dict[str, tuple[str, str] | None] = {}

    def __call__(self, event_time: str) -> tuple[str, str] | None:
        canonical = len(event_time) >= 17 and event_time[10] == "T" and event_time.endswith("Z")
        key = event_time[:16] if canonical else event_time
        found = self._cache.get(key, False)
        if found is False:
            try:
                when = datetime.fromisoformat(event_time.replace("Z", "+00:00"))
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                local = when.astimezone(self.tz)
                found = (local.date().isoformat(), f"{local.weekday() * 24 + local.hour:03d}")
            except (ValueError, OverflowError):
                found = None
            if canonical and len(self._cache) < 2_000_000:
                self._cache[key] = found
        return found  # type: ignore[return-value]


def _is_launch(type_: str | None, action: str | None) -> bool:
    return bool(
        type_
        and type_.endswith("LTIEvent")
        and action
        and (action == "LoggedIn" or action.endswith("LTILaunch"))
    )


def launch_of(raw: bytes | memoryview | None) -> tuple[str, str]:
    """An LTI launch's tool (its launch URL's host and path: the query names the launch, not
    the tool) and course (``context_label``, for launches whose event has no group)."""
    if raw is None:
        return "", ""
    try:
        doc = _launch.decode(bytes(raw))
        obj = doc.get("object") if isinstance(doc, dict) else None
    except msgspec.DecodeError:
        return "", ""
    if not isinstance(obj, dict):
        return "", ""
    url, params = obj.get("launchUrl"), obj.get("launchParameters")
    label = params.get("context_label") if isinstance(params, dict) else None
    tool = ""
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        tool = f"{parts.netloc}{parts.path}" if parts.netloc else url
    return tool, label if isinstance(label, str) else ""


def _least(table: str, col: str) -> str:
    return (
        f"{col} = CASE WHEN {table}.{col} IS NULL THEN excluded.{col} WHEN excluded.{col} IS NULL THEN {table}.{col}"
        f" WHEN excluded.{col} < {table}.{col} THEN excluded.{col} ELSE {table}.{col} END"
    )


def _greatest(table: str, col: str) -> str:
    return (
        f"{col} = CASE WHEN {table}.{col} IS NULL THEN excluded.{col} WHEN excluded.{col} IS NULL THEN {table}.{col}"
        f" WHEN excluded.{col} > {table}.{col} THEN excluded.{col} ELSE {table}.{col} END"
    )


def _counted(table: str, key: list[str], count: str) -> str:
    cols = [*key, count, "first_time", "last_time"]
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {count} = {table}.{count} + excluded.{count},"
        f" {_least(table, 'first_time')}, {_greatest(table, 'last_time')}"
    )


_UPSERT = {
    "an_users": (
        "INSERT INTO an_users (user_key, user_uuid, user_pk, user_external_id) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (user_key) DO UPDATE SET user_uuid = COALESCE(an_users.user_uuid, excluded.user_uuid),"
        " user_pk = COALESCE(an_users.user_pk, excluded.user_pk),"
        " user_external_id = COALESCE(an_users.user_external_id, excluded.user_external_id)"
    ),
    "an_counts": (
        "INSERT INTO an_counts (kind, course_number, bucket, events, users, sessions, days, first_time, last_time)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, course_number, bucket) DO UPDATE SET"
        " events = an_counts.events + excluded.events, users = an_counts.users + excluded.users,"
        " sessions = an_counts.sessions + excluded.sessions, days = an_counts.days + excluded.days,"
        f" {_least('an_counts', 'first_time')}, {_greatest('an_counts', 'last_time')}"
    ),
    "an_lti": _counted("an_lti", ["course_number", "tool", "user_key"], "launches"),
    "an_views": _counted("an_views", ["course_number", "content_id", "user_key"], "views"),
    "an_sources": (
        "INSERT INTO an_sources (source, events, last_event_time, last_received_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (source) DO UPDATE SET events = an_sources.events + excluded.events,"
        f" {_greatest('an_sources', 'last_event_time')}, {_greatest('an_sources', 'last_received_at')}"
    ),
    "an_test_attempts": (
        "INSERT INTO an_test_attempts (course_number, assessment_pk, attempt_key, user_key, gradable_item_pk,"
        " started_at, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (course_number, assessment_pk, attempt_key) DO UPDATE SET"
        " gradable_item_pk = CASE WHEN an_test_attempts.gradable_item_pk = '' THEN excluded.gradable_item_pk"
        " ELSE an_test_attempts.gradable_item_pk END,"
        f" {_least('an_test_attempts', 'started_at')}, {_greatest('an_test_attempts', 'submitted_at')}"
    ),
    "an_scores": (
        "INSERT INTO an_scores (gradable_item_pk, attempt_pk, score, max_score, graded_at, event_id, deleted)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gradable_item_pk, attempt_pk) DO UPDATE SET"
        " score = CASE WHEN excluded.graded_at > an_scores.graded_at OR (excluded.graded_at = an_scores.graded_at"
        " AND excluded.event_id > an_scores.event_id) THEN excluded.score ELSE an_scores.score END,"
        " max_score = CASE WHEN excluded.graded_at > an_scores.graded_at OR (excluded.graded_at = an_scores.graded_at"
        " AND excluded.event_id > an_scores.event_id) THEN excluded.max_score ELSE an_scores.max_score END,"
        " event_id = CASE WHEN excluded.graded_at > an_scores.graded_at OR (excluded.graded_at = an_scores.graded_at"
        " AND excluded.event_id > an_scores.event_id) THEN excluded.event_id ELSE an_scores.event_id END,"
        " graded_at = CASE WHEN excluded.graded_at > an_scores.graded_at THEN excluded.graded_at"
        " ELSE an_scores.graded_at END,"
        " deleted = CASE WHEN excluded.deleted > an_scores.deleted THEN excluded.deleted ELSE an_scores.deleted END"
    ),
    "an_daily": (
        "INSERT INTO an_daily (day, course_number, source, type, events) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (day, course_number, source, type) DO UPDATE SET events = an_daily.events + excluded.events"
    ),
    "an_question_attempts": (
        "INSERT INTO an_question_attempts (course_number, assessment_pk, question_pk, attempt_key, user_key,"
        " question_type, started_at, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (course_number, assessment_pk, question_pk, attempt_key) DO UPDATE SET"
        " question_type = CASE WHEN an_question_attempts.question_type = '' THEN excluded.question_type"
        " ELSE an_question_attempts.question_type END,"
        f" {_least('an_question_attempts', 'started_at')}, {_greatest('an_question_attempts', 'completed_at')}"
    ),
}

_STARTS = ("Started", "Restarted")
_ENDS = ("Submitted", "Completed")


def _span(row: list[Any], action: str | None, at: str) -> None:
    """Widen an attempt's ``[…, first start, last end]`` by one event: whatever the arrival
    order, the earliest start and the latest submission win."""
    if action in _STARTS:
        row[2] = at if row[2] is None else min(row[2], at)
    elif action in _ENDS:
        row[3] = at if row[3] is None else max(row[3], at)
_SCORE_FREE = ("feedback",)  # feedback events never change a score


class _Fold:
    """The deltas of one chunk of events, grouped by summary row."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.local = LocalTime(tz)
        self.users: dict[str, tuple[Any, Any, Any]] = {}
        self.counts: dict[tuple[str, str, str], list[Any]] = {}
        self.members: set[tuple[str, str, str, str, str]] = set()
        self.minutes: dict[tuple[str, str, str, str], list[Any]] = {}
        self.lti: dict[tuple[str, str, str], list[Any]] = {}
        self.views: dict[tuple[str, str, str], list[Any]] = {}
        self.sources: dict[str, list[Any]] = {}
        self.tests: dict[tuple[str, str, str], list[Any]] = {}
        self.scores: dict[tuple[str, str], list[Any]] = {}
        self.questions: dict[tuple[str, str, str, str], list[Any]] = {}
        self.daily: dict[tuple[str, str, str, str], int] = {}

    @staticmethod
    def _count(table: dict[Any, list[Any]], key: Any, at: str) -> None:
        row = table.get(key)
        if row is None:
            table[key] = [1, at, at]
        else:
            row[0] += 1
            row[1] = min(row[1], at)
            row[2] = max(row[2], at)

    def add(self, r: Sequence[Any]) -> None:
        (
            eid,
            type_,
            action,
            at,
            course,
            user,
            uuid,
            pk,
            ext,
            session,
            object_id,
            item,
            assessment,
            question,
            attempt,
            score,
            max_score,
            grade_action,
            qtype,
            source,
            received,
            raw,
        ) = r
        if user and user not in self.users:
            self.users[user] = (uuid, pk, ext)
        src = self.sources.get(source)
        if src is None:
            self.sources[source] = [1, at or "", received or ""]
        else:
            src[0] += 1
            src[1] = max(src[1], at or "")
            src[2] = max(src[2], received or "")
        if not at:
            return
        day = (at[:10], course, source, type_ or "")
        self.daily[day] = self.daily.get(day, 0) + 1
        self._activity(at, course, user, session)
        if type_ is None:
            return
        if _is_launch(type_, action):
            tool, label = launch_of(raw)
            self._distinct("lti", course or label, tool, user, at)
            self._count(self.lti, (course or label, tool, user), at)
        elif type_.endswith("ViewEvent") and object_id:
            self._distinct("content", course, object_id, user, at)
            self._count(self.views, (course, object_id, user), at)
        elif type_ == "AssessmentEvent" and assessment:
            key = (course, assessment, attempt or f"user:{user}")
            row = self.tests.setdefault(key, [user, item or "", None, None])
            _span(row, action, at)
            if item and not row[1]:
                row[1] = item
        elif type_ == "AssessmentItemEvent" and question:
            qkey = (course, assessment or "", question, attempt or f"user:{user}")
            qrow = self.questions.setdefault(qkey, [user, qtype or "", None, None])
            _span(qrow, action, at)
            if qtype and not qrow[1]:
                qrow[1] = qtype
        elif type_ in ("GradeEvent", "OutcomeEvent") and item and attempt:
            deleted = 1 if grade_action and grade_action.endswith(".delete") else 0
            if score is None and not deleted:
                return
            if grade_action and any(word in grade_action for word in _SCORE_FREE):
                return
            skey = (item, attempt)
            current = self.scores.get(skey)
            if current is None or (at, eid) > (current[2], current[3]):
                keep = current[4] if current else 0
                value = score if score is not None else (current[0] if current else 0.0)
                self.scores[skey] = [value, max_score, at, eid, max(deleted, keep)]
            elif deleted:
                current[4] = 1

    def _distinct(self, kind: str, course: str, bucket: str, user: str, at: str) -> None:
        """Count an event of a group whose distinct users matter (launches of a tool, views of a content item)."""
        self._count(self.counts, (kind, course, bucket), at)
        if user:
            self.members.add((kind, course, bucket, "u", user))

    def _activity(self, at: str, course: str, user: str, session: str) -> None:
        """Note one event for the activity counts; `spread` expands them. Events of one course,
        user and session in the same minute share a local day and hour, so they are summed
        first: a term has about two events per such minute, each expanded into four groups."""
        key = (course, user, session, at[:16] if at[10:11] == "T" and at.endswith("Z") else at)
        row = self.minutes.get(key)
        if row is None:
            self.minutes[key] = [1, at, at]
        else:
            row[0] += 1
            if at < row[1]:
                row[1] = at
            elif at > row[2]:
                row[2] = at

    def spread(self) -> None:
        """Turn the per-minute notes into the counts and distinct members of each group."""
        counts, members = self.counts, self.members
        for (course, user, session, _), (n, first, last) in self.minutes.items():
            local = self.local(first)
            if local is None:
                continue
            day, how = local
            groups = (
                (("course", ""), ("day", day), ("how", how), ("user", user))
                if user
                else (("course", ""), ("day", day), ("how", how))
            )
            for kind, bucket in groups:
                key = (kind, course, bucket)
                row = counts.get(key)
                if row is None:
                    counts[key] = [n, first, last]
                else:
                    row[0] += n
                    if first < row[1]:
                        row[1] = first
                    if last > row[2]:
                        row[2] = last
                if session:
                    members.add((kind, course, bucket, "s", session))
            if user:
                members.add(("course", course, "", "u", user))
                members.add(("day", course, day, "u", user))
                members.add(("how", course, how, "u", user))
                members.add(("user", course, user, "d", day))
            members.add(("course", course, "", "d", day))
        self.minutes.clear()

    def count_rows(
        self, new_members: Iterable[tuple[str, str, str, str, str]]
    ) -> list[tuple[Any, ...]]:
        """Rows of an_counts: this fold's events plus one per member first seen."""
        distinct: dict[tuple[str, str, str], list[int]] = {}
        for kind, course, bucket, what, _ in new_members:
            slot = distinct.setdefault((kind, course, bucket), [0, 0, 0])
            slot["usd".index(what)] += 1
        out = []
        for key, (n, first, last) in self.counts.items():
            u, s_, d = distinct.get(key, (0, 0, 0))
            out.append((*key, n, u, s_, d, first, last))
        return out

    def writes(self) -> Iterable[tuple[str, list[tuple[Any, ...]]]]:
        yield "an_users", [(k, *v) for k, v in self.users.items()]
        yield "an_lti", [(*k, *v) for k, v in self.lti.items()]
        yield "an_views", [(*k, *v) for k, v in self.views.items()]
        yield "an_sources", [(k, *v) for k, v in self.sources.items()]
        yield "an_test_attempts", [(*k, *v) for k, v in self.tests.items()]
        yield "an_scores", [(*k, *v) for k, v in self.scores.items()]
        yield "an_question_attempts", [(*k, *v) for k, v in self.questions.items()]
        yield "an_daily", [(*k, v) for k, v in self.daily.items()]


def _state(cur: Any, sql: Any, lock: bool) -> tuple[int, bool, str]:
    cur.execute(
        sql(
            "SELECT high_water, dirty, tz FROM an_state WHERE id = 1"
            + (" FOR UPDATE" if lock else "")
        )
    )
    high_water, dirty, tz = cur.fetchone()
    return int(high_water), bool(dirty), str(tz)


def _committed_max(store: Store) -> int:
    """The largest event id below which every id is committed (or rolled back for good)."""
    with store.transaction() as cur:
        if store.dialect == "postgresql":
            cur.execute("LOCK TABLE events IN SHARE MODE")
        cur.execute("SELECT max(id) FROM events")
        found = cur.fetchone()[0]
    return int(found or 0)


def _rebuild(cur: Any, sql: Any) -> None:
    for table in TABLES:
        cur.execute(f"DELETE FROM {table}")
    cur.execute(sql("UPDATE an_state SET high_water = 0, dirty = 0 WHERE id = 1"))


#: SQLite: one parameter a row, well under its limit on parameters per statement
_MEMBERS_PER_INSERT = 5000
#: PostgreSQL: members per statement as one array (one short statement text, parsed once)
_MEMBERS_PER_ARRAY = 20_000
_RETURNING = " ON CONFLICT (key) DO NOTHING RETURNING key"


def member_key(member: tuple[str, str, str, str, str]) -> bytes:
    """What an_members stores of a member: 8 bytes of BLAKE2b of its group (kind, course,
    bucket), then 8 of what and the member itself. Session members are ~130-character URLs, so
    the text key made an_members a sixth of a compressed database; 16 bytes keep each group's
    members together in the B-tree (a chunk's new members land on few pages) and collide with
    odds of ~n²/2⁶⁵ among groups and among one group's members, i.e. never in practice."""
    kind, course, bucket, what, value = member
    group = blake2b(f"{kind}\x1f{course}\x1f{bucket}".encode(), digest_size=8).digest()
    return group + blake2b(f"{what}\x1f{value}".encode(), digest_size=8).digest()


def _new_members(
    cur: Any, pg: bool, members: set[tuple[str, str, str, str, str]]
) -> list[tuple[str, str, str, str, str]]:
    """Insert members' keys; return the members that were not there yet (RETURNING gives only
    inserted rows).

    On PostgreSQL the keys go as one array through ``unnest``: a statement of thousands of
    placeholders is parsed anew by the driver each time, which made it most of a refresh."""
    by_key = {member_key(m): m for m in members}
    fresh: list[tuple[str, str, str, str, str]] = []
    # in key order, so that the inserts walk the primary key's B-tree instead of jumping about
    pending = sorted(by_key)
    step = _MEMBERS_PER_ARRAY if pg else _MEMBERS_PER_INSERT
    for i in range(0, len(pending), step):
        part = pending[i : i + step]
        if pg:
            cur.execute("INSERT INTO an_members (key) SELECT * FROM unnest(%s::bytea[])" + _RETURNING, [part])
        else:
            cur.execute(
                "INSERT INTO an_members (key) VALUES " + ", ".join(["(?)"] * len(part)) + _RETURNING, part
            )
        fresh.extend(by_key[bytes(k)] for (k,) in cur.fetchall())
    return fresh


def refresh(store: Store, *, chunk: int = CHUNK) -> int:
    """Fold every new event into the summaries; return how many events were folded."""
    pg = store.dialect == "postgresql"

    def sql(text: str) -> str:
        return translate(text, store.dialect)

    rows = store.query("SELECT high_water, dirty FROM an_state WHERE id = 1")
    newest = store.query("SELECT max(id) FROM events")[0][0] or 0
    current = bool(rows) and int(rows[0][0]) >= int(newest) and not rows[0][1]
    if current and not store.query("SELECT 1 FROM an_stale LIMIT 1"):
        return 0
    upper = _committed_max(store)
    folded = 0
    while True:
        with store.transaction() as cur:
            high_water, dirty, tz = _state(cur, sql, pg)
            if dirty:
                _rebuild(cur, sql)
                high_water = 0
            if high_water >= upper:
                _refigure(cur, sql)
                return folded
            end = min(upper, high_water + chunk)
            cur.execute(sql(_SELECT), (high_water, end))
            fold = _Fold(zone(tz))
            found = cur.fetchall()
            for *r, codec, raw in found:  # raw: only launches' bytes are read
                fold.add((*r, None if raw is None else store.decode_raw(codec, raw)))
            fold.spread()
            for table, values in fold.writes():
                if values:
                    cur.executemany(sql(_UPSERT[table]), values)
            counts = fold.count_rows(_new_members(cur, pg, fold.members))
            if counts:
                cur.executemany(sql(_UPSERT["an_counts"]), counts)
            _note_stale(cur, sql, fold)
            cur.execute(
                sql("UPDATE an_state SET high_water = ?, refreshed_at = ? WHERE id = 1"),
                (end, datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")),
            )
            folded += len(found)


def backlog(store: Store) -> int:
    """How many event ids the summaries are behind (a whole rebuild when they are dirty)."""
    state = store.query("SELECT high_water, dirty FROM an_state WHERE id = 1")
    newest = int(store.query("SELECT max(id) FROM events")[0][0] or 0)
    if not state:
        return newest
    high_water, dirty = state[0]
    return newest if dirty else max(0, newest - int(high_water))


def user_uuids(store: Store, user: str, *, identity: bool) -> list[str] | None:
    """The ``user_uuid`` values that events of `user` (a uuid, a pk1 or, with `identity`, an
    external id) carry, as the summaries know them after a refresh, so that a user's events
    are read from the ``user_uuid`` index instead of a scan of every event.

    None when only a scan can answer: an actor IRI, a user known by pk1 alone (no uuid), or
    summaries that cannot be brought up to date (a read-only store)."""
    if "/" in user:
        return None
    try:
        refresh(store)
    except StoreError:
        return None
    columns = ["user_key", "user_uuid", "user_pk", *(["user_external_id"] if identity else [])]
    found = store.query(
        "SELECT user_uuid FROM an_users WHERE " + " OR ".join(f"{c} = ?" for c in columns), [user] * len(columns)
    )
    if any(uuid is None for (uuid,) in found):
        return None
    return sorted({uuid for (uuid,) in found})


def time_zone(store: Store) -> str:
    """The site's time zone the summaries count days and hours of the week in."""
    found = store.query("SELECT tz FROM an_state WHERE id = 1")
    return str(found[0][0]) if found else "UTC"


def set_time_zone(store: Store, tz: str) -> bool:
    """Make `tz` the site's time zone; when it changes, the next refresh rebuilds the summaries.
    Returns whether it changed."""
    zone(tz)  # refuse unknown names before storing one
    with store.transaction() as cur:
        cur.execute(
            translate(
                "UPDATE an_state SET tz = ?, dirty = 1 WHERE id = 1 AND tz <> ?", store.dialect
            ),
            (tz, tz),
        )
        return bool(cur.rowcount)


def _note_stale(cur: Any, sql: Any, fold: _Fold) -> None:
    """Note in ``an_stale`` the tests (and courses, for question types) whose cached figures
    `fold` changed; `_refigure` recomputes them once when the refresh has caught up, so a
    refresh of many chunks reads each test's attempt rows once, not once per chunk."""
    tests = {(c, a) for c, a, _ in fold.tests} | {(c, a) for c, a, _, _ in fold.questions}
    items = sorted({item for item, _ in fold.scores})
    for i in range(0, len(items), 500):
        part = items[i : i + 500]
        cur.execute(
            sql(
                "SELECT DISTINCT course_number, assessment_pk FROM an_test_attempts"
                f" WHERE gradable_item_pk IN ({', '.join('?' * len(part))})"
            ),
            part,
        )
        tests.update((c, a) for c, a in cur.fetchall())
    stale = [("test", c, a) for c, a in sorted(tests)]
    stale += [("qtype", c, "") for c in sorted({c for c, _, _, _ in fold.questions})]
    if stale:
        cur.executemany(
            sql(
                "INSERT INTO an_stale (kind, course_number, assessment_pk) VALUES (?, ?, ?)"
                " ON CONFLICT (kind, course_number, assessment_pk) DO NOTHING"
            ),
            stale,
        )


def _refigure(cur: Any, sql: Any) -> None:
    """Recompute the cached figures of every test, question and question type noted stale."""
    cur.execute("SELECT kind, course_number, assessment_pk FROM an_stale")
    stale = cur.fetchall()
    if not stale:
        return
    tests = {(c, a) for k, c, a in stale if k == "test"}
    question_courses = {c for k, c, _ in stale if k == "qtype"}
    for course in sorted({c for c, _ in tests} | question_courses):
        wanted = {a for c, a in tests if c == course}
        cur.execute(sql(figures.TEST_ROWS + " WHERE a.course_number = ?"), (course,))
        by_test = figures.group(cur.fetchall(), lambda r: (r[1],))
        # question types span the course: read all its questions only when some changed
        retyped = course in question_courses
        scope = "" if retyped else f" AND assessment_pk IN ({', '.join('?' * len(wanted))})"
        cur.execute(
            sql(figures.QUESTION_ROWS + " WHERE course_number = ?" + scope),
            (course, *([] if retyped else sorted(wanted))),
        )
        questions = cur.fetchall()
        cached = [
            ("test", course, a, "", _json(figures.test_figures(by_test.get((a,), []))))
            for a in sorted(wanted)
        ]
        for (a, q), rows in figures.group(questions, lambda r: (r[1], r[2])).items():
            if a in wanted:
                cached.append(("question", course, a, q, _json(figures.question_figures(rows))))
        if retyped:
            for (_, t), rows in figures.by_question_type(questions).items():
                cached.append(("qtype", course, "", t, _json(figures.question_figures(rows))))
            cur.execute(
                sql("DELETE FROM an_figures WHERE kind = 'qtype' AND course_number = ?"), (course,)
            )
        cur.executemany(
            sql(
                "INSERT INTO an_figures (kind, course_number, assessment_pk, item_key, figures) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (kind, course_number, assessment_pk, item_key) DO UPDATE SET figures = excluded.figures"
            ),
            cached,
        )
    cur.execute("DELETE FROM an_stale")


def _json(value: dict[str, Any]) -> str:
    return msgspec.json.encode(value).decode()


def ensure_current(store: Store) -> None:
    """Refresh before a report; on a store that cannot be written (read-only file or role),
    answer from the summaries as they are and say so in the log."""
    try:
        refresh(store)
    except StoreError as exc:
        log.warning(
            "analytics summaries not refreshed (%s); answers may miss the newest events", exc
        )


def scan(
    store: Store,
    local: LocalTime,
    *,
    course: str | None,
    user: str | None,
    since: str | None,
    until: str | None,
    kind: str,
) -> list[tuple[Any, ...]]:
    """Activity counts of one kind straight from the events (for filters the summaries cannot
    answer), counted by the same rules as `refresh`; rows shaped like ``an_counts``."""
    clauses = ["event_at IS NOT NULL"]
    params: list[Any] = []
    if course is not None:
        clauses.append(
            "course_number IS NULL" if course in ("", NO_COURSE) else "course_number = ?"
        )
        params += [] if course in ("", NO_COURSE) else [course]
    if user is not None:
        clauses.append("(user_uuid = ? OR user_pk = ? OR user_external_id = ? OR actor_id = ?)")
        params += [user] * 4
    if since is not None:
        clauses.append("event_at >= ?")
        params.append(store.time_key(since))
    if until is not None:
        clauses.append("event_at < ?")
        params.append(store.time_key(until))
    fold = _Fold(local.tz)
    fold.local = local
    sql = (
        "SELECT event_time, COALESCE(course_number, ''), COALESCE(user_uuid, user_pk, actor_id, ''),"
        f" COALESCE(session_id, '') FROM event_view WHERE {' AND '.join(clauses)}"
    )
    for at, c, u, s in store.stream(sql, params):
        fold._activity(at, c, u, s)
    fold.spread()
    rows = [r for r in fold.count_rows(fold.members) if r[0] == kind]
    return sorted((r[1:] for r in rows), key=lambda r: (r[0], r[1]))
