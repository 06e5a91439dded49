"""The simulated site's names: realistic, deterministic, and independent of the term's events."""

from __future__ import annotations

import random
from datetime import date
from zoneinfo import ZoneInfo

from caliper_stream.simulate.roster import Ids, Roster, make_roster, person_name


def _roster(seed: int, students: int = 300) -> Roster:
    rng = random.Random(seed)
    return make_roster(rng, Ids(rng), courses=12, students=students, days=21, start=date(2026, 1, 12), tz=ZoneInfo("UTC"))


def test_every_person_has_a_name_and_a_unique_email() -> None:
    roster = _roster(3)
    people = [*roster.students, *(s.instructor for s in roster.sections)]
    assert set(roster.names) == {u.uuid for u in people}
    emails = [n.email for n in roster.names.values()]
    assert len(set(emails)) == len(emails)
    for uuid, name in roster.names.items():
        assert name.given, uuid
        assert name.family, uuid
        assert name.email.startswith(name.username + "@")
        assert name.username.isascii(), uuid
        assert name.username.isalnum(), uuid
    staff = {s.instructor.uuid for s in roster.sections}
    assert all(roster.names[u].email.endswith("@example.edu") for u in staff)


def test_names_are_deterministic_per_user_and_courses_have_distinct_titles() -> None:
    a, b = _roster(5), _roster(5)
    assert a.names == b.names
    assert all(person_name(u) == a.names[u.uuid] for u in a.students)
    assert len({s.course.name for s in a.sections}) == len(a.sections)
