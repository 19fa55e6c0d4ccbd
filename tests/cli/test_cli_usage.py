"""What a shell user sees before any service is involved: help texts and usage errors."""

from __future__ import annotations

import pytest

from tests.cli.fleetctl_runner import fleetctl


def test_help_lists_every_subcommand_and_exits_0():
    result = fleetctl("--help")
    assert result.returncode == 0
    for command in ("assets", "import-fleet", "ingest", "work-orders", "schedule", "billing", "invoice"):
        assert command in result.stdout


@pytest.mark.parametrize("arguments", [("billing", "run", "--help"), ("invoice", "get", "--help")])
def test_subcommand_help_exits_0(arguments):
    result = fleetctl(*arguments)
    assert result.returncode == 0 and "usage: fleetctl" in result.stdout


@pytest.mark.parametrize("arguments", [
    ("schedule", "create", "--territory", "kansai", "--date", "2026-02-30"),
    ("assets", "get"),
    ("no-such-command",),
])
def test_a_bad_argument_exits_2_with_usage_and_no_traceback(arguments):
    result = fleetctl(*arguments)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_service_exits_1_with_the_code_name():
    result = fleetctl("assets", "get", "assets/any", fleet_address="localhost:1")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr and "Traceback" not in result.stderr
