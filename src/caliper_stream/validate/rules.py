"""Caliper's model as compact tables: event types, actions, entity types and property kinds.

Written from the Caliper 1.0, 1.1 and 1.2 specifications and their JSON-LD contexts (the context
documents give each property's XSD type; the specification text gives the type hierarchy, the
actions of each event type and the entity types each slot takes). Everything is a plain dict or
frozenset built once at import, so a check is a few lookups.

Where the specification spells a term two ways (``MarkedAsUnRead`` in the event tables,
``MarkedAsUnread`` in the contexts; ``EnabledCloseCaptioning`` vs ``EnabledClosedCaptioning``;
1.0's ``EnteredFullscreen`` vs ``EnteredFullScreen``) every spelling is accepted. Properties that
1.1 deprecated or that exist only in a later version are accepted in every version: the tables
reject what no version defines, not what one version lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

# ---------------------------------------------------------------------------------------------
# Contexts

CALIPER_CONTEXTS: Final[Mapping[str, str]] = {
    "http://purl.imsglobal.org/ctx/caliper/v1/Context": "1.0",
    "http://purl.imsglobal.org/ctx/caliper/v1p0": "1.0",
    "http://purl.imsglobal.org/ctx/caliper/v1p1": "1.1",
    "https://purl.imsglobal.org/ctx/caliper/v1p1": "1.1",
    "http://purl.imsglobal.org/ctx/caliper/v1p2": "1.2",
    "https://purl.imsglobal.org/ctx/caliper/v1p2": "1.2",
    "https://purl.imsglobal.org/caliper/v1p2/context/Core": "1.2",
}
#: the 1.1 extension profiles, published as separate contexts that import the 1.1 core
EXTENSION_CONTEXTS: Final = frozenset(
    f"http://purl.imsglobal.org/ctx/caliper/v1p1/{name}Profile-extension"
    for name in ("Feedback", "ResourceManagement", "Search", "Survey", "ToolLaunch", "ToolUse")
)
#: Learn's own context: known, but it defines only Learn's types, never Caliper's
LEARN_CONTEXT: Final = "http://caliper.blackboard.com/ctx/caliper/v1/Context"
VERSION_CONTEXT: Final[Mapping[str, str]] = {
    "1.0": "http://purl.imsglobal.org/ctx/caliper/v1/Context",
    "1.1": "http://purl.imsglobal.org/ctx/caliper/v1p1",
    "1.2": "http://purl.imsglobal.org/ctx/caliper/v1p2",
}
#: base of the "anonymous" entity ids of 1.2 (the type's own IRI stands for an unnamed entity)
ANONYMOUS_BASE: Final = "http://purl.imsglobal.org/caliper/"

# ---------------------------------------------------------------------------------------------
# Entity type hierarchy (a type may have two parents: Assessment is also a collection of items)

_PARENTS: Final[Mapping[str, tuple[str, ...]]] = {
    "Agent": ("Entity",),
    "Person": ("Agent",),
    "SoftwareApplication": ("Agent",),
    "Organization": ("Agent",),
    "CourseOffering": ("Organization",),
    "CourseSection": ("CourseOffering",),
    "Group": ("Organization",),
    "Membership": ("Entity",),
    "Session": ("Entity",),
    "LtiSession": ("Session",),
    "DigitalResource": ("Entity",),
    "AssignableDigitalResource": ("DigitalResource",),
    "Assessment": ("AssignableDigitalResource", "DigitalResourceCollection"),
    "AssessmentItem": ("AssignableDigitalResource",),
    "Chapter": ("DigitalResource",),
    "Document": ("DigitalResource",),
    "Page": ("DigitalResource",),
    "WebPage": ("DigitalResource",),
    "Frame": ("DigitalResource",),
    "Reading": ("DigitalResource",),
    "EpubVolume": ("DigitalResource",),
    "EpubChapter": ("DigitalResource",),
    "EpubPart": ("DigitalResource",),
    "EpubSubChapter": ("DigitalResource",),
    "MediaObject": ("DigitalResource",),
    "AudioObject": ("MediaObject",),
    "ImageObject": ("MediaObject",),
    "VideoObject": ("MediaObject",),
    "MediaLocation": ("DigitalResource",),
    "Message": ("DigitalResource",),
    "DigitalResourceCollection": ("DigitalResource",),
    "Forum": ("DigitalResourceCollection",),
    "Thread": ("DigitalResourceCollection",),
    "Collection": ("Entity",),
    "AggregateMeasureCollection": ("Collection",),
    "Questionnaire": ("Collection",),
    "Survey": ("Collection",),
    "AggregateMeasure": ("Entity",),
    "Annotation": ("Entity",),
    "BookmarkAnnotation": ("Annotation",),
    "HighlightAnnotation": ("Annotation",),
    "SharedAnnotation": ("Annotation",),
    "TagAnnotation": ("Annotation",),
    "Attempt": ("Entity",),
    "Response": ("Entity",),
    "FillinBlankResponse": ("Response",),
    "MultipleChoiceResponse": ("Response",),
    "MultipleResponseResponse": ("Response",),
    "SelectTextResponse": ("Response",),
    "TrueFalseResponse": ("Response",),
    "DateTimeResponse": ("Response",),
    "MultiselectResponse": ("Response",),
    "OpenEndedResponse": ("Response",),
    "RatingScaleResponse": ("Response",),
    "Result": ("Entity",),
    "Score": ("Entity",),
    "LearningObjective": ("Entity",),
    "Link": ("Entity",),
    "LtiLink": ("Link", "DigitalResource"),
    "Comment": ("Entity",),
    "Rating": ("Entity",),
    "Question": ("DigitalResource",),
    "DateTimeQuestion": ("Question",),
    "MultiselectQuestion": ("Question",),
    "OpenEndedQuestion": ("Question",),
    "RatingScaleQuestion": ("Question",),
    "QuestionnaireItem": ("DigitalResource",),
    "SurveyInvitation": ("DigitalResource",),
    "Scale": ("Entity",),
    "LikertScale": ("Scale",),
    "MultiselectScale": ("Scale",),
    "NumericScale": ("Scale",),
    "Query": ("Entity",),
    "SearchResponse": ("Entity",),
    # value objects: typed, but not identified entities (no id)
    "SystemIdentifier": (),
    "Selector": (),
    "TextPositionSelector": ("Selector",),
}


def _ancestors(name: str) -> frozenset[str]:
    seen = {name}
    todo = list(_PARENTS.get(name, ()))
    while todo:
        parent = todo.pop()
        if parent not in seen:
            seen.add(parent)
            todo.extend(_PARENTS.get(parent, ()))
    return frozenset(seen)


ANCESTORS: Final[Mapping[str, frozenset[str]]] = {name: _ancestors(name) for name in (*_PARENTS, "Entity")}
#: typed values that carry no id (the spec's SystemIdentifier and selectors)
UNIDENTIFIED: Final = frozenset({"SystemIdentifier", "Selector", "TextPositionSelector"})


def is_a(kind: str, expected: Iterable[str]) -> bool:
    """Whether entity type `kind` is one of `expected` or a subtype of one."""
    found = ANCESTORS.get(kind)
    return found is not None and not found.isdisjoint(expected)


_V10_ENTITIES = frozenset(
    ["Entity", "Agent", "Person", "Organization", "Group", "Membership", "CourseOffering", "CourseSection", "SoftwareApplication", "DigitalResource", "AssignableDigitalResource", "Assessment", "AssessmentItem", "Attempt", "Result", "Response", "FillinBlankResponse", "MultipleChoiceResponse", "MultipleResponseResponse", "SelectTextResponse", "TrueFalseResponse", "Session", "Frame", "WebPage", "Reading", "MediaObject", "AudioObject", "VideoObject", "ImageObject", "MediaLocation", "LearningObjective", "Annotation", "BookmarkAnnotation", "HighlightAnnotation", "SharedAnnotation", "TagAnnotation", "EpubVolume", "EpubChapter", "EpubPart", "EpubSubChapter", "Selector", "TextPositionSelector"]
)
_V11_ENTITIES = (_V10_ENTITIES | frozenset(_PARENTS)) - {"SystemIdentifier"}
ENTITY_TYPES: Final[Mapping[str, frozenset[str]]] = {
    "1.0": _V10_ENTITIES,
    "1.1": _V11_ENTITIES,
    "1.2": _V11_ENTITIES | {"SystemIdentifier"},
}
#: types kept for compatibility only: accepted with a warning
DEPRECATED_TYPES: Final = frozenset(
    {"Reading", "EpubVolume", "EpubChapter", "EpubPart", "EpubSubChapter", "OutcomeEvent", "ReadingEvent"}
)

# ---------------------------------------------------------------------------------------------
# Vocabularies (terms)

_MEDIA_ACTIONS = frozenset(
    ["Started", "Ended", "Paused", "Resumed", "Restarted", "ForwardedTo", "JumpedTo", "ChangedResolution", "ChangedSize", "ChangedSpeed", "ChangedVolume", "EnabledClosedCaptioning", "DisabledClosedCaptioning", "EnabledCloseCaptioning", "DisabledCloseCaptioning", "EnteredFullScreen", "ExitedFullScreen", "EnteredFullscreen", "ExitedFullscreen", "Muted", "Unmuted", "OpenedPopout", "ClosedPopout", "Rewound"]
)
_RESOURCE_ACTIONS = frozenset(
    ["Archived", "Copied", "Created", "Deleted", "Described", "Downloaded", "Modified", "Printed", "Published", "Restored", "Retrieved", "Saved", "Unpublished", "Uploaded"]
)
_ANNOTATION_DEPRECATED = frozenset(
    ["Attached", "Classified", "Commented", "Described", "Disliked", "Identified", "Liked", "Linked", "Ranked", "Questioned", "Recommended", "Subscribed"]
)
ACTIONS: Final = (
    frozenset(
        ["Abandoned", "Accepted", "Activated", "Added", "Archived", "Attached", "Bookmarked", "ChangedResolution", "ChangedSize", "ChangedSpeed", "ChangedVolume", "Classified", "ClosedPopout", "Commented", "Completed", "Copied", "Created", "Deactivated", "Declined", "Deleted", "Described", "Disliked", "Downloaded", "Ended", "ForwardedTo", "Graded", "Hid", "Highlighted", "Identified", "JumpedTo", "Launched", "Liked", "Linked", "LoggedIn", "LoggedOut", "MarkedAsRead", "MarkedAsUnread", "MarkedAsUnRead", "Modified", "Muted", "NavigatedTo", "OpenedPopout", "OptedIn", "OptedOut", "Paused", "Posted", "Printed", "Published", "Questioned", "Ranked", "Recommended", "Removed", "Reset", "Restarted", "Restored", "Resumed", "Retrieved", "Returned", "Reviewed", "Rewound", "Saved", "Searched", "Sent", "Shared", "Showed", "Skipped", "Started", "Submitted", "Subscribed", "Tagged", "TimedOut", "Unmuted", "Unpublished", "Unsubscribed", "Uploaded", "Used", "Viewed"]
    )
    | _MEDIA_ACTIONS
)

_ROLE_SUBS: Final[Mapping[str, str]] = {
    "Administrator": "Administrator Developer ExternalDeveloper ExternalSupport ExternalSystemAdministrator Support SystemAdministrator",
    "ContentDeveloper": "ContentDeveloper ContentExpert ExternalContentExpert Librarian",
    "Instructor": "ExternalInstructor Grader GuestInstructor Instructor Lecturer PrimaryInstructor SecondaryInstructor TeachingAssistant TeachingAssistantGroup TeachingAssistantOffering TeachingAssistantSection TeachingAssistantTemplate",
    "Learner": "ExternalLearner GuestLearner Learner NonCreditLearner",
    "Manager": "AreaManager CourseCoordinator ExternalObserver Manager Observer",
    "Member": "Member",
    "Mentor": "Advisor Auditor ExternalAdvisor ExternalAuditor ExternalLearningFacilitator ExternalMentor ExternalReviewer ExternalTutor LearningFacilitator Mentor Reviewer Tutor",
    "Officer": "Chair Secretary Treasurer Vice-Chair",
}
VOCABULARIES: Final[Mapping[str, frozenset[str]]] = {
    "role": frozenset(_ROLE_SUBS) | frozenset(f"{r}#{s}" for r, subs in _ROLE_SUBS.items() for s in subs.split()),
    "status": frozenset({"Active", "Inactive"}),
    "metric": frozenset(
        ["AssessmentsSubmitted", "AssessmentsPassed", "MinutesOnTask", "SkillsMastered", "StandardsMastered", "UnitsCompleted", "UnitsPassed", "WordsRead"]
    ),
    "identifierType": frozenset(
        ["AccountUserName", "CaseItemUri", "EmailAddress", "LisSourcedId", "LtiContextId", "LtiDeploymentId", "LtiPlatformId", "LtiToolId", "LtiUserId", "OneRosterSourcedId", "Other", "SisSourcedId", "SystemId"]
    ),
    "messageType": frozenset({"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}),
    "profile": frozenset(
        f"{p}Profile"
        for p in ["General", "Annotation", "Assessment", "Assignable", "Feedback", "Forum", "Grading", "Media", "Reading", "ResourceManagement", "Search", "Session", "Survey", "ToolLaunch", "ToolUse"]
    ),
}

# ---------------------------------------------------------------------------------------------
# Property kinds


@dataclass(frozen=True, slots=True)
class Kind:
    """What a property holds: ``base`` is one of the names below, ``types`` the entity types
    allowed for entity kinds, ``vocab`` the vocabulary for term kinds."""

    base: str
    types: frozenset[str] = frozenset()
    vocab: str = ""
    many: bool = False


STRING = Kind("string")
# Numbers as the spec's JSON Schemas type them: every numeric property is ``"type": "number"``,
# its XSD type (``definedBy``) says whether it must be whole. A JSON integer is a decimal number.
INTEGER = Kind("integer")  # xsd:integer / xsd:long: a whole JSON number
COUNT = Kind("count")  # xsd:nonNegativeInteger: a whole JSON number, 0 or more
DECIMAL = Kind("decimal")  # xsd:decimal: any JSON number (300 and 300.0 alike)
NUMBER = Kind("number")  # 1.0's scores: any JSON number
BOOLEAN = Kind("boolean")
DATETIME = Kind("datetime")
DURATION = Kind("duration")
OBJECT = Kind("object")
ANY = Kind("any")
STRINGS = Kind("string", many=True)


def entity(*types: str) -> Kind:
    return Kind("entity", types=frozenset(types))


def entities(*types: str) -> Kind:
    return Kind("entity", types=frozenset(types), many=True)


def term(vocab: str, many: bool = False) -> Kind:
    return Kind("term", vocab=vocab, many=many)


_AGENT = entity("Agent")
_PROPERTIES: Final[Mapping[str, Mapping[str, Kind]]] = {
    "Entity": {
        "name": STRING,
        "description": STRING,
        "dateCreated": DATETIME,
        "dateModified": DATETIME,
        "extensions": OBJECT,
        "otherIdentifiers": entities("SystemIdentifier"),
    },
    "SoftwareApplication": {"version": STRING, "host": STRING, "ipAddress": STRING, "userAgent": STRING},
    "Organization": {"subOrganizationOf": entity("Organization"), "members": entities("Agent")},
    "CourseOffering": {"courseNumber": STRING, "academicSession": STRING},
    "CourseSection": {"category": STRING},
    "Group": {"category": STRING, "academicSession": STRING, "credits": ANY},
    "Membership": {
        "organization": entity("Organization"),
        "member": _AGENT,
        "roles": term("role", many=True),
        "status": term("status"),
    },
    "Session": {
        "user": _AGENT,
        "client": entity("SoftwareApplication"),
        "startedAtTime": DATETIME,
        "endedAtTime": DATETIME,
        "duration": DURATION,
        "actor": _AGENT,  # 1.0 name of `user`
    },
    "LtiSession": {"messageParameters": OBJECT},
    "DigitalResource": {
        "creators": entities("Agent"),
        "mediaType": STRING,
        "keywords": STRINGS,
        "learningObjectives": entities("LearningObjective"),
        "isPartOf": entity("Entity"),
        "datePublished": DATETIME,
        "version": STRING,
        "storageName": STRING,
        "objectType": ANY,  # deprecated in 1.1
        "alignedLearningObjective": entities("LearningObjective"),  # deprecated in 1.1
    },
    "AssignableDigitalResource": {
        "dateToActivate": DATETIME,
        "dateToShow": DATETIME,
        "dateToStartOn": DATETIME,
        "dateToSubmit": DATETIME,
        "maxAttempts": COUNT,
        "maxSubmits": COUNT,
        "maxScore": DECIMAL,
    },
    "DigitalResourceCollection": {"items": entities("DigitalResource")},
    "Assessment": {"items": entities("AssessmentItem"), "assessmentItems": entities("AssessmentItem")},
    # the spec narrows isPartOf to the parent: an item of an Assessment, a Message of a Thread, a Thread of a Forum
    "AssessmentItem": {"isTimeDependent": BOOLEAN, "isPartOf": entity("Assessment")},
    "Forum": {"items": entities("Thread")},
    "Thread": {"items": entities("Message"), "isPartOf": entity("Forum")},
    "Frame": {"index": INTEGER},
    "MediaObject": {"duration": DURATION},
    "AudioObject": {"volumeMin": STRING, "volumeMax": STRING, "volumeLevel": STRING, "muted": BOOLEAN},
    "MediaLocation": {"currentTime": DURATION},
    "Message": {
        "body": STRING,
        "replyTo": entity("Message"),
        "attachments": entities("DigitalResource"),
        "isPartOf": entity("Thread"),
    },
    "Collection": {"items": entities("Entity")},
    "AggregateMeasureCollection": {"items": entities("AggregateMeasure")},
    "Questionnaire": {"items": entities("QuestionnaireItem")},
    "Survey": {"items": entities("Questionnaire")},
    "AggregateMeasure": {
        "metric": term("metric"),
        "metricValue": DECIMAL,
        "maxMetricValue": DECIMAL,
        "startedAtTime": DATETIME,
        "endedAtTime": DATETIME,
    },
    "Annotation": {"annotator": _AGENT, "annotated": entity("DigitalResource")},
    "BookmarkAnnotation": {"bookmarkNotes": STRING},
    "HighlightAnnotation": {"selection": entity("TextPositionSelector"), "selectionText": STRING},
    "SharedAnnotation": {"withAgents": entities("Agent")},
    "TagAnnotation": {"tags": STRINGS},
    "Attempt": {
        "assignee": _AGENT,
        "assignable": entity("DigitalResource"),
        "isPartOf": entity("Attempt"),
        "count": COUNT,
        "startedAtTime": DATETIME,
        "endedAtTime": DATETIME,
        "duration": DURATION,
        "actor": _AGENT,  # 1.0 name of `assignee`
    },
    "Response": {
        "attempt": entity("Attempt"),
        "startedAtTime": DATETIME,
        "endedAtTime": DATETIME,
        "duration": DURATION,
        "actor": _AGENT,  # 1.0
        "assignable": entity("DigitalResource"),  # 1.0
    },
    "FillinBlankResponse": {"values": STRINGS},
    "MultipleResponseResponse": {"values": STRINGS},
    "SelectTextResponse": {"values": STRINGS},
    "MultipleChoiceResponse": {"value": STRING},
    "TrueFalseResponse": {"value": STRING},
    "OpenEndedResponse": {"value": STRING},
    "RatingScaleResponse": {"selections": STRINGS},
    "MultiselectResponse": {"selections": STRINGS},
    "DateTimeResponse": {"dateTimeSelected": DATETIME},
    "Result": {
        "attempt": entity("Attempt"),
        "maxResultScore": DECIMAL,
        "resultScore": DECIMAL,
        "scoredBy": _AGENT,
        "comment": STRING,
        # 1.0 (deprecated in 1.1)
        "actor": _AGENT,
        "assignable": entity("DigitalResource"),
        "normalScore": NUMBER,
        "penaltyScore": NUMBER,
        "extraCreditScore": NUMBER,
        "totalScore": NUMBER,
        "curvedTotalScore": NUMBER,
        "curveFactor": NUMBER,
    },
    "Score": {
        "attempt": entity("Attempt"),
        "maxScore": DECIMAL,
        "scoreGiven": DECIMAL,
        "scoredBy": _AGENT,
        "comment": STRING,
    },
    "LtiLink": {"messageType": term("messageType")},
    "Comment": {"commenter": entity("Person"), "commentedOn": entity("Entity"), "value": STRING},
    "Rating": {
        "rater": entity("Person"),
        "rated": entity("Entity"),
        "question": entity("Question"),
        "selections": STRINGS,
        "ratingComment": entity("Comment"),
    },
    "Question": {"questionPosed": STRING},
    "DateTimeQuestion": {
        "minDateTime": DATETIME,
        "maxDateTime": DATETIME,
        "minLabel": STRING,
        "maxLabel": STRING,
    },
    "MultiselectQuestion": {"points": INTEGER, "itemLabels": STRINGS, "itemValues": STRINGS},
    "RatingScaleQuestion": {"scale": entity("Scale")},
    "QuestionnaireItem": {"question": entity("Question"), "categories": STRINGS, "weight": DECIMAL},
    "SurveyInvitation": {
        "rater": entity("Person"),
        "survey": entity("Survey"),
        "sentCount": INTEGER,
        "dateSent": DATETIME,
    },
    "LikertScale": {"scalePoints": INTEGER, "itemLabels": STRINGS, "itemValues": STRINGS},
    "MultiselectScale": {
        "scalePoints": INTEGER,
        "itemLabels": STRINGS,
        "itemValues": STRINGS,
        "isOrderedSelection": BOOLEAN,
        "orderedSelection": BOOLEAN,
        "minSelections": INTEGER,
        "maxSelections": INTEGER,
    },
    "NumericScale": {
        "minValue": DECIMAL,
        "maxValue": DECIMAL,
        "step": DECIMAL,
        "minLabel": STRING,
        "maxLabel": STRING,
    },
    "Query": {"creator": entity("Person"), "searchTarget": entity("Entity"), "searchTerms": STRING},
    "SearchResponse": {
        "searchProvider": entity("SoftwareApplication"),
        "searchTarget": entity("Entity"),
        "query": entity("Query"),
        "searchResultsItemCount": COUNT,
        "searchResults": entities("Entity"),
    },
    "SystemIdentifier": {
        "identifier": STRING,
        "identifierType": term("identifierType"),
        "source": entity("Entity"),
        "extensions": OBJECT,
    },
    "TextPositionSelector": {"start": COUNT, "end": COUNT},
}
#: properties an entity of the type must have (besides id and type)
REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    "AggregateMeasure": ("metric", "metricValue"),
    "SystemIdentifier": ("identifier", "identifierType"),
}


def _resolve(name: str) -> Mapping[str, Kind]:
    """All properties of a type: its own over those of its ancestors (nearest wins)."""
    merged: dict[str, Kind] = {"extensions": OBJECT} if name in UNIDENTIFIED else {}
    order = sorted(ANCESTORS.get(name, {name}), key=lambda a: len(ANCESTORS.get(a, ())))
    for current in order:  # an ancestor has fewer ancestors than its descendants
        merged.update(_PROPERTIES.get(current, {}))
    return merged


PROPERTIES: Final[Mapping[str, Mapping[str, Kind]]] = {name: _resolve(name) for name in ANCESTORS}
#: properties whose value is a list (normalize parses JSON encoded in a string there)
LIST_PROPERTIES: Final = frozenset(
    key for table in _PROPERTIES.values() for key, kind in table.items() if kind.many
)

# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True)
class EventRule:
    """One event type: its actions and the entity types of its slots (None: any Entity)."""

    actions: frozenset[str] | None  # None: any Caliper action (the generic Event)
    actor: frozenset[str] = frozenset({"Person"})
    object: frozenset[str] | None = None
    target: frozenset[str] | None = None
    generated: frozenset[str] | None = None
    deprecated_actions: frozenset[str] = frozenset()


def _rule(
    actions: str | None,
    obj: str | None = None,
    *,
    actor: str = "Person",
    target: str | None = None,
    generated: str | None = None,
    deprecated: str | frozenset[str] = "",
) -> EventRule:
    def names(text: str | None) -> frozenset[str] | None:
        return None if text is None else frozenset(text.split())

    acts = names(actions)
    old = deprecated if isinstance(deprecated, frozenset) else frozenset(deprecated.split())
    return EventRule(
        actions=None if acts is None else acts | old,
        actor=frozenset(actor.split()),
        object=names(obj),
        target=names(target),
        generated=names(generated),
        deprecated_actions=old,
    )


_EVENTS_11: Final[Mapping[str, EventRule]] = {
    "Event": _rule(None, actor="Agent"),
    "AnnotationEvent": _rule(
        "Bookmarked Highlighted Shared Tagged",
        "DigitalResource",
        target="Frame",
        generated="Annotation",
        deprecated=_ANNOTATION_DEPRECATED,
    ),
    "AssessmentEvent": _rule(
        "Started Paused Resumed Restarted Reset Submitted", "Assessment", generated="Attempt"
    ),
    "AssessmentItemEvent": _rule(
        "Started Skipped Completed",
        "AssessmentItem",
        generated="Attempt Response",
        deprecated="Reviewed Viewed",
    ),
    "AssignableEvent": _rule(
        "Activated Deactivated Started Completed Submitted Reviewed",
        "AssignableDigitalResource",
        target="Frame",
        generated="Attempt",
        deprecated="Abandoned Hid Showed",
    ),
    "FeedbackEvent": _rule("Commented Ranked", "Entity", target="Frame", generated="Rating Comment"),
    "ForumEvent": _rule("Subscribed Unsubscribed", "Forum"),
    "GradeEvent": _rule("Graded", "Attempt", actor="Agent", generated="Score"),
    "MediaEvent": _rule(
        " ".join(sorted(_MEDIA_ACTIONS - {"Rewound"})), "MediaObject", target="MediaLocation", deprecated="Rewound"
    ),
    "MessageEvent": _rule("MarkedAsRead MarkedAsUnRead MarkedAsUnread Posted", "Message"),
    "NavigationEvent": _rule("NavigatedTo", "DigitalResource SoftwareApplication", target="DigitalResource"),
    "OutcomeEvent": _rule("Graded", "Attempt", actor="Agent", generated="Result"),
    "QuestionnaireEvent": _rule("Started Submitted", "Questionnaire"),
    "QuestionnaireItemEvent": _rule("Started Skipped Completed", "QuestionnaireItem", generated="Response"),
    "ReadingEvent": _rule("NavigatedTo Searched Viewed", "DigitalResource", target="Frame"),
    "ResourceManagementEvent": _rule(
        " ".join(sorted(_RESOURCE_ACTIONS)), "DigitalResource", generated="DigitalResource"
    ),
    "SearchEvent": _rule("Searched", "Entity", generated="SearchResponse"),
    "SessionEvent": _rule(
        "LoggedIn LoggedOut TimedOut",
        "Session SoftwareApplication",
        actor="Person SoftwareApplication",
        target="DigitalResource",
    ),
    "SurveyEvent": _rule("OptedIn OptedOut", "Survey"),
    "SurveyInvitationEvent": _rule("Accepted Declined Sent", "SurveyInvitation"),
    "ThreadEvent": _rule("MarkedAsRead MarkedAsUnRead MarkedAsUnread", "Thread"),
    "ToolLaunchEvent": _rule(
        "Launched Returned", "SoftwareApplication", target="Link LtiLink", generated="DigitalResource"
    ),
    "ToolUseEvent": _rule(
        "Used", "SoftwareApplication", target="SoftwareApplication", generated="AggregateMeasureCollection"
    ),
    "ViewEvent": _rule("Viewed", "DigitalResource", target="Frame"),
}
_EVENTS_10: Final[Mapping[str, EventRule]] = {
    "Event": _rule(None, actor="Agent"),
    "AnnotationEvent": _rule("Bookmarked Highlighted Shared Tagged", "DigitalResource", actor="Agent", generated="Annotation"),
    "AssessmentEvent": _rule("Started Submitted Paused Restarted", "Assessment", actor="Agent", generated="Attempt"),
    "AssessmentItemEvent": _rule(
        "Started Completed Skipped Reviewed Viewed", "AssessmentItem", actor="Agent", generated="Attempt Response"
    ),
    "AssignableEvent": _rule(
        "Started Completed Activated Deactivated Showed Hid Reviewed Abandoned",
        "AssignableDigitalResource",
        actor="Agent",
        generated="Attempt",
    ),
    "MediaEvent": _rule(" ".join(sorted(_MEDIA_ACTIONS)), "MediaObject", actor="Agent", target="MediaLocation"),
    "NavigationEvent": _rule("NavigatedTo", "DigitalResource SoftwareApplication", actor="Agent"),
    "OutcomeEvent": _rule("Graded", "Attempt", actor="Agent", generated="Result"),
    "ReadingEvent": _rule("NavigatedTo Viewed Searched", "DigitalResource", actor="Agent"),
    "SessionEvent": _rule(
        "LoggedIn LoggedOut TimedOut", "SoftwareApplication Session", actor="Agent", generated="Session"
    ),
    "ViewEvent": _rule("Viewed", "DigitalResource", actor="Agent"),
}
EVENTS: Final[Mapping[str, Mapping[str, EventRule]]] = {
    "1.0": _EVENTS_10,
    "1.1": _EVENTS_11,
    "1.2": {k: v for k, v in _EVENTS_11.items() if k not in ("OutcomeEvent", "ReadingEvent")},
}

#: the slots every event may fill, with the entity types they take (None: per event type)
EVENT_SLOTS: Final[Mapping[str, frozenset[str] | None]] = {
    "actor": None,
    "object": None,
    "target": None,
    "generated": None,
    "referrer": frozenset({"DigitalResource", "SoftwareApplication"}),
    "edApp": frozenset({"SoftwareApplication"}),
    "group": frozenset({"Organization"}),
    "membership": frozenset({"Membership"}),
    "session": frozenset({"Session"}),
    "federatedSession": frozenset({"LtiSession"}),
    "navigatedFrom": frozenset({"DigitalResource", "SoftwareApplication"}),  # 1.0 name of referrer
}
#: 1.0 differs: no referrer/session yet, navigatedFrom instead, and any Session federates
EVENT_SLOTS_10: Final[Mapping[str, frozenset[str] | None]] = {
    **{k: v for k, v in EVENT_SLOTS.items() if k not in ("referrer", "session", "federatedSession")},
    "navigatedFrom": frozenset({"DigitalResource", "SoftwareApplication"}),
    "federatedSession": frozenset({"Session"}),
}
EVENT_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    "1.0": ("actor", "action", "object", "eventTime"),
    "1.1": ("@context", "id", "type", "actor", "action", "object", "eventTime"),
    "1.2": ("@context", "id", "type", "actor", "action", "object", "eventTime"),
}
#: event properties that are not entity slots
EVENT_FIELDS: Final[Mapping[str, Kind]] = {
    "eventTime": DATETIME,
    "extensions": OBJECT,
    "profile": term("profile"),
}
#: (event type, action) pairs that require a slot (1.2 profiles: ToolLaunch, ResourceManagement)
REQUIRED_WHEN: Final[Mapping[tuple[str, str], str]] = {
    ("ToolLaunchEvent", "Launched"): "federatedSession",
    ("ResourceManagementEvent", "Copied"): "generated",
}
