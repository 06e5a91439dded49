"""Names of courses, gradable items and users, loaded by an admin, shown next to ids.

Learn's events rarely carry names (``name`` is null or absent on most entities), so reports
show ids unless an admin loads a names CSV (``caliper-stream names load FILE.csv``). One file
holds all three kinds, one record per line; headers are case-insensitive, unknown columns are
ignored, and the names follow Learn's Snapshot Flat File feeds (courses, users) and the Grade
Center's column information (items):

==================  ==========================================================================
``kind``            ``course``, ``item`` or ``user`` (required)
``external_key``    course: the batch_uid events send as ``courseNumber``; user: the batch_uid
                    (``bb:user.externalId``, Grade Center's *Student ID*)
``pk1``             course, item or user pk1 (``_123_1``); an item's pk1 is its gradable item
``uuid``            user: the 32-hex uuid of ``…/users/{uuid}``
``course``          item: the ``courseNumber`` of its course
``name``            course title or item (column) name; required for both
``points_possible`` item: its max score (Caliper 1.0 grade events carry none)
``user_id``         user: the username
``firstname``       user: given name
``lastname``        user: family name
``email``           user: email address
==================  ==========================================================================

A course needs ``external_key`` and ``name``, an item ``pk1`` and ``name``, a user one of
``uuid``, ``pk1`` or ``external_key``. Loading the same file again replaces what it names.

User names are personal data and live in one table, ``user_names``, read by `Names.user` only:
every report that shows a person's name goes through it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import msgspec

from caliper_stream.errors import CaliperStreamError
from caliper_stream.store.base import CourseName, ItemName, Store, UserName

COLUMNS = (
    "kind", "external_key", "pk1", "uuid", "course", "name", "points_possible", "user_id", "firstname", "lastname", "email",
)


class NamesFileError(CaliperStreamError):
    """A names CSV that cannot be loaded, with the line and the reason."""


class NameSet(msgspec.Struct):
    courses: list[CourseName] = msgspec.field(default_factory=list)
    items: list[ItemName] = msgspec.field(default_factory=list)
    users: list[UserName] = msgspec.field(default_factory=list)


def parse_names(text: str, origin: str = "names") -> NameSet:
    """Read a names CSV (see the module docstring); raise `NamesFileError` naming the line."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise NamesFileError(f"{origin}: empty file (expected a header with {', '.join(COLUMNS)})")
    headers = [h.strip().lower() for h in reader.fieldnames]
    if "kind" not in headers:
        raise NamesFileError(f"{origin}: no 'kind' column (columns: {', '.join(COLUMNS)})")
    reader.fieldnames = headers
    out = NameSet()
    for record in reader:
        line = reader.line_num
        get = {k: (v or "").strip() for k, v in record.items() if isinstance(k, str) and isinstance(v, str)}
        kind = get.get("kind", "").lower()
        if not kind:
            continue
        if kind == "course":
            if not get.get("external_key") or not get.get("name"):
                raise NamesFileError(f"{origin}:{line}: a course needs external_key (its courseNumber) and name")
            out.courses.append(CourseName(get["external_key"], get["name"], get.get("pk1") or None))
        elif kind == "item":
            if not get.get("pk1") or not get.get("name"):
                raise NamesFileError(f"{origin}:{line}: an item needs pk1 (its gradable item) and name")
            points = get.get("points_possible") or None
            try:
                max_score = float(points) if points is not None else None
            except ValueError:
                raise NamesFileError(f"{origin}:{line}: points_possible {points!r} is not a number") from None
            out.items.append(ItemName(get["pk1"], get["name"], get.get("course") or None, max_score))
        elif kind == "user":
            user = UserName(
                get.get("uuid") or None, get.get("pk1") or None, get.get("external_key") or None, get.get("user_id") or None,
                get.get("firstname") or None, get.get("lastname") or None, get.get("email") or None,
            )
            if user.key is None:
                raise NamesFileError(f"{origin}:{line}: a user needs uuid, pk1 or external_key")
            out.users.append(user)
        else:
            raise NamesFileError(f"{origin}:{line}: kind must be course, item or user, not {kind!r}")
    return out


def read_names(path: Path) -> NameSet:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise NamesFileError(f"{path}: cannot read ({exc})") from None
    return parse_names(text, str(path))


def write_names(path: Path, names: NameSet) -> None:
    """Write a names CSV that `read_names` reads back (the simulator writes its term's)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for c in names.courses:
            writer.writerow(["course", c.course_number, c.course_pk or "", "", "", c.name, "", "", "", "", ""])
        for i in names.items:
            points = "" if i.max_score is None else f"{i.max_score:g}"
            writer.writerow(["item", "", i.item_pk, "", i.course_number or "", i.name, points, "", "", "", ""])
        for u in names.users:
            writer.writerow([
                "user", u.external_id or "", u.user_pk or "", u.user_uuid or "", "", "", "", u.username or "",
                u.given_name or "", u.family_name or "", u.email or "",
            ])


class Names:
    """Every loaded name, for reports: course titles, items, and (through `user`) people."""

    def __init__(self, courses: dict[str, str], items: dict[str, ItemName], users: list[UserName]) -> None:
        self.courses = courses
        self.items = items
        self._users: dict[str, UserName] = {}
        self.has_users = bool(users)
        for u in users:  # any of a user's ids finds the record
            for key in (u.external_id, u.user_pk, u.user_uuid):
                if key:
                    self._users[key] = u

    def user(self, uuid: str | None, pk: str | None, external_id: str | None) -> UserName | None:
        """The one way to a person's name (see the module docstring)."""
        for key in (uuid, pk, external_id):
            if key and key in self._users:
                return self._users[key]
        return None

    def user_name(self, uuid: str | None, pk: str | None, external_id: str | None) -> str | None:
        u = self.user(uuid, pk, external_id)
        if u is None:
            return None
        full = " ".join(p for p in (u.given_name, u.family_name) if p)
        return full or u.username


def load_names(store: Store) -> Names:
    """Every name in the store (empty before migration 0004 or any load)."""
    courses = {str(n): str(t) for n, t in store.query("SELECT course_number, name FROM course_names")}
    items = {
        str(pk): ItemName(str(pk), str(name), course, float(points) if points is not None else None)
        for pk, course, name, points in store.query("SELECT item_pk, course_number, name, max_score FROM item_names")
    }
    users = [
        UserName(*row)
        for row in store.query(
            "SELECT user_uuid, user_pk, external_id, username, given_name, family_name, email FROM user_names"
        )
    ]
    return Names(courses, items, users)


def store_names(store: Store, names: NameSet) -> int:
    """Load a parsed names file into the store; returns the records written."""
    return store.put_names(names.courses, names.items, names.users)
