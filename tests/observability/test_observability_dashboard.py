"""The Grafana dashboard and the alert rules ask only for series the running services export."""

from __future__ import annotations

import json
import re

import pytest

from tests.observability.observability_tools import (DASHBOARD, PROMETHEUS_DIR, SCRAPE_SERIES, exported_series_names,
                                                     metric_names_in, scrape)

# Client-library plumbing and the series' creation timestamps: nothing to chart.
_UNCHARTED_PREFIXES = ("python_", "process_")
_UNCHARTED_SUFFIX = "_created"


@pytest.fixture(scope="module")
def exported(suite) -> dict[str, str]:
    """Series name -> family for everything the three services put on /metrics."""
    names: dict[str, str] = {}
    for handle in suite.values():
        names.update(exported_series_names(scrape(handle.service.metrics_port)))
    return names


def _dashboard_expressions() -> dict[str, list[str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    return {f'{panel["id"]} {panel["title"]}': [target["expr"] for target in panel["targets"]] for panel in panels}


def _alert_expressions() -> dict[str, list[str]]:
    """`alert:` name -> its `expr:` (inline, or a `|` block indented deeper than the key); no YAML
    library in the project, and alerts.yml keeps to these two shapes."""
    text = (PROMETHEUS_DIR / "alerts.yml").read_text()
    rules = re.findall(r"- alert: (\S+)\n( +)expr: (?:\|\n((?:\2 +.*\n)+)|(.+)\n)", text)
    assert len(rules) == text.count("- alert:"), "an alert's expr is in a shape this reader does not know"
    return {name: [block or inline] for name, _, block, inline in rules}


def test_dashboard_panels_have_unique_ids_and_queries():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for title, expressions in _dashboard_expressions().items():
        assert expressions and all(expression.strip() for expression in expressions), title


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("source", [_dashboard_expressions, _alert_expressions], ids=["dashboard", "alerts"])
def test_queries_reference_only_exported_series(exported, source):
    unknown = {owner: sorted(names - exported.keys() - SCRAPE_SERIES)
               for owner, expressions in source().items()
               for names in [set().union(*(metric_names_in(expression) for expression in expressions))]}
    assert {owner: names for owner, names in unknown.items() if names} == {}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_dashboard_charts_every_grpc_and_domain_family(exported):
    charted = {exported[name] for expressions in _dashboard_expressions().values() for expression in expressions
               for name in metric_names_in(expression) if name in exported}
    families = {family for family in exported.values()
                if not family.startswith(_UNCHARTED_PREFIXES) and not family.endswith(_UNCHARTED_SUFFIX)}
    assert sorted(families - charted) == []
