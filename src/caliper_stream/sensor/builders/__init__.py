"""Learn-shaped event builders: plain arguments in, events exactly as Learn sends them out.

Caliper 1.1 by default, field for field like Learn's published 1.1 samples (caliper-mapping
IRIs, ``bb:`` extensions, membership, an LtiSession ``federatedSession``, bare-UUID event ids);
Caliper 1.0 on request (``Learn(site, version="1.0")``). Each builder returns a `Built`: the
event as plain JSON values and whether Learn delivers it immediately or in the nightly bulk
(instructor-side grade events and calculated grade snapshots are nightly). See `grading` for
the ``bb:action.name`` scheme of the seven grading use cases.
"""

from caliper_stream.sensor.builders.activity import (
    AGENTS,
    blog_event,
    content_event,
    course_group_event,
    forum_event,
    lti_event,
    session_event,
    view_event,
    wiki_event,
)
from caliper_stream.sensor.builders.base import (
    Built,
    Course,
    CourseGroup,
    Delivery,
    GradableItem,
    Learn,
    Question,
    Session,
    User,
    encode,
    ms_time,
    to_v1p0,
    ts,
)
from caliper_stream.sensor.builders.grading import (
    CLEAR_OVERRIDE,
    DELETE_ATTEMPT,
    FEEDBACK,
    FEEDBACK_UPDATE,
    GRADE,
    GRADE_ACTIONS,
    MANUAL_GRADE,
    OVERRIDE,
    RESPONSE_TYPES,
    SUBMIT_ASSIGNMENT,
    SUBMIT_GROUP_ASSIGNMENT,
    SUBMIT_TEST,
    assessment_event,
    assessment_item_event,
    assignable_event,
    calculated_grade_event,
    duration,
    grade_event,
)

__all__ = [
    "AGENTS",
    "CLEAR_OVERRIDE",
    "DELETE_ATTEMPT",
    "FEEDBACK",
    "FEEDBACK_UPDATE",
    "GRADE",
    "GRADE_ACTIONS",
    "MANUAL_GRADE",
    "OVERRIDE",
    "RESPONSE_TYPES",
    "SUBMIT_ASSIGNMENT",
    "SUBMIT_GROUP_ASSIGNMENT",
    "SUBMIT_TEST",
    "Built",
    "Course",
    "CourseGroup",
    "Delivery",
    "GradableItem",
    "Learn",
    "Question",
    "Session",
    "User",
    "assessment_event",
    "assessment_item_event",
    "assignable_event",
    "blog_event",
    "calculated_grade_event",
    "content_event",
    "course_group_event",
    "duration",
    "encode",
    "forum_event",
    "grade_event",
    "lti_event",
    "ms_time",
    "session_event",
    "to_v1p0",
    "ts",
    "view_event",
    "wiki_event",
]
