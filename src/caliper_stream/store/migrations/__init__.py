"""Numbered schema migrations, one SQL file per version and dialect.

``<dialect>/NNNN_name.sql`` is applied once, in version order, inside one transaction
together with its row in ``schema_migrations``; a database therefore never holds a half-applied
migration. Add a migration by adding the next numbered file for *both* dialects.
"""

from __future__ import annotations

import re
from importlib import resources

import msgspec

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SCHEMA_MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    def statements(self) -> list[str]:
        """The statements of the file (split on ``;`` at line ends, except inside a ``$$``-quoted
        procedural body)."""
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        out, current = [], ""
        for i, part in enumerate(body.split("$$")):
            if i % 2:  # inside $$ … $$
                current += f"$${part}$$"
                continue
            pieces = re.split(r";\s*(?:\n|$)", part)
            current += pieces[0]
            for piece in pieces[1:]:
                out.append(current)
                current = piece
        out.append(current)
        return [s.strip() for s in out if s.strip()]


def migrations(dialect: str) -> list[Migration]:
    """Every migration of a dialect (``sqlite`` or ``postgresql``), oldest first."""
    folder = resources.files(__package__).joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    return found
