"""The ``caliper-stream`` command line: one small module per command group."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="caliper-stream",
    help="Read, validate, store, analyse and emit the Caliper stream Blackboard Learn sends.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Console-script entry point."""
    from caliper_stream.cli import groups
    from caliper_stream.cli.common import readable_help

    groups.register_all(app)
    readable_help(typer.main.get_command(app))(prog_name="caliper-stream")
