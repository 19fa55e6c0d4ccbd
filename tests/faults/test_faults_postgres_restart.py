"""PostgreSQL goes down under traffic and comes back: while it is down every call of every service
fails fast with UNAVAILABLE (retryable; not INTERNAL or UNKNOWN, and no call hangs to its deadline),
and once it is back the same service processes answer again, without a restart.

The cluster is the test's own (initdb in a temp dir on a free port): the shared server is never stopped.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as fpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as ipb
from fleetops.invoicing.v1 import plans_pb2 as ppb
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2 as mpb

from tests.conftest import _skip_or_fail
from tests.faults.harness import PrivatePostgres, ServiceProcess
from tests.invoicing.invoicing_service_builders import Billing
from tests.maintenance.maintenance_factory import Devices, alert_row

pytestmark = pytest.mark.faults
DEADLINE_SECONDS = 5
# A call while the database is down must fail well before its deadline: the service knows at once.
FAIL_FAST_SECONDS = DEADLINE_SECONDS / 2
RECOVERY_SECONDS = 60
TRAFFIC_CALLERS = 2
INGEST_BATCH = 300


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    problem = PrivatePostgres.missing_binaries()
    if problem:
        _skip_or_fail(f"cannot start a private PostgreSQL to stop: {problem}")
    folder = Path(tempfile.mkdtemp(prefix="fleetops-pg-"))
    cluster = PrivatePostgres(folder)
    try:
        yield cluster
    finally:
        if cluster.running:
            cluster.stop("fast")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def calls(services) -> dict[str, Callable[[], object]]:
    return _traffic(services)


@pytest.fixture(scope="module")
def services(private_postgres, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    tmp_path = tmp_path_factory.mktemp("services")
    started: dict[str, ServiceProcess] = {}
    try:
        started["fleet"] = ServiceProcess("fleet", private_postgres.create_database("fleet"), tmp_path,
                                          peers={"maintenance": "localhost:1", "invoicing": "localhost:1"})
        started["maintenance"] = ServiceProcess("maintenance", private_postgres.create_database("maintenance"), tmp_path,
                                                peers={"fleet": started["fleet"].address, "invoicing": "localhost:1"})
        started["invoicing"] = ServiceProcess("invoicing", private_postgres.create_database("invoicing"), tmp_path,
                                              peers={"fleet": started["fleet"].address,
                                                     "maintenance": started["maintenance"].address})
        yield started
    finally:
        for service in started.values():
            service.stop()


def _traffic(services: dict[str, ServiceProcess]) -> dict[str, Callable[[], object]]:
    """A read and a write of each service, as clients send them; every write is new (fresh ids)."""
    devices = Devices(services["fleet"].channel, services["maintenance"].channel)
    billing = Billing(services["invoicing"].channel)
    printer = devices.asset()
    fleet, maintenance, invoicing = devices.fleet.stub, devices.stub, billing.stub

    def ingest() -> dpb.IngestDiagnosticsResponse:
        # A batch big enough that the database often goes away in the middle of its transaction.
        now = datetime.now(UTC)
        return maintenance.IngestDiagnostics(dpb.IngestDiagnosticsRequest(events=[devices.event(
            printer, now - timedelta(seconds=second), printer_alert=alert_row()) for second in range(INGEST_BATCH)]),
            timeout=DEADLINE_SECONDS)

    def create_plan() -> ppb.Plan:
        return invoicing.CreatePlan(ipb.CreatePlanRequest(plan_id=f"plan-{uuid.uuid4().hex[:8]}", plan=ppb.Plan(
            display_name="Managed print", currency_code="JPY"), request_id=uuid.uuid4().hex), timeout=DEADLINE_SECONDS)

    return {
        "fleet.GetAsset": lambda: fleet.GetAsset(fpb.GetAssetRequest(name=printer), timeout=DEADLINE_SECONDS),
        "fleet.CreateCustomer": lambda: devices.fleet.customer(),
        "maintenance.ListAlarms": lambda: maintenance.ListAlarms(mpb.ListAlarmsRequest(asset=printer),
                                                                 timeout=DEADLINE_SECONDS),
        "maintenance.IngestDiagnostics": ingest,
        "invoicing.ListInvoices": lambda: invoicing.ListInvoices(ipb.ListInvoicesRequest(), timeout=DEADLINE_SECONDS),
        "invoicing.CreatePlan": create_plan,
    }


def _outcome(call: Callable[[], object]) -> tuple[grpc.StatusCode, float]:
    started = time.monotonic()
    try:
        call()
        return grpc.StatusCode.OK, time.monotonic() - started
    except grpc.RpcError as error:
        return error.code(), time.monotonic() - started


class _BackgroundTraffic:
    """Callers that keep sending the mix while the database goes away and comes back."""

    def __init__(self, calls: dict[str, Callable[[], object]]):
        self._calls = calls
        self._stop = threading.Event()
        self.outcomes: list[tuple[str, grpc.StatusCode, float]] = []
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(TRAFFIC_CALLERS)]
        for thread in self._threads:
            thread.start()

    def _send(self) -> None:
        while not self._stop.is_set():
            for label, call in self._calls.items():
                self.outcomes.append((label, *_outcome(call)))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(DEADLINE_SECONDS * len(self._calls) + 10)


def _assert_unavailable_fast(calls: dict[str, Callable[[], object]]) -> None:
    outcomes = {label: _outcome(call) for label, call in calls.items()}
    assert {label: code for label, (code, _) in outcomes.items()} == dict.fromkeys(calls, grpc.StatusCode.UNAVAILABLE)
    assert {label: seconds for label, (_, seconds) in outcomes.items() if seconds > FAIL_FAST_SECONDS} == {}


def _assert_answered_again(calls: dict[str, Callable[[], object]]) -> None:
    for label, call in calls.items():
        give_up = time.monotonic() + RECOVERY_SECONDS
        while (code := _outcome(call)[0]) == grpc.StatusCode.UNAVAILABLE and time.monotonic() < give_up:
            time.sleep(0.2)
        assert code == grpc.StatusCode.OK, label


def test_calls_fail_unavailable_while_postgres_is_down_and_succeed_after_without_restarting(private_postgres, services,
                                                                                           calls):
    pids = {name: service.pid for name, service in services.items()}
    assert {label: _outcome(call)[0] for label, call in calls.items()} == dict.fromkeys(calls, grpc.StatusCode.OK)

    traffic = _BackgroundTraffic(calls)
    try:
        for mode in ("fast", "immediate"):  # clients told goodbye, then a crash with recovery at start
            private_postgres.stop(mode)
            _assert_unavailable_fast(calls)
            _assert_unavailable_fast(calls)
            private_postgres.start()
            _assert_answered_again(calls)
    finally:
        traffic.stop()

    assert {name: service.pid for name, service in services.items()} == pids  # the same processes throughout
    unexpected = {(label, code) for label, code, _ in traffic.outcomes
                  if code not in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE)}
    assert unexpected == set()
    assert [seconds for _, _, seconds in traffic.outcomes if seconds > DEADLINE_SECONDS + 1] == []


def test_calls_fail_unavailable_while_postgres_refuses_connections_and_succeed_after(private_postgres, services, calls):
    pids = {name: service.pid for name, service in services.items()}
    with private_postgres.every_connection_taken():
        _assert_unavailable_fast(calls)
    _assert_answered_again(calls)
    assert {name: service.pid for name, service in services.items()} == pids
