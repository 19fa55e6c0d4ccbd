"""Frozen dataclasses that hot paths assemble without their __init__ hold exactly their fields, and
equal what the __init__ builds from the same values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from services.maintenance.domain.alarms import observe
from services.maintenance.domain.diagnostics import (
    decode_alert_row,
    decode_event_record,
    decode_marker_row,
    decode_supply_row,
    load_catalogues,
    load_registry_bundle,
    normalize,
)

ASSET = "assets/printer-1"
ALERT_ROW = {"prtAlertIndex": "2", "prtAlertSeverityLevel": "3", "prtAlertTrainingLevel": "5", "prtAlertGroup": "13",
             "prtAlertGroupIndex": "1", "prtAlertLocation": "5", "prtAlertCode": "8", "prtAlertDescription": "jam",
             "prtAlertTime": "1200"}
SUPPLY_ROW = {"prtMarkerSuppliesIndex": "1", "prtMarkerSuppliesType": "3", "prtMarkerSuppliesMaxCapacity": "200",
              "prtMarkerSuppliesLevel": "10"}
MARKER_ROW = {"prtMarkerIndex": "1", "prtMarkerLifeCount": "10500", "prtMarkerCounterUnit": "7"}
REDFISH_RECORD = {"EventType": "Alert", "EventId": "7", "MessageId": "ResourceEvent.1.4.ResourceErrorsDetected",
                  "MessageArgs": ["CPU1", "ECC"], "MessageSeverity": "Warning",
                  "EventTimestamp": "2026-03-01T00:00:07+00:00",
                  "OriginOfCondition": {"@odata.id": "/redfish/v1/Systems/1/Processors/CPU1"}}


def assembled() -> list[object]:
    catalogues = load_catalogues()
    alert, supply = decode_alert_row(ASSET, ALERT_ROW), decode_supply_row(ASSET, SUPPLY_ROW)
    redfish = decode_event_record("assets/server-1", REDFISH_RECORD, load_registry_bundle())
    faults = [normalize(alert, catalogues.printer), normalize(supply, catalogues.printer),
              normalize(redfish, catalogues.server)]
    alarm = observe(None, faults[0], datetime(2026, 3, 1, tzinfo=UTC))
    return [alert, supply, decode_marker_row(ASSET, MARKER_ROW), redfish, *faults, alarm]


@pytest.mark.parametrize("instance", assembled(), ids=lambda instance: type(instance).__name__)
def test_an_assembled_instance_is_what_its_init_builds(instance: object) -> None:
    names = [field.name for field in dataclasses.fields(instance)]
    assert list(vars(instance)) == names
    rebuilt = type(instance)(**{name: getattr(instance, name) for name in names})
    assert rebuilt == instance
    assert vars(rebuilt) == vars(instance)
