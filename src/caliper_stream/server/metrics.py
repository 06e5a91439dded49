"""Prometheus metrics, in a registry of the app's own (two apps in one process never mix).

Event outcomes are labelled by source (the API key's name: operators create those, so the set is
bounded) and canonical type. A type is a label only when it is one Caliper or Learn defines
(`KNOWN_TYPES`); anything else a sender writes counts as ``other``, so no request can add
series to ``/metrics`` (every label of every metric comes from a fixed set). The split of a
request's events between ``accepted`` and ``duplicate`` per type is exact whenever a request's
events are all new or all already stored (a retry); a request mixing both is split in order.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from caliper_stream.store.base import Backlog
from caliper_stream.store.writer import CommitInfo
from caliper_stream.validate.rules import EVENTS

__all__ = ["CONTENT_TYPE_LATEST", "KNOWN_TYPES", "Metrics", "type_label"]

#: Learn's own event types (its ``caliper.blackboard.com`` IRIs, as canonical ``bb:`` terms).
LEARN_TYPES = frozenset(
    f"bb:{name}Event"
    for name in ("Blog", "CalculatedGradeSnapshot", "Content", "CourseGroup", "Forum", "LTI", "Wiki")
)
#: Event types that may be a metric label: every Caliper version's event types, Learn's, and
#: ``unknown`` (no type at all).
KNOWN_TYPES = frozenset(t for types in EVENTS.values() for t in types) | LEARN_TYPES | {"unknown"}


def type_label(event_type: str) -> str:
    """The label for an event type: itself when known, else ``other``."""
    return event_type if event_type in KNOWN_TYPES else "other"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Content types senders use by mistake, the only values of the ``content_type`` label.
_MISLABELS = frozenset({"application/x-www-form-urlencoded", "text/plain", "multipart/form-data", "application/octet-stream"})
_SIZES = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000)


class Metrics:
    """The server's metrics; `render` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "caliper_http_requests", "HTTP requests answered, by method and status.", ["method", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "caliper_http_request_seconds", "Time from request start to response.", ["method"], buckets=_LATENCY, registry=r
        )
        self.events = Counter(
            "caliper_events",
            "Events received, by source, canonical type and outcome (accepted, duplicate, rejected).",
            ["source", "type", "outcome"],
            registry=r,
        )
        self.request_events = Histogram(
            "caliper_request_events", "Events (and dead letters) per request.", buckets=_SIZES, registry=r
        )
        self.write_wait = Histogram(
            "caliper_write_wait_seconds", "Time a request waited for the commit holding its events.",
            buckets=_LATENCY, registry=r,
        )
        self.commit_rows = Histogram(
            "caliper_commit_rows", "Rows (events and dead letters) per database transaction (group commit).",
            buckets=_SIZES, registry=r,
        )
        self.commit_seconds = Histogram(
            "caliper_commit_seconds", "Duration of one database transaction, commit included.",
            buckets=_LATENCY, registry=r,
        )
        self.pending = Gauge(
            "caliper_pending_events", "Events received and not yet committed (the 429 threshold applies to this).",
            registry=r,
        )
        self.commit_failures = Counter(
            "caliper_commit_failures", "Database transactions that failed (nothing of theirs was stored).", registry=r
        )
        self.unavailable = Counter(
            "caliper_unavailable", "Requests answered 503 because their events could not be committed.", registry=r
        )
        self.auth_failures = Counter(
            "caliper_auth_failures", "Requests with a missing, unknown or revoked API key.", registry=r
        )
        self.auth_throttled = Counter(
            "caliper_auth_throttled",
            "Requests refused with 429 because their client sent too many wrong keys.", registry=r,
        )
        self.dead_lettered_rows = Counter(
            "caliper_isolated_rows",
            "Events a commit could not store, isolated from their group and kept as dead letters.", registry=r,
        )
        self.mislabelled_requests = Counter(
            "caliper_mislabelled_requests",
            "Requests stored although their Content-Type is not JSON (e.g. curl's default form type).",
            ["content_type"],
            registry=r,
        )

        self.inboxed_requests = Counter(
            "caliper_inboxed_requests", "Request bodies acknowledged once committed to the inbox.", registry=r
        )
        self.inboxed_events = Counter(
            "caliper_inboxed_events", "Events of the bodies committed to the inbox (as counted at the door).",
            registry=r,
        )
        self.inbox_rows = Gauge(
            "caliper_inbox_rows", "Request bodies in the inbox, waiting to be digested (all replicas).", registry=r
        )
        self.inbox_events = Gauge(
            "caliper_inbox_events", "Events in the inbox's bodies, waiting to be digested.", registry=r
        )
        self.inbox_bytes = Gauge("caliper_inbox_bytes", "Bytes of the inbox's bodies.", registry=r)
        self.digested_requests = Counter(
            "caliper_digested_requests", "Inbox rows this server's digester turned into events and dead letters.",
            registry=r,
        )
        self.digested_events = Counter(
            "caliper_digested_events", "Events the digester stored (new ones; rate() is the digest rate).",
            registry=r,
        )
        self.digest_seconds = Histogram(
            "caliper_digest_seconds", "Duration of one digest transaction.", buckets=_LATENCY, registry=r
        )
        self.digest_failures = Counter(
            "caliper_digest_failures", "Digest attempts that failed (their rows stay in the inbox).", registry=r
        )

    def request(self, method: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"  # any token is a valid HTTP method
        self.requests.labels(method, str(status)).inc()
        self.request_seconds.labels(method).observe(seconds)

    def outcome(self, source: str, row_types: list[str], rejected_types: list[str], accepted: int) -> None:
        """Count a committed request: the first `accepted` new rows by type, the rest as duplicates."""
        row_types = [type_label(t) for t in row_types]
        rejected_types = [type_label(t) for t in rejected_types]
        accepted_by_type: Tally[str] = Tally()
        duplicate_by_type: Tally[str] = Tally()
        if accepted == len(row_types):
            accepted_by_type.update(row_types)
        elif accepted == 0:
            duplicate_by_type.update(row_types)
        else:
            accepted_by_type.update(row_types[:accepted])
            duplicate_by_type.update(row_types[accepted:])
        for outcome, tally in (
            ("accepted", accepted_by_type),
            ("duplicate", duplicate_by_type),
            ("rejected", Tally(rejected_types)),
        ):
            for type_, n in tally.items():
                self.events.labels(source, type_, outcome).inc(n)

    def mislabelled(self, content_type: str) -> None:
        """Count a body stored despite its label; the label is one of a few known ones or ``other``."""
        known = content_type if content_type in _MISLABELS else "other"
        self.mislabelled_requests.labels(known).inc()

    def commit(self, info: CommitInfo) -> None:
        """Writer hook (called on the writer thread; prometheus-client is thread-safe)."""
        self.commit_rows.observe(info.rows)
        self.commit_seconds.observe(info.seconds)
        if info.isolated:
            self.dead_lettered_rows.inc(info.isolated)
        if not info.ok:
            self.commit_failures.inc()

    def inboxed(self, events: int, size: int) -> None:
        self.inboxed_requests.inc()
        self.inboxed_events.inc(events)

    def backlog(self, backlog: Backlog) -> None:
        self.inbox_rows.set(backlog.rows)
        self.inbox_events.set(backlog.events)
        self.inbox_bytes.set(backlog.bytes)

    def digest(self, requests: int, events: int, seconds: float, ok: bool, isolated: int,
               outcomes: list[tuple[str, str, str, int]]) -> None:
        """Digester hook: one digest (or failed attempt) the child reported."""
        if not ok:
            self.digest_failures.inc()
            return
        self.digested_requests.inc(requests)
        self.digested_events.inc(events)
        self.digest_seconds.observe(seconds)
        if isolated:
            self.dead_lettered_rows.inc(isolated)
        for source, type_, outcome, n in outcomes:
            self.events.labels(source, type_label(type_), outcome).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
