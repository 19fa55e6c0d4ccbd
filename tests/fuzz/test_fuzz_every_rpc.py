"""Every RPC of every service, fed hypothesis-generated requests against real servers.

The RPCs come from the services' descriptors, so a new RPC is fuzzed without touching this file.
For each call: never UNKNOWN or INTERNAL (a leaked exception or an unmapped failure), never a hang;
a call that fails leaves every table's row count as it was (nothing half-written); afterwards the
service still answers its health check. Each service is fuzzed on servers of its own, seeded with a
few real resources so that generated names sometimes hit something that exists. The caller is an
admin who is also a seeded technician, so the technician API gets past its role check.

Cases: FUZZ_EXAMPLES per RPC and back end (over 10,000 in all: 108 RPCs on two back ends; each test
records its count as the `fuzz_cases` junit property), derandomized so that a CI failure reproduces
locally.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta

import grpc
import pytest
import sqlalchemy
from fleetops.maintenance.v1 import maintenance_service_pb2 as mpb
from fleetops.maintenance.v1 import resources_pb2 as mres
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import start_service, stop_service
from tests.fleet.fleet_factory import Fleet
from tests.fuzz.message_strategies import field_names, requests
from tests.invoicing.invoicing_service_builders import Billing, fee
from tests.maintenance.maintenance_factory import Devices, alert_row, stamp, when

# 48 keeps `make test` within budget; a deeper run sets FLEETOPS_FUZZ_EXAMPLES (e.g. 1000 overnight).
FUZZ_EXAMPLES = int(os.environ.get("FLEETOPS_FUZZ_EXAMPLES", "48"))
CALL_TIMEOUT_SECONDS = 20
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED}
TECHNICIAN_ID = "fuzz-technician"
CALLER = (("x-fleetops-subject", TECHNICIAN_ID), ("x-fleetops-roles", "admin,technician"))
# One name of every collection, so that generated references have the right shape more often than not.
SHAPED_NAMES = ["customers/acme", "customers/acme/sites/hq", "customers/acme/sites/hq/locations/f1",
                "deviceModels/m1", "assets/a1", "workOrders/w1", "alarms/1", "technicians/t1", "slaPolicies/s1",
                "preventivePlans/p1", "schedules/s1", "placementPlans/p1", "replacementPlans/p1", "plans/p1",
                "plans/p1/versions/1", "contracts/c1", "issuingEntities/i1", "billingRuns/r1", "invoices/i1",
                f"technicians/{TECHNICIAN_ID}", "customers/", "/", "assets/A1", "assets/a1/extra"]


def _definitions() -> dict:
    from services.fleet.main import DEFINITION as FLEET
    from services.invoicing.main import DEFINITION as INVOICING
    from services.maintenance.main import DEFINITION as MAINTENANCE
    return {"fleet": FLEET, "maintenance": MAINTENANCE, "invoicing": INVOICING}


def _every_method() -> list:
    params = []
    for service, definition in _definitions().items():
        for full_name in definition.grpc_services:
            for method in descriptor_pool.Default().FindServiceByName(full_name).methods:
                params.append(pytest.param(service, method, id=f"{service}-{method.name}"))
    return params


class FuzzedService:
    """A service under fuzz: its server, the names seeded into it and its peers, its tables' row counts."""

    def __init__(self, handle, names: list[str]):
        self.handle = handle
        self.names = names
        self._engine = sqlalchemy.create_engine(handle.database_url, pool_size=1, max_overflow=0)
        self._tables = sorted(t for t in sqlalchemy.inspect(self._engine).get_table_names() if t != "alembic_version")
        quote = self._engine.dialect.identifier_preparer.quote
        self._count_all = sqlalchemy.text("SELECT " + ", ".join(f"(SELECT count(*) FROM {quote(t)})" for t in self._tables))

    def row_counts(self) -> dict[str, int]:
        with self._engine.connect() as connection:
            return dict(zip(self._tables, connection.execute(self._count_all).one(), strict=True))

    def dispose(self) -> None:
        self._engine.dispose()


def _seed(handles: dict) -> list[str]:
    fleet = Fleet(handles["fleet"].channel)
    customer = fleet.customer()
    site = fleet.site(customer)
    model = fleet.printer_model()
    asset = fleet.asset(customer, model, site)
    names = [customer.name, site.name, model.name, asset.name]
    if "maintenance" in handles:
        devices = Devices(handles["fleet"].channel, handles["maintenance"].channel)
        printer = devices.asset()
        raised = devices.ingest(devices.event(printer, when(0), printer_alert=alert_row())).results[0]
        devices.stub.CreateTechnician(mpb.CreateTechnicianRequest(technician_id=TECHNICIAN_ID, technician=mres.Technician(
            display_name="Fuzz", skills=["printer"], time_zone="Asia/Tokyo")))
        for order in raised.work_orders:
            devices.stub.ScheduleWorkOrder(mpb.ScheduleWorkOrderRequest(
                name=order, start_time=stamp(when(0, day=3)), end_time=stamp(when(0, day=3) + timedelta(hours=2))))
            devices.stub.DispatchWorkOrder(mpb.DispatchWorkOrderRequest(name=order, technician=f"technicians/{TECHNICIAN_ID}"))
        names += [printer, *raised.alarms, *raised.work_orders]
    if "invoicing" in handles:
        billing = Billing(handles["invoicing"].channel)
        issuer = billing.issuer()
        version = billing.plan(fee("base", "1000"))
        contract = billing.contract(customer.name, version, issuer, [asset.name], site=site.name)
        names += [issuer.name, version.name, version.name.rsplit("/versions/", 1)[0], contract.name]
    return names


@pytest.fixture(scope="module")
def fuzzed(new_database_url):
    """Per service name, the servers to fuzz it on (fresh databases), started on first use and
    stopped with the module, so that their database connections do not outlive it."""
    definitions = _definitions()
    started: dict[str, FuzzedService] = {}
    servers: list = []

    def start(service: str, **overrides):
        servers.append(start_service(definitions[service], new_database_url(service), **overrides))
        return servers[-1]

    def get(service: str) -> FuzzedService:
        if service not in started:
            handles = {"fleet": start("fleet")}
            if service in ("maintenance", "invoicing"):
                handles["maintenance"] = start("maintenance", peers={"fleet": handles["fleet"].address,
                                                                     "invoicing": "localhost:1"})
            if service == "invoicing":
                handles["invoicing"] = start("invoicing", peers={"fleet": handles["fleet"].address,
                                                                 "maintenance": handles["maintenance"].address})
            started[service] = FuzzedService(handles[service], _seed(handles))
        return started[service]

    yield get
    for service in started.values():
        service.dispose()
    for server in reversed(servers):
        stop_service(server)


def _caller(channel: grpc.Channel, method: MethodDescriptor, acknowledged: Callable[[], None]):
    """A function that sends a list of requests (one, or a stream's) and reads every answer. A bidi
    stream is sent in lock step, each request after the previous one's answer, and `acknowledged`
    runs after each answer: what an answered request wrote is legitimately there when a later one fails."""
    request_type = message_factory.GetMessageClass(method.input_type)
    response_type = message_factory.GetMessageClass(method.output_type)
    shape = {(False, False): channel.unary_unary, (False, True): channel.unary_stream,
             (True, False): channel.stream_unary, (True, True): channel.stream_stream}
    stub = shape[(method.client_streaming, method.server_streaming)](
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=request_type.SerializeToString, response_deserializer=response_type.FromString)

    def call(sent: list) -> None:
        if not method.client_streaming:
            answer = stub(sent[0], timeout=CALL_TIMEOUT_SECONDS, metadata=CALLER)
            if method.server_streaming:
                list(answer)
            return
        turns = threading.Semaphore(0)

        def lock_step():
            for index, request in enumerate(sent):
                if index and method.server_streaming:
                    turns.acquire()
                yield request

        try:
            answer = stub(lock_step(), timeout=CALL_TIMEOUT_SECONDS, metadata=CALLER)
            for _ in answer if method.server_streaming else [answer]:
                acknowledged()
                turns.release()
        finally:
            turns.release(len(sent) + 1)  # a stream that ended early must not leave the sender waiting

    return call


@pytest.mark.parametrize(("service", "method"), _every_method())
def test_fuzzed_requests_never_fail_internally(fuzzed, service, method, record_property):
    target = fuzzed(service)
    request = requests(method.input_type, SHAPED_NAMES + target.names, field_names([method.input_type]), method.name)
    sent_strategy = st.lists(request, max_size=3) if method.client_streaming else request.map(lambda one: [one])
    counts = [target.row_counts()]  # as the last call, or the last answered request of a stream, left them
    call = _caller(target.handle.channel, method, acknowledged=lambda: counts.__setitem__(0, target.row_counts()))
    calls = []

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(sent=sent_strategy)
    def fuzz(sent):
        calls.append(method.name)
        try:
            call(sent)
        except grpc.RpcError as error:
            assert error.code() not in FORBIDDEN, f"{method.name} answered {error.code().name}: {error.details()}"
            before, counts[0] = counts[0], target.row_counts()
            changed = {table: (before[table], counts[0][table]) for table in before if before[table] != counts[0][table]}
            assert not changed, f"{method.name} failed with {error.code().name} but changed row counts {changed}"
        else:
            counts[0] = target.row_counts()

    fuzz()
    record_property("fuzz_cases", len(calls))
    health = health_pb2_grpc.HealthStub(target.handle.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
