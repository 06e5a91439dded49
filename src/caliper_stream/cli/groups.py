"""Every command group registers itself here; `main` calls `register_all` once."""

from __future__ import annotations

import typer


def register_all(app: typer.Typer) -> None:
    from caliper_stream.cli import check, emit, names, privacy, reports, serving, storage

    for module in (check, storage, reports, names, serving, emit, privacy):
        module.register(app)
