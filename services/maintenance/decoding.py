"""From a wire event to the decoded items the alarm rules understand, with device state between
events (a printer's alert table, a forklift's active DTCs per ECU)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from operator import methodcaller

from fleetops.maintenance.v1 import diagnostics_pb2 as dpb

from services.maintenance.domain.diagnostics import (DecodedEvent, Dm1Tracker, MalformedDiagnostic, PrinterAlertTable,
                                                     RegistrySet, TransportReassembler, decode_alert_row, decode_dm,
                                                     decode_event_payload, decode_marker_row, decode_supply_row,
                                                     parse_candump_line)
from services.maintenance.domain.diagnostics.j1939_dm import PGN_DM1, PGN_DM2, DiagnosticMessage, Dtc, DmKind
from services.maintenance.domain.diagnostics.printer import PrinterAlert
from services.runtime.dataclass_json import from_json, to_json

PRINTER_ALERTS = "printer_alerts"
J1939_DM1 = "j1939_dm1"


@dataclass
class Decoded:
    items: list[DecodedEvent]
    note: str = ""  # e.g. Redfish records rejected inside an accepted payload


# An event's payload kind (None: it has none). Read for every event: no Python function call.
payload_kind = methodcaller("WhichOneof", "payload")


def event_format(kind: str) -> str:
    """The device format of a payload kind, for metrics: printer, forklift or server."""
    return "printer" if kind.startswith("printer") else "forklift" if kind.startswith("j1939") else "server"


def state_kind(kind: str) -> str | None:
    """Which device state a payload kind reads and updates."""
    return _STATE_KINDS.get(kind)


_STATE_KINDS = {"printer_alert_walk": PRINTER_ALERTS, "j1939_message": J1939_DM1, "j1939_frames": J1939_DM1}


def decode(event: dpb.DiagnosticEvent, asset: str, states: dict[str, dict], registries: RegistrySet, *,
           kind: str | None = None) -> Decoded:
    """Decodes one event; `states` (by state kind) is read and updated in place. `kind` is its
    payload kind when the caller has read it already (WhichOneof is not cheap)."""
    if kind is None:
        kind = payload_kind(event)
    if kind == "printer_alert":
        return Decoded([decode_alert_row(asset, event.printer_alert.columns)])
    if kind == "printer_alert_walk":
        walk = [decode_alert_row(asset, row.columns) for row in event.printer_alert_walk.rows]
        table = PrinterAlertTable(from_json(tuple[PrinterAlert, ...], states.get(PRINTER_ALERTS, {}).get("active", [])))
        change = table.update(walk)
        states[PRINTER_ALERTS] = {"active": to_json(table.active)}
        return Decoded([*change.removed, *change.raised])
    if kind == "printer_supply":
        return Decoded([decode_supply_row(asset, event.printer_supply.columns)])
    if kind == "printer_marker":
        return Decoded([decode_marker_row(asset, event.printer_marker.columns)])
    if kind == "j1939_message":
        message = event.j1939_message
        return _dm(asset, [(message.pgn, message.source_address, message.data)], states)
    if kind == "j1939_frames":
        reassembler = TransportReassembler()
        messages = []
        for line in event.j1939_frames.candump_lines:
            message = reassembler.feed(parse_candump_line(line))
            if message is not None and message.pgn in (PGN_DM1, PGN_DM2):
                messages.append((message.pgn, message.source_address, message.data))
        if not messages:
            raise MalformedDiagnostic("the frames hold no complete DM1 or DM2 message")
        return _dm(asset, messages, states)
    if kind == "redfish_event":
        try:
            payload = json.loads(event.redfish_event)
        except json.JSONDecodeError as error:
            raise MalformedDiagnostic(f"redfish_event is not JSON: {error.msg} at {error.pos}") from None
        result = decode_event_payload(asset, payload, registries)
        if not result.decoded:
            raise MalformedDiagnostic("; ".join(f"Events[{r.index}]: {r.reason}" for r in result.rejected)
                                      or "the payload holds no events")
        note = "; ".join(f"Events[{r.index}] rejected: {r.reason}" for r in result.rejected)
        return Decoded(list(result.decoded), note)
    raise MalformedDiagnostic("the event has no payload")


class _Dm1State(dict):
    """The stored form of a forklift's active DTCs (source address -> DTCs as JSON), carrying the
    DTCs it was made from: the asset's next event in the round starts from them instead of
    parsing the JSON again."""

    __slots__ = ("active",)

    def __init__(self, stored: dict, active: dict[int, tuple[Dtc, ...]]):
        super().__init__(stored)
        self.active = active


def _dm(asset: str, messages: list[tuple[int, int, bytes]], states: dict[str, dict]) -> Decoded:
    decoded = [decode_dm(asset, pgn, source_address, bytes(data)) for pgn, source_address, data in messages]
    stored = states.get(J1939_DM1, {})
    made_this_round = isinstance(stored, _Dm1State)
    if made_this_round and len(decoded) == 1 and _repeats_active(decoded[0], stored.active):
        # Why: most DM1s repeat their source's active DTCs exactly: nothing activates or clears,
        # and the state the tracker would store equals the one stored.
        return Decoded([])
    active = stored.active if made_this_round else {
        int(source): from_json(tuple[Dtc, ...], dtcs) for source, dtcs in stored.items()}
    tracker = Dm1Tracker(active)
    items: list[DecodedEvent] = []
    seen_sources: set[int] = set()
    for message in decoded:
        if message.kind is DmKind.DM1:
            change = tracker.update(message)
            seen_sources.add(message.source_address)
            items += [*change.cleared, *change.activated]
    if seen_sources:
        now_active = {**active, **{s: tracker.active(s) for s in seen_sources}}
        # A DM1 mostly repeats its source's DTCs, and then the JSON this round made for them
        # stands; JSON read from the database is written afresh, as it may be in an older form.
        changed = [s for s in seen_sources if not made_this_round or now_active[s] != active.get(s)]
        states[J1939_DM1] = _Dm1State(
            {**stored, **{str(s): to_json(now_active[s]) for s in changed}}, now_active)
    return Decoded(items)


def _repeats_active(message: DiagnosticMessage, active: dict[int, tuple[Dtc, ...]]) -> bool:
    """Whether the tracker would find `message` a DM1 with its source's active DTCs, and store them
    as they are: also not when the DM1 repeats an SPN/FMI, which the tracker stores once."""
    dtcs = message.dtcs
    return (message.kind is DmKind.DM1 and dtcs == active.get(message.source_address)
            and (len(dtcs) < 2 or len({dtc.key for dtc in dtcs}) == len(dtcs)))
