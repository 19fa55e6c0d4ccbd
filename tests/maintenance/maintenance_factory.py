"""Builds diagnostic events in the three native formats and the fleet they belong to."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

from fleetops.fleet.v1 import fleet_service_pb2 as fleet_pb
from fleetops.fleet.v1 import resources_pb2 as fleet_res
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as pb_grpc
from google.protobuf import timestamp_pb2

from tests.fleet.fleet_factory import Fleet, unique

PRINTER_REGISTERS = ("total_impressions",)


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


def when(minute: int, hour: int = 10, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def alert_row(index: int = 12, code: int = 8, training: int = 5, **columns) -> dpb.SnmpRow:
    """A prtAlertTable row: by default a paper jam (code 8) that needs field service (training 5)."""
    values = {"prtAlertIndex": index, "prtAlertSeverityLevel": 3, "prtAlertTrainingLevel": training,
              "prtAlertGroup": 13, "prtAlertGroupIndex": 1, "prtAlertLocation": 5, "prtAlertCode": code,
              "prtAlertDescription": "Paper jam in duplex path", "prtAlertTime": 123456, **columns}
    return dpb.SnmpRow(columns={k: str(v) for k, v in values.items()})


class Devices:
    """Assets in the fleet service and events about them for the maintenance service."""

    def __init__(self, fleet_channel, maintenance_channel):
        self.fleet = Fleet(fleet_channel)
        self.stub = pb_grpc.MaintenanceServiceStub(maintenance_channel)
        self.source = unique("collector")

    def asset(self, device_class: str = "printer", consent: bool = True) -> str:
        customer = self.fleet.customer(consent=consent)
        registers = {"printer": ["total_impressions"], "forklift": ["operating_hours"], "server": ["compute_hours"]}
        model = self.fleet.stub.CreateDeviceModel(fleet_pb.CreateDeviceModelRequest(
            device_model_id=unique("model"), device_model=fleet_res.DeviceModel(
                device_class=getattr(fleet_res, f"DEVICE_CLASS_{device_class.upper()}"), maker="Maker",
                display_name=device_class, registers=[fleet_res.MeterRegister(code=c) for c in registers[device_class]])))
        return self.fleet.asset(customer, model).name

    def event(self, asset: str, moment: datetime, event_id: str | None = None, **payload) -> dpb.DiagnosticEvent:
        return dpb.DiagnosticEvent(source=self.source, source_event_id=event_id or uuid.uuid4().hex, asset=asset,
                                   observe_time=stamp(moment), **payload)

    def ingest(self, *events: dpb.DiagnosticEvent, wait: bool = True) -> dpb.IngestDiagnosticsResponse:
        """Ingests and, unless `wait` is off, answers with what processing made of the events."""
        return self.stub.IngestDiagnostics(dpb.IngestDiagnosticsRequest(events=list(events), wait_for_processing=wait))


def eventually(read, done, timeout: float = 30.0):
    """Polls `read()` until `done(value)` or the timeout; the last value. For what the event
    processor does after the answer, in the background."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def redfish(message_id: str, args: list[str], origin: str, event_id: str, severity: str) -> str:
    return json.dumps({"Events": [{"EventType": "Alert", "EventId": event_id, "MessageId": message_id,
                                   "MessageArgs": args, "MessageSeverity": severity,
                                   "EventTimestamp": "2026-03-02T10:00:00+00:00",
                                   "OriginOfCondition": {"@odata.id": origin}}]})
