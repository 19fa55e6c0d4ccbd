"""kill -9 of the maintenance service in the middle of a large ingestion: the collector sends every
batch again with the same event ids until it is answered, and after the restart (same database)
every event is stored exactly once, counted in the database itself."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial

import grpc
import pytest
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from sqlalchemy import func, select

from services.maintenance.store_ingest import DiagnosticEventRow
from tests.faults.harness import ServiceProcess, database_session, until_answered, wait_for
from tests.invoicing.invoicing_service_builders import UNREACHABLE
from tests.maintenance.maintenance_factory import Devices, alert_row

pytestmark = pytest.mark.faults
O = dpb.IngestOutcome
PRINTERS = 10
EVENTS = 4000
BATCH = 400
KILLS = 2
START = datetime(2026, 3, 2, 8, tzinfo=UTC)
# How long a counted event may take to appear: ingestion may settle events after acknowledging them.
SETTLE_SECONDS = 60


def _event(devices: Devices, printer: str, number: int) -> dpb.DiagnosticEvent:
    moment = START + timedelta(seconds=number)
    if number % 3 == 0:
        marker = dpb.SnmpRow(columns={"prtMarkerIndex": "1", "prtMarkerLifeCount": str(10_000 + number),
                                      "prtMarkerCounterUnit": "7"})
        return devices.event(printer, moment, f"evt-{number}", printer_marker=marker)
    return devices.event(printer, moment, f"evt-{number}", printer_alert=alert_row(index=1 + number % 3,
                                                                                   code=(8, 9, 808)[number % 3]))


def _stored_events(database_url: str, source: str) -> int:
    with database_session(database_url) as session:
        return session.scalar(select(func.count()).select_from(DiagnosticEventRow)
                              .where(DiagnosticEventRow.source == source))


class _Collector:
    """Sends the batches one after another, each until it is answered, like a device collector."""

    def __init__(self, devices: Devices, batches: list[list[dpb.DiagnosticEvent]]):
        self._devices = devices
        self._batches = batches
        self.answers: list[dpb.IngestDiagnosticsResponse] = []
        self.failures: list[grpc.RpcError] = []
        self.sending = threading.Event()
        self.batch_seconds: list[float] = []

    def run(self) -> None:
        for batch in self._batches:
            request = dpb.IngestDiagnosticsRequest(events=batch)
            started = time.monotonic()
            self.sending.set()
            answer = until_answered(partial(self._devices.stub.IngestDiagnostics, request, timeout=60), self.failures)
            self.sending.clear()
            self.batch_seconds.append(time.monotonic() - started)
            self.answers.append(answer)


def test_events_resent_across_kill_minus_9_restarts_are_stored_exactly_once(fleet, new_database_url, tmp_path):
    database_url = new_database_url("maintenance")
    maintenance = ServiceProcess("maintenance", database_url, tmp_path,
                                 peers={"fleet": fleet.address, "invoicing": UNREACHABLE})
    try:
        devices = Devices(fleet.channel, maintenance.channel)
        printers = [devices.asset() for _ in range(PRINTERS)]
        events = [_event(devices, printers[number % PRINTERS], number) for number in range(EVENTS)]
        collector = _Collector(devices, [events[i:i + BATCH] for i in range(0, EVENTS, BATCH)])
        with ThreadPoolExecutor(1) as pool:
            delivery = pool.submit(collector.run)
            for kill in range(KILLS):
                # Kill halfway through a batch: after its request went out, before its answer is due.
                wait_for(lambda answered=2 * (kill + 1): len(collector.answers) >= answered or delivery.done())
                wait_for(lambda: collector.sending.is_set() or delivery.done())
                time.sleep(statistics.median(collector.batch_seconds) / 2)
                maintenance.kill()
                maintenance.start()
            delivery.result(timeout=600)

        assert collector.failures, "the kills never interrupted the delivery: the test proved nothing"
        outcomes = {result.outcome for answer in collector.answers for result in answer.results}
        assert outcomes <= {O.INGEST_OUTCOME_ACCEPTED, O.INGEST_OUTCOME_DUPLICATE}, outcomes
        wait_for(lambda: _stored_events(database_url, devices.source) >= EVENTS, SETTLE_SECONDS)
        assert _stored_events(database_url, devices.source) == EVENTS

        replay = devices.stub.IngestDiagnostics(dpb.IngestDiagnosticsRequest(events=events[:BATCH]), timeout=60)
        assert {result.outcome for result in replay.results} == {O.INGEST_OUTCOME_DUPLICATE}
        assert _stored_events(database_url, devices.source) == EVENTS
    finally:
        maintenance.stop()
