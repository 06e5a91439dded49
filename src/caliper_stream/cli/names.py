"""``names``: load course, gradable item and user names so that reports show them next to ids.

Thin: the file format and the store access are in `caliper_stream.analyse.names`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from caliper_stream.cli.common import DbOpt, fail
from caliper_stream.errors import CaliperStreamError

names_app = typer.Typer(help="Names of courses, gradable items and users (events rarely carry them).", no_args_is_help=True)


@names_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="Names CSV: kind,external_key,pk1,uuid,course,name,points_possible,user_id,firstname,lastname,email (docs/gradebook.md).")],
    db: DbOpt = None,
) -> None:
    """Load (insert or replace) the courses, items and users a names CSV lists."""
    from caliper_stream.analyse.names import read_names, store_names
    from caliper_stream.store import open_store

    try:
        names = read_names(file)
        store = open_store(db)
        try:
            store_names(store, names)
        finally:
            store.close()
    except CaliperStreamError as exc:
        fail(str(exc), 2)
    typer.echo(f"loaded {len(names.courses):,} courses, {len(names.items):,} items, {len(names.users):,} users from {file}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``names``."""
    app.add_typer(names_app, name="names")
