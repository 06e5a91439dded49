"""Activity events Learn sends immediately: sessions, views, LTI launches, content, forums,
course groups, blogs and wikis. Shapes follow Learn's 1.1 samples key for key."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from caliper_stream.sensor.builders.base import (
    Built,
    Course,
    CourseGroup,
    Json,
    Learn,
    Session,
    Time,
    User,
    bb_entity,
    envelope_event,
    ts,
    user_event,
)

DEFAULT_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/87.0.4280.88 Safari/537.36"
)
#: Browsers students use, for varied ``bb:request.headers.agent`` values.
AGENTS = (
    DEFAULT_AGENT,
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.109 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.72",
)
_EMPTY: list[Any] = []


def oauth_parameters(launch_id: str, at: str, consumer_key: str) -> Json:
    """The OAuth 1.0a fields Learn signs a launch with (signature and nonce derived from the
    launch id, so a seed gives the same events)."""
    digest = hashlib.sha1(launch_id.encode()).digest()
    when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return {
        "oauth_consumer_key": consumer_key,
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_signature": base64.b64encode(digest).decode(),
        "oauth_nonce": str(int.from_bytes(digest[:6], "big")),
        "oauth_timestamp": str(int(when.timestamp())),
        "oauth_version": "1.0",
        "oauth_callback": "about:blank",
    }


def _resource(iri: str, kind: str, **extra: Any) -> Json:
    out: Json = {"id": iri, "type": kind, "creators": _EMPTY, "learningObjectives": _EMPTY, "keywords": _EMPTY}
    out.update(extra)
    return out


def session_event(
    learn: Learn,
    user: User,
    action: str,
    at: Time,
    session: Session,
    *,
    ip: str = "10.0.0.1",
    agent: str = DEFAULT_AGENT,
    started: Time | None = None,
) -> Built:
    """SessionEvent LoggedIn / LoggedOut / TimedOut (immediate).

    A timeout has no user at the keyboard: as in Learn 1.0, its actor is Learn itself and the
    user is ``object.actor`` of the timed-out Session (the key data Learn documents)."""
    at = ts(at)
    headers = {"bb:request.headers.agent": agent, "bb:request.headers.ipAddress": ip}
    app = {"id": learn.app_id, "type": "SoftwareApplication", "extensions": headers}
    target = _resource(learn.base.rstrip("/"), "DigitalResource")
    federated = learn.federated(session, user, at, {"bb:request.headers.agent": agent})
    if action == "TimedOut":
        obj: Json = {
            "id": learn.iri("sessions/" + session.hex),
            "type": "Session",
            "actor": learn.person(user),
            "startedAtTime": ts(started) if started is not None else at,
            "endedAtTime": at,
        }
        event = envelope_event(learn, "SessionEvent", learn.app, action, obj, at, target=target, ed_app=app, federated=federated)
    else:
        event = envelope_event(learn, "SessionEvent", learn.person(user), action, app, at, target=target, ed_app=app, federated=federated)
    return learn.finish(event)


def view_event(
    learn: Learn,
    user: User,
    course: Course,
    at: Time,
    session: Session,
    *,
    content_pk: str | None,
    role: str = "Learner",
) -> Built:
    """ViewEvent Viewed: a click on a content item (``content_pk`` None: Learn's ``unknown/unknown``)."""
    at = ts(at)
    iri = learn.iri(f"content/{content_pk}" if content_pk else "unknown/unknown")
    obj = _resource(iri, "Chapter", index=0)
    return user_event(
        learn, "ViewEvent", user, course, "Viewed", obj, at, session,
        role=role, target=obj, ed_app={"id": learn.app_id, "type": "SoftwareApplication", "extensions": {}}, group=learn.course(course),
    )


def lti_event(
    learn: Learn,
    user: User,
    course: Course,
    action: str,
    at: Time,
    session: Session,
    *,
    launch_id: str,
    launch_url: str,
    name: str = "",
    ip: str = "10.0.0.1",
    role: str = "Learner",
    host: str = "learn.example.edu",
    consumer_key: str = "learn-tool-key",
    parameters: Json | None = None,
) -> Built:
    """LTIEvent LoggedIn (launch) / LoggedOut (return), with the launch parameters Learn lists
    (OAuth fields included; `parameters` adds e.g. the ``lis_person_*`` name and e-mail)."""
    at = ts(at)
    session_iri = learn.iri("sessions/" + session.hex)
    params: Json = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": launch_id,
        "ext_launch_id": launch_id,
        "user_id": user.uuid,
        "lis_person_sourcedid": user.external_id,
        "roles": "urn:lti:role:ims/lis/" + role,
        "context_id": course.pk,
        "context_label": course.number,
        "context_title": course.name or course.number,
        "tool_consumer_info_product_family_code": "BlackboardLearn",
        "custom_caliper_profile_url": f"https://{host}/learn/api/v1/telemetry/caliper/profile/ultra",
        "custom_caliper_federated_session_id": session_iri,
        "launch_presentation_return_url": f"https://{host}/webapps/blackboard/execute/blti/launchReturn?launch_id={launch_id}",
        **oauth_parameters(launch_id, at, consumer_key),
    }
    if parameters:
        params.update(parameters)
    obj = bb_entity(
        "LTILaunchInfo",
        learn.iri("ltiLaunches/" + launch_id),
        name=name,
        description="",
        launchUrl=launch_url,
        launchParameters=params,
        customParameters={},
        extensions={},
    )
    event = envelope_event(
        learn,
        "LTIEvent",
        learn.person(user),
        action,
        obj,
        at,
        ed_app={"id": learn.app_id, "type": "SoftwareApplication", "extensions": {"bb:request.headers.ipAddress": ip}},
        federated=learn.federated(session, user, at),
        session=learn.session_ref(session),
    )
    return learn.finish(event)


def content_event(
    learn: Learn,
    user: User,
    course: Course,
    action: str,
    at: Time,
    session: Session,
    *,
    content_pk: str,
    handler: str = "resource/x-bb-document",
    render_type: str = "REGULAR",
    name: str = "",
    score_possible: float = 0,
    due: str | None = None,
    is_folder: bool = False,
    role: str = "Instructor",
) -> Built:
    """ContentEvent Created / Modified / Deleted by an instructor."""
    at = ts(at)
    fields: Json = {
        "name": name,
        "description": "",
        "handler": handler,
        "isLesson": False,
        "isFolder": is_folder,
        "isGroupContent": False,
        "dataVersion": 3,
        "renderType": render_type,
        "scorePossible": score_possible,
    }
    if due is not None:
        fields["dueDate"] = due
    fields["aggregationModel"] = "Last"
    fields["extensions"] = {}
    obj = bb_entity("Content", learn.iri("content/" + content_pk), **fields)
    return user_event(learn, "ContentEvent", user, course, action, obj, at, session, role=role, with_session=True)


def forum_event(
    learn: Learn,
    user: User,
    course: Course,
    action: str,
    at: Time,
    session: Session,
    *,
    forum_pk: str,
    post_pk: str,
    forum_name: str = "Discussion",
    content_pk: str = "",
    thread_pk: str | None = None,
    parent_pk: str | None = None,
    length: int = 0,
    points_possible: float = 0,
    due: str | None = None,
    first_post: bool = False,
    group: CourseGroup | None = None,
    role: str = "Learner",
) -> Built:
    """ForumEvent Created / Modified / Deleted: a post (with a group forum's Group in ``group``)."""
    at = ts(at)
    forum: Json = {"name": forum_name, "description": "", "threadPointsPossible": points_possible}
    if due is not None:
        forum["dueDate"] = due
    forum.update(isDiscussion=True, contentId=content_pk, extensions={})
    obj = bb_entity("Forum", learn.iri("discussion/" + forum_pk), **forum)
    post = bb_entity(
        "ForumPost",
        learn.iri(f"discussion/{forum_pk}/post/{post_pk}"),
        name="",
        description="",
        parentId=parent_pk or post_pk,
        threadId=thread_pk or post_pk,
        fileAttached=False,
        length=length,
        anonymous=False,
        firstPost=first_post,
        extensions={},
    )
    return user_event(
        learn, "ForumEvent", user, course, action, obj, at, session,
        role=role, generated=post, group=learn.group(group) if group is not None else None, with_session=True,
    )


def course_group_event(
    learn: Learn,
    user: User,
    group: CourseGroup,
    action: str,
    at: Time,
    session: Session,
    *,
    member_pks: list[str] | None = None,
) -> Built:
    """CourseGroupEvent Created / Modified / Deleted by an instructor.

    ``member_pks`` (course-membership pk1s) go to ``extensions.bb:group.users``, the key data
    Learn documents (absent from its 1.1 sample, so omitted when not given)."""
    at = ts(at)
    obj = learn.group(group)
    extensions = {"bb:group.users": [{"courseMembershipId": pk} for pk in member_pks]} if member_pks else None
    return user_event(
        learn, "CourseGroupEvent", user, group.course, action, obj, at, session,
        role=None, group=obj, extensions=extensions, with_session=True,
    )


def blog_event(
    learn: Learn,
    user: User,
    course: Course,
    action: str,
    at: Time,
    session: Session,
    *,
    blog_pk: str,
    post_pk: str,
    blog_name: str = "Blog",
    length: int = 0,
    points_possible: float = 0,
    journal: bool = False,
) -> Built:
    """BlogEvent Created / Modified / Commented (Original course view)."""
    at = ts(at)
    obj = bb_entity(
        "Blog",
        learn.iri("blog/" + blog_pk),
        name=blog_name,
        description="",
        blogType="INDIVIDUAL",
        journal=journal,
        pointsPossible=points_possible,
        extensions={},
    )
    post = bb_entity(
        "BlogPost",
        learn.iri(f"blog/{blog_pk}/post/{post_pk}"),
        name="",
        description="",
        anonymous=False,
        attachedFilesCount=0,
        length=length,
        extensions={},
    )
    return user_event(learn, "BlogEvent", user, course, action, obj, at, session, generated=post, with_session=True)


def wiki_event(
    learn: Learn,
    user: User,
    course: Course,
    action: str,
    at: Time,
    session: Session,
    *,
    page_uuid: str,
    post_id: str,
    wiki_pk: str,
    wiki_name: str = "Wiki",
    page_name: str = "",
    words: int = 0,
    points_possible: float = 0,
) -> Built:
    """WikiEvent Created / Modified / Commented (Original course view)."""
    at = ts(at)
    obj = bb_entity(
        "WikiPage",
        learn.iri("wiki/" + page_uuid),
        name=page_name,
        description="",
        wikiId=wiki_pk,
        wikiName=wiki_name,
        pointsPossible=points_possible,
        extensions={},
    )
    post = bb_entity(
        "WikiPost",
        learn.iri(f"wiki/{page_uuid}/post/{post_id}"),
        name="",
        description="",
        totalWordCount=words,
        extensions={},
    )
    return user_event(learn, "WikiEvent", user, course, action, obj, at, session, generated=post, with_session=True)
