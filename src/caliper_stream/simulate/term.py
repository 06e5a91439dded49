"""A deterministic simulated term of Learn activity: events and when Learn hands them over.

`generate` yields `Planned` events in the order Learn would hand them to its sender (``at``,
epoch seconds): immediate events at their eventTime, nightly events also at their eventTime
(the sender holds them until the nightly run), late deliveries hours after their eventTime,
and duplicate deliveries (the very same event again) minutes later. All randomness comes from
``random.Random(seed)``, event ids included, so a seed gives byte-identical events.

Distributions (times are local to ``timezone``; "logn(m, s)" is lognormal with median m):

- **Sessions.** A student is active on a weekday with p 0.75 (weekend 0.45) and then has
  1 + Bernoulli(0.4) + Bernoulli(0.15) sessions. A session starts at an hour drawn from
  `HOUR_WEIGHTS` (peaks late morning and evening) and lasts logn(20 min, 0.8), clipped to
  2 min – 4 h. It ends LoggedOut (75 %) or TimedOut 30 min after the last activity (25 %).
- **In a session.** ⌊Exp(mean 4)⌋ content views; an LTI launch with p 0.15 (return after
  1–15 min); a forum post with p 0.12 (20 % of posts are edited with the same eventTime, as
  Learn's sample shows); a blog post and a wiki edit each with p 0.03 in Original courses.
- **Assignments.** 92 % of students start each assignment ⌊Exp(mean 1.5)⌋ days before it is due,
  work logn(45 min, 0.7), and 95 % of those submit (AssignableEvent Started, Submitted and an
  immediate submit GradeEvent); 15 % of those who submitted start a second attempt 0.5–3 h
  later and submit it too. The instructor grades every attempt 1–5 days after the due date
  during office hours (nightly GradeEvent, score = max · Beta(5, 1.6)); feedback follows with
  p 0.5; the only attempt is deleted with p 0.01, the last of two with p 0.25 (the earlier one
  counts again). The next day an earlier attempt of two is regraded with p 0.3 (it stays not
  current), a student updates feedback with p 0.05, and a grade is overridden with p 0.04
  (feedback is updated after it with p 0.5), the override cleared again with p 0.35 within 4
  days. Every grading step is also told to the simulator's `GradeCenter` (the ground truth).
- **Group assignment.** The instructor creates the groups on day 0 (CourseGroupEvent); one
  member per group starts and submits; every member is graded.
- **Tests.** 90 % of students take each test on its due day or the day before: AssessmentEvent
  Started, each question Started and Completed after logn(50 s, 0.6) (Essay logn(6 min, 0.5)),
  Submitted, and an immediate auto-graded submit GradeEvent; tests with an essay are graded by
  the instructor later (nightly). 4 % of attempts are abandoned after a uniform number of
  questions (never Submitted nor graded).
- **Instructors.** Active on 80 % of weekdays: views, ContentEvent Created on Mondays (1–2
  items) and Modified with p 0.3 (10 % of edits emit the event twice, 208 ms apart, as Learn
  does). A manual participation grade for every student on the last day.
- **Nightly.** Between 01:30 and 01:59 the night after a student's grades changed, a
  CalculatedGradeSnapshotEvent of the course total.
- **Delivery faults.** 0.3 % of immediate events are delivered late (1–6 h) and 0.3 % of
  nightly ones miss their nightly run (handed over 24 h later, in the next night's bulk); 0.2 %
  of events are delivered twice (1–300 s apart).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import msgspec

from caliper_stream.sensor import builders as b
from caliper_stream.simulate.gradecenter import GradeCenter
from caliper_stream.simulate.roster import Assignment, Ids, Roster, Section, Test, make_roster

HOUR_WEIGHTS = (1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.5, 3, 4.5, 5.5, 6, 5.5, 5, 5, 4.5, 4, 4, 4.5, 5.5, 6.5, 6.5, 5, 2.5)
_HOURS = list(range(24))
_CUM_HOURS = [sum(HOUR_WEIGHTS[: i + 1]) for i in range(24)]
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR


class TermConfig(msgspec.Struct, frozen=True):
    """What to simulate (``students`` is the number of students at the site)."""

    courses: int = 3
    students: int = 30
    days: int = 7
    seed: int = 0
    start: date = date(2026, 1, 12)
    version: str = "1.1"
    timezone: str = "America/New_York"
    urn_ids: bool = False
    late_rate: float = 0.003
    duplicate_rate: float = 0.002


class Planned(msgspec.Struct, frozen=True):
    """One event, when Learn hands it to its sender (``at``), and how it is delivered."""

    at: float
    built: b.Built
    late: bool = False
    duplicate: bool = False


Build = Callable[[], b.Built]


class _Day:
    """The events of one day, as (time, sequence, build) to be built in time order."""

    def __init__(self) -> None:
        self.specs: list[tuple[int, int, Build]] = []

    def add(self, at_ms: int, build: Build) -> None:
        self.specs.append((at_ms, len(self.specs), build))


class Term:
    """The generator's state (see the module docstring for what it draws)."""

    def __init__(self, config: TermConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.ids = Ids(self.rng)
        self.tz = ZoneInfo(config.timezone)
        self.roster: Roster = make_roster(
            self.rng, self.ids, courses=config.courses, students=config.students, days=config.days, start=config.start, tz=self.tz
        )
        self.learn = b.Learn(self.roster.site, version=config.version, urn_ids=config.urn_ids, new_id=self.ids.uuid)
        self.day_start = [self._midnight(d) for d in range(config.days + 2)]
        self.changed: set[tuple[int, str]] = set()  # (section, student uuid) graded today
        self.sync_version = 329_000_000
        # plans made once and remembered across days (keys and small tuples, never events)
        self._work_day: dict[tuple[int, str, str], int] = {}
        #: what Grade Center shows, kept as the term decides each grading step
        self.gradecenter = GradeCenter()
        # (section, item) → the submitted attempts in order: (student, attempt pk, start, count)
        self._submitted: dict[tuple[int, str], list[tuple[b.User, str, int, int]]] = {}
        # a student's graded, not deleted attempts of an item, oldest first: [attempt, start, score, count]
        self._graded: dict[tuple[tuple[int, str], str], list[tuple[str, int, float, int]]] = {}
        self._grade_day: dict[tuple[int, str], int] = {}
        self._clear: dict[tuple[tuple[int, str], str], int] = {}
        self._essay: dict[int, list[tuple[int, b.GradableItem, b.User, str, int, float]]] = {}

    def _midnight(self, day: int) -> int:
        d = self.config.start + timedelta(days=day)
        return int(datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp() * 1000)

    # -- small draws -------------------------------------------------------------------------

    def at_hour(self, day: int, hour: int | None = None) -> int:
        r = self.rng
        h = hour if hour is not None else r.choices(_HOURS, cum_weights=_CUM_HOURS)[0]
        return self.day_start[day] + h * HOUR + int(r.random() * HOUR)

    def within(self, start: int, end: int) -> int:
        """A uniform time strictly inside a session (the hot path: no randint)."""
        return start + 1000 + int(self.rng.random() * max(end - start - 2000, 1))

    def logn_ms(self, median_s: float, sigma: float, lo: float, hi: float) -> int:
        return int(1000 * min(max(self.rng.lognormvariate(math.log(median_s), sigma), lo), hi))

    def session(self) -> b.Session:
        return b.Session(self.ids.hex32().upper())

    def ip(self) -> str:
        r = self.rng
        return f"{r.randint(11, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randint(1, 254)}"

    # -- the term ----------------------------------------------------------------------------

    def planned(self) -> Iterator[Planned]:
        # A day's events are built in time order and yielded directly; late and duplicate
        # deliveries, and events that spill past midnight, wait in a heap until their time.
        heap: list[tuple[float, int, Planned]] = []
        seq = 0
        late_rate, dup_rate = self.config.late_rate, self.config.late_rate + self.config.duplicate_rate
        rng = self.rng
        for day in range(self.config.days):
            spec = _Day()
            self.plan_day(day, spec)
            spec.specs.sort()  # (time, sequence) are unique: the builds are never compared
            horizon = self.day_start[day + 1] / 1000
            for at_ms, _, build in spec.specs:
                built = build()
                at = at_ms / 1000
                roll = rng.random()
                if roll < dup_rate:
                    if roll < late_rate:
                        # immediate: hours late; nightly: missed its run, so in the next night's bulk
                        delay = 86_400.0 if built.nightly else rng.uniform(3600, 6 * 3600)
                        item = Planned(at + delay, built, late=True)
                    else:
                        item = Planned(at, built)
                        again = Planned(at + rng.uniform(1, 300), built, duplicate=True)
                        heapq.heappush(heap, (again.at, seq, again))
                        seq += 1
                else:
                    item = Planned(at, built)
                if item.at >= horizon or item.late:
                    heapq.heappush(heap, (item.at, seq, item))
                    seq += 1
                    continue
                while heap and heap[0][0] <= at:
                    yield heapq.heappop(heap)[2]
                yield item
            while heap and heap[0][0] < horizon:
                yield heapq.heappop(heap)[2]
        while heap:
            yield heapq.heappop(heap)[2]

    def plan_day(self, day: int, spec: _Day) -> None:
        weekday = (self.config.start + timedelta(days=day)).weekday()
        sections = self.roster.sections
        for idx, section in enumerate(sections):
            self.instructor_day(day, weekday, idx, section, spec)
            for a in section.assignments:
                if a.day - 6 <= day <= a.day:
                    self.assignment_work(day, idx, section, a, spec)
                self.assignment_grading(day, idx, section, a, spec)
            if section.group_assignment is not None:
                self.group_work(day, idx, section, section.group_assignment, spec)
            for t in section.tests:
                if day in (t.day - 1, t.day):
                    self.test_taking(day, idx, section, t, spec)
            if day == self.config.days - 1:
                self.manual_grades(day, idx, section, spec)
        for student in self.roster.students:
            active = 0.75 if weekday < 5 else 0.45
            if self.rng.random() >= active:
                continue
            n = 1 + (self.rng.random() < 0.4) + (self.rng.random() < 0.15)
            for _ in range(n):
                self.student_session(day, student, spec)
        self.snapshots(day, spec)

    # -- sessions ----------------------------------------------------------------------------

    def login(self, user: b.User, start: int, end: int, spec: _Day, timeout: bool | None = None) -> b.Session:
        """Schedule LoggedIn at ``start`` and LoggedOut/TimedOut after ``end``; return the session."""
        lt, session, ip = self.learn, self.session(), self.ip()
        agent = b.AGENTS[int(session.hex[:4], 16) % len(b.AGENTS)]  # from the session id: no extra draw
        spec.add(start, partial(b.session_event, lt, user, "LoggedIn", b.ms_time(start), session, ip=ip, agent=agent))
        if timeout is None:
            timeout = self.rng.random() < 0.25
        if timeout:
            t = end + 30 * MIN
            spec.add(t, partial(b.session_event, lt, user, "TimedOut", b.ms_time(t), session, ip=ip, agent=agent, started=b.ms_time(start)))
        else:
            spec.add(end, partial(b.session_event, lt, user, "LoggedOut", b.ms_time(end), session, ip=ip, agent=agent))
        return session

    def student_session(self, day: int, student: b.User, spec: _Day) -> None:
        r, lt = self.rng, self.learn
        courses = self.roster.enrolment[student.uuid]
        if not courses:
            return
        start = self.at_hour(day)
        length = self.logn_ms(20 * 60, 0.8, 120, 4 * 3600)
        end = start + length
        session = self.login(student, start, end, spec)
        for _ in range(int(r.expovariate(1 / 4))):
            sec = self.roster.sections[r.choice(courses)]
            t = self.within(start, end)
            spec.add(t, partial(b.view_event, lt, student, sec.course, b.ms_time(t), session, content_pk=r.choice(sec.contents)))
        if r.random() < 0.15:
            sec = self.roster.sections[r.choice(courses)]
            url, name = r.choice(sec.lti_tools)
            launch = self.ids.uuid()
            t = self.within(start, end)
            back = t + r.randint(1, 15) * MIN
            person = self.roster.names[student.uuid]
            lis = {"lis_person_name_given": person.given, "lis_person_name_family": person.family,
                   "lis_person_name_full": person.full, "lis_person_contact_email_primary": person.email}
            for action, when in (("LoggedIn", t), ("LoggedOut", back)):
                spec.add(when, partial(b.lti_event, lt, student, sec.course, action, b.ms_time(when), session, launch_id=launch, launch_url=url, name=name, parameters=lis))
        if r.random() < 0.12:
            sec = self.roster.sections[r.choice(courses)]
            forum = r.choice(sec.forums)
            post = self.ids.pk("post", 1000)
            t = self.within(start, end)
            length_chars = int(r.lognormvariate(math.log(600), 0.7))
            first = r.random() < 0.3
            post_fn = partial(
                b.forum_event, lt, student, sec.course, at=b.ms_time(t), session=session, forum_pk=forum.pk, post_pk=post,
                forum_name=forum.name, content_pk=forum.content_pk, points_possible=forum.points, first_post=first,
            )
            spec.add(t, partial(post_fn, action="Created", length=length_chars))
            if r.random() < 0.2:
                spec.add(t, partial(post_fn, action="Modified", length=length_chars + r.randint(1, 40)))
        for idx in courses:
            sec = self.roster.sections[idx]
            if not sec.original:
                continue
            if r.random() < 0.03:
                t = self.within(start, end)
                spec.add(t, partial(b.blog_event, lt, student, sec.course, "Created", b.ms_time(t), session, blog_pk=sec.blog_pk, post_pk=self.ids.pk("blogpost", 1000), blog_name=f"{sec.course.name} blog", length=int(r.lognormvariate(math.log(400), 0.6))))
            if r.random() < 0.03:
                t = self.within(start, end)
                page = r.choice(sec.wiki_pages)
                spec.add(t, partial(b.wiki_event, lt, student, sec.course, "Modified", b.ms_time(t), session, page_uuid=page, post_id=self.ids.hex32()[:20], wiki_pk=sec.wiki_pk, wiki_name=f"{sec.course.name} wiki", page_name="Notes", words=r.randint(20, 600)))

    def instructor_day(self, day: int, weekday: int, idx: int, sec: Section, spec: _Day) -> None:
        r, lt, teacher = self.rng, self.learn, sec.instructor
        if day == 0:
            start = self.at_hour(day, 9)
            session = self.login(teacher, start, start + 40 * MIN, spec, timeout=False)
            for i, group in enumerate(sec.groups):
                t = start + (i + 1) * MIN
                members = [self.roster.membership_pk[(u.uuid, sec.course.uuid)] for u in group.members]
                spec.add(t, partial(b.course_group_event, lt, teacher, group, "Created", b.ms_time(t), session, member_pks=members))
        if weekday >= 5 or r.random() >= 0.8:
            return
        start = self.at_hour(day, r.randint(8, 16))
        end = start + self.logn_ms(45 * 60, 0.5, 600, 3 * 3600)
        session = self.login(teacher, start, end, spec)
        for _ in range(int(r.expovariate(1 / 3))):
            t = self.within(start, end)
            spec.add(t, partial(b.view_event, lt, teacher, sec.course, b.ms_time(t), session, content_pk=r.choice(sec.contents), role="Instructor"))
        edits: list[tuple[str, str]] = []
        if weekday == 0:
            edits += [("Created", r.choice(sec.contents)) for _ in range(r.randint(1, 2))]
        if r.random() < 0.3:
            edits.append(("Modified", r.choice(sec.contents)))
        for action, content in edits:
            t = self.within(start, end)
            build = partial(b.content_event, lt, teacher, sec.course, action, session=session, content_pk=content, name="", score_possible=0)
            spec.add(t, partial(build, at=b.ms_time(t)))
            if action == "Modified" and r.random() < 0.1:
                spec.add(t + 208, partial(build, at=b.ms_time(t + 208)))

    # -- coursework --------------------------------------------------------------------------

    def work_session(self, user: b.User, start: int, length: int, spec: _Day) -> tuple[b.Session, int]:
        end = start + length
        return self.login(user, start - self.rng.randint(1, 5) * MIN, end + self.rng.randint(1, 10) * MIN, spec), end

    def assignment_work(self, day: int, idx: int, sec: Section, a: Assignment, spec: _Day) -> None:
        r, lt = self.rng, self.learn
        for student in sec.students:
            # each student's start day is drawn once per assignment: on the first day of the window
            key = (idx, a.item.pk, student.uuid)
            plan = self._work_day.get(key)
            if plan is None:
                plan = a.day - min(int(r.expovariate(1 / 1.5)), 6) if r.random() < 0.92 else -1
                self._work_day[key] = plan
            if plan != day:
                continue
            start = self.at_hour(day)
            if day == a.day:
                start = min(start, self.day_start[day] + 23 * HOUR)
            length = self.logn_ms(45 * 60, 0.7, 300, 5 * 3600)
            session, end = self.work_session(student, start, length, spec)
            if r.random() >= 0.95:  # started, never submitted
                attempt = self.ids.pk("attempt", 5000)
                spec.add(start, partial(b.assignable_event, lt, student, sec.course, a.item, "Started", b.ms_time(start), session, attempt_pk=attempt, started=b.ms_time(start)))
                continue
            self.attempt(idx, sec, a, student, start, end, session, 1, spec)
            if r.random() < 0.15:  # a second attempt
                again = end + r.randint(30, 180) * MIN
                length = self.logn_ms(30 * 60, 0.6, 300, 3 * 3600)
                session, end2 = self.work_session(student, again, length, spec)
                self.attempt(idx, sec, a, student, again, end2, session, 2, spec)

    def attempt(self, idx: int, sec: Section, a: Assignment, student: b.User, start: int, end: int, session: b.Session, count: int, spec: _Day) -> None:
        """An assignment attempt started and submitted (AssignableEvents and the submit GradeEvent)."""
        lt = self.learn
        attempt = self.ids.pk("attempt", 5000)
        began = b.ms_time(start)
        spec.add(start, partial(b.assignable_event, lt, student, sec.course, a.item, "Started", began, session, attempt_pk=attempt, started=began, count=count))
        spec.add(end, partial(b.assignable_event, lt, student, sec.course, a.item, "Submitted", b.ms_time(end), session, ended=b.ms_time(end), seconds=(end - start) / 1000, attempt_pk=attempt, started=began, count=count))
        self.grade(end + 400, idx, sec, a.item, b.SUBMIT_ASSIGNMENT, student, attempt, start, None, spec, count=count, changed=False)
        self._submitted.setdefault((idx, a.item.pk), []).append((student, attempt, start, count))

    def assignment_grading(self, day: int, idx: int, sec: Section, a: Assignment, spec: _Day) -> None:
        r = self.rng
        key = (idx, a.item.pk)
        grade_day = self._grade_day.get(key)
        if grade_day is None:
            grade_day = self._grade_day[key] = a.day + r.randint(1, 5)
        if day == grade_day:
            t = self.at_hour(day, r.randint(9, 15))
            by_student: dict[str, tuple[b.User, list[tuple[str, int, int]]]] = {}
            for student, attempt, started, count in self._submitted.get(key, []):
                by_student.setdefault(student.uuid, (student, []))[1].append((attempt, started, count))
            for student, attempts in by_student.values():
                graded = []
                for attempt, started, count in attempts:
                    t += r.randint(1, 8) * MIN
                    score = round(a.item.max_score * r.betavariate(5, 1.6), 2)
                    self.grade(t, idx, sec, a.item, b.GRADE, student, attempt, started, score, spec, count=count)
                    graded.append((attempt, started, score, count))
                    if r.random() < 0.5:
                        self.grade(t + r.randint(1, 3) * MIN, idx, sec, a.item, b.FEEDBACK, student, attempt, started, score, spec, count=count)
                if r.random() < (0.25 if len(graded) > 1 else 0.01):  # delete the last attempt
                    attempt, started, _, count = graded.pop()
                    t += 4 * MIN
                    self.grade(t, idx, sec, a.item, b.DELETE_ATTEMPT, student, attempt, started, None, spec, count=count)
                if graded:
                    self._graded[(key, student.uuid)] = graded
        elif grade_day < day <= grade_day + 5:  # overrides are cleared within 4 days
            done: set[str] = set()
            for student, _, _, _ in self._submitted.get(key, []):
                found = self._graded.get((key, student.uuid))
                if found is None or student.uuid in done:
                    continue
                done.add(student.uuid)
                attempt, started, score, count = found[-1]
                if day == grade_day + 1 and len(found) > 1 and r.random() < 0.3:  # regrade an earlier attempt
                    first, first_started, _, first_count = found[0]
                    regrade = round(a.item.max_score * r.betavariate(5, 1.6), 2)
                    self.grade(self.at_hour(day, r.randint(9, 16)), idx, sec, a.item, b.GRADE, student, first, first_started, regrade, spec, count=first_count)
                if day == grade_day + 1 and r.random() < 0.05:
                    self.grade(self.at_hour(day), idx, sec, a.item, b.FEEDBACK_UPDATE, student, attempt, started, score, spec, count=count)
                if day == grade_day + 1 and r.random() < 0.04:
                    new = round(min(a.item.max_score, score + r.uniform(1, a.item.max_score / 5)), 2)
                    at = self.at_hour(day, r.randint(9, 16))
                    self.grade(at, idx, sec, a.item, b.OVERRIDE, student, attempt, started, new, spec, count=count)
                    if r.random() < 0.5:  # feedback updated after the override: the override stays
                        self.grade(at + r.randint(1, 30) * MIN, idx, sec, a.item, b.FEEDBACK_UPDATE, student, attempt, started, score, spec, count=count)
                    if r.random() < 0.35:
                        self._clear[(key, student.uuid)] = day + r.randint(1, 4)
                if self._clear.get((key, student.uuid)) == day:
                    # the clear carries the attempt's score; what counts again is the attempt
                    self.grade(self.at_hour(day, r.randint(9, 16)), idx, sec, a.item, b.CLEAR_OVERRIDE, student, attempt, started, score, spec, count=count)

    def grade(
        self, t: int, idx: int, sec: Section, item: b.GradableItem, action: str, student: b.User, attempt: str,
        started: int, score: float | None, spec: _Day, *, count: int = 1, changed: bool = True,
    ) -> None:
        """A GradeEvent at ``t``, told to the Grade Center too; ``changed`` marks the course
        total for the nightly recalculation."""
        began = b.ms_time(started)
        spec.add(t, partial(b.grade_event, self.learn, student, sec.course, item, action, b.ms_time(t), attempt_pk=attempt, started=began, score=score, count=count))
        self.gradecenter.record(sec.course.number, student.uuid, student.pk, student.external_id, item.pk, item.max_score, action, attempt, began, count, score)
        if changed:
            self.changed.add((idx, student.uuid))

    def group_work(self, day: int, idx: int, sec: Section, a: Assignment, spec: _Day) -> None:
        _r, lt = self.rng, self.learn
        if day == a.day - 1:
            for group in sec.groups:
                if not group.members:
                    continue
                leader = group.members[0]
                start = self.at_hour(day)
                length = self.logn_ms(60 * 60, 0.6, 600, 5 * 3600)
                session, end = self.work_session(leader, start, length, spec)
                attempt = self.ids.pk("attempt", 5000)
                began = b.ms_time(start)
                spec.add(start, partial(b.assignable_event, lt, leader, sec.course, a.item, "Started", began, session, attempt_pk=attempt, started=began, group=group))
                spec.add(end, partial(b.assignable_event, lt, leader, sec.course, a.item, "Submitted", b.ms_time(end), session, ended=b.ms_time(end), seconds=(end - start) / 1000, attempt_pk=attempt, started=began, group=group))
                self.grade(end + 400, idx, sec, a.item, b.SUBMIT_GROUP_ASSIGNMENT, leader, attempt, start, None, spec, changed=False)
                for member in group.members:
                    self._submitted.setdefault((idx, a.item.pk), []).append((member, attempt, start, 1))
        self.assignment_grading(day, idx, sec, a, spec)

    def test_taking(self, day: int, idx: int, sec: Section, test: Test, spec: _Day) -> None:
        r, lt, item = self.rng, self.learn, test.item
        for student in sec.students:
            key = (idx, item.pk, student.uuid)
            plan = self._work_day.get(key)
            if plan is None:
                plan = test.day - (r.random() < 0.4) if r.random() < 0.9 else -1
                self._work_day[key] = plan
            if plan != day:
                continue
            start = self.at_hour(day, r.choice((9, 10, 11, 13, 14, 15, 16, 19, 20, 21)))
            durations = [
                self.logn_ms(360 if q.question_type == "Essay" else 50, 0.5 if q.question_type == "Essay" else 0.6, 5, 3600)
                for q in test.questions
            ]
            session, _ = self.work_session(student, start, sum(durations) + 2000 * len(durations) + 2000, spec)
            attempt = self.ids.pk("attempt", 5000)
            began = b.ms_time(start)
            spec.add(start, partial(b.assessment_event, lt, student, sec.course, item, "Started", began, session, attempt_pk=attempt, started=began))
            t = start + 1000
            correct = 0.0
            # an abandoned attempt stops after some questions: no Submitted, no grade
            answered = r.randint(0, len(test.questions) - 1) if r.random() < 0.04 else len(test.questions)
            for q, ms in zip(test.questions[:answered], durations[:answered], strict=True):
                q_attempt = self.ids.pk("qattempt", 9000)
                q_began = b.ms_time(t)
                spec.add(t, partial(b.assessment_item_event, lt, student, sec.course, item, q, "Started", q_began, session, attempt_pk=q_attempt, started=q_began))
                spec.add(t + ms, partial(b.assessment_item_event, lt, student, sec.course, item, q, "Completed", b.ms_time(t + ms), session, ended=b.ms_time(t + ms), seconds=ms / 1000, attempt_pk=q_attempt, started=q_began))
                if q.question_type != "Essay" and r.random() < 0.72:
                    correct += 10
                t += ms + r.randint(500, 4000)
            if answered < len(test.questions):
                continue
            spec.add(t, partial(b.assessment_event, lt, student, sec.course, item, "Submitted", b.ms_time(t), session, ended=b.ms_time(t), seconds=(t - start) / 1000, attempt_pk=attempt, started=began))
            self.grade(t + 300, idx, sec, item, b.SUBMIT_TEST, student, attempt, start, correct, spec)
            if any(q.question_type == "Essay" for q in test.questions):
                self._essay.setdefault(test.day + r.randint(1, 4), []).append((idx, item, student, attempt, start, correct))

    def essays(self, day: int, spec: _Day) -> None:
        for idx, item, student, attempt, start, auto in self._essay.pop(day, []):
            sec = self.roster.sections[idx]
            essay_points = 10 * sum(q.question_type == "Essay" for q in next(t.questions for t in sec.tests if t.item is item))
            score = round(auto + essay_points * self.rng.betavariate(4, 1.5), 2)
            self.grade(self.at_hour(day, self.rng.randint(9, 16)), idx, sec, item, b.GRADE, student, attempt, start, score, spec)

    def manual_grades(self, day: int, idx: int, sec: Section, spec: _Day) -> None:
        t = self.at_hour(day, 10)
        for student in sec.students:
            t += self.rng.randint(10, 60) * 1000
            attempt = self.ids.pk("attempt", 5000)
            score = float(self.rng.choice((6, 7, 8, 8, 9, 9, 10, 10)))
            self.grade(t, idx, sec, sec.participation, b.MANUAL_GRADE, student, attempt, t, score, spec)

    def snapshots(self, day: int, spec: _Day) -> None:
        """The nightly recalculation of course totals for everyone whose grades changed today."""
        self.essays(day, spec)
        if not self.changed:
            return
        night = self.day_start[day + 1] + 90 * MIN
        people = {u.uuid: u for u in self.roster.students}
        for i, (idx, user_uuid) in enumerate(sorted(self.changed)):
            sec = self.roster.sections[idx]
            t = night + min(i * 50 + self.rng.randrange(50), 29 * MIN)
            self.sync_version += 1
            possible = sum(a.item.max_score for a in sec.assignments) + sum(x.item.max_score for x in sec.tests)
            spec.add(t, partial(b.calculated_grade_event, self.learn, people[user_uuid], sec.course, b.ms_time(t), item_pk=sec.total_pk, sync_version=self.sync_version, score_possible=possible or 100, is_course_grade=True))
        self.changed = set()


def generate(config: TermConfig) -> Iterator[Planned]:
    """The events of a term in hand-over order (see the module docstring)."""
    return Term(config).planned()
