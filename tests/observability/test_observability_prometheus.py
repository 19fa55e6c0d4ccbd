"""A real Prometheus scrapes the three running services and loads the alert rules."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from tests.observability.observability_tools import PROMETHEUS_DIR, binary

DEADLINE_SECONDS = 25.0


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_config(folder: Path, metrics_ports: dict[str, int]) -> Path:
    jobs = "".join(f'  - job_name: fleetops-{name}\n    static_configs:\n      - targets: ["127.0.0.1:{port}"]\n'
                   for name, port in metrics_ports.items())
    config = folder / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                      f"rule_files:\n  - {PROMETHEUS_DIR / 'alerts.yml'}\nscrape_configs:\n{jobs}")
    return config


class Prometheus:
    def __init__(self, base_url: str):
        self.base_url = base_url

    def api(self, path: str, **params: str) -> dict | list:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.base_url}/api/v1/{path}{query}", timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def wait_for(self, probe, what: str, deadline: float):
        """Polls `probe()` until it returns something truthy; fails with `what` at the deadline."""
        last = None
        while time.monotonic() < deadline:
            try:
                last = probe()
            except (urllib.error.URLError, ConnectionError):
                last = None
            if last:
                return last
            time.sleep(0.5)
        pytest.fail(f"Prometheus never showed {what} within {DEADLINE_SECONDS:.0f} s (last answer: {last!r})")


@pytest.fixture
def prometheus(suite, tmp_path) -> Iterator[Prometheus]:
    ports = {name: handle.service.metrics_port for name, handle in suite.items()}
    config = _write_config(tmp_path, ports)
    address = f"127.0.0.1:{_free_loopback_port()}"
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen([binary("prometheus"), f"--config.file={config}", f"--web.listen-address={address}",
                                f"--storage.tsdb.path={tmp_path / 'tsdb'}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield Prometheus(f"http://{address}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_prometheus_scrapes_all_services_and_sees_the_rpcs_made(suite, prometheus):
    deadline = time.monotonic() + DEADLINE_SECONDS
    stub = pb_grpc.FleetServiceStub(suite["fleet"].channel)
    for _ in range(3):
        stub.ListCustomers(pb.ListCustomersRequest(), timeout=5)

    def all_targets_up() -> dict[str, str] | None:
        targets = prometheus.api("targets")["activeTargets"]
        health = {target["labels"]["job"]: target["health"] for target in targets}
        return health if len(health) == 3 and set(health.values()) == {"up"} else None

    health = prometheus.wait_for(all_targets_up, "three healthy targets", deadline)
    assert sorted(health) == ["fleetops-fleet", "fleetops-invoicing", "fleetops-maintenance"]

    series = prometheus.wait_for(
        lambda: prometheus.api("query", query='grpc_server_handled_total{grpc_method="ListCustomers"}')["result"],
        "grpc_server_handled_total for ListCustomers", deadline)
    ok = [sample for sample in series if sample["metric"]["grpc_code"] == "OK"]
    assert ok and ok[0]["metric"]["job"] == "fleetops-fleet"
    assert float(ok[0]["value"][1]) >= 3

    groups = prometheus.wait_for(lambda: prometheus.api("rules")["groups"], "the alert rules loaded", deadline)
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["name"] for rule in rules} >= {"FleetopsHighErrorRatio", "FleetopsIngestionStalled",
                                                 "FleetopsBillingRunFailed"}
    assert all(rule["health"] != "err" for rule in rules), [r for r in rules if r["health"] == "err"]
