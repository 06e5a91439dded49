"""Where Learn puts personal data, and what happens to each kind (one walk over an event).

`Rewriter.rewrite` walks an event's JSON once and applies a `Policy` to every personal field it
recognises, in Caliper 1.0 and 1.1 shapes alike:

==========================  =====================================================================
person identifiers          the ``…/users/{id}``, ``…/members/{id}`` and ``…/minimalUser/{id}``
                            segments of any IRI; ``bb:user.id``, ``bb:user.externalId``,
                            ``bb:user.uuid``; ``uuid``, ``batchUid``, ``courseMembershipId``
                            (v1.0 MiniUser and ``bb:group.users``, also inside its JSON string);
                            LTI ``user_id`` and ``lis_person_sourcedid``
names and emails            ``name``/``givenName``/``familyName``/``email`` of a Person; any
                            e-mail address in any string
client data                 keys naming an IP address (``bb:request.headers.ipAddress`` …) or a
                            user agent (``bb:request.headers.agent`` …), anywhere
LTI launch                  in ``launchParameters``/``customParameters``: ``oauth_*`` (but
                            ``oauth_version``/``oauth_signature_method``/``oauth_callback``),
                            any key naming a token, secret, signature, password or nonce,
                            ``lis_result_sourcedid``; ``lis_person_name_*`` and
                            ``lis_person_contact_email_*``; query strings of URLs (return URLs
                            carry launch tokens)
==========================  =====================================================================

Each finding is also reported to ``found(field)`` so that ``privacy scan`` counts exactly what
pseudonymisation changes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

#: Keys whose string value is a person identifier wherever they appear.
ID_KEYS = frozenset(
    {
        "bb:user.id",
        "bb:user.externalId",
        "bb:user.uuid",
        "uuid",
        "batchUid",
        "courseMembershipId",
        "user_id",
        "lis_person_sourcedid",
        "custom_user_id",
        "ext_user_username",
    }
)
#: Keys of a Person entity holding a name or an e-mail address.
PERSON_TEXT_KEYS = frozenset({"name", "givenName", "familyName", "email", "additionalName", "mbox"})
#: LTI launch parameters that are secrets or tokens: always removed.
LTI_SECRET_KEYS = frozenset({"lis_result_sourcedid", "ext_outcome_data_values_accepted_token"})
LTI_KEEP_OAUTH = frozenset({"oauth_version", "oauth_signature_method", "oauth_callback"})
_SECRET_WORDS = ("token", "secret", "signature", "password", "nonce")
_LAUNCH_KEYS = frozenset({"launchParameters", "customParameters"})
#: IRI segments followed by a person identifier.
_IRI_USER = re.compile(r"/(users|members|minimalUser)/([^/?#\s\"]+)", re.ASCII)
_SOME = re.compile(r"^Some\((.*)\)$")
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_BROWSER = re.compile(r"(Edg|OPR|Firefox|Chrome|CriOS|Version|MSIE|Trident)/(\d+)")
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def is_ip_key(key: str) -> bool:
    k = key.lower().replace("_", "").replace("-", "")
    return "ipaddress" in k or k in {"ip", "clientip", "remoteaddr", "xforwardedfor", "remoteip"}


def is_agent_key(key: str) -> bool:
    k = key.lower().replace("_", "").replace("-", "")
    return k.endswith("agent") and ("user" in k or "header" in k or "request" in k or k == "agent")


def truncate_ip(value: str) -> str:
    """IPv4 to its /24, IPv6 to its /48 (the network, not the machine); anything else dropped."""
    try:
        addr = ipaddress.ip_address(value.strip())
    except ValueError:
        return ""
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False).network_address)


def truncate_agent(value: str) -> str:
    """A user agent reduced to its browser family and major version (``Chrome/87``)."""
    found = _BROWSER.findall(value)
    if not found:
        return ""
    names = dict(found)
    for name in ("Edg", "OPR", "Firefox", "CriOS", "Chrome", "MSIE", "Trident"):
        if name in names:
            return f"{name}/{names[name]}"
    return f"Safari/{names['Version']}" if "Version" in names else ""


def strip_query(url: str) -> str:
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=-1)
    return url if cut < 0 else url[:cut]


class Policy(Protocol):
    """What to put in place of each kind of personal data (None removes the field)."""

    def identifier(self, value: str) -> str: ...

    def person_text(self, value: str, person: str | None) -> str | None: ...

    def ip(self, value: str) -> str | None: ...

    def agent(self, value: str) -> str | None: ...


_ID, _GROUP, _TEXT, _IP, _AGENT, _LAUNCH, _OTHER = range(7)
#: what each property name is (names repeat in every event: classified once)
_KINDS: dict[str, int] = {}


def _kind(key: str) -> int:
    if key in ID_KEYS:
        return _ID
    if key == "bb:group.users":
        return _GROUP
    if key in PERSON_TEXT_KEYS:
        return _TEXT
    if is_ip_key(key):
        return _IP
    if is_agent_key(key):
        return _AGENT
    if key in _LAUNCH_KEYS:
        return _LAUNCH
    return _OTHER


class KeepPolicy:
    """A policy that changes nothing: the walk only reports (scans, discovery)."""

    def identifier(self, value: str) -> str:
        return value

    def person_text(self, value: str, person: str | None) -> str | None:
        return value

    def ip(self, value: str) -> str | None:
        return value

    def agent(self, value: str) -> str | None:
        return value


def _is_person(d: dict[str, Any]) -> bool:
    t = d.get("type", d.get("@type"))
    return isinstance(t, str) and (t == "Person" or t.endswith("/Person") or t.endswith("#Person"))


def _user_tail(d: dict[str, Any]) -> str | None:
    ident = d.get("id", d.get("@id"))
    if isinstance(ident, str):
        m = _IRI_USER.search(ident)
        if m and m.group(1) == "users":
            return m.group(2)
    return None


class Rewriter:
    """One walk over an event applying `policy`; ``changed`` tells whether anything was found."""

    def __init__(
        self,
        policy: Policy,
        found: Callable[[str], None] | None = None,
        people: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        self.policy = policy
        self.found = found
        self.people = people
        self.changed = False

    def _hit(self, field: str) -> None:
        self.changed = True
        if self.found is not None:
            self.found(field)

    def rewrite(self, doc: Any) -> Any:
        return self._value(doc, None, False)

    def _value(self, value: Any, key: str | None, launch: bool) -> Any:
        if isinstance(value, dict):
            return self._dict(value, launch)
        if isinstance(value, list):
            return [self._value(v, key, launch) for v in value]
        if isinstance(value, str):
            return self._string(value)
        return value

    def _string(self, value: str) -> str:
        if "/" not in value and "@" not in value:
            return value
        if ("/users/" in value or "/members/" in value or "/minimalUser/" in value) and _IRI_USER.search(value):
            value = _IRI_USER.sub(self._iri_segment, value)
        if "@" in value and EMAIL.search(value):
            self._hit("e-mail address")
            value = EMAIL.sub(lambda m: self.policy.identifier(m.group()), value)
        return value

    def _iri_segment(self, m: re.Match[str]) -> str:
        kind, ident = m.group(1), m.group(2)
        self._hit(f"…/{kind}/{{id}}")
        some = _SOME.match(ident)
        if some:
            return f"/{kind}/Some({self.policy.identifier(some.group(1))})"
        return f"/{kind}/{self.policy.identifier(ident)}"

    def _identifier(self, key: str, value: Any) -> Any:
        if isinstance(value, str) and value:
            self._hit(key)
            some = _SOME.match(value)
            if some:
                return f"Some({self.policy.identifier(some.group(1))})"
            return self.policy.identifier(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            self._hit(key)
            return self.policy.identifier(str(value))
        return value

    def _dict(self, d: dict[str, Any], launch: bool) -> dict[str, Any]:
        person = _is_person(d)
        tail = _user_tail(d) if person else None
        if self.people is not None:
            found = identity_of(d, person)
            if found:
                self.people(found)
        out: dict[str, Any] = {}
        for key, value in d.items():
            kind = _KINDS.get(key)
            if kind is None:
                kind = _kind(key)
                if len(_KINDS) < 100_000:  # bounded: hostile input may send endless new names
                    _KINDS[key] = kind
            if kind >= _LAUNCH:  # the common case: a property with no personal meaning of its own
                if isinstance(value, str):
                    if not (launch and self._launch(key, value, out)):
                        out[key] = self._string(value)
                elif isinstance(value, dict | list):
                    out[key] = self._value(value, key, kind == _LAUNCH)
                else:
                    out[key] = value
            elif kind == _ID:
                out[key] = self._identifier(key, value)
            elif kind == _GROUP:
                out[key] = self._group_users(value)
            elif not isinstance(value, str) or (kind == _TEXT and not (person and value)):
                out[key] = self._value(value, key, False)
            else:
                self._hit(f"Person.{key}" if kind == _TEXT else key)
                if kind == _TEXT:
                    replaced = self.policy.person_text(value, tail)
                elif kind == _IP:
                    replaced = self.policy.ip(value)
                else:
                    replaced = self.policy.agent(value)
                if replaced is not None:
                    out[key] = replaced
        return out

    def _launch(self, key: str, value: str, out: dict[str, Any]) -> bool:
        """An LTI launch parameter: handled here (True) or left to the generic walk (False)."""
        low = key.lower()
        if (low.startswith("oauth_") and low not in LTI_KEEP_OAUTH) or low in LTI_SECRET_KEYS or any(
            w in low for w in _SECRET_WORDS
        ):
            self._hit(key)
            return True  # removed
        if low.startswith("lis_person_name") or low.startswith("lis_person_contact_email"):
            self._hit(key)
            replaced = self.policy.person_text(value, None)
            if replaced is not None:
                out[key] = replaced
            return True
        if "://" in value and ("?" in value or "#" in value) and not _IRI_USER.search(value):
            self._hit("launch URL query")
            out[key] = self._string(strip_query(value))
            return True
        return False

    def _group_users(self, value: Any) -> Any:
        """``bb:group.users``: a list (or, in 1.0, a JSON string) of members whose ``id`` is the
        user's pk1 (``{id, uuid, batchUid}``) or of ``{courseMembershipId}``."""
        if isinstance(value, str):
            try:
                inner = _decode(value)
            except msgspec.DecodeError:
                return self._string(value)
            return _encode(self._group_users(inner)).decode()
        if isinstance(value, list):
            return [self._member(v) for v in value]
        return self._value(value, None, False)

    def _member(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return self._value(value, None, False)
        out = self._dict(value, False)
        if "id" in value:
            out["id"] = self._identifier("bb:group.users[].id", value["id"])
        return out


_EXT_KINDS = (("bb:user.id", "pk1"), ("bb:user.externalId", "batch_uid"), ("bb:user.uuid", "uuid"))
_LTI_KINDS = (
    ("user_id", "uuid"),
    ("lis_person_sourcedid", "batch_uid"),
    ("lis_person_name_full", "name"),
    ("lis_person_contact_email_primary", "email"),
)


def identity_of(d: dict[str, Any], person: bool) -> dict[str, str]:
    """The identifiers of the one person an entity (or an LTI launch) describes, by kind:
    ``uuid``, ``pk1``, ``batch_uid``, ``name``, ``email``; empty when it describes nobody."""
    ext = d.get("extensions")
    ext = ext if isinstance(ext, dict) else {}
    if not (person or any(k in ext for k, _ in _EXT_KINDS) or ("user_id" in d and "lti_message_type" in d)):
        return {}
    ids: dict[str, str] = {}
    ident = d.get("id", d.get("@id"))
    if isinstance(ident, str):
        m = _IRI_USER.search(ident)
        if m and m.group(1) in ("users", "members"):
            ids["uuid"] = m.group(2)
    for key, kind in _EXT_KINDS:
        value = ext.get(key, d.get(key))
        if isinstance(value, str) and value:
            ids.setdefault(kind, value)
    for key, kind in _LTI_KINDS:
        value = d.get(key)
        if isinstance(value, str) and value:
            ids.setdefault(kind, value)
    if person:
        for key, kind in (("name", "name"), ("email", "email")):
            value = d.get(key)
            if isinstance(value, str) and value:
                ids.setdefault(kind, value)
    if set(ids) <= {"name", "email"}:
        return {}
    return ids
