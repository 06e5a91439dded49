"""Every README snippet works as printed: the Python ones run (against a real ``serve``), and
every command of the shell ones exists, with the options it is shown with."""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from caliper_stream.cli import app, groups
from caliper_stream.simulate.replay import LocalServer

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, re.S | re.M)


def _tree() -> Any:
    if not app.registered_commands:
        groups.register_all(app)
    return typer.main.get_command(app)


def _commands(block: str) -> list[list[str]]:
    """Each command of a shell block, as words (comments dropped; ``&&`` splits commands)."""
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.split(" # ", 1)[0].strip()
        if line.startswith("#") or not line:
            continue
        for part in line.split("&&"):
            found.append(shlex.split(part.replace("|", " "), comments=True))
    return found


def test_the_readme_has_snippets() -> None:
    kinds = [kind for kind, _ in BLOCKS]
    assert kinds.count("sh") >= 5
    assert "python" in kinds


SHELL = [words for kind, block in BLOCKS if kind == "sh" for words in _commands(block) if words]


@pytest.mark.parametrize("words", SHELL, ids=lambda w: " ".join(w)[:60])
def test_shell_snippet_commands_exist(words: list[str]) -> None:
    program = words[0]
    if program == "caliper-stream":
        command = _tree()
        rest = words[1:]
        while rest and rest[0] in getattr(command, "commands", {}):
            command = command.commands[rest[0]]
            rest = rest[1:]
        assert not getattr(command, "commands", None), f"{' '.join(words)}: no such command"
        known = {opt for param in command.params for opt in (*param.opts, *getattr(param, "secondary_opts", ()))}
        for word in rest:
            option = word.strip("[]").split("=", 1)[0]
            if option.startswith("-") and option != "-":
                assert option in known, f"{' '.join(words)}: {option} is not an option of this command"
    elif program in ("python", "python3") and len(words) > 1 and words[1].endswith(".py"):
        assert (ROOT / words[1]).is_file(), words[1]
    else:
        assert program in {"python3", "python", ".", "pip", "ruff", "mypy", "pytest", "export", "curl"}, words


PYTHON = [block for kind, block in BLOCKS if kind == "python"]


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.splitlines()[0][:40])
def test_python_snippets_run_as_printed(block: str, tmp_path: Path) -> None:
    with LocalServer(tmp_path / "store.db", key_name="my-sensor", log=tmp_path / "serve.log") as server:
        env = {**os.environ, "CALIPER_STREAM_KEY": server.key, "CALIPER_STREAM_URL": server.url}
        result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        server.digested()
        with sqlite3.connect(server.db_path) as db:
            stored = db.execute("SELECT COUNT(*) FROM events WHERE source = 'my-sensor'").fetchone()[0]
    assert stored >= 1


CURL = [words for words in SHELL if words[0] == "curl"]


def test_the_readme_shows_curl() -> None:
    assert CURL, "the README has no curl example"


@pytest.mark.parametrize("words", CURL, ids=lambda w: " ".join(w)[:60])
def test_curl_snippets_run_as_printed(words: list[str], tmp_path: Path) -> None:
    """Each curl example, with $KEY (a write key) or $READ_KEY (a read key) set and the port of a
    real ``serve``, gets a 2xx."""
    from caliper_stream.cli.check import sample_path

    (tmp_path / "payload.json").write_bytes(sample_path().read_bytes())
    added = subprocess.run([sys.executable, "-m", "caliper_stream", "keys", "add", "reader", "--role", "read",
                            "--db", f"sqlite:///{tmp_path / 'store.db'}"], capture_output=True, text=True, check=True)
    read_key = added.stdout.strip()
    with LocalServer(tmp_path / "store.db", key_name="my-sensor", log=tmp_path / "serve.log") as server:
        argv = [w.replace("$READ_KEY", read_key).replace("$KEY", server.key)
                .replace("127.0.0.1:8000", f"127.0.0.1:{server.port}") for w in words]
        result = subprocess.run([*argv, "-o", "/dev/null", "-w", "%{http_code}"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("2"), result.stdout
