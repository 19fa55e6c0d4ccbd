"""J1939-73 DM1 (active) and DM2 (previously active) diagnostic messages, and DM1 tracking.

Payload: byte 1 lamp status, byte 2 lamp flash, then 4 bytes per DTC (SPN in 19 bits, FMI in
5 bits, conversion method bit, 7-bit occurrence count). A single-frame DM1 is padded with 0xFF
to 8 bytes; longer ones arrive over the transport protocol (see `j1939.TransportReassembler`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum
from functools import lru_cache

from services.maintenance.domain.diagnostics.errors import MalformedDiagnostic
from services.maintenance.domain.diagnostics.j1939 import J1939Message

PGN_DM1 = 65226
PGN_DM2 = 65227

_LAMP_BYTES = 2
_DTC_BYTES = 4
_OCCURRENCE_COUNT_NOT_AVAILABLE = 127
# All-zero is the spec's "no active DTC"; all-ones is padding / "not available" in every field.
_EMPTY_DTC_PATTERNS = (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff")


class DmKind(Enum):
    DM1 = PGN_DM1
    DM2 = PGN_DM2


_DM_KINDS = {kind.value: kind for kind in DmKind}


class LampStatus(IntEnum):
    OFF = 0
    ON = 1
    ERROR = 2
    NOT_AVAILABLE = 3


class LampFlash(IntEnum):
    SLOW = 0  # 1 Hz
    FAST = 1  # 2 Hz
    RESERVED = 2
    NOT_FLASHING = 3  # "do not flash" or not available


@dataclass(frozen=True)
class Lamp:
    status: LampStatus
    flash: LampFlash

    @property
    def is_on(self) -> bool:
        return self.status is LampStatus.ON


@dataclass(frozen=True)
class Lamps:
    malfunction_indicator: Lamp
    red_stop: Lamp
    amber_warning: Lamp
    protect: Lamp

    def lit(self) -> tuple[str, ...]:
        """Names of the lamps that are on, as used in the forklift catalogue."""
        return tuple(name for name in _LAMP_NAMES if getattr(self, name).is_on)


_LAMP_NAMES = ("malfunction_indicator", "red_stop", "amber_warning", "protect")
_LAMP_SHIFTS = (6, 4, 2, 0)  # bits 8-7, 6-5, 4-3, 2-1 of bytes 1 and 2


@dataclass(frozen=True)
class Dtc:
    spn: int
    fmi: int
    occurrence_count: int | None  # None: 127, not available
    conversion_method: int  # 1: a legacy SPN layout; the SPN is still read in the current one

    @property
    def key(self) -> tuple[int, int]:
        """SPN and FMI identify a DTC; its occurrence count changes while it stays active."""
        return (self.spn, self.fmi)


@dataclass(frozen=True)
class DiagnosticMessage:
    asset: str
    kind: DmKind
    source_address: int
    lamps: Lamps
    dtcs: tuple[Dtc, ...]
    timestamp_us: int | None = None


def decode_dm(
    asset: str, pgn: int, source_address: int, payload: bytes, timestamp_us: int | None = None
) -> DiagnosticMessage:
    # Only bytes are hashable and immutable: any other buffer is decoded without the memo.
    content = _dm_content if type(payload) is bytes else _dm_content.__wrapped__
    kind, lamps, dtcs = content(pgn, source_address, payload)
    return DiagnosticMessage(asset, kind, source_address, lamps, dtcs, timestamp_us)


# Why a memo: an ECU repeats its DM1 every second with the same bytes, so their decoding is done
# once per distinct (PGN, source, payload); everything it returns is frozen and derived from those
# three alone. Rejections raise, so they are not cached; the bound keeps unusual traffic in check.
@lru_cache(maxsize=4096)
def _dm_content(pgn: int, source_address: int, payload: bytes | bytearray | memoryview) -> tuple[DmKind, Lamps, tuple[Dtc, ...]]:
    kind = _DM_KINDS.get(pgn)
    if kind is None:
        raise MalformedDiagnostic(f"PGN {pgn} is neither DM1 ({PGN_DM1}) nor DM2 ({PGN_DM2})")
    if not 0 <= source_address <= 0xFF:
        raise MalformedDiagnostic(f"source address {source_address} is not one byte")
    if len(payload) < _LAMP_BYTES + _DTC_BYTES:
        raise MalformedDiagnostic(f"{kind.name} payload has {len(payload)} bytes, fewer than 6")
    lamps = _lamps(payload[0], payload[1])
    # Bytes after the last whole DTC are single-frame padding.
    dtc_count = (len(payload) - _LAMP_BYTES) // _DTC_BYTES
    dtc_fields = (
        payload[start : start + _DTC_BYTES]
        for start in range(_LAMP_BYTES, _LAMP_BYTES + dtc_count * _DTC_BYTES, _DTC_BYTES)
    )
    return kind, lamps, tuple(_decode_dtc(raw) for raw in dtc_fields if raw not in _EMPTY_DTC_PATTERNS)


def decode_dm_message(asset: str, message: J1939Message) -> DiagnosticMessage:
    return decode_dm(asset, message.pgn, message.source_address, message.data, message.timestamp_us)


# An ECU repeats its DM1 every second with the same lamps and DTCs, so decoded values are
# shared (they are frozen); the bounds keep unusual traffic from growing the caches.
@lru_cache(maxsize=1024)
def _lamps(status_byte: int, flash_byte: int) -> Lamps:
    return Lamps(
        *(
            Lamp(LampStatus((status_byte >> shift) & 0b11), LampFlash((flash_byte >> shift) & 0b11))
            for shift in _LAMP_SHIFTS
        )
    )


@lru_cache(maxsize=4096)
def _decode_dtc(raw: bytes) -> Dtc:
    occurrence = raw[3] & 0x7F
    return Dtc(
        spn=raw[0] | raw[1] << 8 | (raw[2] >> 5) << 16,
        fmi=raw[2] & 0x1F,
        occurrence_count=None if occurrence == _OCCURRENCE_COUNT_NOT_AVAILABLE else occurrence,
        conversion_method=raw[3] >> 7,
    )


@dataclass(frozen=True)
class DtcActivated:
    asset: str
    source_address: int
    dtc: Dtc
    lamps: Lamps  # lamps of the DM1 that reported it: J1939 lamps belong to the ECU, not a DTC

    @property
    def condition_id(self) -> str:
        return _dtc_condition_id(self.source_address, self.dtc)


@dataclass(frozen=True)
class DtcCleared:
    asset: str
    source_address: int
    dtc: Dtc

    @property
    def condition_id(self) -> str:
        return _dtc_condition_id(self.source_address, self.dtc)

    def clears(self, condition_id: str) -> bool:
        return condition_id == self.condition_id


@dataclass(frozen=True)
class Dm1Change:
    activated: tuple[DtcActivated, ...]
    cleared: tuple[DtcCleared, ...]


class Dm1Tracker:
    """Active DTCs of one asset per source address: a DTC absent from the next DM1 of its
    source has cleared."""

    def __init__(self, active: Mapping[int, Iterable[Dtc]] | None = None) -> None:
        self._active: dict[int, dict[tuple[int, int], Dtc]] = {
            source: {dtc.key: dtc for dtc in dtcs} for source, dtcs in (active or {}).items()
        }

    def active(self, source_address: int) -> tuple[Dtc, ...]:
        return tuple(self._active.get(source_address, {}).values())

    def update(self, dm1: DiagnosticMessage) -> Dm1Change:
        if dm1.kind is not DmKind.DM1:
            raise ValueError("only DM1 reports which DTCs are active now; DM2 is history")
        previous = self._active.get(dm1.source_address, {})
        current = {dtc.key: dtc for dtc in dm1.dtcs}
        self._active[dm1.source_address] = current
        return Dm1Change(
            activated=tuple(
                DtcActivated(dm1.asset, dm1.source_address, dtc, dm1.lamps)
                for key, dtc in current.items()
                if key not in previous
            ),
            cleared=tuple(
                DtcCleared(dm1.asset, dm1.source_address, dtc)
                for key, dtc in previous.items()
                if key not in current
            ),
        )


def _dtc_condition_id(source_address: int, dtc: Dtc) -> str:
    return f"j1939-dtc:{source_address}:{dtc.spn}:{dtc.fmi}"
