"""RFC 7807 problem details: every error the server answers is one of these, never a traceback.

A sensor may "lack sophisticated error handling" (Caliper §6), so the status code carries the
meaning; the JSON body is for the operator reading a log or a curl session.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

PROBLEM_TYPE = "application/problem+json"
_TYPE_BASE = "urn:caliper-stream:problem:"

#: slug → (status, title): the only place that maps a failure to an HTTP status.
KINDS: dict[str, tuple[int, str]] = {
    "not-caliper": (400, "Not a Caliper payload"),
    "incomplete": (400, "Request body incomplete"),
    "bad-parameter": (400, "Invalid query parameter"),
    "unauthorized": (401, "Missing, unknown or revoked API key"),
    "forbidden": (403, "This key's role does not allow this request"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "too-large": (413, "Payload too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "unsupported-version": (422, "Unsupported Caliper dataVersion"),
    "timeout": (408, "Request not received in time"),
    "overloaded": (429, "Too many events waiting to be stored"),
    "throttled": (429, "Too many wrong API keys"),
    "internal": (500, "Internal server error"),
    "unavailable": (503, "Database unavailable"),
}


def status_of(kind: str) -> int:
    return KINDS[kind][0]


def problem(kind: str, detail: str, *, retry_after: int | None = None, **extra: Any) -> Response:
    """The problem response of this `kind` (a key of `KINDS`)."""
    status, title = KINDS[kind]
    body: dict[str, Any] = {"type": _TYPE_BASE + kind, "title": title, "status": status, "detail": detail}
    body.update(extra)
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="caliper"'
    return Response(msgspec.json.encode(body), status_code=status, headers=headers, media_type=PROBLEM_TYPE)
