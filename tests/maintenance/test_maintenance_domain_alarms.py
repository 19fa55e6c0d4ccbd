"""Alarms from real decoded device messages: repeats, each device's clearing signal, the quiet
period, acknowledgement and flapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.maintenance.domain.alarms import (
    AlarmState,
    ClearReason,
    FlapPolicy,
    acknowledge,
    apply_clearing,
    clear,
    clearing_signal,
    expire_quiet,
    fault_family,
    observe,
)
from services.maintenance.domain.diagnostics import (
    Action,
    Dm1Tracker,
    DtcCleared,
    NormalizedFault,
    PrinterAlertTable,
    Severity,
    decode_alert_row,
    decode_dm,
    decode_event_record,
    decode_supply_row,
    load_catalogues,
    load_registry_bundle,
    normalize,
)
from services.runtime.errors import FailedPrecondition, InvalidArgument

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
PRINTER = "assets/printer-1"
FORKLIFT = "assets/forklift-7"
SERVER = "assets/server-3"
FAN = "/redfish/v1/Chassis/1/Thermal#/Fans/0"


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def fault(
    asset: str = FORKLIFT,
    fault_key: str = "forklift/spn-91/fmi-3",
    condition_id: str = "j1939-dtc:0:91:3",
    severity: Severity = Severity.MAJOR,
    category: str = "electrical",
    action: Action = Action.DISPATCH,
    skill: str | None = "forklift-electrical",
) -> NormalizedFault:
    """A fault as normalize() makes them, for tests that are not about the decoders."""
    return NormalizedFault(asset, fault_key, condition_id, severity, category, action, skill,
                           60 if action is Action.DISPATCH else 5, ("wiring-harness",), "test fault")


def printer_alert_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "hrDeviceIndex": 1, "prtAlertIndex": 12, "prtAlertSeverityLevel": 3, "prtAlertTrainingLevel": 3,
        "prtAlertGroup": 13, "prtAlertGroupIndex": 1, "prtAlertLocation": 5, "prtAlertCode": 8,
        "prtAlertDescription": "Paper jam in duplex path", "prtAlertTime": 123456,
    }
    return row | overrides


def dtc_clear_signal(asset: str = FORKLIFT) -> tuple[DtcCleared, ...]:
    """SPN 91 FMI 3 (the default `fault()`) reported by source 0, then gone from its DM1."""
    tracker = Dm1Tracker()
    tracker.update(decode_dm(asset, 65226, 0, bytes.fromhex("04FF5B000301FFFF")))
    return tracker.update(decode_dm(asset, 65226, 0, bytes.fromhex("00FF00000000FFFF"))).cleared


def test_repeats_count_and_move_last_seen_on_one_alarm() -> None:
    first = observe(None, fault(), T0)
    again = observe(first, fault(severity=Severity.CRITICAL), T0 + minutes(5))
    late = observe(again, fault(severity=Severity.WARNING), T0 + minutes(2))  # delivered out of order
    assert (late.count, late.first_seen, late.last_seen) == (3, T0, T0 + minutes(5))
    assert late.peak_severity is Severity.CRITICAL and late.fault.severity is Severity.CRITICAL
    assert late.key == first.key and late.state is AlarmState.ACTIVE


def test_a_fault_of_another_asset_cannot_update_the_alarm() -> None:
    with pytest.raises(InvalidArgument):
        observe(observe(None, fault(), T0), fault(asset="assets/other"), T0)


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        observe(None, fault(), datetime(2025, 3, 3, 9, 0))


def test_printer_alert_row_leaving_the_table_clears_the_alarm() -> None:
    printer = load_catalogues().printer
    table = PrinterAlertTable()
    (raised,) = table.update([decode_alert_row(PRINTER, printer_alert_row())]).raised
    alarm = observe(None, normalize(raised, printer), T0)
    (removed,) = table.update([]).removed
    signal = clearing_signal(removed, None)
    cleared = clear(alarm, signal, T0 + minutes(3))
    assert cleared.state is AlarmState.CLEARED and cleared.clear_reason is ClearReason.DEVICE_SIGNAL
    assert cleared.cleared_at == T0 + minutes(3)


def test_dtc_missing_from_the_next_dm1_clears_only_its_own_alarm() -> None:
    forklift = load_catalogues().forklift
    tracker = Dm1Tracker()
    both = tracker.update(decode_dm(FORKLIFT, 65226, 0, bytes.fromhex("04FF5B00030164000401")))
    alarms = [observe(None, normalize(event, forklift), T0) for event in both.activated]
    (gone,) = tracker.update(decode_dm(FORKLIFT, 65226, 0, bytes.fromhex("04FF64000401FFFF"))).cleared
    changed = apply_clearing(alarms, clearing_signal(gone, None), T0 + minutes(1))
    assert [alarm.fault_key for alarm in changed] == ["forklift/spn-91/fmi-3"]
    assert changed[0].state is AlarmState.CLEARED


def test_redfish_clearing_logic_clears_the_same_origin_only() -> None:
    registries, server = load_registry_bundle(), load_catalogues().server

    def event(key: str, origin: str):
        return decode_event_record(SERVER, {"MessageId": f"ResourceEvent.1.4.{key}", "MessageArgs": ["Fan 0", key],
                                            "OriginOfCondition": {"@odata.id": origin}}, registries)

    this_fan = observe(None, normalize(event("ResourceStatusChangedCritical", FAN), server), T0)
    other_fan = observe(None, normalize(event("ResourceStatusChangedCritical", FAN[:-1] + "1"), server), T0)
    ok = event("ResourceStatusChangedOK", FAN)
    changed = apply_clearing([this_fan, other_fan], clearing_signal(ok, normalize(ok, server)), T0 + minutes(9))
    assert len(changed) == 1 and changed[0].key == this_fan.key and changed[0].state is AlarmState.CLEARED


def test_a_supply_back_above_its_threshold_clears_the_low_supply_alarm() -> None:
    printer = load_catalogues().printer
    row = {"prtMarkerSuppliesIndex": 1, "prtMarkerSuppliesType": 3, "prtMarkerSuppliesMaxCapacity": 100}
    low = decode_supply_row(PRINTER, row | {"prtMarkerSuppliesLevel": 5})
    alarm = observe(None, normalize(low, printer), T0)
    still_low = decode_supply_row(PRINTER, row | {"prtMarkerSuppliesLevel": 4})
    assert clearing_signal(still_low, normalize(still_low, printer)) is None
    replaced = decode_supply_row(PRINTER, row | {"prtMarkerSuppliesLevel": 100})
    signal = clearing_signal(replaced, normalize(replaced, printer))
    assert clear(alarm, signal, T0 + timedelta(days=1)).state is AlarmState.CLEARED


def test_alarm_with_two_conditions_clears_when_both_have_ended() -> None:
    printer = load_catalogues().printer
    table = PrinterAlertTable()
    rows = [decode_alert_row(PRINTER, printer_alert_row(prtAlertIndex=index)) for index in (12, 13)]
    first, second = table.update(rows).raised
    alarm = observe(observe(None, normalize(first, printer), T0), normalize(second, printer), T0 + minutes(1))
    assert alarm.count == 2 and len(alarm.conditions) == 2
    (gone,) = table.update(rows[1:]).removed
    half = clear(alarm, clearing_signal(gone, None), T0 + minutes(2))
    assert half.state is AlarmState.ACTIVE and len(half.conditions) == 1
    (gone,) = table.update([]).removed
    assert clear(half, clearing_signal(gone, None), T0 + minutes(3)).state is AlarmState.CLEARED


def test_a_signal_for_another_asset_or_condition_changes_nothing() -> None:
    alarm = observe(None, fault(), T0)
    (elsewhere,) = dtc_clear_signal("assets/other")
    assert elsewhere.condition_id == alarm.fault.condition_id
    assert clear(alarm, elsewhere, T0 + minutes(1)) == alarm
    other_condition = observe(None, fault(condition_id="j1939-dtc:0:91:4"), T0)
    (gone,) = dtc_clear_signal()
    assert clear(other_condition, gone, T0 + minutes(1)) == other_condition


def test_quiet_period_clears_when_it_has_run_out_and_not_before() -> None:
    alarm = observe(observe(None, fault(), T0), fault(), T0 + minutes(10))
    quiet = minutes(30)
    assert expire_quiet([alarm], T0 + minutes(39), quiet) == []
    (expired,) = expire_quiet([alarm], T0 + minutes(95), quiet)
    assert expired.state is AlarmState.CLEARED and expired.clear_reason is ClearReason.QUIET_PERIOD
    assert expired.cleared_at == T0 + minutes(40)  # not when the sweep happened to run
    assert expire_quiet([expired], T0 + minutes(200), quiet) == []
    with pytest.raises(InvalidArgument):
        expire_quiet([alarm], T0, timedelta(0))


def test_fault_after_a_quiet_clear_opens_a_new_alarm() -> None:
    (expired,) = expire_quiet([observe(None, fault(), T0)], T0 + minutes(30), minutes(30))
    fresh = observe(expired, fault(), T0 + minutes(31))
    assert fresh.count == 1 and fresh.first_seen == T0 + minutes(31) and fresh.key != expired.key


def test_fault_long_after_a_device_clear_opens_a_new_alarm_and_soon_after_reopens() -> None:
    policy = FlapPolicy(cycles=3, window=minutes(60))
    alarm = observe(None, fault(), T0)
    (gone,) = dtc_clear_signal()
    cleared = clear(alarm, gone, T0 + minutes(1), policy)
    reopened = observe(cleared, fault(), T0 + minutes(30), policy)
    assert reopened.key == alarm.key and reopened.count == 2 and reopened.state is AlarmState.ACTIVE
    assert reopened.cleared_at is None and not reopened.flapping
    new = observe(cleared, fault(), T0 + minutes(62), policy)
    assert new.key != alarm.key and new.count == 1


def test_flapping_keeps_the_alarm_open_until_the_quiet_period() -> None:
    policy = FlapPolicy(cycles=3, window=minutes(60))
    (gone,) = dtc_clear_signal()
    alarm = None
    for cycle in range(3):
        alarm = observe(alarm, fault(), T0 + minutes(10 * cycle), policy)
        alarm = clear(alarm, gone, T0 + minutes(10 * cycle + 1), policy)
        assert alarm.flapping is (cycle == 2)
    assert alarm.state is AlarmState.ACTIVE and alarm.conditions == frozenset()
    assert alarm.count == 3 and alarm.first_seen == T0
    again = clear(observe(alarm, fault(), T0 + minutes(30), policy), gone, T0 + minutes(31), policy)
    assert again.state is AlarmState.ACTIVE and again.flapping
    (ended,) = expire_quiet([again], T0 + minutes(90), minutes(60))
    assert ended.state is AlarmState.CLEARED and not ended.flapping and ended.cleared_at == T0 + minutes(90)


def test_clears_spread_wider_than_the_window_are_not_flapping() -> None:
    policy = FlapPolicy(cycles=3, window=minutes(60))
    (gone,) = dtc_clear_signal()
    alarm = None
    for cycle in range(5):
        alarm = observe(alarm, fault(), T0 + minutes(40 * cycle), policy)
        alarm = clear(alarm, gone, T0 + minutes(40 * cycle + 1), policy)
    assert alarm.state is AlarmState.CLEARED and not alarm.flapping and alarm.count == 5


def test_acknowledge_once_and_not_after_clear() -> None:
    alarm = observe(None, fault(), T0)
    acknowledged = acknowledge(alarm, "users/mia", T0 + minutes(1))
    assert (acknowledged.acknowledged_by, acknowledged.acknowledged_at) == ("users/mia", T0 + minutes(1))
    assert acknowledge(acknowledged, "users/ned", T0 + minutes(2)) == acknowledged
    assert observe(acknowledged, fault(), T0 + minutes(3)).acknowledged_by == "users/mia"
    with pytest.raises(InvalidArgument):
        acknowledge(alarm, " ", T0)
    (expired,) = expire_quiet([alarm], T0 + timedelta(hours=2), minutes(30))
    with pytest.raises(FailedPrecondition):
        acknowledge(expired, "users/mia", T0 + timedelta(hours=2))


@pytest.mark.parametrize(
    ("fault_key", "category", "family"),
    [
        ("printer/jam", "paper-path", "printer/paper-path"),
        ("forklift/spn-91/fmi-3", "electrical", "forklift/electrical"),
        ("server/StorageDevice.DriveFailure", "storage", "server/storage"),
        ("manual", "storage", "storage"),
    ],
)
def test_fault_family_is_device_class_and_catalogue_category(fault_key: str, category: str, family: str) -> None:
    assert fault_family(fault_key, category) == family


def test_printer_jams_at_different_places_share_a_family_but_not_an_alarm() -> None:
    printer = load_catalogues().printer
    jam = normalize(decode_alert_row(PRINTER, printer_alert_row()), printer)
    tray_row = printer_alert_row(prtAlertCode=816, prtAlertGroup=8, prtAlertIndex=14)  # inputMediaTrayFailure
    feed = normalize(decode_alert_row(PRINTER, tray_row), printer)
    assert jam.fault_key != feed.fault_key
    assert observe(None, jam, T0).family == observe(None, feed, T0).family == "printer/paper-path"
