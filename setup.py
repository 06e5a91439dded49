"""Build: the reader's per-event hot path (key data and event decoding) compiled with mypyc.

The same modules run from source when they are not compiled, with identical output (pinned by
``tests/test_prepared_pins.py``, run both ways). ``CALIPER_STREAM_PURE=1`` at install skips
compiling (and at run time imports the sources instead); a machine without a C compiler installs
the sources with a warning instead of failing.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_COMPILED = runpy.run_path("src/caliper_stream/compiled.py")
#: Modules compiled: what every event goes through on its way in (see docs/performance.md).
COMPILED = [f"src/caliper_stream/{name}.py" for name in _COMPILED["COMPILED"]]


def record_sources() -> None:
    """The SHA-256 of each source compiled, beside it: `compiled.status` tells a stale build."""
    digests = {Path(p).stem: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in COMPILED}
    Path("src/caliper_stream", _COMPILED["SOURCES_FILE"]).write_text(json.dumps(digests, indent=1) + "\n")


class OptionalBuildExt(build_ext):
    """Compile when a compiler is there; otherwise install the pure-Python modules.

    The first failure stops the build: mypyc's shared library comes first and each module's
    shim after it, so a shim is never left without the library it loads."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers: the Python modules do the same work
            print(f"caliper-stream: not compiled ({exc}); running as plain Python", file=sys.stderr)


def extensions() -> list[Extension]:
    if os.environ.get("CALIPER_STREAM_PURE"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    try:
        modules = list(mypycify(COMPILED, opt_level="3"))
        record_sources()
        return modules
    except (Exception, SystemExit) as exc:  # mypyc refused them (a type error): install the sources
        print(f"caliper-stream: not compiled ({exc}); running as plain Python", file=sys.stderr)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
