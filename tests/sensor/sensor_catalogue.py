"""One built event of every Learn type, with the plain inputs used, shared by the sensor tests."""

from __future__ import annotations

from caliper_stream.sensor import builders as b

SITE = "0b7c5f2e-5d7e-4c0e-9a3e-2f1d6c8b9a01"
STUDENT = b.User("1a26d8c5b4d44f1db491db1f24407715", "_812_1", "s.jones")
TEACHER = b.User("566f88cb92b64e1086590458deeeb0da", "_17_1", "t.smith")
COURSE = b.Course("35983609b6084ef88407f98a2263e574", "_345_1", "BIO-101", "Biology 101")
GROUP = b.CourseGroup("_77_1", "Team 2", COURSE, (STUDENT, TEACHER))
ASSIGNMENT = b.GradableItem("_901_1", "Essay 1", 60, "2021-01-12T06:59:00.000Z", content_pk="_44_1")
TEST = b.GradableItem(
    "_902_1", "Midterm", 150, "2021-01-12T06:59:00.000Z", content_pk="_45_1",
    assessment_pk="_9058464_1", category="Test",
)
QUESTION = b.Question("_9058487_1", "MultipleAnswer")
SESSION = b.Session("94DD6EFB1B20EBD3B62889A38C7BF590")
AT = "2021-01-05T14:49:36.451Z"
STARTED = "2021-01-05T14:40:00.000Z"


def catalogue(learn: b.Learn) -> dict[str, b.Built]:
    """name → one built event of that kind (names double as test ids)."""
    s, c = STUDENT, COURSE
    out = {
        "session-in": b.session_event(learn, s, "LoggedIn", AT, SESSION, ip="98.10.178.27"),
        "session-out": b.session_event(learn, s, "LoggedOut", AT, SESSION),
        "session-timeout": b.session_event(learn, s, "TimedOut", AT, SESSION, started=STARTED),
        "view": b.view_event(learn, s, c, AT, SESSION, content_pk="_12_1"),
        "lti": b.lti_event(learn, s, c, "LoggedIn", AT, SESSION, launch_id="d0b8a363-7484-4ee6-b458-0f0e0ce5f05f", launch_url="https://tool.example.com/launch"),
        "assignable-started": b.assignable_event(learn, s, c, ASSIGNMENT, "Started", STARTED, SESSION, attempt_pk="_5_1", started=STARTED),
        "assignable-submitted": b.assignable_event(learn, s, c, ASSIGNMENT, "Submitted", AT, SESSION, attempt_pk="_5_1", started=STARTED, ended=AT, seconds=576.451),
        "assignable-group": b.assignable_event(learn, s, c, ASSIGNMENT, "Submitted", AT, SESSION, attempt_pk="_6_1", started=STARTED, group=GROUP),
        "assessment-started": b.assessment_event(learn, s, c, TEST, "Started", STARTED, SESSION, attempt_pk="_7_1", started=STARTED),
        "assessment-submitted": b.assessment_event(learn, s, c, TEST, "Submitted", AT, SESSION, attempt_pk="_7_1", started=STARTED, ended=AT, seconds=576.451),
        "item-started": b.assessment_item_event(learn, s, c, TEST, QUESTION, "Started", STARTED, SESSION, attempt_pk="_8_1", started=STARTED),
        "item-completed": b.assessment_item_event(learn, s, c, TEST, QUESTION, "Completed", AT, SESSION, attempt_pk="_8_1", started=STARTED),
        "item-completed-tf": b.assessment_item_event(learn, s, c, TEST, b.Question("_9_1", "TrueFalse"), "Completed", AT, SESSION, attempt_pk="_8_1", started=STARTED),
        "forum": b.forum_event(learn, s, c, "Created", AT, SESSION, forum_pk="_31_1", post_pk="_32_1", length=1468),
        "content": b.content_event(learn, TEACHER, c, "Modified", AT, SESSION, content_pk="_12_1", due="2021-01-19T06:59:00.000Z"),
        "course-group": b.course_group_event(learn, TEACHER, GROUP, "Created", AT, SESSION, member_pks=["_1126_1"]),
        "blog": b.blog_event(learn, s, c, "Created", AT, SESSION, blog_pk="_39_1", post_pk="_40_1", length=51),
        "wiki": b.wiki_event(learn, s, c, "Created", AT, SESSION, page_uuid="7cdeb8248ba84ec3a6f859973fb7764c", post_id="AXbTfLPSgpyqar8j43GB", wiki_pk="_36_1", words=17),
        "snapshot": b.calculated_grade_event(learn, s, c, AT, item_pk="_903_1", sync_version=329189703, score_possible=100, is_course_grade=True),
    }
    for name, (action, score) in {
        "submit": (b.SUBMIT_ASSIGNMENT, None),
        "submit-group": (b.SUBMIT_GROUP_ASSIGNMENT, None),
        "submit-test": (b.SUBMIT_TEST, 120.0),
        "grade": (b.GRADE, 39.45205),
        "feedback": (b.FEEDBACK, 39.45205),
        "feedback-update": (b.FEEDBACK_UPDATE, 39.45205),
        "manual": (b.MANUAL_GRADE, 50.0),
        "override": (b.OVERRIDE, 55.0),
        "clear-override": (b.CLEAR_OVERRIDE, 39.45205),
        "delete-attempt": (b.DELETE_ATTEMPT, None),
    }.items():
        item = TEST if action == b.SUBMIT_TEST else ASSIGNMENT
        out["grade-" + name] = b.grade_event(learn, s, c, item, action, AT, attempt_pk="_5_1", started=STARTED, score=score)
    return out
