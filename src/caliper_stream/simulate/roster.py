"""A deterministic Learn site for a simulated term: courses, people, enrolments, coursework.

Everything is drawn from the caller's ``random.Random``, so one seed gives one site. Sizes:

- ``students`` people at the site; each takes ``min(courses, 1 + Binomial(3, 0.5))`` courses
  (so about 2.5 on average), and every course gets at least one student.
- one instructor per course; 10–30 content items, 1–3 LTI tools and 1–2 forums per course;
  30 % of courses are in the Original course view (they also have a blog and a wiki).
- people have given and family names, a username and an email at the site's domain, drawn from
  a generator seeded with their uuid (so adding names never changes the events a seed gives);
  courses have a title (``Introduction to Biology``) next to their batch_uid.
- an assignment due every 7 days from day 5, a test (5–12 questions) every 14 days from day 4,
  one group assignment (groups of 3–4) due at mid-term, and a participation column graded by
  hand; due times are 23:59 local.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec

from caliper_stream.analyse.names import NameSet
from caliper_stream.sensor.builders import Course, CourseGroup, GradableItem, Question, User, ts
from caliper_stream.store.base import CourseName, ItemName, UserName

#: Learn question types and how often a test uses them.
QUESTION_TYPES = (
    ("MultipleChoice", 40),
    ("TrueFalse", 20),
    ("MultipleAnswer", 15),
    ("FillInTheBlank", 10),
    ("Matching", 5),
    ("ShortAnswer", 5),
    ("Essay", 5),
)
SUBJECTS = ("BIO", "CHEM", "HIST", "MATH", "PHYS", "ECON", "ENG", "PSY", "CS", "ART")
#: subject code → course title stem.
SUBJECT_TITLES = {
    "BIO": "Biology", "CHEM": "Chemistry", "HIST": "World History", "MATH": "Calculus", "PHYS": "Physics",
    "ECON": "Economics", "ENG": "English Composition", "PSY": "Psychology", "CS": "Computer Science", "ART": "Art History",
}
LEVELS = ("Introduction to", "Principles of", "Topics in", "Advanced", "Foundations of")
GIVEN_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Mia", "Lucas", "Isabella", "Mateo",
    "Ava", "Levi", "Harper", "Ethan", "Aisha", "Wei", "Priya", "Kenji", "Fatima", "Diego", "Chloe", "Omar",
    "Zoe", "Samuel", "Nadia", "Arjun", "Lea", "Jonas", "Maya", "Tomás", "Ingrid", "Kwame", "Yuki", "Rosa",
)
FAMILY_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Nguyen", "Patel", "Kim", "Chen", "Okafor", "Müller", "Rossi", "Novak", "Haddad", "Sato", "Cohen", "O'Brien",
)
EMAIL_DOMAIN = "students.example.edu"
STAFF_DOMAIN = "example.edu"
LTI_TOOLS = (
    ("https://lti.kaltura.example.com/launch", "Kaltura Media"),
    ("https://turnitin.example.com/lti/launch", "Turnitin"),
    ("https://mcgrawhill.example.com/lti/launch", "Connect"),
    ("https://zoom.example.com/lti/launch", "Zoom"),
)


class PersonName(msgspec.Struct, frozen=True):
    """What Learn's user records (and Grade Center exports) show of a person."""

    given: str
    family: str
    username: str
    email: str

    @property
    def full(self) -> str:
        return f"{self.given} {self.family}"


def person_name(user: User, *, staff: bool = False) -> PersonName:
    """A realistic name for `user`, the same for the same uuid (its own generator, not the term's)."""
    r = random.Random(user.uuid)
    given, family = r.choice(GIVEN_NAMES), r.choice(FAMILY_NAMES)
    plain = "".join(c for c in (given[0] + family).lower() if c.isascii() and c.isalpha())
    username = f"{plain}{int(user.uuid[:8], 16) % 100_000:05d}"
    return PersonName(given, family, username, f"{username}@{STAFF_DOMAIN if staff else EMAIL_DOMAIN}")


class Test(msgspec.Struct, frozen=True):
    item: GradableItem
    questions: tuple[Question, ...]
    day: int


class Assignment(msgspec.Struct, frozen=True):
    item: GradableItem
    day: int  # the due day (0-based day of term)


class Forum(msgspec.Struct, frozen=True):
    pk: str
    content_pk: str
    name: str
    points: float


class Section(msgspec.Struct):
    """One course with everything the term generator needs about it."""

    course: Course
    instructor: User
    students: list[User]
    contents: list[str]
    lti_tools: list[tuple[str, str]]
    forums: list[Forum]
    assignments: list[Assignment]
    tests: list[Test]
    group_assignment: Assignment | None
    groups: list[CourseGroup]
    participation: GradableItem
    total_pk: str
    original: bool
    blog_pk: str
    wiki_pk: str
    wiki_pages: list[str]


class Roster(msgspec.Struct):
    site: str
    sections: list[Section]
    students: list[User]
    #: a user's courses (uuid → section indexes)
    enrolment: dict[str, list[int]]
    #: course-membership pk1 of (user uuid, course uuid)
    membership_pk: dict[tuple[str, str], str]
    #: every person's name (uuid → name), students and instructors
    names: dict[str, PersonName] = msgspec.field(default_factory=dict)


class Ids:
    """Deterministic identifiers from the term's rng (never uuid4)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._pk: dict[str, int] = {}

    def hex32(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def uuid(self) -> str:
        h = f"{(self.rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def pk(self, kind: str, start: int = 100) -> str:
        n = self._pk.get(kind, start) + 1
        self._pk[kind] = n
        return f"_{n}_1"


def due_at(start: date, day: int, tz: ZoneInfo, hour: int = 23, minute: int = 59) -> str:
    d = start + timedelta(days=day)
    return ts(datetime(d.year, d.month, d.day, hour, minute, tzinfo=tz))


def make_roster(rng: random.Random, ids: Ids, *, courses: int, students: int, days: int, start: date, tz: ZoneInfo) -> Roster:
    """Draw a site (see the module docstring)."""
    site = ids.uuid()
    people = [User(ids.hex32(), ids.pk("user"), f"s{rng.randrange(10**7):07d}") for _ in range(students)]
    sections: list[Section] = []
    for c in range(courses):
        subject = SUBJECTS[c % len(SUBJECTS)]
        number = f"{subject}-{101 + c}-{start.year % 100:02d}{'S' if start.month < 7 else 'F'}-{c + 1:03d}"
        title = f"{LEVELS[(c // len(SUBJECTS)) % len(LEVELS)]} {SUBJECT_TITLES[subject]}"
        course = Course(ids.hex32(), ids.pk("course"), number, title)
        teacher = User(ids.hex32(), ids.pk("user"), f"t{rng.randrange(10**6):06d}")
        content = [ids.pk("content") for _ in range(rng.randint(10, 30))]
        tools = rng.sample(LTI_TOOLS, rng.randint(1, 3))
        forums = [Forum(ids.pk("forum"), rng.choice(content), f"Discussion {i + 1}", rng.choice((0, 10, 20))) for i in range(rng.randint(1, 2))]
        assignments = [
            Assignment(GradableItem(ids.pk("gradable"), f"Assignment {i + 1}", rng.choice((20, 50, 60, 100)), due_at(start, day, tz), rng.choice(content)), day)
            for i, day in enumerate(range(5, days, 7))
        ]
        tests = []
        for i, day in enumerate(range(4, days, 14)):
            questions = tuple(
                Question(ids.pk("question"), rng.choices([q for q, _ in QUESTION_TYPES], [w for _, w in QUESTION_TYPES])[0])
                for _ in range(rng.randint(5, 12))
            )
            item = GradableItem(
                ids.pk("gradable"), f"Quiz {i + 1}", float(len(questions) * 10), due_at(start, day, tz), rng.choice(content),
                assessment_pk=ids.pk("assessment"), category="Test", category_pk="_2_1", max_attempts=1,
            )
            tests.append(Test(item, questions, day))
        group_day = max(days // 2, 1)
        group_item = Assignment(
            GradableItem(ids.pk("gradable"), "Group project", 100, due_at(start, group_day, tz), rng.choice(content)), group_day
        ) if days >= 4 else None
        sections.append(
            Section(
                course, teacher, [], content, tools, forums, assignments, tests, group_item, [],
                GradableItem(ids.pk("gradable"), "Participation", 10, None, ""), ids.pk("gradable"),
                rng.random() < 0.3, ids.pk("blog"), ids.pk("wiki"), [ids.hex32() for _ in range(3)],
            )
        )
    enrolment: dict[str, list[int]] = {}
    for person in people:
        k = min(courses, 1 + sum(rng.random() < 0.5 for _ in range(3)))
        chosen = sorted(rng.sample(range(courses), k))
        enrolment[person.uuid] = chosen
        for i in chosen:
            sections[i].students.append(person)
    for i, section in enumerate(sections):
        if not section.students and people:
            person = people[rng.randrange(len(people))]
            section.students.append(person)
            enrolment[person.uuid].append(i)
    membership_pk = {
        (u.uuid, s.course.uuid): ids.pk("membership") for s in sections for u in (s.instructor, *s.students)
    }
    for section in sections:
        members = list(section.students)
        rng.shuffle(members)
        size = 3 if len(members) < 8 else 4
        for g, first in enumerate(range(0, len(members), size)):
            chunk = tuple(members[first : first + size])
            section.groups.append(CourseGroup(ids.pk("group"), f"Team {g + 1}", section.course, chunk))
    names = {u.uuid: person_name(u) for u in people}
    names.update({s.instructor.uuid: person_name(s.instructor, staff=True) for s in sections})
    return Roster(site, sections, people, enrolment, membership_pk, names)


def name_set(roster: Roster) -> NameSet:
    """The site's names as an admin would load them (``simulate --names``): every course, its
    gradable items (assignments, tests, group project, participation, total) and every person."""
    courses, items, users = [], [], []
    for s in roster.sections:
        number = s.course.number
        courses.append(CourseName(number, s.course.name, s.course.pk))
        columns = [a.item for a in s.assignments] + [t.item for t in s.tests]
        if s.group_assignment is not None:
            columns.append(s.group_assignment.item)
        columns.append(s.participation)
        items += [ItemName(i.pk, i.name, number, i.max_score) for i in columns]
        possible = sum(a.item.max_score for a in s.assignments) + sum(t.item.max_score for t in s.tests)
        items.append(ItemName(s.total_pk, "Total", number, possible or 100))
    for u in [*roster.students, *(s.instructor for s in roster.sections)]:
        n = roster.names[u.uuid]
        users.append(UserName(u.uuid, u.pk, u.external_id, n.username, n.given, n.family, n.email))
    return NameSet(courses, items, users)
