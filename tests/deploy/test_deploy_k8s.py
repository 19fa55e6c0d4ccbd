"""deploy/k8s: per service a Deployment with gRPC probes, a Service, an autoscaler and a disruption budget."""

from __future__ import annotations

import pytest

from services.runtime.config import load_config
from tests.deploy.deploy_files import (
    DEPLOY,
    SERVICES,
    dockerfile_instructions,
    grpc_port,
    load_yaml,
    load_yaml_documents,
    main_module,
    metrics_port,
    peers,
)

K8S = DEPLOY / "k8s"


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict]:
    """The applied resources by (kind, name), as `kubectl apply -k deploy/k8s` sees them."""
    kustomization = load_yaml(K8S / "kustomization.yaml")
    found = {}
    for file in kustomization["resources"]:
        for document in load_yaml_documents(K8S / file):
            key = (document["kind"], document["metadata"]["name"])
            assert key not in found, key
            found[key] = document
    return found


@pytest.fixture(scope="module")
def config(manifests) -> dict[str, str]:
    return manifests[("ConfigMap", "fleetops-config")]["data"]


def _container(manifests, service: str) -> dict:
    [container] = manifests[("Deployment", service)]["spec"]["template"]["spec"]["containers"]
    return container


def test_every_manifest_file_is_applied_except_the_secret_template():
    listed = set(load_yaml(K8S / "kustomization.yaml")["resources"])
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_deployment_service_autoscaler_and_disruption_budget(manifests, service):
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert manifests[(kind, service)]["metadata"]["namespace"] == "fleetops"


@pytest.mark.parametrize("service", SERVICES)
def test_probes_ask_grpc_health_on_the_service_port(manifests, service):
    container = _container(manifests, service)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": grpc_port(service)}, probe
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"grpc": grpc_port(service), "metrics": metrics_port(service)}


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_and_module_match_the_dockerfile(manifests, service):
    container = _container(manifests, service)
    compose_image = load_yaml(DEPLOY / "compose.yaml")["services"][service]["image"]
    assert container["image"] == compose_image
    assert container["args"] == [main_module(service)]
    [user] = [i.arguments for i in dockerfile_instructions() if i.keyword == "USER"]
    security = manifests[("Deployment", service)]["spec"]["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == int(user)


@pytest.mark.parametrize("service", SERVICES)
def test_the_pod_is_killed_only_after_the_pause_and_the_drain(manifests, config, service, monkeypatch):
    monkeypatch.setenv("FLEETOPS_GRACE_SECONDS", config["FLEETOPS_GRACE_SECONDS"])
    drain = load_config(service).grace_seconds
    pod = manifests[("Deployment", service)]["spec"]["template"]["spec"]
    command = _container(manifests, service)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > float(command[1]) + drain


@pytest.mark.parametrize("service", SERVICES)
def test_settings_come_from_the_config_map_and_secrets_from_the_secret(manifests, config, service):
    container = _container(manifests, service)
    assert {"configMapRef": {"name": "fleetops-config"}} in container["envFrom"]
    secret_refs = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in container["env"] if "valueFrom" in item}
    for name in (f"{service.upper()}_DATABASE_URL", "FLEETOPS_PAGE_TOKEN_SECRET", "FLEETOPS_JWT_HS256_SECRET"):
        assert secret_refs[name] == {"name": "fleetops-secrets", "key": name}
    template = load_yaml(K8S / "secret.example.yaml")
    assert {ref["key"] for ref in secret_refs.values()} <= template["stringData"].keys()
    assert int(config[f"{service.upper()}_GRPC_PORT"]) == grpc_port(service)
    assert int(config[f"{service.upper()}_METRICS_PORT"]) == metrics_port(service)
    assert config["FLEETOPS_DEV_AUTH"] == "0"  # headers are never trusted in a cluster


@pytest.mark.parametrize("service", SERVICES)
def test_peers_are_addressed_through_their_services(manifests, config, service):
    for peer in peers(service):
        host, port = config[f"FLEETOPS_{peer.upper()}_ADDRESS"].rsplit(":", 1)
        assert host == f"{peer}.fleetops.svc.cluster.local" and int(port) == grpc_port(peer)
        assert ("Service", peer) in manifests


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_selects_the_pods_and_exposes_both_ports(manifests, service):
    spec = manifests[("Service", service)]["spec"]
    labels = manifests[("Deployment", service)]["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"].items() <= labels.items()
    assert {(p["name"], p["port"], p["targetPort"]) for p in spec["ports"]} == {
        ("grpc", grpc_port(service), "grpc"), ("metrics", metrics_port(service), "metrics")}


@pytest.mark.parametrize("service", SERVICES)
def test_scaling_keeps_a_replica_through_voluntary_disruptions(manifests, service):
    autoscaler = manifests[("HorizontalPodAutoscaler", service)]["spec"]
    budget = manifests[("PodDisruptionBudget", service)]["spec"]
    labels = manifests[("Deployment", service)]["spec"]["template"]["metadata"]["labels"]
    assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
    assert 2 <= autoscaler["minReplicas"] < autoscaler["maxReplicas"]
    assert 1 <= budget["minAvailable"] < autoscaler["minReplicas"]  # a node can still be drained
    assert budget["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("service", SERVICES)
def test_every_container_declares_requests_and_limits(manifests, service):
    resources = _container(manifests, service)["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert {"cpu", "memory"} <= resources["limits"].keys()


@pytest.mark.parametrize("service", SERVICES)
def test_a_pod_verifies_bearer_tokens_and_ignores_identity_headers(monkeypatch, config, service):
    from services.runtime.auth import BearerTokenAuthenticator, authenticator_for
    secrets = load_yaml(K8S / "secret.example.yaml")["stringData"]
    for name, value in {**config, **secrets}.items():
        monkeypatch.setenv(name, value)
    authenticator = authenticator_for(load_config(service))
    assert isinstance(authenticator, BearerTokenAuthenticator)
