"""deploy/compose.yaml: every service wired to its database, its peers and its default ports."""

from __future__ import annotations

import pytest
import sqlalchemy

from services.runtime.config import load_config
from tests.deploy.deploy_files import (
    DEPLOY,
    SERVICES,
    grpc_port,
    load_yaml,
    main_module,
    metrics_port,
    peers,
)

COMPOSE = DEPLOY / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE)["services"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_its_module_from_the_one_image(compose, service):
    images = {compose[name]["image"] for name in SERVICES}
    assert len(images) == 1
    assert compose[service]["command"] == [main_module(service)]
    assert compose[service]["build"]["context"] == ".."


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_own_postgresql_database(compose, service):
    url = sqlalchemy.make_url(compose[service]["environment"][f"{service.upper()}_DATABASE_URL"])
    assert url.drivername == "postgresql+psycopg" and url.host == "postgres" and url.database == service
    init_sql = next(v.split(":")[0] for v in compose["postgres"]["volumes"] if "initdb" in v)
    assert f"CREATE DATABASE {service};" in (DEPLOY / init_sql).read_text()
    assert compose[service]["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reaches_its_peers_by_name_on_their_grpc_ports(compose, service):
    environment = compose[service]["environment"]
    for peer in peers(service):
        assert environment[f"FLEETOPS_{peer.upper()}_ADDRESS"] == f"{peer}:{grpc_port(peer)}"


@pytest.mark.parametrize("service", SERVICES)
def test_ports_are_the_code_defaults_and_published(compose, service):
    environment = compose[service]["environment"]
    prefix = service.upper()
    assert int(environment[f"{prefix}_GRPC_PORT"]) == grpc_port(service)
    assert int(environment[f"{prefix}_METRICS_PORT"]) == metrics_port(service)
    assert int(environment["GRPC_PORT"]) == grpc_port(service)  # what the health check dials
    assert set(compose[service]["ports"]) == {f"{p}:{p}" for p in (grpc_port(service), metrics_port(service))}


@pytest.mark.parametrize("service", SERVICES)
def test_docker_waits_longer_than_the_drain_before_killing(compose, service, monkeypatch):
    grace = float(compose[service]["environment"]["FLEETOPS_GRACE_SECONDS"])
    monkeypatch.setenv("FLEETOPS_GRACE_SECONDS", compose[service]["environment"]["FLEETOPS_GRACE_SECONDS"])
    assert load_config(service).grace_seconds == grace
    stop_grace = compose[service]["stop_grace_period"]
    assert stop_grace.endswith("s") and float(stop_grace[:-1]) > grace
    assert "grpc_health" in " ".join(compose[service]["healthcheck"]["test"])


def test_prometheus_scrapes_every_service_by_its_compose_name(compose):
    command = compose["prometheus"]["command"]
    [config_flag] = [c for c in command if c.startswith("--config.file=")]
    [mount] = [v for v in compose["prometheus"]["volumes"] if v.endswith(":/etc/prometheus:ro")]
    config_file = DEPLOY / mount.split(":")[0] / config_flag.removeprefix("--config.file=/etc/prometheus/")
    targets = {target for job in load_yaml(config_file)["scrape_configs"]
               for group in job["static_configs"] for target in group["targets"]}
    assert targets == {f"{service}:{metrics_port(service)}" for service in SERVICES}


def test_grafana_provisions_the_prometheus_source_and_the_fleetops_dashboard(compose):
    mounts = dict(v.removesuffix(":ro").split(":") for v in compose["grafana"]["volumes"] if v.startswith("./"))
    assert mounts["./grafana/fleetops.json"].startswith("/var/lib/grafana/dashboards/")
    for source in mounts:
        assert (DEPLOY / source).is_file(), source
    [datasource] = load_yaml(DEPLOY / "compose/grafana/datasources.yaml")["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    [provider] = load_yaml(DEPLOY / "compose/grafana/dashboards.yaml")["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.mark.parametrize("service", SERVICES)
def test_the_developer_stack_accepts_tokens_and_identity_headers(monkeypatch, compose, service):
    from services.runtime.auth import BearerThenHeaderAuthenticator, authenticator_for
    for name, value in compose[service]["environment"].items():
        monkeypatch.setenv(name, value.split(":-", 1)[-1].rstrip("}") if value.startswith("${") else value)
    assert isinstance(authenticator_for(load_config(service)), BearerThenHeaderAuthenticator)
