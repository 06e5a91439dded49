"""Which modules of the per-event hot path run compiled (mypyc), and a switch back to source.

``setup.py`` compiles `COMPILED` when a C compiler is there; the compiled module is a shared
library beside its ``.py`` and Python imports it first. The source stays the definition: both
produce the same output (``tests/test_prepared_pins.py`` runs both ways). Only the standard
library is imported here: ``setup.py`` reads `COMPILED` before anything is installed.

A compiled module's classes are native to mypyc, and the annotations it leaves on any other
class are not Python's (msgspec would read ``str | None`` as ``type``): msgspec Structs such as
`KeyData` are defined in uncompiled modules (model/records.py) and imported.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

#: Modules compiled, relative to the package: what every event goes through on its way in.
COMPILED = ("keydata", "event")
#: Run every module from source, compiled or not (set before the package is imported).
PURE_ENV = "CALIPER_STREAM_PURE"
#: Written by ``setup.py`` beside the modules: the SHA-256 of each source it compiled.
SOURCES_FILE = "compiled-sources.json"

_HERE = Path(__file__).resolve().parent


def status() -> dict[str, str]:
    """``compiled``, ``source`` or ``stale`` (compiled from other source than the file holds now:
    rebuild with ``pip install -e .``) for each module of `COMPILED`."""
    try:
        built = json.loads((_HERE / SOURCES_FILE).read_text())
    except (OSError, ValueError):
        built = {}
    out = {}
    for name in COMPILED:
        module = sys.modules.get(f"{__package__}.{name}") or importlib.import_module(f"{__package__}.{name}")
        if Path(module.__file__ or "").suffix == ".py":
            out[name] = "source"
            continue
        source = hashlib.sha256((_HERE / f"{name}.py").read_bytes()).hexdigest()
        out[name] = "compiled" if built.get(name) == source else "stale"
    return out


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Finds the modules of `COMPILED` as their ``.py`` files, ahead of the shared libraries."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != __package__ or name not in COMPILED:
            return None
        return importlib.util.spec_from_file_location(fullname, _HERE / f"{name}.py")


def prefer_source() -> None:
    """Import the modules of `COMPILED` from source from now on (before their first import)."""
    if not any(isinstance(f, _SourceFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst())
