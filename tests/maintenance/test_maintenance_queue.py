"""The queue of acknowledged events: an entry per acknowledging call and asset, its events processed
once each and in observe order with the other entries of their asset."""

from __future__ import annotations

import urllib.request

import pytest
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import resources_pb2 as res
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import start_service, stop_service
from tests.maintenance.maintenance_factory import Devices, alert_row, when

O = dpb.IngestOutcome
MARKER = dpb.SnmpRow(columns={"prtMarkerIndex": "1", "prtMarkerLifeCount": "1000", "prtMarkerCounterUnit": "7"})


@pytest.fixture(scope="module")
def acknowledging(fleet, new_database_url):
    """A maintenance replica that only acknowledges: its events wait until a caller awaits its own."""
    from services.maintenance.ingestion import BACKGROUND_PROCESSING_VARIABLE
    from services.maintenance.main import DEFINITION
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BACKGROUND_PROCESSING_VARIABLE, "0")
        service = start_service(DEFINITION, new_database_url("maintenance"),
                                peers={"fleet": fleet.address, "invoicing": "localhost:1"})
    yield service
    stop_service(service)


@pytest.fixture
def devices(fleet, acknowledging) -> Devices:
    return Devices(fleet.channel, acknowledging.channel)


def _alarms(devices: Devices, asset: str) -> list[res.Alarm]:
    return list(devices.stub.ListAlarms(pb.ListAlarmsRequest(asset=asset)).alarms)


def _repeats(devices: Devices, asset: str, minutes) -> list[dpb.DiagnosticEvent]:
    return [devices.event(asset, when(minute), printer_alert=alert_row()) for minute in minutes]


def _backlog(service) -> float:
    with urllib.request.urlopen(service.metrics_url, timeout=5) as response:
        return sum(sample.value for family in text_string_to_metric_families(response.read().decode())
                   for sample in family.samples if sample.name == "fleetops_maintenance_ingest_backlog_events")


def test_events_of_one_asset_acknowledged_apart_are_processed_once_each_in_observe_order(devices, acknowledging):
    walker, repeater = devices.asset(), devices.asset()
    before = _backlog(acknowledging)
    # Acknowledged first: the walk that finds the alert gone, and the odd minutes' repeats (newest
    # first); then the walk that raises it and the even minutes' repeats.
    devices.ingest(devices.event(walker, when(5), printer_alert_walk=dpb.PrinterAlertWalk(rows=[])),
                   *_repeats(devices, repeater, (5, 3, 1)), wait=False)
    devices.ingest(devices.event(walker, when(0), printer_alert_walk=dpb.PrinterAlertWalk(rows=[alert_row()])),
                   *_repeats(devices, repeater, (4, 2, 0)), wait=False)
    assert _backlog(acknowledging) == before + 8
    assert _alarms(devices, repeater) == []  # nothing processed yet
    # An awaiting caller has its assets' waiting events processed with its own, oldest first.
    awaited = devices.ingest(devices.event(repeater, when(6), printer_alert=alert_row()),
                             devices.event(walker, when(6), printer_marker=MARKER))
    [repeated] = _alarms(devices, repeater)
    assert (repeated.count, repeated.first_seen_time.ToDatetime()) == (7, when(0).replace(tzinfo=None))
    assert list(awaited.results[0].alarms) == [repeated.name]
    [walked] = _alarms(devices, walker)  # raised at minute 0, gone at 5
    assert (walked.state, walked.clear_reason) == (res.ALARM_STATE_CLEARED, "device")
    assert _backlog(acknowledging) == before


def test_a_replay_of_a_waiting_event_is_not_queued_again(devices, acknowledging):
    printer = devices.asset()
    events = _repeats(devices, printer, range(3))
    before = _backlog(acknowledging)
    assert devices.ingest(*events[:2], wait=False).accepted_count == 2
    again = devices.ingest(events[1], events[2], events[0], wait=False)
    assert [r.outcome for r in again.results] == [O.INGEST_OUTCOME_DUPLICATE, O.INGEST_OUTCOME_ACCEPTED,
                                                  O.INGEST_OUTCOME_DUPLICATE]
    assert _backlog(acknowledging) == before + 3
    devices.ingest(devices.event(printer, when(3), printer_alert=alert_row()))
    [alarm] = _alarms(devices, printer)
    assert alarm.count == 4
    assert _backlog(acknowledging) == before
    assert devices.ingest(*events, wait=False).duplicate_count == 3  # nor once processed
    assert _backlog(acknowledging) == before


def test_a_backlog_larger_than_a_round_is_processed_over_several_once_each(devices, acknowledging, monkeypatch):
    from services.maintenance import processing
    monkeypatch.setattr(processing, "ROUND_EVENTS", 2)
    printer = devices.asset()
    before = _backlog(acknowledging)
    for minutes in ((0, 1, 2), (3,), (4, 5)):
        devices.ingest(*_repeats(devices, printer, minutes), wait=False)
    assert _backlog(acknowledging) == before + 6
    devices.ingest(devices.event(printer, when(6), printer_alert=alert_row()))  # rounds of 3, 1 + 2 and 1 events
    [alarm] = _alarms(devices, printer)
    assert alarm.count == 7
    assert _backlog(acknowledging) == before
