"""Diagnostic ingestion through the real service: replays, consent, rejects, device clearing signals."""

from __future__ import annotations

import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from fleetops.fleet.v1 import meters_pb2 as fleet_meters
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import resources_pb2 as res
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select, text

from services.maintenance.store_ingest import MeterOutboxRow
from tests.conftest import start_service, stop_service
from tests.maintenance.maintenance_factory import Devices, alert_row, eventually, redfish, when

O = dpb.IngestOutcome


@pytest.fixture
def devices(fleet, maintenance) -> Devices:
    return Devices(fleet.channel, maintenance.channel)


def _alarms(devices: Devices, asset: str) -> list[res.Alarm]:
    return list(devices.stub.ListAlarms(pb.ListAlarmsRequest(asset=asset)).alarms)


def test_replay_is_ignored_and_conflicting_replay_reported(devices):
    printer = devices.asset()
    event = devices.event(printer, when(0), "evt-1", printer_alert=alert_row())
    first = devices.ingest(event)
    assert first.results[0].outcome == O.INGEST_OUTCOME_ACCEPTED and len(first.results[0].alarms) == 1
    again = devices.ingest(event)
    assert again.results[0].outcome == O.INGEST_OUTCOME_DUPLICATE
    altered = devices.event(printer, when(5), "evt-1", printer_alert=alert_row())
    conflict = devices.ingest(altered)
    assert conflict.results[0].outcome == O.INGEST_OUTCOME_CONFLICT and "other content" in conflict.results[0].reason
    [alarm] = _alarms(devices, printer)
    assert alarm.count == 1  # neither the replay nor the conflict counted


def test_events_without_consent_are_refused_and_nothing_stored(devices):
    refusing = devices.asset(consent=False)
    with pytest.raises(grpc.RpcError) as caught:
        devices.ingest(devices.event(refusing, when(0), printer_alert=alert_row()))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _alarms(devices, refusing) == []
    consenting = devices.asset()
    mixed = devices.ingest(devices.event(refusing, when(1), printer_alert=alert_row()),
                           devices.event(consenting, when(1), printer_alert=alert_row()))
    assert [r.outcome for r in mixed.results] == [O.INGEST_OUTCOME_REJECTED, O.INGEST_OUTCOME_ACCEPTED]
    assert "consented" in mixed.results[0].reason
    assert _alarms(devices, refusing) == []


def test_malformed_event_is_rejected_with_its_index_and_the_rest_processed(devices):
    forklift = devices.asset("forklift")
    response = devices.ingest(
        devices.event(forklift, when(0), j1939_message=dpb.J1939Message(pgn=65226, source_address=0, data=b"\x00")),
        devices.event(forklift, when(0)),  # no payload
        devices.event("sites/x", when(0), redfish_event="{}"),
        devices.event(forklift, when(1), j1939_message=dpb.J1939Message(
            pgn=65226, source_address=0, data=bytes.fromhex("40FF5B000301FFFF"))))
    assert [r.outcome for r in response.results] == [O.INGEST_OUTCOME_REJECTED] * 3 + [O.INGEST_OUTCOME_ACCEPTED]
    assert [r.index for r in response.results] == [0, 1, 2, 3]
    assert "fewer than 6" in response.results[0].reason
    assert "no payload" in response.results[1].reason
    assert "assets/" in response.results[2].reason


def test_printer_alert_clears_when_removed_from_the_next_walk(devices):
    printer = devices.asset()
    devices.ingest(devices.event(printer, when(0), printer_alert_walk=dpb.PrinterAlertWalk(rows=[alert_row()])))
    assert [a.state for a in _alarms(devices, printer)] == [res.ALARM_STATE_ACTIVE]
    devices.ingest(devices.event(printer, when(5), printer_alert_walk=dpb.PrinterAlertWalk(rows=[])))
    [alarm] = _alarms(devices, printer)
    assert alarm.state == res.ALARM_STATE_CLEARED and alarm.clear_reason == "device"


def test_printer_alert_clears_by_a_1801_removal_entry(devices):
    printer = devices.asset()
    devices.ingest(devices.event(printer, when(0), printer_alert=alert_row(index=12)))
    removal = alert_row(index=13, code=1801, prtAlertGroupIndex=12, prtAlertSeverityLevel=5)
    devices.ingest(devices.event(printer, when(3), printer_alert=removal))
    [alarm] = _alarms(devices, printer)
    assert alarm.state == res.ALARM_STATE_CLEARED


def test_dtc_clears_when_absent_from_the_next_dm1(devices, shared_data: Path):
    forklift = devices.asset("forklift")
    lines = (shared_data / "diagnostics" / "j1939" / "frames" / "test_dm1.log").read_text().splitlines()
    without_dtc, with_dtc = lines[0], lines[1]  # the README: SPN 91 FMI 3 active in the second frame
    raised = devices.ingest(devices.event(forklift, when(0), j1939_frames=dpb.J1939Frames(candump_lines=[with_dtc])))
    assert raised.results[0].outcome == O.INGEST_OUTCOME_ACCEPTED
    [alarm] = _alarms(devices, forklift)
    assert "91" in alarm.fault_key and alarm.state == res.ALARM_STATE_ACTIVE
    devices.ingest(devices.event(forklift, when(1), j1939_frames=dpb.J1939Frames(candump_lines=[without_dtc])))
    [alarm] = _alarms(devices, forklift)
    assert alarm.state == res.ALARM_STATE_CLEARED and alarm.clear_reason == "device"


def test_redfish_clearing_logic_clears_the_named_message_of_the_same_origin(devices):
    server = devices.asset("server")
    cpu1, cpu2 = "/redfish/v1/Systems/1/Processors/CPU1", "/redfish/v1/Systems/1/Processors/CPU2"
    detected, corrected = "ResourceEvent.1.4.ResourceErrorsDetected", "ResourceEvent.1.4.ResourceErrorsCorrected"
    devices.ingest(devices.event(server, when(0), redfish_event=redfish(detected, ["CPU1", "ECC"], cpu1, "1", "Warning")),
                   devices.event(server, when(1), redfish_event=redfish(detected, ["CPU2", "ECC"], cpu2, "2", "Warning")))
    [alarm] = _alarms(devices, server)  # one alarm per asset and kind of fault, raised from two origins
    assert alarm.count == 2
    devices.ingest(devices.event(server, when(2), redfish_event=redfish(corrected, ["CPU1", "ECC"], cpu1, "3", "OK")))
    assert _alarms(devices, server)[0].state == res.ALARM_STATE_ACTIVE  # CPU2's errors are not corrected
    devices.ingest(devices.event(server, when(3), redfish_event=redfish(corrected, ["CPU2", "ECC"], cpu2, "4", "OK")))
    [alarm] = _alarms(devices, server)
    assert alarm.state == res.ALARM_STATE_CLEARED and alarm.clear_reason == "device"


def test_quiet_period_clears_an_alarm_the_device_stopped_repeating(devices):
    printer = devices.asset()
    devices.ingest(devices.event(printer, when(0, day=1), printer_alert=alert_row()))
    [alarm] = _alarms(devices, printer)
    from tests.maintenance.maintenance_factory import stamp
    cleared = devices.stub.ExpireQuietAlarms(pb.ExpireQuietAlarmsRequest(now=stamp(when(1, day=3)))).cleared_alarms
    assert alarm.name in cleared
    assert devices.stub.GetAlarm(pb.GetAlarmRequest(name=alarm.name)).clear_reason == "quiet-period"


def _page_counter(count: int) -> dpb.SnmpRow:
    return dpb.SnmpRow(columns={"prtMarkerIndex": "1", "prtMarkerLifeCount": str(count), "prtMarkerCounterUnit": "7"})


def test_page_counter_reaches_the_fleet_service_as_a_meter_reading(devices, maintenance):
    accepted_before = _metric(maintenance, "fleetops_maintenance_meter_readings_forwarded_total", outcome="accepted")
    printer = devices.asset()
    assert devices.ingest(devices.event(printer, when(0), printer_marker=_page_counter(123456))).accepted_count == 1
    deadline = time.monotonic() + 20
    readings = []
    while time.monotonic() < deadline and not readings:
        readings = devices.fleet.stub.ListMeterReadings(fleet_meters.ListMeterReadingsRequest(asset=printer)).readings
        if not readings:
            time.sleep(0.1)  # the forwarder runs after the commit, in the background
    assert [(r.register, r.value) for r in readings] == [("total_impressions", "123456")]
    # Marked sent once the fleet service answered: the outbox drains, and SREs see what was forwarded.
    assert eventually(lambda: _metric(maintenance, "fleetops_maintenance_meter_outbox_readings"),
                      lambda waiting: waiting == 0) == 0
    assert _metric(maintenance, "fleetops_maintenance_meter_readings_forwarded_total", outcome="accepted") > accepted_before
    assert _outbox(maintenance, printer) == []  # the fleet service holds it now


def test_a_page_counter_the_fleet_service_refuses_stays_in_the_outbox_with_the_reason(devices, maintenance):
    printer = devices.asset()
    devices.ingest(devices.event(printer, when(0), printer_marker=_page_counter(123456)))
    assert eventually(lambda: _outbox(maintenance, printer), lambda rows: rows == []) == []
    devices.ingest(devices.event(printer, when(1), printer_marker=_page_counter(1000)))
    [(value, sent, result)] = eventually(lambda: _outbox(maintenance, printer), lambda rows: rows and rows[0][1])
    assert (value, sent) == ("1000", True)
    assert result.startswith("READING_OUTCOME_REJECTED: ")


def _outbox(maintenance, asset: str) -> list[tuple[str, bool, str]]:
    """The asset's readings in the meter outbox: value, whether sent, the fleet service's answer."""
    engine = create_engine(maintenance.database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(
                select(MeterOutboxRow.value, MeterOutboxRow.sent, MeterOutboxRow.result)
                .where(MeterOutboxRow.asset_id == asset.split("/", 1)[1]))]
    finally:
        engine.dispose()


def test_a_falling_supply_level_ships_its_replacement_once_before_it_runs_empty(devices):
    printer = devices.asset()
    today = datetime.now(UTC).replace(microsecond=0)

    def level(days_ago: int, percent: int) -> dpb.DiagnosticEvent:
        return devices.event(printer, today - timedelta(days=days_ago), printer_supply=dpb.SnmpRow(columns={
            "prtMarkerSuppliesIndex": "1", "prtMarkerSuppliesType": "3", "prtMarkerSuppliesMaxCapacity": "100",
            "prtMarkerSuppliesLevel": str(percent)}))

    # Toner used up at 7 % a day, 32 % left yesterday: empty in less than lead time plus safety days,
    # though no reading is low enough for a low-supply alarm yet.
    assert devices.ingest(*(level(days_ago, 25 + 7 * days_ago) for days_ago in range(10, 0, -1))).accepted_count == 10
    shipments = devices.stub.ListShipments(pb.ListShipmentsRequest(asset=printer)).shipments
    assert [(s.supply, s.state) for s in shipments] == [("1.1", res.SHIPMENT_STATE_OPEN)]
    assert "empty in" in shipments[0].reason
    devices.ingest(level(0, 25))
    assert len(devices.stub.ListShipments(pb.ListShipmentsRequest(asset=printer)).shipments) == 1


def test_a_burst_of_the_same_fault_from_concurrent_callers_opens_one_work_order(devices):
    from concurrent.futures import ThreadPoolExecutor
    printer = devices.asset()
    batches = [[devices.event(printer, when(minute), printer_alert=alert_row())] for minute in range(12)]
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda batch: devices.ingest(*batch), batches))
    orders = {name for response in responses for result in response.results for name in result.work_orders}
    assert len(orders) == 1
    listed = devices.stub.ListWorkOrders(pb.ListWorkOrdersRequest(asset=printer)).work_orders
    assert [o.name for o in listed] == list(orders)


def test_faults_of_one_family_in_one_batch_go_onto_one_work_order_that_lists_them_all(devices):
    printer = devices.asset()
    codes = [8, 814, 815]  # jam, tray feed error, tray jam: all of the paper path
    response = devices.ingest(*(devices.event(printer, when(minute), printer_alert=alert_row(index=20 + minute, code=code))
                                for minute, code in enumerate(codes)))
    [order] = devices.stub.ListWorkOrders(pb.ListWorkOrdersRequest(asset=printer)).work_orders
    assert [list(result.work_orders) for result in response.results] == [[order.name]] * len(codes)
    alarms = _alarms(devices, printer)
    assert len(alarms) == len(codes) and {alarm.work_order for alarm in alarms} == {order.name}
    assert sorted(order.alarms) == sorted(alarm.name for alarm in alarms)
    assert list(order.families) == ["printer/paper-path"]


def test_a_late_repeat_older_than_the_alarm_joins_it_instead_of_opening_another(devices):
    printer = devices.asset()
    devices.ingest(devices.event(printer, when(5), printer_alert=alert_row()))
    devices.ingest(devices.event(printer, when(2), printer_alert=alert_row()))  # delivered late
    [alarm] = _alarms(devices, printer)
    assert alarm.count == 2
    assert alarm.first_seen_time.ToDatetime() == when(2).replace(tzinfo=None)


def test_fault_after_its_order_was_closed_opens_a_new_order(devices):
    printer = devices.asset()
    first = devices.ingest(devices.event(printer, when(0), printer_alert=alert_row())).results[0].work_orders
    assert len(first) == 1
    devices.stub.CancelWorkOrder(pb.WorkOrderVerbRequest(name=first[0], reason="duplicate of a phone call"))
    again = devices.ingest(devices.event(printer, when(5), printer_alert=alert_row())).results[0].work_orders
    assert len(again) == 1 and again[0] != first[0]


def _metric(service, name: str, **labels) -> float:
    with urllib.request.urlopen(service.metrics_url, timeout=5) as response:
        families = text_string_to_metric_families(response.read().decode())
        return sum(sample.value for family in families for sample in family.samples
                   if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


def test_acknowledged_events_are_processed_in_the_background(devices, maintenance):
    printer = devices.asset()
    acknowledged = devices.ingest(devices.event(printer, when(0), printer_alert=alert_row()), wait=False)
    assert acknowledged.results[0].outcome == O.INGEST_OUTCOME_ACCEPTED
    assert list(acknowledged.results[0].alarms) == [] and list(acknowledged.results[0].work_orders) == []
    orders = eventually(lambda: devices.stub.ListWorkOrders(pb.ListWorkOrdersRequest(asset=printer)).work_orders,
                         lambda found: len(found) == 1)
    [alarm] = _alarms(devices, printer)
    assert len(orders) == 1 and alarm.work_order == orders[0].name and alarm.count == 1


def test_a_payload_found_malformed_in_the_background_is_recorded_and_counted(devices, maintenance):
    forklift = devices.asset("forklift")
    broken = devices.event(forklift, when(0), j1939_message=dpb.J1939Message(pgn=65226, source_address=0, data=b"\x00"))
    counted = dict(name="fleetops_maintenance_events_processed_total", format="forklift", result="rejected")
    before = _metric(maintenance, **counted)
    assert devices.ingest(broken, wait=False).results[0].outcome == O.INGEST_OUTCOME_ACCEPTED
    assert eventually(lambda: _metric(maintenance, **counted), lambda value: value == before + 1) == before + 1
    assert _alarms(devices, forklift) == []
    assert devices.ingest(broken).results[0].outcome == O.INGEST_OUTCOME_DUPLICATE  # stored once, settled


def test_a_backlog_processed_in_the_background_takes_each_event_once_and_in_order(devices, maintenance):
    """What a queue that lost or doubled an event would show: a repeating fault counted too few or too
    many times, a walk applied out of order, a backlog that never empties."""
    printers, walkers = [devices.asset() for _ in range(3)], [devices.asset() for _ in range(2)]
    repeats = {p: [devices.event(p, when(minute), printer_alert=alert_row()) for minute in range(6)] for p in printers}
    raised = {w: devices.event(w, when(0), printer_alert_walk=dpb.PrinterAlertWalk(rows=[alert_row()])) for w in walkers}
    emptied = {w: devices.event(w, when(5), printer_alert_walk=dpb.PrinterAlertWalk(rows=[])) for w in walkers}
    # Sent newest first: the walk that clears, then the later repeats, then the rest; replays after.
    batch = [*emptied.values(), *(e for events in repeats.values() for e in events[::-1]), *raised.values()]
    assert devices.ingest(*batch, wait=False).accepted_count == len(batch)
    replays = [e for events in repeats.values() for e in events[3:]]
    assert devices.ingest(*replays, wait=False).duplicate_count == len(replays)

    def settled():
        return (_metric(maintenance, "fleetops_maintenance_ingest_backlog_events"),
                [[a.count for a in _alarms(devices, p)] for p in printers],
                [[a.state for a in _alarms(devices, w)] for w in walkers])

    backlog, counts, states = eventually(settled, lambda found: found[0] == 0 and found[1] == [[6]] * 3
                                         and found[2] == [[res.ALARM_STATE_CLEARED]] * 2)
    assert (backlog, counts, states) == (0, [[6]] * 3, [[res.ALARM_STATE_CLEARED]] * 2)
    # Replays after processing are not queued again.
    assert devices.ingest(*batch, wait=False).duplicate_count == len(batch)
    assert settled() == (0, [[6]] * 3, [[res.ALARM_STATE_CLEARED]] * 2)


def test_events_acknowledged_while_the_fleet_service_is_down_are_processed_when_it_returns(new_database_url):
    """#10 faults: maintenance keeps ingesting without the fleet service and catches up after."""
    from services.fleet.main import DEFINITION as FLEET
    from services.maintenance.main import DEFINITION as MAINTENANCE
    fleet_url = new_database_url("fleet")
    fleet = start_service(FLEET, fleet_url)
    port = fleet.service.port  # the fleet service comes back at the same address
    maintenance = start_service(MAINTENANCE, new_database_url("maintenance"),
                                peers={"fleet": f"localhost:{port}", "invoicing": "localhost:1"})
    try:
        devices = Devices(fleet.channel, maintenance.channel)
        printer, refusing = devices.asset(), devices.asset(consent=False)  # neither described to maintenance yet
        stop_service(fleet)
        response = devices.ingest(devices.event(printer, when(0), printer_alert=alert_row()),
                                  devices.event(refusing, when(0), printer_alert=alert_row()), wait=False)
        assert [r.outcome for r in response.results] == [O.INGEST_OUTCOME_ACCEPTED] * 2
        assert _metric(maintenance, "fleetops_maintenance_ingest_backlog_events") == 2
        fleet = start_service(FLEET, fleet_url, grpc_port=port)
        backlog = eventually(lambda: _metric(maintenance, "fleetops_maintenance_ingest_backlog_events"),
                              lambda value: value == 0, timeout=60)
        assert backlog == 0
        [alarm] = _alarms(devices, printer)
        assert alarm.state == res.ALARM_STATE_ACTIVE and alarm.work_order
        # Consent turned out to be missing: the event is discarded, never processed.
        assert _alarms(devices, refusing) == []
        assert _metric(maintenance, "fleetops_maintenance_events_processed_total", result="discarded") == 1
    finally:
        stop_service(maintenance)
        stop_service(fleet)


def test_a_stopped_service_leaves_no_background_thread_behind(new_database_url):
    """Its processor and meter forwarder end with it, instead of polling a database that may be gone."""
    from services.maintenance.main import DEFINITION as MAINTENANCE
    before = set(threading.enumerate())
    maintenance = start_service(MAINTENANCE, new_database_url("maintenance"),
                                peers={"fleet": "localhost:1", "invoicing": "localhost:1"})
    background = [thread for thread in set(threading.enumerate()) - before
                  if thread.name in ("event-processor", "event-processor-wakeups", "meter-forwarder")]
    assert {thread.name for thread in background} >= {"event-processor", "meter-forwarder"}
    stop_service(maintenance)
    assert [thread.name for thread in background if thread.is_alive()] == []


def test_ids_with_tabs_backslashes_and_newlines_are_stored_as_sent(devices):
    printer = devices.asset()
    awkward = "line\tcolumn\\path\nnext\r"
    event = devices.event(printer, when(0), awkward, printer_alert=alert_row())
    assert devices.ingest(event).results[0].outcome == O.INGEST_OUTCOME_ACCEPTED
    assert devices.ingest(event).results[0].outcome == O.INGEST_OUTCOME_DUPLICATE
    plain = devices.event(printer, when(0), "line", printer_alert=alert_row())
    assert devices.ingest(plain).results[0].outcome == O.INGEST_OUTCOME_ACCEPTED  # not confused with the awkward id


def _over_the_limits(devices: Devices, printer: str, forklift: str) -> list[dpb.DiagnosticEvent]:
    """Fine, too long an id, a NUL in a column value, an oversize J1939 payload, fine."""
    return [devices.event(printer, when(0), printer_alert=alert_row()),
            devices.event(printer, when(1), "x" * 201, printer_alert=alert_row()),
            devices.event(printer, when(2), printer_alert=alert_row(prtAlertDescription="jam\x00")),
            devices.event(forklift, when(3), j1939_message=dpb.J1939Message(pgn=65226, data=b"\x40" * (64 * 1024 + 1))),
            devices.event(forklift, when(4), j1939_message=dpb.J1939Message(
                pgn=65226, source_address=0, data=bytes.fromhex("40FF5B000301FFFF")))]


_LIMIT_REASONS = ["", "events[1].source_event_id: must be at most 200 characters, got 201",
                  "events[2].printer_alert.columns['prtAlertDescription']: must not contain NUL characters",
                  "events[3].j1939_message.data: must be at most 65536 bytes, got 65537", ""]


def test_an_event_over_a_request_limit_is_rejected_by_index_and_the_rest_stored(devices):
    printer, forklift = devices.asset(), devices.asset("forklift")
    events = _over_the_limits(devices, printer, forklift)
    response = devices.ingest(*events)
    R, A = O.INGEST_OUTCOME_REJECTED, O.INGEST_OUTCOME_ACCEPTED
    assert [(r.index, r.outcome, r.reason) for r in response.results] == [
        (i, A if not reason else R, reason) for i, reason in enumerate(_LIMIT_REASONS)]
    assert (response.accepted_count, response.rejected_count) == (2, 3)
    assert len(_alarms(devices, printer)) == 1 and len(_alarms(devices, forklift)) == 1  # the fine ones were processed
    again = devices.ingest(events[0], events[4])
    assert [r.outcome for r in again.results] == [O.INGEST_OUTCOME_DUPLICATE] * 2  # and stored


def test_a_printer_alert_description_as_long_as_the_mib_allows_is_accepted(devices):
    # prtAlertDescription is OCTET STRING (SIZE(0..255)) in RFC 3805; map values are not limited by a
    # database column that happens to be called "value".
    printer = devices.asset()
    response = devices.ingest(devices.event(printer, when(0), printer_alert=alert_row(prtAlertDescription="j" * 255)))
    assert [(r.outcome, r.reason) for r in response.results] == [(O.INGEST_OUTCOME_ACCEPTED, "")]
    assert len(_alarms(devices, printer)) == 1


def test_a_streamed_batch_rejects_an_event_over_a_limit_by_index(devices):
    printer, forklift = devices.asset(), devices.asset("forklift")
    events = _over_the_limits(devices, printer, forklift)
    first, second = devices.stub.StreamDiagnostics(iter([
        dpb.IngestDiagnosticsRequest(events=events[:3], batch_id="b1"),
        dpb.IngestDiagnosticsRequest(events=events[3:], batch_id="b2")]))
    assert (first.batch_id, [r.reason for r in first.results]) == ("b1", _LIMIT_REASONS[:3])
    assert (second.batch_id, [r.outcome for r in second.results]) == (
        "b2", [O.INGEST_OUTCOME_REJECTED, O.INGEST_OUTCOME_ACCEPTED])
    assert "events[0].j1939_message.data" in second.results[0].reason  # indexes are the batch's own


def test_processors_vacuum_the_queue_they_take_events_off(devices, maintenance, monkeypatch):
    """Dead queue rows (each with its payload) would otherwise pile up for every round to read again."""
    from services.maintenance import processing
    if not maintenance.database_url.startswith("postgresql"):
        pytest.skip("VACUUM is PostgreSQL's; SQLite reuses deleted space itself")
    engine = create_engine(maintenance.database_url)

    def vacuums() -> int:
        with engine.connect() as connection:
            return connection.execute(text("SELECT vacuum_count FROM pg_stat_user_tables"
                                           " WHERE relname = 'event_queue'")).scalar()

    before = vacuums()
    monkeypatch.setattr(processing, "VACUUM_QUEUE_AFTER_EVENTS", 1)
    devices.ingest(devices.event(devices.asset(), when(0), printer_alert=alert_row()), wait=False)
    assert eventually(vacuums, lambda count: count > before) > before
    engine.dispose()
