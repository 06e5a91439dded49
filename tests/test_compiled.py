"""The compiled hot path (caliper_stream/compiled.py): what is tested is what runs, both ways.

The rest of the suite runs whatever the install built (compiled where a C compiler was there,
as in CI). This file checks that every compiled module was built from its source as it is
(a stale build would test old code), that CI tests the compiled modules, that the sources,
forced with ``CALIPER_STREAM_PURE=1``, pass the output pins and the hot-path tests as well and
agree with the compiled modules on hostile events, and that a machine without a C compiler
still installs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from caliper_stream.compiled import COMPILED, PURE_ENV, status

ROOT = Path(__file__).resolve().parents[1]
#: The tests that pin the hot path's output, run again from source.
SOURCE_RUN = ["tests/test_prepared_pins.py", "tests/test_keydata.py", "tests/test_event.py", "tests/test_fast_path.py"]


def test_every_compiled_module_was_built_from_its_source() -> None:
    stale = [name for name, state in status().items() if state == "stale"]
    assert not stale, f"compiled before their source changed: {stale}; rebuild with `pip install -e .`"


@pytest.mark.skipif(os.environ.get("CI") != "true" or bool(os.environ.get(PURE_ENV)), reason="CI builds compiled")
def test_ci_runs_the_compiled_modules() -> None:
    assert status() == dict.fromkeys(COMPILED, "compiled")


def test_the_switch_imports_the_sources() -> None:
    code = "from caliper_stream.compiled import status; print(sorted(set(status().values())))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, PURE_ENV: "1"},
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "['source']"


def test_the_sources_pass_the_pins_and_the_hot_path_tests() -> None:
    env = {**os.environ, PURE_ENV: "1"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SOURCE_RUN],
                         env=env, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout
    assert " failed" not in out.stdout


def test_compiled_and_source_agree_on_hostile_events() -> None:
    """Compiled code checks the declared type of every value it keeps, which Python does not:
    a view's field holding an unexpected JSON kind must still give the same rows and dead
    letters, never an exception (tests/hostile_corpus.py: values of every kind anywhere)."""
    from hostile_corpus import digests

    count = 5000
    here = digests(count)
    raised = {name: value for name, value in here.items() if value.startswith("raised")}
    assert not raised, list(raised.items())[:5]
    out = subprocess.run([sys.executable, "tests/hostile_corpus.py", str(count)], env={**os.environ, PURE_ENV: "1"},
                         capture_output=True, text=True, check=True, cwd=ROOT, timeout=600)
    source = dict(line.split("  ", 1)[::-1] for line in out.stdout.splitlines())
    assert len(source) == count
    assert [name for name in here if here[name] != source[name]] == []


def test_without_a_compiler_the_install_keeps_the_sources(tmp_path: Path) -> None:
    """A machine with no C compiler still installs: the wheel holds the sources and no
    extension (the warning says so), rather than the build failing."""
    import shutil
    import zipfile

    tree = tmp_path / "tree"  # what a fresh checkout holds: no earlier build, no built modules
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("*.so", "__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(tree)],
        env={**os.environ, "CC": "/bin/false", "PIP_NO_INPUT": "1"}, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (wheel,) = tmp_path.glob("caliper_stream-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith(".so")]
    assert {f"caliper_stream/{name}.py" for name in COMPILED} <= set(names)
