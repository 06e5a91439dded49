"""The OpenAPI 3.1 description served at ``/openapi.json`` and rendered at ``/docs``.

Written by hand to say exactly what the server does: the body POST takes (a Caliper envelope,
a bare event or an array of events), the empty 200 (or the summary when asked for), every
error answer as ``application/problem+json``, ``Retry-After`` on 429 and 503, and the ``Allow``
header of 405. Other modules add their own routes through `describe`'s ``extra_paths`` (and
``extra_schemas``), so that one description covers the whole server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from caliper_stream.server.problems import KINDS
from caliper_stream.server.settings import Settings
from caliper_stream.vocab import CONTEXTS

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_RETRY = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "seconds to wait before retrying"}}
_ALLOW = {"Allow": {"schema": {"type": "string"}, "description": "the methods this path allows"}}


def problem_response(kind: str, description: str, *, retry: bool = False) -> dict[str, Any]:
    """One error answer: a problem document of `kind` (a key of `problems.KINDS`)."""
    out: dict[str, Any] = {
        "description": f"{KINDS[kind][1]}: {description}",
        "content": {"application/problem+json": {"schema": _PROBLEM_REF}},
    }
    if retry:
        out["headers"] = _RETRY
    return out


def _not_allowed() -> dict[str, Any]:
    return {**problem_response("method-not-allowed", "this path does not take the method"), "headers": _ALLOW}


def _common(keyed: bool) -> dict[str, Any]:
    """Answers every route may give: 405, and for keyed routes the key refusals."""
    out: dict[str, Any] = {"405": _not_allowed()}
    if keyed:
        out["401"] = problem_response("unauthorized", "send 'Authorization: Bearer <key>' or 'Authorization: <key>'")
        out["429"] = problem_response("throttled", "too many wrong keys from this client", retry=True)
        out["503"] = problem_response("unavailable", "the API keys cannot be read", retry=True)
    return out


_EVENT = {
    "type": "object",
    "description": "A Caliper event (1.0, 1.1 or 1.2, Learn's extensions included); an event that "
    "cannot be stored is kept as a dead letter without failing the request.",
    "properties": {
        "@context": {"type": ["string", "array", "object"]},
        "id": {"type": "string", "examples": ["urn:uuid:3a648e68-f00d-4c08-aa59-8738e1884f2c"]},
        "type": {"type": "string", "examples": ["NavigationEvent"]},
        "action": {"type": "string", "examples": ["NavigatedTo"]},
        "actor": {"type": ["object", "string"]},
        "object": {"type": ["object", "string"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "edApp": {"type": ["object", "string"]},
        "group": {"type": ["object", "string"]},
        "membership": {"type": ["object", "string"]},
        "session": {"type": ["object", "string"]},
        "extensions": {"type": "object"},
    },
    "required": ["type", "action", "actor", "object"],
}
_ENVELOPE = {
    "type": "object",
    "description": "Caliper envelope (the form Learn sends: up to a few hundred events)",
    "properties": {
        "sensor": {"type": "string"},
        "sendTime": {"type": "string", "format": "date-time"},
        "dataVersion": {"type": "string", "enum": list(CONTEXTS.values())},
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
    },
    "required": ["sensor", "sendTime", "dataVersion", "data"],
}
_SUMMARY = {
    "type": "object",
    "description": "What the request stored. An event already stored (by its id, whichever "
    "source sent it) is a duplicate: it stays under the source that sent it first.",
    "properties": {
        "accepted": {"type": "integer", "minimum": 0, "description": "events stored by this request"},
        "duplicates": {"type": "integer", "minimum": 0, "description": "events already stored (a success)"},
        "rejected": {"type": "integer", "minimum": 0, "description": "pieces kept as dead letters"},
        "problems": {"type": "array", "items": {"type": "string"}, "description": "why (the first few)"},
        "note": {"type": "string"},
    },
    "required": ["accepted", "duplicates", "rejected"],
}
_PROBLEM = {
    "type": "object",
    "description": "RFC 7807 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}
_CONFIG = {
    "type": "object",
    "properties": {
        "caliperMaximumPayloadSize": {"type": "integer", "description": "KB"},
        "caliperSupportedVersions": {"type": "array", "items": {"type": "string"}},
        "caliperSupportedExtensions": {"type": "object"},
    },
    "required": ["caliperMaximumPayloadSize", "caliperSupportedVersions"],
}


def _post(settings: Settings) -> dict[str, Any]:
    body_schema = {
        "oneOf": [
            {"$ref": "#/components/schemas/Envelope"},
            {"$ref": "#/components/schemas/Event"},
            {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
        ]
    }
    return {
        "summary": "Store a Caliper payload",
        "description": (
            "Any payload the reader understands: an envelope, a bare event, an array, JSON Lines, "
            "gzip (by magic number or Content-Encoding: gzip). Events that cannot be stored become "
            "dead letters without failing the request. The answer is 200 with an empty body once "
            "every event is durably stored (as an event or a dead letter); ask for the counts with "
            "`Prefer: return=representation` or `?summary=1`."
        ),
        "parameters": [
            {"name": "summary", "in": "query", "required": False, "schema": {"type": "string", "enum": ["1"]}},
            {
                "name": "Prefer", "in": "header", "required": False,
                "schema": {"type": "string", "enum": ["return=representation", "return=minimal"]},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": body_schema},
                "application/ld+json": {"schema": body_schema},
                "application/x-ndjson": {"schema": {"type": "string", "description": "one event or envelope per line"}},
            },
        },
        "responses": {
            "200": {
                # no `content`: by default the body is empty, with no Content-Type. A summary
                # asked for is a `Summary` as application/json (OpenAPI cannot make a response's
                # content depend on a request header, so it is named here and in components).
                "description": "every event stored (duplicates included); empty body. With "
                "`Prefer: return=representation` or `?summary=1` the body is a Summary "
                "(#/components/schemas/Summary) as application/json.",
                "headers": {
                    "Preference-Applied": {"schema": {"type": "string"}, "description": "with a summary"}
                },
            },
            "400": problem_response("not-caliper", "not a Caliper payload, or incomplete (kept whole as a dead letter)"),
            "408": problem_response("timeout", "headers or body not received in time; nothing stored"),
            "413": problem_response("too-large", f"body over {settings.max_bytes} bytes, or over "
                                    f"{settings.max_inflated_bytes} once decompressed"),
            "415": problem_response("unsupported-media-type", "Content-Type is not JSON (kept as a dead letter)"),
            "422": problem_response("unsupported-version", "unknown dataVersion (kept as a dead letter)"),
            **_common(keyed=True),
            "429": problem_response("overloaded", "too many events waiting to be stored, or too many "
                                    "wrong keys from this client", retry=True),
            "503": problem_response("unavailable", "the database cannot commit now; nothing stored", retry=True),
        },
    }


def describe(
    settings: Settings,
    extra_paths: Mapping[str, Mapping[str, Any]] | None = None,
    extra_schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The description for this server's path and limits, plus other modules' routes."""
    metrics_security: list[dict[str, list[str]]] = [] if settings.public_metrics else [{"bearer": []}, {"raw": []}]
    paths: dict[str, Any] = {
        settings.path: {
            "post": _post(settings),
            "get": {
                "summary": "Caliper 1.2 endpoint configuration",
                "responses": {
                    "200": {
                        "description": "configuration",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Config"}}},
                    },
                    **_common(keyed=True),
                },
            },
        },
        "/healthz": {
            "get": {
                "summary": "the process is up",
                "security": [],
                "responses": {
                    "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}},
                    **_common(keyed=False),
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "ready to store: writer running, database reachable, last commit (or a write probe) succeeded",
                "security": [],
                "responses": {
                    "200": {"description": "ready", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "503": problem_response("unavailable", "not ready, and why (what the writer last saw)"),
                    **_common(keyed=False),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics" + ("" if settings.public_metrics else " (needs an API key)"),
                "security": metrics_security,
                "responses": {
                    "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    **_common(keyed=not settings.public_metrics),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "this description",
                "security": [],
                "responses": {
                    "200": {"description": "OpenAPI", "content": {"application/json": {"schema": {"type": "object"}}}},
                    **_common(keyed=False),
                },
            }
        },
        "/docs": {
            "get": {
                "summary": "this description, interactive (works offline)",
                "security": [],
                "responses": {
                    "200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
                    **_common(keyed=False),
                },
            }
        },
    }
    paths.update({p: dict(ops) for p, ops in (extra_paths or {}).items()})
    schemas: dict[str, Any] = {
        "Problem": _PROBLEM, "Summary": _SUMMARY, "Config": _CONFIG, "Envelope": _ENVELOPE, "Event": _EVENT,
        **{name: dict(s) for name, s in (extra_schemas or {}).items()},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "caliper-stream",
            "version": "1",
            "description": (
                "Receives the IMS Caliper stream Blackboard Learn sends. A 2xx answer means every "
                "event of the request is durably stored, as an event or as a dead letter."
            ),
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
                "raw": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Authorization: <key> (Blackboard's convention, no scheme)",
                },
            },
            "schemas": schemas,
        },
        "security": [{"bearer": []}, {"raw": []}],
        "paths": paths,
    }
