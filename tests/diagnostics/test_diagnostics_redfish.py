"""Redfish decoding against shared/data/diagnostics/redfish (DMTF registries, Event examples)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services.maintenance.catalogues.build_redfish_registries import build_bundle
from services.maintenance.domain.diagnostics import (
    Action,
    MalformedDiagnostic,
    RegistrySet,
    Severity,
    decode_event_payload,
    decode_event_record,
    load_catalogues,
    load_registry_bundle,
    load_registry_folder,
    normalize,
)
from services.maintenance.domain.diagnostics.redfish_events import redfish_condition_id
from services.maintenance.domain.diagnostics.redfish_registry import Health
from services.maintenance.domain.diagnostics.shipped_data import REDFISH_REGISTRY_BUNDLE

ASSET = "assets/srv-12"


@pytest.fixture(scope="module")
def redfish_dir(shared_data: Path) -> Path:
    return shared_data / "diagnostics" / "redfish"


@pytest.fixture(scope="module")
def shipped() -> RegistrySet:
    return load_registry_bundle()


def example(redfish_dir: Path, name: str) -> dict[str, object]:
    return json.loads((redfish_dir / "examples" / name).read_text())


def test_shipped_bundle_is_what_the_script_builds_from_the_dmtf_registries(
    redfish_dir: Path,
) -> None:
    shipped_json = json.loads(REDFISH_REGISTRY_BUNDLE.read_text())
    assert shipped_json == build_bundle(redfish_dir / "registries")


def test_every_message_of_the_dmtf_registries_resolves_through_the_shipped_bundle(
    redfish_dir: Path, shipped: RegistrySet
) -> None:
    dmtf = load_registry_folder(redfish_dir / "registries")
    resolved = 0
    for registry in dmtf.registries:
        major, minor, _ = registry.version
        for key, original in registry.messages.items():
            ours = shipped.resolve(f"{registry.prefix}.{major}.{minor}.{key}")
            assert ours == original, (registry.prefix, key)
            resolved += 1
    assert resolved == 419


def test_registry_facts_match_the_readme_counts(shipped: RegistrySet) -> None:
    counts = {
        registry.prefix: (
            len(registry.messages),
            sum(1 for m in registry.messages.values() if m.clearing is not None),
        )
        for registry in shipped.registries
    }
    assert counts == {
        "Base": (119, 0),
        "ResourceEvent": (28, 6),
        "Environmental": (105, 41),
        "Power": (76, 29),
        "StorageDevice": (40, 23),
        "SensorEvent": (19, 8),
        "Platform": (32, 0),
    }


@pytest.mark.parametrize(
    ("message_id", "found"),
    [
        ("Base.1.22.Success", True),
        ("Base.1.0.Success", True),  # an older minor resolves against the newer registry
        ("Base.1.22.1.Success", True),  # 5-part form with an errata number
        ("Base.1.23.Success", False),  # newer than what we ship
        ("Base.2.0.Success", False),  # another major is another contract
        ("NetworkDevice.1.0.CableRemoved", False),  # illustrative registry, never published
    ],
)
def test_message_id_version_rules(shipped: RegistrySet, message_id: str, found: bool) -> None:
    assert (shipped.resolve(message_id) is not None) is found


def test_every_registry_message_normalizes_with_its_severity(shipped: RegistrySet) -> None:
    server = load_catalogues().server
    for registry in shipped.registries:
        major, minor, _ = registry.version
        for key, message in registry.messages.items():
            args = [f"arg{n}" for n in range(1, message.number_of_args + 1)]
            record = {"MessageId": f"{registry.prefix}.{major}.{minor}.{key}", "MessageArgs": args}
            fault = normalize(decode_event_record(ASSET, record, shipped), server)
            assert fault is not None
            if message.severity is Health.CRITICAL:
                assert fault.severity is Severity.CRITICAL  # the highest priority
            if message.severity is Health.OK:
                assert fault.severity is Severity.INFO and fault.action is Action.NONE
            assert not re.search(r"%\d", fault.description), (registry.prefix, key)


def test_event_example_keeps_an_unpublished_message_with_its_own_severity(
    redfish_dir: Path, shipped: RegistrySet
) -> None:
    result = decode_event_payload(ASSET, example(redfish_dir, "EventExample.json"), shipped)
    (event,) = result.decoded
    assert result.rejected == ()
    assert event.registry_message is None and event.severity is Health.WARNING
    assert event.message == "A cable has been removed from network adapter '1' port '1'."
    assert event.origin == "/redfish/v1/Systems/1/EthernetInterfaces/1" and event.event_id == "4593"


def test_expanded_origin_of_condition_is_reduced_to_its_uri(
    redfish_dir: Path, shipped: RegistrySet
) -> None:
    (event,) = decode_event_payload(
        ASSET, example(redfish_dir, "EventExampleWithOrigin.json"), shipped
    ).decoded
    assert event.origin == "/redfish/v1/Systems/1/EthernetInterfaces/1"


def test_platform_error_resolves_against_a_newer_minor_and_formats_its_args(
    redfish_dir: Path, shipped: RegistrySet
) -> None:
    payload = example(redfish_dir, "EventExampleWithDiagnosticData.json")
    (event,) = decode_event_payload(ASSET, payload, shipped).decoded
    assert event.registry_message is not None and event.registry_message.prefix == "Platform"
    assert event.severity is Health.CRITICAL  # the event overrides the registry's Warning
    assert event.message == "A platform error occurred at location 'CPU #1'."
    fault = normalize(event, load_catalogues().server)
    assert fault is not None and fault.severity is Severity.CRITICAL


def test_event_group_example_decodes_all_three_records(
    redfish_dir: Path, shipped: RegistrySet
) -> None:
    payload = example(redfish_dir, "EventExampleWithEventGroupId.json")
    result = decode_event_payload(ASSET, payload, shipped)
    assert result.rejected == ()
    assert [e.event_group_id for e in result.decoded] == [77, 77, 77]
    status = result.decoded[2]
    assert (
        status.registry_message is not None and status.message_key == "ResourceStatusChangedWarning"
    )
    assert status.message == "Resource status has changed to Warning"  # no args: the event's text


def test_submit_test_event_body_with_a_plain_uri_origin(
    redfish_dir: Path, shipped: RegistrySet
) -> None:
    record = example(redfish_dir, "EventService-v1-SubmitTestEvent-request-example.json")
    event = decode_event_record(ASSET, record, shipped)
    assert event.origin == "/redfish/v1/Chassis/MultiBladeEncl/Thermal"
    assert (
        event.timestamp is not None and event.timestamp.isoformat() == "2016-01-10T18:02:00+00:00"
    )
    assert event.severity is Health.CRITICAL


def test_status_ok_clears_warning_and_critical_of_the_same_origin_only(
    shipped: RegistrySet,
) -> None:
    origin = "/redfish/v1/Chassis/1/Thermal#/Fans/0"
    ok = decode_event_record(
        ASSET,
        {
            "MessageId": "ResourceEvent.1.4.ResourceStatusChangedOK",
            "MessageArgs": ["Fan 0", "OK"],
            "OriginOfCondition": {"@odata.id": origin},
        },
        shipped,
    )
    assert ok.clearing is not None
    assert ok.clearing.clears(
        redfish_condition_id("ResourceEvent", "ResourceStatusChangedWarning", origin)
    )
    assert ok.clearing.clears(
        redfish_condition_id("ResourceEvent", "ResourceStatusChangedCritical", origin)
    )
    assert not ok.clearing.clears(
        redfish_condition_id(
            "ResourceEvent", "ResourceStatusChangedWarning", "/redfish/v1/Chassis/2"
        )
    )
    assert not ok.clearing.clears(
        redfish_condition_id("ResourceEvent", "ResourceErrorsDetected", origin)
    )


def test_resource_removed_clears_everything_of_its_registry_for_that_origin(
    shipped: RegistrySet,
) -> None:
    removed = decode_event_record(
        ASSET,
        {
            "MessageId": "ResourceEvent.1.4.ResourceRemoved",
            "OriginOfCondition": "/redfish/v1/Systems/1",
        },
        shipped,
    )
    assert removed.clearing is not None and removed.clearing.clears_all
    assert removed.clearing.clears(
        redfish_condition_id("ResourceEvent", "LicenseExpired", "/redfish/v1/Systems/1")
    )
    assert not removed.clearing.clears(
        redfish_condition_id("Power", "PowerSupplyFailed", "/redfish/v1/Systems/1")
    )


def test_a_critical_message_can_clear_a_more_severe_one(shipped: RegistrySet) -> None:
    below = decode_event_record(
        ASSET,
        {
            "MessageId": "SensorEvent.1.1.ReadingBelowUpperFatalThreshold",
            "MessageArgs": ["Inlet", "70", "85"],
            "OriginOfCondition": {"@odata.id": "/redfish/v1/Chassis/1/Sensors/Inlet"},
        },
        shipped,
    )
    above_fatal = decode_event_record(
        ASSET,
        {
            "MessageId": "SensorEvent.1.1.ReadingAboveUpperFatalThreshold",
            "MessageArgs": ["Inlet", "90", "85"],
            "OriginOfCondition": {"@odata.id": "/redfish/v1/Chassis/1/Sensors/Inlet"},
        },
        shipped,
    )
    assert below.severity is Health.CRITICAL
    assert below.clearing is not None and below.clearing.clears(above_fatal.condition_id)


def test_malformed_records_are_rejected_with_index_and_reason_and_the_rest_go_on(
    shipped: RegistrySet,
) -> None:
    good = {"MessageId": "StorageDevice.1.5.DriveFailure", "MessageArgs": ["Disk 3"]}
    payload = {
        "Events": [
            good,
            {"MessageArgs": []},
            {"MessageId": "Not a message id"},
            {"MessageId": "Base.1.22.Success", "MessageSeverity": "Bad"},
            {"MessageId": "Base.1.22.Success", "MessageArgs": [1]},
            {"MessageId": "Base.1.22.Success", "EventTimestamp": "2016-01-10T18:02:00"},
            {"MessageId": "Base.1.22.Success", "OriginOfCondition": {"Id": "1"}},
            {"MessageId": "Vendor.1.0.Thing"},
            "not an object",
            good,
        ]
    }
    result = decode_event_payload(ASSET, payload, shipped)
    assert len(result.decoded) == 2
    reasons = {rejected.index: rejected.reason for rejected in result.rejected}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert "MessageId None" in reasons[1] and "Prefix.Major.Minor" in reasons[2]
    assert "MessageSeverity 'Bad'" in reasons[3] and "MessageArgs[0]" in reasons[4]
    assert "UTC offset" in reasons[5] and "@odata.id" in reasons[6]
    assert "no usable severity" in reasons[7] and "object" in reasons[8]


def test_a_payload_without_events_is_rejected_whole(shipped: RegistrySet) -> None:
    with pytest.raises(MalformedDiagnostic, match="Events array"):
        decode_event_payload(ASSET, {"Id": "1"}, shipped)


def test_drive_failure_dispatches_with_a_drive(shipped: RegistrySet) -> None:
    event = decode_event_record(
        ASSET, {"MessageId": "StorageDevice.1.5.DriveFailure", "MessageArgs": ["Disk 3"]}, shipped
    )
    fault = normalize(event, load_catalogues().server)
    assert fault is not None and fault.needs_technician and fault.likely_parts == ("drive",)
    assert fault.fault_key == "server/StorageDevice.DriveFailure"
    assert fault.severity is Severity.CRITICAL and "Disk 3" in fault.description
