"""Runs `fleetctl` the way a shell user does: a separate process, exit code, stdout and stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def fleetctl(*arguments: str, fleet_address: str = "localhost:1") -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "services.cli", "--fleet", fleet_address, "--timeout", "20", *arguments]
    return subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=60)
