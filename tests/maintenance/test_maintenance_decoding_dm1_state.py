"""A forklift's stored DM1 state across the events of a round, as decoding.decode keeps it."""

from __future__ import annotations

from fleetops.maintenance.v1 import diagnostics_pb2 as dpb

from services.maintenance.decoding import J1939_DM1, decode
from services.maintenance.domain.diagnostics import load_registry_bundle

ASSET = "assets/forklift-1"
SPN_91_FMI_3 = bytes.fromhex("5B000301")  # SPN 91, FMI 3, occurrence count 1
REPEATED_DTC = {"spn": 91, "fmi": 3, "occurrence_count": 1, "conversion_method": 0}


def dm1(source_address: int, dtcs: bytes) -> dpb.DiagnosticEvent:
    event = dpb.DiagnosticEvent(source="test", source_event_id=f"e{source_address}", asset=ASSET)
    event.j1939_message.CopyFrom(dpb.J1939Message(pgn=65226, source_address=source_address,
                                                  data=bytes.fromhex("40FF") + dtcs))
    return event


def test_a_dm1_repeating_a_dtc_stores_it_once_even_when_the_stored_state_repeated_it() -> None:
    registries = load_registry_bundle()
    states: dict[str, dict] = {J1939_DM1: {"0": [REPEATED_DTC, REPEATED_DTC]}}  # an older stored form
    decode(dm1(1, bytes.fromhex("00000000")), ASSET, states, registries)  # another ECU: source 0 untouched
    assert states[J1939_DM1]["0"] == [REPEATED_DTC, REPEATED_DTC]

    decoded = decode(dm1(0, SPN_91_FMI_3 + SPN_91_FMI_3), ASSET, states, registries)

    assert decoded.items == []
    assert states[J1939_DM1]["0"] == [REPEATED_DTC]
