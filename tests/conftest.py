"""Shared test setup: the repository layout and small helpers used across test files."""

from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    """``../shared`` beside the repository (reference data about the original release)."""
    if not SHARED.is_dir():
        pytest.fail(f"expected the shared reference folder at {SHARED}")
    return SHARED
