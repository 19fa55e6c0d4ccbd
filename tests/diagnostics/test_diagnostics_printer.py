"""Printer MIB decoding and the printer catalogue against shared/data/diagnostics/printer-mib."""

from __future__ import annotations

import re
from enum import IntEnum
from pathlib import Path

import pytest

from services.maintenance.domain.diagnostics import (
    Action,
    MalformedDiagnostic,
    PageCounter,
    PrinterAlert,
    PrinterAlertRemoved,
    PrinterAlertTable,
    Severity,
    decode_alert_row,
    decode_each,
    decode_marker_row,
    decode_supply_row,
    load_catalogues,
    normalize,
)
from services.maintenance.domain.diagnostics.catalogue import PrinterCatalogue
from services.maintenance.domain.diagnostics.printer import SupplyLevelState
from services.maintenance.domain.diagnostics.printer_mib import (
    AlertGroup,
    AlertSeverityLevel,
    AlertTrainingLevel,
    MarkerCounterUnit,
    MarkerSuppliesClass,
    MarkerSuppliesType,
    mib_label_to_member_name,
)

ASSET = "assets/mfp-3"


def tc_values(mib_text: str, name: str) -> list[tuple[str, int]]:
    """The README's recipe: `label(number)` pairs in the TC's INTEGER block, `--` comments cut."""
    match = re.search(
        name + r"\s*::=\s*TEXTUAL-CONVENTION.*?SYNTAX\s+INTEGER\s*\{(.*?)\}", mib_text, re.S
    )
    assert match, name
    body = "\n".join(line.split("--")[0] for line in match.group(1).splitlines())
    return [(label, int(value)) for label, value in re.findall(r"(\w+)\((-?\d+)\)", body)]


@pytest.fixture(scope="module")
def iana_mib(shared_data: Path) -> str:
    return (shared_data / "diagnostics" / "printer-mib" / "IANA-PRINTER-MIB").read_text()


@pytest.fixture(scope="module")
def printer_mib(shared_data: Path) -> str:
    return (shared_data / "diagnostics" / "printer-mib" / "Printer-MIB").read_text()


@pytest.fixture(scope="module")
def catalogue() -> PrinterCatalogue:
    return load_catalogues().printer


def alert_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "hrDeviceIndex": 1,
        "prtAlertIndex": 12,
        "prtAlertSeverityLevel": 3,
        "prtAlertTrainingLevel": 3,
        "prtAlertGroup": 13,
        "prtAlertGroupIndex": 1,
        "prtAlertLocation": 5,
        "prtAlertCode": 8,
        "prtAlertDescription": "Paper jam in duplex path",
        "prtAlertTime": 123456,
    }
    row.update(overrides)
    return row


def test_every_alert_code_in_the_iana_mib_maps_to_a_fault(
    iana_mib: str, catalogue: PrinterCatalogue
) -> None:
    codes = tc_values(iana_mib, "PrtAlertCodeTC")
    assert len(codes) == 781 and codes[0] == ("other", 1) and codes[-1][1] == 31838
    for label, code in codes:
        entry = catalogue.alert_code(code)
        assert entry is not None and entry.name == label, (label, code)
        if code == 1801:
            continue  # a removal entry, decoded as PrinterAlertRemoved (tested below)
        fault = normalize(
            decode_alert_row(ASSET, alert_row(prtAlertCode=code, prtAlertTrainingLevel=2)),
            catalogue,
        )
        assert fault is not None and fault.fault_key == f"printer/{label}"


@pytest.mark.parametrize(
    ("module", "tc", "enum"),
    [
        ("printer", "PrtAlertSeverityLevelTC", AlertSeverityLevel),
        ("printer", "PrtMarkerSuppliesClassTC", MarkerSuppliesClass),
        ("printer", "PrtMarkerCounterUnitTC", MarkerCounterUnit),
        ("iana", "PrtAlertTrainingLevelTC", AlertTrainingLevel),
        ("iana", "PrtAlertGroupTC", AlertGroup),
        ("iana", "PrtMarkerSuppliesTypeTC", MarkerSuppliesType),
    ],
)
def test_our_code_tables_equal_the_mib_enumerations(
    printer_mib: str, iana_mib: str, module: str, tc: str, enum: type[IntEnum]
) -> None:
    values = tc_values(printer_mib if module == "printer" else iana_mib, tc)
    assert {(mib_label_to_member_name(label), value) for label, value in values} == {
        (member.name, member.value) for member in enum
    }


def test_alert_row_decodes_every_column() -> None:
    alert = decode_alert_row(ASSET, alert_row(prtAlertSeverityLevel="critical(3)"))
    assert alert == PrinterAlert(
        asset=ASSET,
        device_index=1,
        alert_index=12,
        severity_level=AlertSeverityLevel.CRITICAL,
        training_level=AlertTrainingLevel.UNTRAINED,
        group=AlertGroup.MEDIA_PATH,
        group_index=1,
        location=5,
        code=8,
        description="Paper jam in duplex path",
        time_ticks=123456,
    )
    assert alert.is_binary_change


def test_alert_row_sentinels_and_bare_labels() -> None:
    alert = decode_alert_row(
        ASSET,
        alert_row(
            prtAlertSeverityLevel="warningBinaryChangeEvent",
            prtAlertGroup="markerSupplies",
            prtAlertGroupIndex=-1,
            prtAlertLocation=-2,
        ),
    )
    assert isinstance(alert, PrinterAlert)
    assert alert.severity_level is AlertSeverityLevel.WARNING_BINARY_CHANGE_EVENT
    assert alert.group is AlertGroup.MARKER_SUPPLIES
    assert alert.group_index is None and alert.location is None


def test_code_1801_entry_is_the_removal_of_the_row_in_group_index() -> None:
    removal = decode_alert_row(
        ASSET,
        alert_row(
            prtAlertIndex=13,
            prtAlertSeverityLevel=4,
            prtAlertTrainingLevel=7,
            prtAlertGroup=18,
            prtAlertGroupIndex=12,
            prtAlertLocation=-2,
            prtAlertCode=1801,
        ),
    )
    raised = decode_alert_row(ASSET, alert_row())
    assert removal == PrinterAlertRemoved(ASSET, 1, 12, 123456)
    assert removal.clears(raised.condition_id)
    assert normalize(removal, load_catalogues().printer) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"prtAlertCode": None}, "prtAlertCode is missing"),
        ({"prtAlertSeverityLevel": 2}, "not a AlertSeverityLevel value"),
        ({"prtAlertGroup": "toaster"}, "not a AlertGroup label"),
        ({"prtAlertIndex": 0}, "outside 1.."),
        ({"prtAlertLocation": -3}, "outside -2.."),
        ({"prtAlertDescription": "x" * 256}, "longer than 255"),
        ({"prtAlertCode": 1801, "prtAlertGroupIndex": -1}, "must name the removed row"),
    ],
)
def test_malformed_alert_rows_say_why(change: dict[str, object], reason: str) -> None:
    with pytest.raises(MalformedDiagnostic, match=reason):
        decode_alert_row(ASSET, alert_row(**change))


def test_a_walk_with_a_bad_row_keeps_the_good_rows() -> None:
    rows = [alert_row(prtAlertIndex=1), alert_row(prtAlertIndex=2, prtAlertGroup=99)]
    result = decode_each(rows, lambda row: decode_alert_row(ASSET, row))
    assert [alert.alert_index for alert in result.decoded] == [1]
    assert [(r.index, "prtAlertGroup 99" in r.reason) for r in result.rejected] == [(1, True)]


def test_alert_table_raises_new_rows_and_removes_missing_ones() -> None:
    table = PrinterAlertTable()
    jam = decode_alert_row(ASSET, alert_row(prtAlertIndex=1))
    toner = decode_alert_row(ASSET, alert_row(prtAlertIndex=2, prtAlertCode=1104, prtAlertGroup=11))
    first = table.update([jam, toner])
    assert first.raised == (jam, toner) and first.removed == ()
    assert table.update([jam, toner]).raised == ()
    removal_entry = decode_alert_row(
        ASSET, alert_row(prtAlertIndex=3, prtAlertCode=1801, prtAlertGroupIndex=1)
    )
    second = table.update([toner, removal_entry])
    assert [removed.alert_index for removed in second.removed] == [1] and second.raised == ()


def test_alert_table_sees_a_reused_index_after_reset_as_a_new_alert() -> None:
    table = PrinterAlertTable()
    table.update([decode_alert_row(ASSET, alert_row(prtAlertIndex=1, prtAlertTime=900))])
    after_reset = decode_alert_row(
        ASSET, alert_row(prtAlertIndex=1, prtAlertCode=3, prtAlertTime=40)
    )
    change = table.update([after_reset])
    assert [r.alert_index for r in change.removed] == [1] and change.raised == (after_reset,)


@pytest.mark.parametrize(
    ("level", "state", "percent"),
    [
        (40, SupplyLevelState.MEASURED, 20.0),
        (-1, SupplyLevelState.UNRESTRICTED, None),
        (-2, SupplyLevelState.UNKNOWN, None),
        (-3, SupplyLevelState.SOME_REMAINING, None),
    ],
)
def test_supply_level_sentinels(level: int, state: SupplyLevelState, percent: float | None) -> None:
    supply = decode_supply_row(
        ASSET,
        {
            "prtMarkerSuppliesIndex": 1,
            "prtMarkerSuppliesType": "toner",
            "prtMarkerSuppliesClass": 3,
            "prtMarkerSuppliesDescription": "Black Toner",
            "prtMarkerSuppliesMaxCapacity": 200,
            "prtMarkerSuppliesLevel": level,
        },
    )
    assert supply.level_state is state and supply.percent_remaining == percent


def test_supply_level_with_unknown_capacity_has_no_percentage() -> None:
    supply = decode_supply_row(
        ASSET,
        {
            "prtMarkerSuppliesIndex": 2,
            "prtMarkerSuppliesType": 3,
            "prtMarkerSuppliesMaxCapacity": -2,
            "prtMarkerSuppliesLevel": 50,
        },
    )
    assert supply.max_capacity is None and supply.percent_remaining is None


def test_page_counter_is_a_meter_reading_and_not_a_fault() -> None:
    counter = decode_marker_row(
        ASSET, {"prtMarkerIndex": 1, "prtMarkerLifeCount": 4_294_967_295, "prtMarkerCounterUnit": 7}
    )
    assert counter == PageCounter(ASSET, 1, 1, 4_294_967_295, MarkerCounterUnit.IMPRESSIONS)
    assert normalize(counter, load_catalogues().printer) is None
    with pytest.raises(MalformedDiagnostic, match=r"outside 0\.\."):
        decode_marker_row(ASSET, {"prtMarkerIndex": 1, "prtMarkerLifeCount": 2**32})


@pytest.mark.parametrize(
    ("training", "action"),
    [
        ("noInterventionRequired", Action.NONE),
        ("untrained", Action.NONE),
        ("fieldService", Action.DISPATCH),
    ],
)
def test_training_level_decides_dispatch(training: str, action: Action) -> None:
    fault = normalize(
        decode_alert_row(ASSET, alert_row(prtAlertTrainingLevel=training)),
        load_catalogues().printer,
    )
    assert fault is not None and fault.action is action
    assert fault.needs_technician is (action is Action.DISPATCH)
    assert fault.severity is Severity.CRITICAL and fault.category == "paper-path"
    if fault.needs_technician:
        assert fault.skill == "printer-technician" and fault.expected_duration_minutes > 0


@pytest.mark.parametrize(
    ("code", "group", "part"),
    [
        (1104, 11, "toner-cartridge"),  # markerTonerAlmostEmpty
        (12, 11, "marker-supply"),  # subunitAlmostEmpty on a marker supply
        (30212, 31, "staple-cartridge"),  # staplerAlmostEmpty
    ],
)
def test_supply_almost_empty_ships_a_consumable_instead_of_a_technician(
    code: int, group: int, part: str
) -> None:
    row = alert_row(
        prtAlertCode=code,
        prtAlertGroup=group,
        prtAlertSeverityLevel=4,
        prtAlertTrainingLevel="trained",
    )
    fault = normalize(decode_alert_row(ASSET, row), load_catalogues().printer)
    assert fault is not None and fault.action is Action.SHIP_CONSUMABLE
    assert not fault.needs_technician and part in fault.likely_parts


def test_almost_empty_paper_tray_ships_nothing() -> None:
    row = alert_row(prtAlertCode=12, prtAlertGroup=8, prtAlertSeverityLevel=4)
    fault = normalize(decode_alert_row(ASSET, row), load_catalogues().printer)
    assert fault is not None and fault.action is Action.NONE and fault.category == "media"


def test_fuser_failure_dispatches_with_the_fuser_as_likely_part() -> None:
    row = alert_row(prtAlertCode=1002, prtAlertGroup=10, prtAlertTrainingLevel="other")
    fault = normalize(decode_alert_row(ASSET, row), load_catalogues().printer)
    assert fault is not None and fault.needs_technician and fault.likely_parts == ("fuser-unit",)


def test_low_supply_reading_ships_and_a_full_one_raises_nothing() -> None:
    printer = load_catalogues().printer
    row = {
        "prtMarkerSuppliesIndex": 1,
        "prtMarkerSuppliesType": 3,
        "prtMarkerSuppliesDescription": "Cyan Toner",
        "prtMarkerSuppliesMaxCapacity": 100,
    }
    low = normalize(decode_supply_row(ASSET, {**row, "prtMarkerSuppliesLevel": 8}), printer)
    assert low is not None and low.action is Action.SHIP_CONSUMABLE
    assert low.likely_parts == ("toner-cartridge",) and low.severity is Severity.WARNING
    empty = normalize(decode_supply_row(ASSET, {**row, "prtMarkerSuppliesLevel": 0}), printer)
    assert empty is not None and empty.severity is Severity.MAJOR
    assert (
        normalize(decode_supply_row(ASSET, {**row, "prtMarkerSuppliesLevel": 60}), printer) is None
    )
