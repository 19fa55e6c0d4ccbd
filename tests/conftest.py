"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.runtime.shared_data import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public data folder; skips outside CI when absent, fails in CI (CI=true)."""
    path = shared_data_dir()
    if not path.is_dir():
        reason = f"shared data not found at {path} (set FLEETOPS_SHARED_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
