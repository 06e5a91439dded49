"""A small simulated term with every kind of personal data, and what identifies its people."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import msgspec

from caliper_stream.simulate import TermConfig, generate
from caliper_stream.simulate.term import Term

CONFIG = TermConfig(courses=2, students=10, days=12, seed=7)
SECRET = b"0123456789abcdef-test-secret-for-privacy"


@cache
def events() -> tuple[dict[str, Any], ...]:
    """The term's events in delivery order (duplicates included, as Learn would resend them)."""
    planned = sorted(generate(CONFIG), key=lambda p: p.at)
    return tuple(p.built.event for p in planned)


def envelopes(size: int = 50) -> list[bytes]:
    evs = events()
    site = Term(CONFIG).roster.site
    return [
        msgspec.json.encode(
            {"sensor": site, "sendTime": "2026-04-01T00:00:00.000Z",
             "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1", "data": list(evs[i : i + size])}
        )
        for i in range(0, len(evs), size)
    ]


class Person(msgspec.Struct):
    uuid: str
    pk: str
    external_id: str
    texts: list[str]  # full name, username, e-mail

    def identifiers(self) -> list[str]:
        """What identifies them on its own. Their pk1 (``_101_1``) is no such thing: Learn's
        assessments, questions and courses have pk1s of the same form, so it is looked for
        where it names a person (`in_person_context`)."""
        return [self.uuid, self.external_id, *self.texts]

    def in_person_context(self) -> list[bytes]:
        return [f'"bb:user.id":"{self.pk}"'.encode(), f'"bb:user.id": "{self.pk}"'.encode()]


@cache
def people() -> tuple[Person, ...]:
    roster = Term(CONFIG).roster
    users = [*roster.students, *(s.instructor for s in roster.sections)]
    out = []
    for u in users:
        n = roster.names[u.uuid]
        out.append(Person(u.uuid, u.pk, u.external_id, [n.full, n.username, n.email]))
    return tuple(out)


def client_data() -> dict[str, set[str]]:
    """IP addresses, user agents and OAuth secrets the term's events carry."""
    found: dict[str, set[str]] = {"ip": set(), "agent": set(), "oauth": set()}

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "bb:request.headers.ipAddress":
                    found["ip"].add(x)
                elif k == "bb:request.headers.agent":
                    found["agent"].add(x)
                elif k in ("oauth_signature", "oauth_nonce"):
                    found["oauth"].add(x)
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for e in events():
        walk(e)
    return found


def traces(data: bytes, persons: list[Person] | tuple[Person, ...], extra: list[str] | None = None) -> list[str]:
    """Every identifier of `persons` (and `extra` strings) found in `data`."""
    found = occurrences(data, [i for p in persons for i in p.identifiers()] + list(extra or []))
    return found + [c.decode() for p in persons for c in p.in_person_context() if c in data]


def occurrences(data: bytes, needles: list[str]) -> list[str]:
    """The needles found in `data` as whole identifiers (``_1_1`` is not in ``_41_1``)."""
    needles = [n for n in needles if n.encode() in data]  # fast prefilter; the pattern checks boundaries
    if not needles:
        return []
    found = _pattern(tuple(sorted(set(needles), key=len, reverse=True))).findall(data)
    return sorted({f.decode() for f in found})


@cache
def _pattern(needles: tuple[str, ...]) -> re.Pattern[bytes]:
    alternatives = b"|".join(re.escape(n.encode()) for n in needles)
    return re.compile(rb"(?<![A-Za-z0-9])(?:" + alternatives + rb")(?![A-Za-z0-9_])")
