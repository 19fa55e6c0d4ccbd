"""Server lifecycle: health, reflection, graceful drain, unexpected errors, deadlines, `make run`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from fleetops.fleet.v1 import resources_pb2 as res
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from services.fleet.main import DEFINITION as FLEET
from services.runtime import deadlines
from services.runtime.config import REPO_ROOT
from services.runtime.server import ServiceDefinition
from tests.conftest import start_service, stop_service

SERVING = health_pb2.HealthCheckResponse.SERVING


class ProbeServicer(pb_grpc.FleetServiceServicer):
    """Stands in for a handler that is slow or has a bug, to watch what the runtime does around it."""

    def __init__(self, release: threading.Event):
        self.release = release
        self.started = threading.Event()

    def GetCustomer(self, request, context):
        if request.name == "customers/boom":
            raise ValueError("secret connection string postgres://admin:hunter2@db")
        self.started.set()
        self.release.wait(10)
        return res.Customer(name=request.name)


@pytest.fixture
def probe(tmp_path):
    release = threading.Event()
    servicer = ProbeServicer(release)
    definition = ServiceDefinition(
        name="fleet", grpc_services=FLEET.grpc_services, migrations_dir=FLEET.migrations_dir,
        register=lambda server, runtime: pb_grpc.add_FleetServiceServicer_to_server(servicer, server))
    handle = start_service(definition, f"sqlite:///{tmp_path / 'probe.db'}")
    yield handle, servicer
    release.set()
    stop_service(handle)


@pytest.mark.parametrize("service_name", ["fleet", "maintenance", "invoicing"])
def test_every_service_is_healthy_and_reflects_its_api(suite, service_name):
    handle = suite[service_name]
    full_name = handle.service.definition.grpc_services[0]
    health = health_pb2_grpc.HealthStub(handle.raw_channel)
    for name in ("", full_name):
        assert health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status == SERVING
    services = ProtoReflectionDescriptorDatabase(handle.raw_channel).get_services()
    assert full_name in services and "grpc.health.v1.Health" in services


def test_unexpected_error_is_internal_without_leaking(probe):
    handle, _ = probe
    with pytest.raises(grpc.RpcError) as caught:
        pb_grpc.FleetServiceStub(handle.channel).GetCustomer(pb.GetCustomerRequest(name="customers/boom"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "hunter2" not in caught.value.details() and "ValueError" not in caught.value.details()


def test_shutdown_drains_in_flight_calls_and_reports_not_serving(probe):
    handle, servicer = probe
    stub = pb_grpc.FleetServiceStub(handle.channel)
    in_flight = stub.GetCustomer.future(pb.GetCustomerRequest(name="customers/slow"), timeout=20)
    assert servicer.started.wait(10)
    stopper = threading.Thread(target=handle.service.stop, kwargs={"grace": 10})
    stopper.start()
    health = health_pb2_grpc.HealthStub(handle.raw_channel)
    deadline = time.monotonic() + 5
    while handle.service.health._server_status.get("", SERVING) == SERVING and time.monotonic() < deadline:
        time.sleep(0.01)
    assert handle.service.health._server_status[""] == health_pb2.HealthCheckResponse.NOT_SERVING
    servicer.release.set()
    assert in_flight.result(timeout=10).name == "customers/slow"
    stopper.join(10)
    with pytest.raises(grpc.RpcError) as caught:
        health.Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_outgoing_timeout_is_what_is_left_of_the_callers_deadline():
    token = deadlines.bind_deadline(0.5)
    try:
        assert 0.3 < deadlines.outgoing_timeout(default=10) <= 0.45
    finally:
        deadlines.unbind_deadline(token)
    token = deadlines.bind_deadline(0.01)
    try:
        time.sleep(0.02)
        with pytest.raises(deadlines.DeadlineExceeded):
            deadlines.outgoing_timeout()
    finally:
        deadlines.unbind_deadline(token)
    assert deadlines.outgoing_timeout(default=3) == 3  # no caller deadline: the default


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_launcher_serves_all_three_and_exits_zero_on_interrupt(tmp_path):
    env = dict(os.environ)
    for service in ("FLEET", "MAINTENANCE", "INVOICING"):
        env[f"{service}_GRPC_PORT"] = str(_free_port())
        env[f"{service}_METRICS_PORT"] = str(_free_port())
        env[f"{service}_DATABASE_URL"] = f"sqlite:///{tmp_path / service.lower()}.db"
    env.pop("FLEETOPS_DEV_AUTH", None)
    launcher = subprocess.Popen([sys.executable, "-m", "services"], cwd=REPO_ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        lines = []
        for line in launcher.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        assert any("grpcurl -plaintext" in line for line in lines)
        for service in ("FLEET", "MAINTENANCE", "INVOICING"):
            with grpc.insecure_channel(f"localhost:{env[f'{service}_GRPC_PORT']}") as channel:
                status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert status.status == SERVING
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=30) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
