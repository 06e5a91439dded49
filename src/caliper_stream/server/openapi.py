"""The OpenAPI 3.1 description served at ``/openapi.json`` (written by hand: six routes)."""

from __future__ import annotations

from typing import Any

from caliper_stream.server.problems import KINDS
from caliper_stream.server.settings import Settings


def _problem(kind: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def describe(settings: Settings, extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
    """The description for this server's path and limits, with `extra_paths` (the read API's)."""
    doc = _describe(settings)
    doc["paths"].update(extra_paths or {})
    return doc


def _describe(settings: Settings) -> dict[str, Any]:
    auth_fail = _problem("unauthorized", KINDS["unauthorized"][1] + " (nothing is stored)")
    retry = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
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
            "schemas": {
                "Problem": {
                    "type": "object",
                    "description": "RFC 7807 problem details",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                },
                "Summary": {
                    "type": "object",
                    "properties": {
                        "accepted": {"type": "integer", "description": "events stored by this request"},
                        "duplicates": {"type": "integer", "description": "events already stored (success)"},
                        "rejected": {"type": "integer", "description": "pieces kept as dead letters"},
                        "problems": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "Config": {
                    "type": "object",
                    "properties": {
                        "caliperMaximumPayloadSize": {"type": "integer", "description": "KB"},
                        "caliperSupportedVersions": {"type": "array", "items": {"type": "string"}},
                        "caliperSupportedExtensions": {"type": "object"},
                    },
                },
            },
        },
        "security": [{"bearer": []}, {"raw": []}],
        "paths": {
            settings.path: {
                "post": {
                    "summary": "Store a Caliper payload",
                    "description": (
                        "Any payload the reader understands: an envelope, a bare event, an array, "
                        "JSON Lines, gzip (by magic number or Content-Encoding: gzip). Events that "
                        "cannot be stored become dead letters without failing the request. "
                        "Ask for counts with `Prefer: return=representation` or `?summary=1`."
                    ),
                    "parameters": [
                        {"name": "summary", "in": "query", "schema": {"type": "string", "enum": ["1"]}},
                        {"name": "Prefer", "in": "header", "schema": {"type": "string", "example": "return=representation"}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            t: {"schema": {}}
                            for t in ("application/json", "application/ld+json", "application/x-ndjson", "application/gzip")
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "every event stored (duplicates included); empty body unless a summary is asked for",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Summary"}}},
                        },
                        "400": _problem("not-caliper", "not a Caliper payload (kept whole as a dead letter)"),
                        "401": auth_fail,
                        "413": _problem("too-large", f"body over {settings.max_bytes} bytes"),
                        "415": _problem("unsupported-media-type", "Content-Type is not JSON"),
                        "422": _problem("unsupported-version", "unknown dataVersion (kept as a dead letter)"),
                        "429": {**_problem("overloaded", "too many events waiting; retry later"), "headers": retry},
                        "503": {**_problem("unavailable", "database cannot commit; nothing stored"), "headers": retry},
                    },
                },
                "get": {
                    "summary": "Caliper 1.2 endpoint configuration",
                    "responses": {
                        "200": {
                            "description": "configuration",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Config"}}},
                        },
                        "401": auth_fail,
                    },
                },
            },
            "/healthz": {"get": {"summary": "process is up", "security": [], "responses": {"200": {"description": "ok"}}}},
            "/readyz": {
                "get": {
                    "summary": "database reachable and writer running",
                    "security": [],
                    "responses": {"200": {"description": "ready"}, "503": _problem("unavailable", "not ready")},
                }
            },
            "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {"200": {"description": "text format"}}}},
            "/openapi.json": {"get": {"summary": "this description", "security": [], "responses": {"200": {"description": "OpenAPI"}}}},
        },
    }
