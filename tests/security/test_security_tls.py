"""TLS and mutual TLS on the gRPC port, with certificates generated for the test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from fleetops.maintenance.v1 import maintenance_service_pb2 as mpb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as mpb_grpc
from fleetops.maintenance.v1 import resources_pb2 as mres
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.clients import open_channel
from services.runtime.config import ClientTls
from tests.conftest import stop_service
from tests.fleet.fleet_factory import Fleet
from tests.security.security_helpers import Pki, start_secured, with_token

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.generate()


@pytest.fixture(scope="module")
def tls_fleet(pki, keys, tmp_path_factory):
    from services.fleet.main import DEFINITION
    handle = start_secured(DEFINITION, tmp_path_factory.mktemp("tls"), keys, server_tls=pki.server_tls(mutual=False))
    yield handle
    stop_service(handle)


@pytest.fixture(scope="module")
def mtls_pair(pki, keys, tmp_path_factory):
    """Fleet and maintenance, both requiring client certificates; maintenance dials fleet with its own."""
    from services.fleet.main import DEFINITION as FLEET
    from services.maintenance.main import DEFINITION as MAINTENANCE
    folder = tmp_path_factory.mktemp("mtls")
    fleet = start_secured(FLEET, folder, keys, server_tls=pki.server_tls(mutual=True))
    maintenance = start_secured(MAINTENANCE, folder, keys, server_tls=pki.server_tls(mutual=True),
                                peer_tls=pki.client_tls(), peers={"fleet": fleet.address, "invoicing": "localhost:1"})
    yield fleet, maintenance
    stop_service(maintenance)
    stop_service(fleet)


def health_status(channel: grpc.Channel):
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def fails_to_connect(channel: grpc.Channel) -> None:
    with channel, pytest.raises(grpc.RpcError) as caught:
        health_status(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plaintext_client_cannot_talk_to_a_tls_server(tls_fleet):
    fails_to_connect(grpc.insecure_channel(tls_fleet.address))


def test_tls_client_trusting_the_ca_is_served(tls_fleet, pki, keys):
    with open_channel(tls_fleet.address, pki.client_tls(with_certificate=False), []) as channel:
        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
        stub = pb_grpc.FleetServiceStub(with_token(channel, keys.token("viewer")))
        assert stub.ListCustomers(pb.ListCustomersRequest(), timeout=10) is not None


def test_tls_client_that_does_not_trust_the_servers_ca_is_refused(tls_fleet):
    stranger_roots = Pki.generate().ca.certificate_pem
    fails_to_connect(open_channel(tls_fleet.address, ClientTls(stranger_roots), []))


def test_mutual_tls_refuses_clients_without_a_certificate_or_with_a_foreign_one(mtls_pair, pki):
    fleet, _ = mtls_pair
    fails_to_connect(open_channel(fleet.address, pki.client_tls(with_certificate=False), []))
    fails_to_connect(open_channel(fleet.address, ClientTls(pki.ca.certificate_pem, *pki.stranger), []))
    fails_to_connect(grpc.insecure_channel(fleet.address))


def test_mutual_tls_serves_a_client_with_a_certificate_and_a_token(mtls_pair, pki, keys):
    fleet, _ = mtls_pair
    with open_channel(fleet.address, pki.client_tls(), []) as channel:
        stub = pb_grpc.FleetServiceStub(with_token(channel, keys.token("viewer")))
        assert stub.ListCustomers(pb.ListCustomersRequest(), timeout=10) is not None
        # the certificate lets the caller in, the token says who it is: without one, no identity
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.FleetServiceStub(channel).ListCustomers(pb.ListCustomersRequest(), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_peers_call_each_other_over_mutual_tls_with_minted_service_tokens(mtls_pair, pki, keys):
    fleet, maintenance = mtls_pair
    with open_channel(fleet.address, pki.client_tls(), []) as fleet_channel, \
            open_channel(maintenance.address, pki.client_tls(), []) as maintenance_channel:
        asset = Fleet(with_token(fleet_channel, keys.token("admin"))).printer()
        dispatcher = mpb_grpc.MaintenanceServiceStub(with_token(maintenance_channel, keys.token("dispatcher")))
        # maintenance resolves the asset by asking fleet (BatchGetAssets), as `service`, over mTLS
        order = dispatcher.CreateWorkOrder(mpb.CreateWorkOrderRequest(work_order=mres.WorkOrder(
            asset=asset.name, reason="paper jam", skill="printer-mechanical", priority=mres.SEVERITY_WARNING)),
            timeout=20)
        assert order.asset == asset.name and order.site == asset.site != ""


def test_fleetctl_uses_a_token_and_client_certificate(mtls_pair, pki, keys, tmp_path):
    fleet, _ = mtls_pair
    files = pki.write(tmp_path)
    base = [sys.executable, "-m", "services.cli", "--fleet", fleet.address, "--timeout", "20",
            "--tls-ca", str(files["ca"]), "--tls-cert", str(files["client-cert"]), "--tls-key", str(files["client-key"])]

    def fleetctl(*arguments: str, token: str | None = None) -> subprocess.CompletedProcess:
        env = {"PATH": "/usr/bin:/bin", **({"FLEETOPS_TOKEN": token} if token else {})}
        return subprocess.run([*base, *arguments], cwd=REPOSITORY_ROOT, env=env, capture_output=True, text=True, check=False,
                              timeout=60)

    listed = fleetctl("assets", "list", token=keys.token("viewer"))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split()[:2] == ["NAME", "SERIAL"]
    anonymous = fleetctl("assets", "list")
    assert anonymous.returncode == 1 and anonymous.stderr.startswith("error: UNAUTHENTICATED:")
    technician = fleetctl("assets", "list", token=keys.token("technician"))
    assert technician.returncode == 1 and technician.stderr.startswith("error: PERMISSION_DENIED:")
    assert "viewer" in technician.stderr and "Traceback" not in technician.stderr
