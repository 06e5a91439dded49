"""Every command's help shows placeholders people read, never Python type names."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
import typer

from caliper_stream.cli import app, groups
from caliper_stream.cli.common import readable_help

TYPE_NAMES = re.compile(r"<(bool|int|str|float|path|file|dir|list\[[^\]]*\]|[a-z]+)>")


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        found += _paths(sub, (*prefix, name))
    return found


def _tree() -> Any:
    if not app.registered_commands:
        groups.register_all(app)
    return readable_help(typer.main.get_command(app))


@pytest.mark.parametrize("path", _paths(_tree()), ids=lambda p: " ".join(p) or "caliper-stream")
def test_help_has_readable_placeholders(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        _tree().main([*path, "--help"], prog_name="caliper-stream")
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "Usage" in text
    assert not TYPE_NAMES.search(text), TYPE_NAMES.search(text)


def test_the_installed_command_uses_them() -> None:
    result = subprocess.run([sys.executable, "-m", "caliper_stream", "inspect", "--help"],
                            capture_output=True, text=True, timeout=60, check=True, env={"COLUMNS": "160", "PATH": ""})
    assert "--sample  " in result.stdout
    assert "<bool>" not in result.stdout
    assert "PATH" in result.stdout
