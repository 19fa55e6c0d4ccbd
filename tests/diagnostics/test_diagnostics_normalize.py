"""Catalogue mapping rules that span device classes, and editing catalogues without code changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from services.maintenance.domain.diagnostics import (
    Action,
    CatalogueError,
    Dm1Tracker,
    Severity,
    decode_alert_row,
    decode_dm,
    load_catalogue,
    load_catalogues,
    normalize,
)
from services.maintenance.domain.diagnostics.catalogue import ForkliftCatalogue, PrinterCatalogue
from services.maintenance.domain.diagnostics.j1939_dm import DtcActivated
from services.maintenance.domain.diagnostics.shipped_data import CATALOGUE_DIR

ASSET = "assets/forklift-7"


def activated(payload_hex: str) -> DtcActivated:
    (event,) = Dm1Tracker().update(decode_dm(ASSET, 65226, 0, bytes.fromhex(payload_hex))).activated
    return event


@pytest.mark.parametrize(
    ("lamp_byte", "severity"),
    [
        ("10", Severity.CRITICAL),  # red stop lamp on
        ("14", Severity.CRITICAL),  # red stop and amber: the worse wins
        ("04", Severity.MAJOR),  # amber warning lamp
        ("01", Severity.WARNING),  # protect lamp
        ("00", Severity.WARNING),  # a DTC with no lamp lit
    ],
)
def test_j1939_lamps_set_the_severity(lamp_byte: str, severity: Severity) -> None:
    fault = normalize(activated(lamp_byte + "FF5B000301FFFF"), load_catalogues().forklift)
    assert fault is not None and fault.severity is severity


def test_red_stop_lamp_dispatches_even_a_fault_whose_fmi_rule_would_not() -> None:
    forklift = load_catalogues().forklift
    # FMI 31 "Condition Exists" alone dispatches nobody ...
    quiet = normalize(activated("00FF5B001F01FFFF"), forklift)
    assert quiet is not None and quiet.action is Action.NONE
    # ... but with the red stop lamp on the truck must not run: a technician goes.
    stopped = normalize(activated("10FF5B001F01FFFF"), forklift)
    assert (
        stopped is not None and stopped.needs_technician and stopped.severity is Severity.CRITICAL
    )


def test_dtc_fault_names_spn_fmi_and_likely_parts() -> None:
    fault = normalize(activated("04FF5B000301FFFF"), load_catalogues().forklift)
    assert fault is not None
    assert fault.fault_key == "forklift/spn-91/fmi-3"
    assert fault.condition_id == "j1939-dtc:0:91:3"
    assert fault.category == "electrical" and fault.skill == "forklift-electrical"
    assert fault.likely_parts == ("accelerator-pedal-sensor", "wiring-harness")
    assert "Accelerator Pedal Position 1" in fault.description
    assert "Voltage Above Normal, Or Shorted To High Source" in fault.description


def test_unknown_spn_still_maps_through_its_fmi() -> None:
    fault = normalize(activated("00FFD2040C81FFFF"), load_catalogues().forklift)  # SPN 1234, FMI 12
    assert fault is not None and fault.fault_key == "forklift/spn-1234/fmi-12"
    assert fault.likely_parts == ("control-module",) and fault.needs_technician


def test_a_catalogue_edit_changes_the_outcome_without_code_changes(tmp_path: Path) -> None:
    shutil.copytree(CATALOGUE_DIR, tmp_path / "catalogues", ignore=shutil.ignore_patterns("*.py"))
    path = tmp_path / "catalogues" / "printer.json"
    document = json.loads(path.read_text())
    document["training_levels"]["trained"] = "dispatch"
    path.write_text(json.dumps(document))
    edited = load_catalogues(tmp_path / "catalogues").printer
    row = {
        "prtAlertIndex": 4,
        "prtAlertSeverityLevel": 3,
        "prtAlertTrainingLevel": "trained",
        "prtAlertGroup": "mediaPath",
        "prtAlertCode": 8,
    }
    shipped_fault = normalize(decode_alert_row("assets/p", row), load_catalogues().printer)
    edited_fault = normalize(decode_alert_row("assets/p", row), edited)
    assert shipped_fault is not None and shipped_fault.action is Action.NONE
    assert edited_fault is not None and edited_fault.action is Action.DISPATCH


def test_a_catalogue_naming_an_undefined_rule_fails_when_loaded(tmp_path: Path) -> None:
    document = json.loads((CATALOGUE_DIR / "forklift.json").read_text())
    document["fmis"][3]["rule"] = "no_such_rule"
    path = tmp_path / "forklift.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CatalogueError, match="no_such_rule"):
        load_catalogue(path)


def test_each_shipped_catalogue_loads_as_its_class() -> None:
    catalogues = load_catalogues()
    assert isinstance(catalogues.printer, PrinterCatalogue)
    assert isinstance(catalogues.forklift, ForkliftCatalogue)


def test_an_event_with_another_class_catalogue_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="ForkliftCatalogue"):
        normalize(activated("00FF5B000301FFFF"), load_catalogues().printer)
