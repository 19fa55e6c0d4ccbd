"""The alert rules are valid Prometheus rules and behave as their promtool unit tests say."""

from __future__ import annotations

import subprocess

from tests.observability.observability_tools import PROMETHEUS_DIR, binary


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary("promtool"), *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True,
                          timeout=60)


def test_alert_rules_pass_promtool_check():
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_expect():
    result = _promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
