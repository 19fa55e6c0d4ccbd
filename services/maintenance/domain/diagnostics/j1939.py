"""SAE J1939 over CAN: candump lines, 29-bit identifiers and J1939-21 transport reassembly.

A frame is either a whole J1939 message (up to 8 bytes) or part of a multi-packet transfer:
a TP.CM announcement (BAM to everyone, or RTS to one address) followed by TP.DT packets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.maintenance.domain.diagnostics.errors import MalformedDiagnostic

PGN_TP_CM = 0xEC00
PGN_TP_DT = 0xEB00
GLOBAL_ADDRESS = 0xFF

_PDU2_FIRST_PF = 240
_TP_CM_RTS = 0x10
_TP_CM_CTS = 0x11
_TP_CM_END_OF_MESSAGE_ACK = 0x13
_TP_CM_BAM = 0x20
_TP_CM_ABORT = 0xFF
_TP_DT_PAYLOAD = 7
_TP_MIN_SIZE = 9
_TP_MAX_SIZE = 1785  # 255 packets of 7 bytes

_CANDUMP_LINE = re.compile(
    r"^\s*(?:\d+\s+)?"  # some logs put a line number first
    r"\((?P<seconds>\d+)\.(?P<micros>\d{6})\)\s+"
    r"(?P<interface>\S+)\s+"
    r"(?P<can_id>[0-9A-Fa-f]+)#(?P<data>[0-9A-Fa-f]*)\s*$"
)


@dataclass(frozen=True)
class J1939Id:
    priority: int
    pgn: int
    source_address: int
    destination_address: int  # GLOBAL_ADDRESS for PDU2 (broadcast) PGNs

    @classmethod
    def from_can_id(cls, can_id: int) -> J1939Id:
        if not 0 <= can_id < 1 << 29:
            raise MalformedDiagnostic(f"CAN id {can_id:#x} is not a 29-bit identifier")
        data_pages = (can_id >> 24) & 0b11  # EDP and DP
        pdu_format = (can_id >> 16) & 0xFF
        pdu_specific = (can_id >> 8) & 0xFF
        if pdu_format < _PDU2_FIRST_PF:
            pgn = (data_pages << 16) | (pdu_format << 8)
            destination = pdu_specific
        else:
            pgn = (data_pages << 16) | (pdu_format << 8) | pdu_specific
            destination = GLOBAL_ADDRESS
        return cls((can_id >> 26) & 0b111, pgn, can_id & 0xFF, destination)


@dataclass(frozen=True)
class CanFrame:
    timestamp_us: int
    interface: str
    can_id: int
    data: bytes

    @property
    def j1939(self) -> J1939Id:
        return J1939Id.from_can_id(self.can_id)


@dataclass(frozen=True)
class J1939Message:
    pgn: int
    priority: int
    source_address: int
    destination_address: int
    data: bytes
    timestamp_us: int


def parse_candump_line(line: str) -> CanFrame:
    """One line of `candump -l` output: `(seconds.micros) iface CANID#DATA`."""
    match = _CANDUMP_LINE.match(line)
    if not match:
        raise MalformedDiagnostic(f"not a candump log line: {line.strip()!r}")
    can_id_text, data_text = match["can_id"], match["data"]
    if len(can_id_text) != 8:
        raise MalformedDiagnostic(f"CAN id {can_id_text} is not an extended (29-bit) identifier")
    if len(data_text) % 2 or len(data_text) > 16:
        raise MalformedDiagnostic(f"CAN data {data_text!r} is not 0 to 8 whole bytes")
    can_id = int(can_id_text, 16)
    J1939Id.from_can_id(can_id)  # rejects ids above 29 bits here, where the line is known
    return CanFrame(
        timestamp_us=int(match["seconds"]) * 1_000_000 + int(match["micros"]),
        interface=match["interface"],
        can_id=can_id,
        data=bytes.fromhex(data_text),
    )


@dataclass
class _Transfer:
    pgn: int
    size: int
    packet_count: int
    received: bytearray


class TransportReassembler:
    """Turns a stream of frames into J1939 messages, joining BAM and RTS/CTS transfers.

    Transfers are keyed by (sender, destination), so transfers from different senders may
    interleave with each other and with single-frame traffic. Packets of a transfer whose
    announcement was not seen (listening began mid-transfer) are ignored.
    """

    def __init__(self) -> None:
        self._transfers: dict[tuple[int, int], _Transfer] = {}

    def feed(self, frame: CanFrame) -> J1939Message | None:
        identifier = frame.j1939
        if identifier.pgn == PGN_TP_CM:
            self._on_connection_management(identifier, frame.data)
            return None
        if identifier.pgn == PGN_TP_DT:
            return self._on_data_transfer(identifier, frame)
        return J1939Message(
            identifier.pgn,
            identifier.priority,
            identifier.source_address,
            identifier.destination_address,
            frame.data,
            frame.timestamp_us,
        )

    def _on_connection_management(self, identifier: J1939Id, data: bytes) -> None:
        if len(data) != 8:
            raise MalformedDiagnostic(f"TP.CM frame has {len(data)} bytes, not 8")
        key = (identifier.source_address, identifier.destination_address)
        control = data[0]
        if control in (_TP_CM_BAM, _TP_CM_RTS):
            size = data[1] | data[2] << 8
            packet_count = data[3]
            if not _TP_MIN_SIZE <= size <= _TP_MAX_SIZE:
                raise MalformedDiagnostic(f"TP.CM announces {size} bytes, outside 9..1785")
            if packet_count != -(-size // _TP_DT_PAYLOAD):
                raise MalformedDiagnostic(
                    f"TP.CM announces {packet_count} packets for {size} bytes"
                )
            pgn = data[5] | data[6] << 8 | data[7] << 16
            # A new announcement from the same sender replaces an unfinished transfer.
            self._transfers[key] = _Transfer(pgn, size, packet_count, bytearray())
        elif control == _TP_CM_ABORT:
            self._transfers.pop(key, None)
            self._transfers.pop((key[1], key[0]), None)
        elif control not in (_TP_CM_CTS, _TP_CM_END_OF_MESSAGE_ACK):
            raise MalformedDiagnostic(f"TP.CM control byte {control:#04x} is not defined")

    def _on_data_transfer(self, identifier: J1939Id, frame: CanFrame) -> J1939Message | None:
        key = (identifier.source_address, identifier.destination_address)
        transfer = self._transfers.get(key)
        if transfer is None:
            return None
        if len(frame.data) != 8:
            del self._transfers[key]
            raise MalformedDiagnostic(f"TP.DT frame has {len(frame.data)} bytes, not 8")
        expected = len(transfer.received) // _TP_DT_PAYLOAD + 1
        if frame.data[0] != expected:
            del self._transfers[key]
            raise MalformedDiagnostic(
                f"TP.DT sequence {frame.data[0]} where {expected} was expected; transfer dropped"
            )
        transfer.received += frame.data[1:]
        if expected < transfer.packet_count:
            return None
        del self._transfers[key]
        return J1939Message(
            transfer.pgn,
            identifier.priority,
            identifier.source_address,
            identifier.destination_address,
            bytes(transfer.received[: transfer.size]),
            frame.timestamp_us,
        )
