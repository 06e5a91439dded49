"""Grade Center's rules for one cell, on hand-made histories, and their independence of order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from caliper_stream.analyse.gradebook import Change, change_kind, fold
from caliper_stream.sensor.builders import grading as g


def ch(at: str, action: str, attempt: str | None, score: float | None) -> Change:
    return Change(f"2026-02-{at}Z", action, change_kind(action), attempt, score, "learn", None)


STARTED = {"_1_1": "2026-02-01T10:00:00.000Z", "_2_1": "2026-02-02T10:00:00.000Z"}


def test_action_names_map_to_what_they_do() -> None:
    assert [change_kind(a) for a in (g.OVERRIDE, g.CLEAR_OVERRIDE, g.DELETE_ATTEMPT, g.FEEDBACK, g.FEEDBACK_UPDATE)] == [
        "override", "clear", "delete", "feedback", "feedback",
    ]
    assert [change_kind(a) for a in (g.SUBMIT_TEST, g.SUBMIT_ASSIGNMENT, g.SUBMIT_GROUP_ASSIGNMENT)] == ["submit"] * 3
    assert [change_kind(a) for a in (g.GRADE, g.MANUAL_GRADE, None, "")] == ["grade"] * 4


def test_override_wins_and_a_clear_ends_it_whatever_score_it_carries() -> None:
    graded = [ch("03T09:00:00.000", g.SUBMIT_ASSIGNMENT, "_1_1", None), ch("04T09:00:00.000", g.GRADE, "_1_1", 40)]
    over = fold([*graded, ch("05T09:00:00.000", g.OVERRIDE, "_1_1", 48)], STARTED)
    assert (over.score, over.source, over.status, over.action) == (48, "override", "overridden", g.OVERRIDE)
    cleared = fold([*graded, ch("05T09:00:00.000", g.OVERRIDE, "_1_1", 48), ch("06T09:00:00.000", g.CLEAR_OVERRIDE, "_1_1", 99)], STARTED)
    assert (cleared.score, cleared.source, cleared.status) == (40, "attempt", "graded")
    assert cleared.override is not None
    assert not cleared.override.active
    # a clear sent before the override (by eventTime) does not end it
    again = fold([*graded, ch("05T09:00:00.000", g.CLEAR_OVERRIDE, "_1_1", 40), ch("06T09:00:00.000", g.OVERRIDE, "_1_1", 45)], STARTED)
    assert (again.score, again.source) == (45, "override")


def test_feedback_after_an_override_changes_nothing() -> None:
    history = [
        ch("03T09:00:00.000", g.GRADE, "_1_1", 40),
        ch("05T09:00:00.000", g.OVERRIDE, "_1_1", 48),
        ch("05T09:10:00.000", g.FEEDBACK_UPDATE, "_1_1", 12),
        ch("05T09:20:00.000", g.FEEDBACK, "_1_1", 13),
    ]
    assert fold(history, STARTED).score == 48
    assert fold(history[:1] + history[2:], STARTED).score == 40  # no override: feedback still never scores


def test_last_graded_attempt_counts_and_a_regrade_of_an_earlier_one_does_not() -> None:
    history = [
        ch("03T09:00:00.000", g.GRADE, "_1_1", 30),
        ch("03T09:05:00.000", g.GRADE, "_2_1", 35),
        ch("06T09:00:00.000", g.GRADE, "_1_1", 50),  # regrade of attempt 1, later in time
    ]
    f = fold(history, STARTED)
    assert (f.score, f.source) == (35, "attempt")
    assert [(a.attempt_pk, a.score) for a in f.attempts] == [("_1_1", 50), ("_2_1", 35)]


def test_deleting_the_last_attempt_brings_back_the_earlier_one() -> None:
    history = [
        ch("03T09:00:00.000", g.GRADE, "_1_1", 30),
        ch("03T09:05:00.000", g.GRADE, "_2_1", 35),
        ch("03T09:09:00.000", g.DELETE_ATTEMPT, "_2_1", None),
    ]
    f = fold(history, STARTED)
    assert (f.score, f.status) == (30, "graded")
    assert [a.status for a in f.attempts] == ["graded", "deleted"]
    only = fold([history[0], ch("03T09:09:00.000", g.DELETE_ATTEMPT, "_1_1", None)], STARTED)
    assert (only.score, only.source, only.status) == (None, None, "attempt deleted")


def test_an_attempts_score_is_its_latest_scoring_event_and_a_submission_waits() -> None:
    auto = [ch("03T09:00:00.000", g.SUBMIT_TEST, "_1_1", 60), ch("05T09:00:00.000", g.GRADE, "_1_1", 72)]
    assert fold(auto, STARTED).score == 72
    assert fold(auto[:1], STARTED).score == 60  # an auto-graded test scores on submission
    waiting = fold([ch("03T09:00:00.000", g.SUBMIT_ASSIGNMENT, "_1_1", None)], STARTED)
    assert (waiting.score, waiting.status, waiting.attempts[0].status) == (None, "needs grading", "needs grading")
    # a second attempt waiting for grading leaves the first one's score current
    both = fold([*auto, ch("06T09:00:00.000", g.SUBMIT_ASSIGNMENT, "_2_1", None)], STARTED)
    assert (both.score, [a.status for a in both.attempts]) == (72, ["graded", "needs grading"])


EVENTS = [
    ch("03T09:00:00.000", g.SUBMIT_ASSIGNMENT, "_1_1", None),
    ch("03T09:00:00.000", g.GRADE, "_1_1", 30),  # same eventTime: ties are broken by content
    ch("03T09:05:00.000", g.SUBMIT_ASSIGNMENT, "_2_1", None),
    ch("04T09:05:00.000", g.GRADE, "_2_1", 35),
    ch("04T09:05:00.000", g.GRADE, "_2_1", 36),
    ch("04T10:00:00.000", g.FEEDBACK, "_2_1", 35),
    ch("05T09:00:00.000", g.OVERRIDE, "_2_1", 40),
    ch("05T09:00:00.000", g.CLEAR_OVERRIDE, "_2_1", 36),
    ch("06T09:00:00.000", g.GRADE, "_1_1", 33),
    ch("07T09:00:00.000", g.DELETE_ATTEMPT, "_2_1", None),
    ch("08T09:00:00.000", g.OVERRIDE, "_2_1", 41),
    ch("08T09:30:00.000", g.FEEDBACK_UPDATE, "_2_1", 2),
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(EVENTS), max_size=14), st.randoms(use_true_random=False))
def test_fold_does_not_depend_on_order_or_repeats(history: list[Change], rnd: object) -> None:
    shuffled = list(history)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    repeated = shuffled + shuffled[: len(shuffled) // 2]
    assert fold(shuffled, STARTED) == fold(history, STARTED) == fold(repeated, STARTED)
