"""Helpers for the observability tests: Prometheus binaries, /metrics scrapes, PromQL metric names."""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "fleetops.json"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Series Prometheus writes itself for every target; they are never on a service's /metrics.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
# Series names a family of each type exposes (prometheus_client, OpenMetrics-compatible suffixes).
_SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum", "_created"),
             "summary": ("", "_count", "_sum", "_created"), "info": ("_info",), "untyped": ("",)}
_PROMQL_WORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                           "offset", "bool", "inf", "nan"})


def binary(name: str) -> str:
    """Path of a Prometheus tool; skips outside CI when it is missing, fails in CI (`.ci/run` installs it)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} not found on PATH (apt-get install prometheus)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def scrape(metrics_port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        return response.read().decode()


def exported_series_names(exposition: str) -> dict[str, str]:
    """Every series name a /metrics text can carry, mapped to its family, from the `# TYPE` lines
    (a labelled family is declared before its first sample, so the names are known up front)."""
    names: dict[str, str] = {}
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, flags=re.MULTILINE):
        base = family.removesuffix("_total") if kind == "counter" else family
        for suffix in _SUFFIXES.get(kind, ("",)):
            names[base + suffix] = family
    return names


def metric_names_in(expression: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels and Grafana variables left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expression)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    identifiers = re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(?!\w)(\s*\()?", text)
    return {match.group(1) for match in identifiers
            if match.group(2) is None and match.group(1).lower() not in _PROMQL_WORDS}
