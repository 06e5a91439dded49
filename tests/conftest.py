"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from refdata import LEARN


@pytest.fixture(scope="session")
def learn_samples() -> list[Path]:
    return sorted(LEARN.glob("*.json"))
