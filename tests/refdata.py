"""Where the reference fixtures live (``../shared`` beside the checkout), and the seed pages' JSON."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALIPER_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"
SPEC = FIXTURES / "caliper-spec"
LEARN = FIXTURES / "blackboard-learn-docs" / "v1p1"
SEEDS = SHARED / "seeds"

if not FIXTURES.is_dir():  # pragma: no cover - the suite needs the reference fixtures
    raise RuntimeError(f"reference fixtures not found at {FIXTURES}; set CALIPER_SHARED")


def seed_payloads(name: str) -> list[bytes]:
    """The JSON code blocks of a seed documentation page, as published (U+00A0 included)."""
    text = (SEEDS / name).read_text(encoding="utf-8")
    blocks = re.finditer(r"^(~~~|```) ?json\n(.*?)^\s*(~~~|```)", text, re.S | re.M)
    return [m.group(2).encode() for m in blocks]
