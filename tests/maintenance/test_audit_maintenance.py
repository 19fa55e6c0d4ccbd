"""The audit trail of maintenance's mutations: back-office and technician verbs record who, what,
when and request id with the change; device ingestion is audited per batch, not per event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from fleetops.audit.v1 import audit_pb2
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import resources_pb2 as res

from tests.fleet.fleet_factory import unique
from tests.maintenance.maintenance_factory import Devices, alert_row, when
from tests.maintenance.maintenance_orders_helpers import orders_world, stamp


def trail(stub, resource: str) -> list[audit_pb2.AuditRecord]:
    return list(stub.ListAuditRecords(audit_pb2.ListAuditRecordsRequest(resource=resource, page_size=1000))
                .audit_records)


@pytest.fixture()
def world(maintenance, fleet):
    world = orders_world(maintenance, fleet)
    yield world
    world.database.dispose()


def test_back_office_and_technician_verbs_are_audited(world):
    technician, technician_stub = world.technician("aiko")
    order = world.dispatched_order(technician)
    accepted = technician_stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name=order.name, request_id="accept-1"))
    assert technician_stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name=order.name, request_id="accept-1")) == accepted
    with pytest.raises(grpc.RpcError) as illegal:
        world.stub.ResumeWorkOrder(pb.WorkOrderVerbRequest(name=order.name))
    assert illegal.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    records = trail(world.stub, order.name)
    assert [(r.method, r.actor) for r in records] == [
        ("CreateWorkOrder", "test-admin"), ("ScheduleWorkOrder", "test-admin"), ("DispatchWorkOrder", "test-admin"),
        ("AcceptWorkOrder", technician)]
    assert records[-1].request_id == "accept-1"
    assert records[2].details == f"technician=technicians/{technician}"


def test_ingestion_is_audited_once_per_batch(fleet, maintenance):
    devices = Devices(fleet.channel, maintenance.channel)
    printers = [devices.asset(), devices.asset()]
    batch = unique("batch")
    events = [devices.event(printer, when(minute), printer_alert=alert_row()) for minute in (0, 1)
              for printer in printers]
    request = dpb.IngestDiagnosticsRequest(events=events, batch_id=batch)
    assert devices.stub.IngestDiagnostics(request).accepted_count == 4
    assert devices.stub.IngestDiagnostics(request).duplicate_count == 4  # a replayed batch changes nothing
    [record] = trail(devices.stub, f"diagnosticBatches/{batch}")
    assert (record.method, record.actor, record.request_id) == ("IngestDiagnostics", "test-admin", batch)
    assert record.details == "4 of 4 events accepted, for 2 assets"


def test_a_sweep_audits_each_alarm_it_clears(fleet, maintenance):
    devices = Devices(fleet.channel, maintenance.channel)
    printer = devices.asset()
    # Long before any other test's events, so that the sweep clears this alarm only.
    seen = datetime(2024, 1, 1, tzinfo=UTC)
    alarm = devices.ingest(devices.event(printer, seen, printer_alert=alert_row())).results[0].alarms[0]
    cleared = devices.stub.ExpireQuietAlarms(pb.ExpireQuietAlarmsRequest(now=stamp(seen + timedelta(days=2))))
    assert alarm in cleared.cleared_alarms
    [record] = trail(devices.stub, alarm)
    assert (record.method, record.details) == ("ExpireQuietAlarms", "cleared after the quiet period")
    assert devices.stub.GetAlarm(pb.GetAlarmRequest(name=alarm)).state == res.ALARM_STATE_CLEARED
