"""The read API under ``/api/``: every report of `analyse.REPORTS`, the key data, sources, dead
letters, as JSON (paginated) or CSV / JSON Lines downloads (streamed).

Reports are found, not listed: each function's keyword parameters (read from its signature)
become query parameters, validated against their annotations, so a report added to
``REPORTS`` appears here, in the OpenAPI description and on the dashboard without a change
here. Filters share names across reports (``course``, ``user``, ``item``, ``test``,
``question``, ``since``, ``until``) whatever a function calls its parameter.

Who may read: a ``read`` or ``admin`` key, sent as ``Authorization`` (like Learn's write key)
or through a dashboard session cookie. A ``write`` key gets 403 (Learn's key never reads), no
key 401. Keys without the identity right never see people's names or external ids: those
columns are dropped from every answer, and their ``user`` filter matches ids only. Every read
of personal data passes through `audit`.
"""

from __future__ import annotations

import csv
import importlib
import inspect
import io
import re
import secrets
import types
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlencode

import anyio.to_thread
import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from caliper_stream.analyse.activity import daily as daily_counts
from caliper_stream.analyse.assessments import attempts, attempts_page
from caliper_stream.analyse.gradebook import (
    GRADEBOOK_COLUMNS,
    grade_matrix,
    grade_matrix_page,
    gradebook,
    gradebook_page,
    stream_gradebook,
)
from caliper_stream.analyse.summary import user_uuids
from caliper_stream.errors import StoreUnavailable
from caliper_stream.ingest import now
from caliper_stream.keydata import FIELDS
from caliper_stream.server.auth import KeyRing, hash_key, key_from_header
from caliper_stream.server.problems import problem
from caliper_stream.store.base import ApiKey, Store

#: Name of the dashboard's session cookie (the API accepts it as well as a key).
SESSION_COOKIE = "cs_session"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
#: Filters every report understands under one name, and what report functions may call them.
FILTERS: dict[str, tuple[str, ...]] = {
    "course": ("course", "course_number"),
    "user": ("user", "user_id"),
    "item": ("item", "gradable_item", "gradable_item_pk"),
    "test": ("test", "assessment", "assessment_pk"),
    "question": ("question", "question_pk"),
    "since": ("since",),
    "until": ("until",),
}
_ALIAS = {alias: name for name, aliases in FILTERS.items() for alias in aliases}
#: Columns that hold who a person is (beyond pseudonymous ids), shown only with the identity right.
_IDENTITY = re.compile(r"(^|_)(external_id|student_id|name|given_name|family_name|full_name|display_name|email|username)$")
#: Columns that are about a person at all (reading them is audited).
_PERSONAL = re.compile(r"^(user|actor|student|scored_by)(_|$)|_(external_id|email)$")
_CONTROL = {"limit", "offset", "format", "cursor"}
#: Reports whose JSON pages are read a page at a time: the report, its page function and the
#: filters the page function takes (any other filter needs the whole answer).
_GRADEBOOK_FILTERS = frozenset({"course", "user", "item", "since"})
_PAGERS: dict[Callable[..., Any], tuple[Callable[..., tuple[list[dict[str, Any]], int] | None], frozenset[str]]] = {
    gradebook: (gradebook_page, _GRADEBOOK_FILTERS),
    grade_matrix: (grade_matrix_page, _GRADEBOOK_FILTERS),
    attempts: (attempts_page, frozenset({"course", "user", "test", "since", "until"})),
}
_encode = msgspec.json.Encoder().encode


def _audit_trail() -> Callable[..., None] | None:
    """The store's audit trail writer, where the privacy package provides one."""
    try:
        module = importlib.import_module("caliper_stream.privacy.audit")
    except ImportError:
        return None
    found = getattr(module, "record", None)
    return found if callable(found) else None


_record = _audit_trail()


def identity_column(name: str) -> bool:
    """Whether a column names or identifies a person directly (names, emails, external ids).

    Headings are compared in snake case, so that Grade Center's export headings (``Last Name``,
    ``Student ID``, ``Username``) are held back like the key data's own columns."""
    name = re.sub(r"[\s-]+", "_", name.strip()).lower()
    return bool(_IDENTITY.search(name)) and not name.startswith(("course", "item", "gradable", "question", "test", "assessment"))


def personal_column(name: str) -> bool:
    return bool(_PERSONAL.search(name)) or identity_column(name)


class BadParameter(ValueError):
    """A query parameter that cannot be used: answered 400 with this message."""


# --- time filters --------------------------------------------------------------------------------


def canonical_time(value: str) -> str:
    """A since/until value as stored times compare: a date stays ``YYYY-MM-DD``; a date-time
    becomes UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (offsets applied)."""
    value = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            datetime.strptime(value, "%Y-%m-%d")
        except ValueError as exc:
            raise BadParameter(f"not a date: {value!r}") from exc
        return value
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadParameter(f"not an ISO 8601 date or date-time: {value!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.astimezone(UTC).microsecond // 1000:03d}Z"


# --- reports as endpoints ------------------------------------------------------------------------


class Param(msgspec.Struct):
    """One query parameter of a report: its public name, the function's name for it, its type."""

    name: str
    arg: str
    type: Any
    default: Any
    required: bool


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def report_params(fn: Callable[..., Any]) -> list[Param]:
    """The query parameters of a report function: its keyword parameters after the store."""
    try:
        hints = get_type_hints(fn)
    except Exception:
        hints = {}
    out = []
    for i, (pname, p) in enumerate(inspect.signature(fn).parameters.items()):
        if i == 0 or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue  # the store
        if pname in _CONTROL and p.default is not p.empty:
            continue  # the API's own paging/format names win; the report keeps its default
        out.append(
            Param(_ALIAS.get(pname, pname), pname, hints.get(pname, str), None if p.default is p.empty else p.default,
                  p.default is p.empty)
        )
    return out


def convert(param: Param, raw: str) -> Any:
    """A query string value as the report function's annotation wants it (400 otherwise)."""
    if param.name in ("since", "until"):
        return canonical_time(raw)
    tp, _ = _unwrap_optional(param.type)
    if get_origin(tp) is Literal:
        choices = get_args(tp)
        for choice in choices:
            if str(choice) == raw:
                return choice
        raise BadParameter(f"{param.name} must be one of {', '.join(map(str, choices))}, not {raw!r}")
    if tp is bool:
        if raw.lower() in ("1", "true", "yes"):
            return True
        if raw.lower() in ("0", "false", "no"):
            return False
        raise BadParameter(f"{param.name} must be true or false, not {raw!r}")
    if tp in (int, float):
        try:
            return tp(raw)
        except ValueError as exc:
            raise BadParameter(f"{param.name} must be a number, not {raw!r}") from exc
    if tp is str or tp is Any:
        if not raw or len(raw) > 500:
            raise BadParameter(f"{param.name} must be a non-empty value of at most 500 characters")
        return raw
    try:
        return msgspec.convert(raw, tp, strict=False)
    except msgspec.ValidationError as exc:
        raise BadParameter(f"{param.name}: {exc}") from exc


def _schema(tp: Any) -> dict[str, Any]:
    tp, _ = _unwrap_optional(tp)
    if get_origin(tp) is Literal:
        return {"type": "string", "enum": [str(c) for c in get_args(tp)]}
    return {"type": {int: "integer", float: "number", bool: "boolean"}.get(tp, "string")}


#: The largest id, offset or cursor a query takes: SQL's integers have 64 bits, and a larger
#: number would fail in the database rather than as a bad parameter.
MAX_INTEGER = 2**63 - 1


def _count(value: str, message: str) -> int:
    """A non-negative integer parameter that SQL can take, else `BadParameter(message)`."""
    try:
        number = int(value)
    except ValueError:
        raise BadParameter(message) from None
    if not 0 <= number <= MAX_INTEGER:
        raise BadParameter(message)
    return number


def _page(query: dict[str, str]) -> tuple[int, int]:
    bounds = f"limit must be an integer 1..{MAX_LIMIT} and offset one of 0..{MAX_INTEGER}"
    limit = _count(query.get("limit", str(DEFAULT_LIMIT)), bounds)
    offset = _count(query.get("offset", "0"), bounds)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParameter(bounds)
    return limit, offset


def _format(query: dict[str, str]) -> str:
    fmt = query.get("format", "json")
    if fmt not in ("json", "csv", "jsonl"):
        raise BadParameter("format must be json, csv or jsonl")
    return fmt


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return _encode(value).decode()
    return "" if value is None else value


def csv_lines(columns: list[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text, a line at a time (streamed: memory stays bounded)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
        if buf.tell() > 65536:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for row in rows:
        yield _encode(row) + b"\n"


def download(fmt: str, name: str, columns: list[str], rows: Iterable[dict[str, Any]]) -> Response:
    if fmt == "csv":
        return StreamingResponse(csv_lines(columns, rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return StreamingResponse(jsonl_lines(rows), media_type="application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="{name}.jsonl"'})


def json_response(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


# --- the API ----------------------------------------------------------------------------------


class ReadAPI:
    """The ``/api/`` routes over one store; `caller` is also how the dashboard knows who signed in."""

    def __init__(self, store: Store, keys: KeyRing, reports: dict[str, Callable[..., Any]]) -> None:
        self.store = store
        self.keys = keys
        self.reports = reports

    # --- who is asking -------------------------------------------------------------------------

    async def session_key(self, request: Request) -> tuple[ApiKey, str] | None:
        """The key and CSRF token of the dashboard session the request's cookie names."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token or len(token) > 200:
            return None
        found = await anyio.to_thread.run_sync(self.store.find_session, hash_key(token), now())
        if found is None:
            return None
        key = await self.keys.by_hash(found.key_hash)  # a revoked key ends its sessions at once
        return None if key is None else (key, found.csrf)

    async def caller(self, request: Request) -> ApiKey | Response:
        """The read or admin key behind a request (header, else session cookie), or the refusal."""
        header = request.headers.get("authorization")
        try:
            if header is not None:
                key = await self.keys.lookup(key_from_header(header))
            else:
                session = await self.session_key(request)
                key = None if session is None else session[0]
        except StoreUnavailable as exc:
            return problem("unavailable", f"cannot read API keys: {exc}", retry_after=5)
        if key is None:
            why = "no Authorization header or session" if header is None else "unknown or revoked API key"
            return problem("unauthorized", f"{why}; send 'Authorization: Bearer <read key>'")
        if key.role not in ("read", "admin"):
            return problem("forbidden", f"a {key.role} key cannot read; use a read key (keys add NAME --role read)")
        request.scope.setdefault("caliper.log", {})["key"] = key.name
        values = [v for _, v in request.query_params.multi_items()] + [str(v) for v in request.path_params.values()]
        if any("\x00" in v for v in values):
            # no stored value holds one (NULs are replaced on the way in), and PostgreSQL's text
            # cannot take one: refused here for every route and both databases alike
            return problem("bad-parameter", "a parameter cannot contain a NUL character (%00)")
        return key

    # --- the one door for personal data ----------------------------------------------------------

    async def audit(self, request: Request, key: ApiKey, what: str, params: dict[str, Any], rows: int) -> None:
        """Record one read of personal data: which key, what (endpoint and filters), when, how
        many rows. Every API and dashboard read that returns data about people comes here.

        The entry goes into the request's access-log line and, where the store keeps an audit
        trail, into it; neither names the person (a ``user`` filter is recorded as given, not
        by its value)."""
        detail = {k: ("(one user)" if k == "user" else v) for k, v in params.items()}
        entry = {"key": key.name, "what": what, "params": detail, "rows": rows, "at": now()}
        request.scope.setdefault("caliper.log", {})["audit"] = entry
        if _record is not None:
            described = " ".join([what, *(f"{k}={v}" for k, v in detail.items())])
            await anyio.to_thread.run_sync(_record, self.store, key.name, "read", described, {"rows": rows})

    def shown(self, key: ApiKey, rows: list[dict[str, Any]]) -> tuple[list[str], set[str]]:
        """The columns this key may see (identity columns only with the right) and those hidden."""
        union: dict[str, None] = {}
        for row in rows:  # rows may differ (a site-wide grade matrix: each course its items)
            if not union.keys() >= row.keys():
                union.update(dict.fromkeys(row))
        columns = list(union)
        hidden = set() if key.identity else {c for c in columns if identity_column(c)}
        return [c for c in columns if c not in hidden], hidden

    @staticmethod
    def hide(rows: list[dict[str, Any]], hidden: set[str]) -> list[dict[str, Any]]:
        return [{c: v for c, v in r.items() if c not in hidden} for r in rows] if hidden else rows

    async def _run(self, request: Request, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
        except StoreUnavailable as exc:
            return problem("unavailable", f"the database did not answer: {exc}", retry_after=5)

    async def _answer(self, request: Request, key: ApiKey, what: str, params: dict[str, Any],
                      rows: list[dict[str, Any]], query: dict[str, str], total: int | None = None) -> Response:
        """The answer as JSON pages or a download; with `total`, `rows` is already the page."""
        try:
            fmt = _format(query)
            limit, offset = _page(query)
        except BadParameter as exc:
            return problem("bad-parameter", str(exc))
        columns, hidden = self.shown(key, rows)
        if total is None:
            total = len(rows)
            page = rows[offset : offset + limit]
        else:
            page = rows
        if any(personal_column(c) for c in columns) or "user" in params:
            await self.audit(request, key, what, params, total)
        if fmt != "json":
            return download(fmt, what.rsplit("/", 1)[-1], columns, self.hide(rows, hidden))
        page = self.hide(page, hidden)
        following = None
        if offset + limit < total:
            following = f"{request.url.path}?{urlencode({**query, 'offset': offset + limit, 'limit': limit})}"
        return json_response({"columns": columns, "rows": page, "total": total, "offset": offset,
                              "limit": limit, "next": following})

    # --- routes ----------------------------------------------------------------------------------

    async def list_reports(self, request: Request) -> Response:
        who = await self.caller(request)
        if isinstance(who, Response):
            return who
        return json_response(
            {name: {"description": (inspect.getdoc(fn) or "").split("\n\n")[0],
                    "parameters": {p.name: {"default": p.default, **_schema(p.type)} for p in report_params(fn)}}
             for name, fn in self.reports.items()}
        )

    def parse(self, params: list[Param], query: dict[str, str], extra: Iterable[str] = ()) -> dict[str, Any]:
        """Query values for `params` (400 for unknown names, bad values, missing required ones)."""
        by_name = {p.name: p for p in params} | {p.arg: p for p in params}
        unknown = sorted(set(query) - set(by_name) - _CONTROL - set(extra))
        if unknown:
            accepted = sorted({p.name for p in params} | _CONTROL | set(extra))
            raise BadParameter(f"unknown parameter {', '.join(unknown)}; accepted: {', '.join(accepted)}")
        out: dict[str, Any] = {}
        for qname, raw in query.items():
            if qname in by_name:
                p = by_name[qname]
                out[p.arg] = convert(p, raw)
        missing = [p.name for p in params if p.required and p.arg not in out]
        if missing:
            raise BadParameter(f"missing parameter {', '.join(missing)}")
        return out

    async def report(self, request: Request) -> Response:
        who = await self.caller(request)
        if isinstance(who, Response):
            return who
        name = request.path_params["name"]
        fn = self.reports.get(name)
        if fn is None:
            return problem("not-found", f"no report {name!r}; reports: {', '.join(self.reports)}")
        query = dict(request.query_params)
        try:
            kwargs = self.parse(report_params(fn), query)
            paged = await self._paged(request, who, name, kwargs, query) or await self._streamed(request, who, name, kwargs, query)
            if paged is not None:
                return paged
            rows = await self._run(request, name, fn, self.store, **kwargs)
            if isinstance(rows, Response):
                return rows
            rows = self._identity_filter(who, kwargs.get("user"), list(rows))
            return await self._answer(request, who, f"reports/{name}", kwargs, rows, query)
        except (BadParameter, ValueError) as exc:
            return problem("bad-parameter", str(exc))

    async def _paged(self, request: Request, key: ApiKey, name: str, kwargs: dict[str, Any],
                     query: dict[str, str]) -> Response | None:
        """A JSON page of a report whose answer grows with the term (gradebook, grade matrix,
        attempts: 10^5 rows and more for a site) read a page at a time from the database, so
        the first page does not wait for all of them; None when the whole answer is needed
        (downloads, a filter the page function does not take, a pseudonymous key's user
        filter, a read-only store)."""
        found_pager = _PAGERS.get(self.reports.get(name))  # type: ignore[arg-type]
        if found_pager is None or _format(query) != "json":
            return None
        pager, filters = found_pager
        if not set(kwargs) <= filters or ("user" in kwargs and not key.identity):
            return None
        limit, offset = _page(query)
        found = await self._run(request, name, pager, self.store, limit=limit, offset=offset, **kwargs)
        if found is None or isinstance(found, Response):
            return found
        rows, total = found
        return await self._answer(request, key, f"reports/{name}", kwargs, rows, query, total)

    async def _streamed(self, request: Request, key: ApiKey, name: str, kwargs: dict[str, Any],
                        query: dict[str, str]) -> Response | None:
        """A download of the gradebook streamed from the kept cells as they are read (a site's
        gradebook at 10 M events is 400,000 rows: the first byte must not wait for the last);
        None when the whole answer is needed (as for `_paged`)."""
        fmt = _format(query)
        if self.reports.get(name) is not gradebook or fmt == "json":
            return None
        if not set(kwargs) <= _GRADEBOOK_FILTERS or ("user" in kwargs and not key.identity):
            return None
        found = await self._run(request, name, stream_gradebook, self.store, **kwargs)
        if found is None or isinstance(found, Response):
            return found
        columns = [c for c in GRADEBOOK_COLUMNS if key.identity or not identity_column(c)]
        rows = found if len(columns) == len(GRADEBOOK_COLUMNS) else ({c: r[c] for c in columns} for r in found)
        await self.audit(request, key, f"reports/{name}", kwargs, -1)  # streamed: the count is not known up front
        return download(fmt, name, columns, rows)

    @staticmethod
    def _identity_filter(key: ApiKey, user: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Without the identity right a ``user`` filter matches pseudonymous ids only (not an
        external id, which would confirm who a student number belongs to)."""
        if key.identity or user is None or not rows:
            return rows
        ids = [c for c in ("user_uuid", "user_pk", "user", "actor_id", "user_id") if c in rows[0]]
        if not ids:
            return rows
        return [r for r in rows if any(r.get(c) == user for c in ids)]

    # --- key data --------------------------------------------------------------------------------

    EVENT_COLUMNS: ClassVar[tuple[str, ...]] = ("id", *FIELDS, "source", "received_at")
    EVENT_FILTERS: ClassVar[dict[str, str]] = {
        "course": "course_number", "item": "gradable_item_pk", "test": "assessment_pk", "question": "question_pk",
        "type": "type", "action": "action", "source": "source", "session": "session_id", "attempt": "attempt_pk",
        "grade_action": "grade_action",
    }

    def event_query(self, key: ApiKey, query: dict[str, str], uuids: list[str] | None = None,
                    ) -> tuple[str, list[Any], list[str], dict[str, Any]]:
        """The SELECT for `query`; `uuids`: the ``user`` filter resolved to the ``user_uuid``
        values its events carry (`summary.user_uuids`), else matched on every id column."""
        allowed = {*self.EVENT_FILTERS, "user", "since", "until", *_CONTROL}
        unknown = sorted(set(query) - allowed)
        if unknown:
            raise BadParameter(f"unknown parameter {', '.join(unknown)}; accepted: {', '.join(sorted(allowed))}")
        columns = [c for c in self.EVENT_COLUMNS if key.identity or not identity_column(c)]
        clauses = ["1 = 1"]
        params: list[Any] = []
        used: dict[str, Any] = {}
        for qname, column in self.EVENT_FILTERS.items():
            if qname in query:
                clauses.append(f"{column} = ?")
                params.append(query[qname])
                used[qname] = query[qname]
        if "user" in query and uuids is not None:
            clauses.append(f"user_uuid IN ({', '.join('?' * len(uuids))})" if uuids else "1 = 0")
            params += uuids
            used["user"] = query["user"]
        elif "user" in query:
            ids = ["user_uuid", "user_pk", "actor_id"] + (["user_external_id"] if key.identity else [])
            clauses.append("(" + " OR ".join(f"{c} = ?" for c in ids) + ")")
            params += [query["user"]] * len(ids)
            used["user"] = query["user"]
        for qname, op in (("since", ">="), ("until", "<")):
            if qname in query:
                clauses.append(f"event_at {op} ?")
                params.append(self.store.time_key(used.setdefault(qname, canonical_time(query[qname]))))
        if "cursor" in query:
            clauses.append("id > ?")
            params.append(_count(query["cursor"], "cursor must be the id of the last event received"))
        sql = f"SELECT {', '.join(columns)} FROM event_view WHERE {' AND '.join(clauses)} ORDER BY id"
        return sql, params, columns, used

    async def events(self, request: Request) -> Response:
        """Key data, one record per event, in arrival order; ``cursor`` pages on (keyset)."""
        who = await self.caller(request)
        if isinstance(who, Response):
            return who
        query = dict(request.query_params)
        uuids = None
        if query.get("user"):
            uuids = await self._run(request, "events", user_uuids, self.store, query["user"], identity=who.identity)
            if isinstance(uuids, Response):
                return uuids
        try:
            sql, params, columns, used = self.event_query(who, query, uuids)
            fmt = _format(query)
            limit, _ = _page(query)
        except BadParameter as exc:
            return problem("bad-parameter", str(exc))
        if fmt != "json":
            await self.audit(request, who, "events", used, -1)  # streamed: the count is not known up front
            streamed = (dict(zip(columns, r, strict=True)) for r in self.store.stream(sql, params))
            return download(fmt, "events", columns, streamed)
        found = await self._run(request, "events", self.store.query, f"{sql} LIMIT ?", [*params, limit + 1])
        if isinstance(found, Response):
            return found
        rows = [dict(zip(columns, r, strict=True)) for r in found[:limit]]
        await self.audit(request, who, "events", used, len(rows))
        following = None
        if len(found) > limit:
            following = f"{request.url.path}?{urlencode({**query, 'cursor': rows[-1]['id']})}"
        return json_response({"columns": columns, "rows": rows, "total": None, "limit": limit, "next": following})

    async def grade_history(self, request: Request) -> Response:
        """Every grade event of one gradebook cell (course, user, item), oldest first."""
        who = await self.caller(request)
        if isinstance(who, Response):
            return who
        query = dict(request.query_params)
        try:
            missing = [n for n in ("course", "user", "item") if not query.get(n)]
            if missing:
                raise BadParameter(f"missing parameter {', '.join(missing)}")
            if set(query) - {"course", "user", "item", "format", "limit", "offset"}:
                raise BadParameter("accepted: course, user, item, format, limit, offset")
        except BadParameter as exc:
            return problem("bad-parameter", str(exc))
        rows = await self._run(request, "gradebook/history", cell_history, self.store, query["course"],
                               query["user"], query["item"], who.identity)
        if isinstance(rows, Response):
            return rows
        used = {k: query[k] for k in ("course", "user", "item")}
        return await self._answer(request, who, "gradebook/history", used, rows, query)

    async def sources(self, request: Request) -> Response:
        """The ``sources`` report (each source's last event; ``silent`` past a threshold: a
        silent Learn is how lost deliveries show) under its own short path."""
        request.path_params["name"] = "sources"
        return await self.report(request)

    async def daily(self, request: Request) -> Response:
        """Events per day (UTC date of eventTime) by source and type."""
        who = await self.caller(request)
        if isinstance(who, Response):
            return who
        query = dict(request.query_params)
        try:
            kwargs = self.parse(report_params(daily), query)
        except BadParameter as exc:
            return problem("bad-parameter", str(exc))
        rows = await self._run(request, "daily", daily, self.store, **kwargs)
        if isinstance(rows, Response):
            return rows
        return await self._answer(request, who, "daily", kwargs, rows, query)

    async def dead_letters(self, request: Request) -> Response:
        """Pending dead letters (id order; ``cursor`` = last id) with their first reason."""
        who = await self.caller(request)
        if isinstance(who, Response):
            return who
        query = dict(request.query_params)
        try:
            if set(query) - {"cursor", "limit", "all", "format"}:
                raise BadParameter("accepted: cursor, limit, all, format")
            limit, _ = _page(query)
            after = _count(query.get("cursor", "0"), "cursor must be the id of the last dead letter received")
            fmt = _format(query)
        except BadParameter as exc:
            return problem("bad-parameter", str(exc))
        letters = await self._run(request, "deadletters", self.store.list_dead_letters, limit + 1, after_id=after,
                                  include_replayed=query.get("all") in ("1", "true"))
        if isinstance(letters, Response):
            return letters
        rows = [{"id": d.id, "source": d.source, "received_at": d.received_at, "bytes": len(d.raw),
                 "reasons": len(d.reasons), "first_reason": str(d.reasons[0]) if d.reasons else None,
                 "replayed_at": d.replayed_at} for d in letters[:limit]]
        following = None
        if len(letters) > limit:
            following = f"{request.url.path}?{urlencode({**query, 'cursor': rows[-1]['id']})}"
        if fmt != "json":
            return download(fmt, "deadletters", list(rows[0]) if rows else ["id"], rows)
        return json_response({"columns": list(rows[0]) if rows else [], "rows": rows, "total": None,
                              "limit": limit, "next": following})

    async def dead_letter(self, request: Request) -> Response:
        """One dead letter's reasons (every problem with its JSON path), never its bytes: they may
        be anything a sensor sent, personal data included."""
        who = await self.caller(request)
        if isinstance(who, Response):
            return who
        try:
            ident = _count(request.path_params["id"], "a dead letter id is a non-negative integer")
        except BadParameter as exc:
            return problem("bad-parameter", str(exc))
        found = await self._run(request, "deadletter", self.store.get_dead_letter, ident)
        if isinstance(found, Response):
            return found
        if found is None:
            return problem("not-found", f"no dead letter {ident}")
        await self.audit(request, who, "deadletters/id", {"id": ident}, 1)
        return json_response({"id": found.id, "source": found.source, "received_at": found.received_at,
                              "replayed_at": found.replayed_at, "bytes": len(found.raw),
                              "reasons": [{"path": r.path, "message": r.message, "severity": r.severity}
                                          for r in found.reasons]})

    async def forget_user(self, request: Request) -> Response:
        """Erase one person (``caliper-stream forget`` through HTTP): admin keys only. The answer
        and the audit row say what was removed, never who the person was."""
        who = await self.caller(request)
        if isinstance(who, Response):
            return who
        if who.role != "admin":
            return problem("forbidden", "only an admin key can erase a person (keys add NAME --role admin)")
        term = request.path_params["id"]
        if not term or len(term) > 400:
            return problem("bad-parameter", "a user is named by a uuid, pk1, batch_uid or pseudonym")
        delete_events = request.query_params.get("delete_events", "0") in ("1", "true")
        from caliper_stream.privacy.forget import forget

        done = await self._run(request, "forget", forget, self.store, term, actor=who.name,
                               delete_events=delete_events)
        if isinstance(done, Response):
            return done
        found = done.identities or done.events_redacted or done.events_deleted or done.dead_letters
        body = {"identities": done.identities, "events_redacted": done.events_redacted,
                "events_deleted": done.events_deleted, "dead_letters": done.dead_letters,
                "warnings": done.warnings}
        return json_response(body, 200 if found else 404)

    def routes(self) -> list[Route]:
        return [
            Route("/api/users/{id}", self.forget_user, methods=["DELETE"]),
            Route("/api/reports", self.list_reports, methods=["GET"]),
            Route("/api/reports/{name}", self.report, methods=["GET"]),
            Route("/api/events", self.events, methods=["GET"]),
            Route("/api/gradebook/history", self.grade_history, methods=["GET"]),
            Route("/api/sources", self.sources, methods=["GET"]),
            Route("/api/daily", self.daily, methods=["GET"]),
            Route("/api/deadletters", self.dead_letters, methods=["GET"]),
            Route("/api/deadletters/{id}", self.dead_letter, methods=["GET"]),
        ]

    def openapi_paths(self) -> dict[str, Any]:
        """The OpenAPI paths of these routes, reports included (merged into ``/openapi.json``)."""
        return openapi_paths(self.reports)


# --- the questions the API answers besides the reports ------------------------------------------


def daily(store: Store, course: str | None = None, since: str | None = None,
          until: str | None = None) -> list[dict[str, Any]]:
    """Events per UTC day of eventTime, by source and type (from the daily summary)."""
    return daily_counts(store, course=course, since=since, until=until)


def cell_history(store: Store, course: str, user: str, item: str, identity: bool) -> list[dict[str, Any]]:
    """The history of one gradebook cell: the gradebook module's own when it has one (it knows
    Grade Center's rules), else every grade event of the cell from the key data."""
    from caliper_stream.analyse import gradebook as module

    for name in ("gradebook_cell", "cell_history", "cell"):
        fn = getattr(module, name, None)
        if callable(fn):
            found = fn(store, course=course, user=user, item=item)
            if found is None:
                return []
            history = found.get("history") if isinstance(found, dict) else getattr(found, "history", found)
            if history is not None:
                return [h if isinstance(h, dict) else msgspec.to_builtins(h) for h in history]
    ids = ["user_uuid", "user_pk"] + (["user_external_id"] if identity else [])
    sql = (
        "SELECT event_time, received_at, grade_action, action, attempt_pk, score, max_score, actor_id, event_id"
        " FROM event_view WHERE type IN ('GradeEvent', 'OutcomeEvent') AND course_number = ? AND gradable_item_pk = ?"
        f" AND ({' OR '.join(f'{c} = ?' for c in ids)}) ORDER BY event_time, id"
    )
    names = ["event_time", "received_at", "grade_action", "action", "attempt_pk", "score", "max_score", "by", "event_id"]
    return [dict(zip(names, r, strict=True)) for r in store.query(sql, [course, item, *[user] * len(ids)])]


# --- OpenAPI -----------------------------------------------------------------------------------


def _problems() -> dict[str, Any]:
    ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {
        "400": {"description": "a parameter is unknown or invalid", "content": ref},
        "401": {"description": "no key or session", "content": ref},
        "403": {"description": "a write key (it can never read)", "content": ref},
    }


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


_TABLE = {
    "type": "object",
    "properties": {
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "object"}},
        "total": {"type": ["integer", "null"]},
        "next": {"type": ["string", "null"], "description": "URL of the next page"},
    },
}
_COMMON = [
    _query("format", {"type": "string", "enum": ["json", "csv", "jsonl"]}, "csv/jsonl: the whole answer, streamed"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
]


def _get(summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "rows (identity columns only for keys with the identity right)",
                    "content": {"application/json": {"schema": _TABLE}, "text/csv": {}, "application/x-ndjson": {}},
                },
                **_problems(),
            },
        }
    }


def openapi_paths(reports: dict[str, Callable[..., Any]]) -> dict[str, Any]:
    offset = _query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER, "default": 0})
    cursor = _query("cursor", {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER}, "id of the last row of the previous page")
    paths: dict[str, Any] = {}
    for name, fn in reports.items():
        params = [_query(p.name, _schema(p.type), f"default {p.default!r}") | ({"required": True} if p.required else {})
                  for p in report_params(fn)]
        paths[f"/api/reports/{name}"] = _get((inspect.getdoc(fn) or name).split("\n")[0], [*params, *_COMMON, offset])
    string = {"type": "string"}
    paths["/api/reports"] = {"get": {"summary": "the reports and their parameters", "responses": {"200": {"description": "reports"}, **_problems()}}}
    paths["/api/events"] = _get(
        "key data, one record per event, in arrival order",
        [_query(n, string) for n in (*ReadAPI.EVENT_FILTERS, "user", "since", "until")] + [*_COMMON, cursor],
    )
    paths["/api/gradebook/history"] = _get(
        "every grade event of one gradebook cell",
        [_query(n, string) | {"required": True} for n in ("course", "user", "item")] + [*_COMMON, offset],
    )
    if "sources" in reports:
        paths["/api/sources"] = paths["/api/reports/sources"]
    paths["/api/daily"] = _get("events per day by source and type",
                               [_query(n, string) for n in ("course", "since", "until")] + [*_COMMON, offset])
    paths["/api/deadletters"] = _get("dead letters with their first reason",
                                     [_query("all", {"type": "boolean"}), *_COMMON, cursor])
    paths["/api/deadletters/{id}"] = {
        "get": {"summary": "one dead letter's reasons",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "reasons"}, "404": {"description": "no such dead letter"},
                              **_problems()}}
    }
    counts = {"application/json": {"schema": {"type": "object"}}}
    paths["/api/users/{id}"] = {
        "delete": {"summary": "erase one person (admin keys): identity, personal fields or events, dead letters",
                   "parameters": [{"name": "id", "in": "path", "required": True, "schema": string,
                                   "description": "uuid, pk1, batch_uid or pseudonym"},
                                  _query("delete_events", {"type": "boolean"}, "delete their events instead")],
                   "responses": {"200": {"description": "what was removed (counts)", "content": counts},
                                 "404": {"description": "nothing in the store names this person", "content": counts},
                                 **_problems()}}
    }
    return paths


def new_token() -> str:
    """A random token for sessions and CSRF (256 bits)."""
    return secrets.token_urlsafe(32)

