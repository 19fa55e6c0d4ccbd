"""Where the public benchmark and device-specification data lives (read-only, never copied)."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """`FLEETOPS_SHARED_DATA`, or `../shared/data` beside the repository."""
    configured = os.environ.get("FLEETOPS_SHARED_DATA")
    if configured:
        return Path(configured)
    return _REPO_ROOT.parent / "shared" / "data"
