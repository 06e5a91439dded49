"""Pseudonymisation at the door: every event, dead letter and refused body of a pseudonymous
store passes through `Protection` before it reaches the disk.

`Protection.protect` is the transform `ingest.prepare` applies to each raw event before it is
decoded, so the event key, the key data and the stored bytes are all computed from the
pseudonymised event: a re-sent event is pseudonymised the same way and still deduplicates.
`Protection.scrub` does what it can for bytes that are not a readable event (dead letters): a
readable JSON document is rewritten like an event; anything else has the recognisable personal
data replaced by pattern (see ``docs/privacy.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import msgspec

from caliper_stream.event import Event
from caliper_stream.privacy.identity import IdentityTable
from caliper_stream.privacy.rules import EMAIL, Rewriter, truncate_agent, truncate_ip
from caliper_stream.privacy.secret import Pseudonym
from caliper_stream.privacy.settings import ClientData
from caliper_stream.read import RawEvent

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_DECODE_ERRORS = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)


class PseudonymPolicy:
    """Identifiers → keyed pseudonyms; names of a Person → the person's pseudonym; LTI names
    and e-mails removed; IP addresses and user agents dropped or truncated."""

    def __init__(self, pseudonym: Callable[[str], str], ip: ClientData, agent: ClientData) -> None:
        self.identifier = pseudonym
        self._ip = ip
        self._agent = agent

    def person_text(self, value: str, person: str | None) -> str | None:
        if person is None:
            return None
        return self.identifier(person)

    def ip(self, value: str) -> str | None:
        return (truncate_ip(value) or None) if self._ip == "truncate" else None

    def agent(self, value: str) -> str | None:
        return (truncate_agent(value) or None) if self._agent == "truncate" else None


_JSON_ID = re.compile(
    rb'("(?:bb:user\.id|bb:user\.externalId|bb:user\.uuid|uuid|batchUid|courseMembershipId|user_id|'
    rb'lis_person_sourcedid)"\s*:\s*")((?:[^"\\]|\\.)*)("|\\?\Z)'
)
_JSON_DROP = re.compile(
    rb'("(?:[^"]*(?:ipAddress|agent|Agent)|oauth_signature|oauth_consumer_key|oauth_nonce|oauth_token|'
    rb'lis_result_sourcedid|lis_person_name_[a-z]+|lis_person_contact_email_[a-z]+|[a-z_]*(?:token|secret|'
    rb'password))"\s*:\s*")((?:[^"\\]|\\.)*)("|\\?\Z)'
)
_BYTES_USER = re.compile(rb"/(users|members|minimalUser)/([^/?#\s\"\\]+)")
_BYTES_EMAIL = re.compile(EMAIL.pattern.encode())
_BYTES_IPV4 = re.compile(rb"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_BYTES_QUERY = re.compile(rb"(https?://[^\s\"?#]+)\?[^\s\"]*")


class Protection:
    """The pseudonymisation of one store: its secret's pseudonym, its policy and, when kept,
    its identity table. Safe to share between threads."""

    def __init__(
        self,
        pseudonym: Pseudonym,
        *,
        ip: ClientData = "drop",
        agent: ClientData = "drop",
        identities: IdentityTable | None = None,
    ) -> None:
        self.pseudonym = pseudonym
        self.policy = PseudonymPolicy(pseudonym, ip, agent)
        self.identities = identities

    # --- events --------------------------------------------------------------------------------

    def rewrite(self, doc: object) -> tuple[object, bool]:
        """`doc` with every personal field replaced, and whether anything was."""
        seen: list[tuple[str, str, str, str]] = []
        remember = self._collector(seen) if self.identities is not None else None
        rewriter = Rewriter(self.policy, people=remember)
        out = rewriter.rewrite(doc)
        if seen and self.identities is not None:
            self.identities.remember(seen)
        return out, rewriter.changed

    def _collector(self, seen: list[tuple[str, str, str, str]]) -> Callable[[dict[str, str]], None]:
        p = self.pseudonym

        def add(ids: dict[str, str]) -> None:
            anchor = ids.get("uuid") or ids.get("pk1") or ids.get("batch_uid") or ""
            person = p(anchor)
            for kind, value in ids.items():
                seen.append((p(value), kind, value, person))

        return add

    def protect(self, item: RawEvent | Event) -> RawEvent:
        """The raw event with its personal data pseudonymised (bytes unchanged when it has none)."""
        if isinstance(item, Event):
            item = RawEvent(item.index, item.path, item.raw, item.envelope, item.source, text=item.text)
        if item.error is not None:
            return msgspec.structs.replace(item, raw=self.scrub(item.raw), text=None)
        try:
            doc = _decode(item.text if item.text is not None else item.raw)
        except _DECODE_ERRORS:
            return msgspec.structs.replace(item, raw=self.scrub(item.raw), text=None)
        out, changed = self.rewrite(doc)
        if not changed:
            return item
        return msgspec.structs.replace(item, raw=_encode(out), text=None)

    # --- anything else -------------------------------------------------------------------------

    def scrub(self, data: bytes) -> bytes:
        """Bytes that are not an event (a dead letter, a refused body): a JSON document (or JSON
        Lines) is rewritten like an event; other bytes have what the patterns recognise replaced."""
        try:
            doc = _decode(data)
        except _DECODE_ERRORS:
            pass
        else:
            out, changed = self.rewrite(doc)
            return _encode(out) if changed else data
        if b"\n" in data.strip():
            lines = data.split(b"\n")
            try:
                docs = [_decode(line) if line.strip() else None for line in lines]
            except _DECODE_ERRORS:
                pass
            else:
                return b"\n".join(line if d is None else _encode(self.rewrite(d)[0]) for line, d in zip(lines, docs, strict=True))
        return self.scrub_pattern(data)

    def scrub_pattern(self, data: bytes) -> bytes:
        """Pattern replacement for unreadable bytes: identifier values, ``…/users/{id}``
        segments and e-mail addresses pseudonymised; client data, LTI secrets, names and URL
        query strings removed; dotted IPv4 addresses removed."""
        p = self.pseudonym

        def ident(m: re.Match[bytes]) -> bytes:
            return m.group(1) + p(m.group(2).decode("utf-8", "replace")).encode() + m.group(3)

        data = _JSON_ID.sub(ident, data)
        data = _JSON_DROP.sub(lambda m: m.group(1) + m.group(3), data)
        data = _BYTES_USER.sub(lambda m: b"/" + m.group(1) + b"/" + p(m.group(2).decode("utf-8", "replace")).encode(), data)
        data = _BYTES_EMAIL.sub(lambda m: p(m.group().decode()).encode(), data)
        data = _BYTES_QUERY.sub(lambda m: m.group(1), data)
        return _BYTES_IPV4.sub(b"", data)
