"""Printer MIB v2 rows decoded: alerts, alert removals, supply levels and page counters.

Rows arrive as mappings of column name to value (an SNMP walk or a printerV2Alert trap's
variable bindings). Enumerated values may be numbers, "label(number)" or bare labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from services.maintenance.domain.diagnostics.errors import MalformedDiagnostic
from services.maintenance.domain.diagnostics.printer_mib import (
    ALERT_REMOVAL_OF_BINARY_CHANGE_ENTRY,
    NOT_APPLICABLE,
    SOME_REMAINING,
    UNKNOWN,
    AlertGroup,
    AlertSeverityLevel,
    AlertTrainingLevel,
    MarkerCounterUnit,
    MarkerSuppliesClass,
    MarkerSuppliesType,
    wire_enum,
    wire_integer,
)
from services.maintenance.domain.frozen import assemble

Row = Mapping[str, object]

_INTEGER32_MAX = 2**31 - 1
_COUNTER32_MAX = 2**32 - 1
_DESCRIPTION_MAX_OCTETS = 255
_DEFAULT_DEVICE_INDEX = 1


@dataclass(frozen=True)
class PrinterAlert:
    """A prtAlertTable row that is not a removal entry: an alert raised on the printer."""

    asset: str
    device_index: int
    alert_index: int
    severity_level: AlertSeverityLevel
    training_level: AlertTrainingLevel | None  # None: not sent (printerV2Alert traps omit it)
    group: AlertGroup
    group_index: int | None  # None: -1, not applicable
    location: int | None  # None: -2, unknown
    code: int
    description: str
    time_ticks: int | None

    @property
    def condition_id(self) -> str:
        return _alert_condition_id(self.device_index, self.alert_index)

    @property
    def is_binary_change(self) -> bool:
        """Binary alerts describe a state that lasts until the row is removed."""
        return self.severity_level in (
            AlertSeverityLevel.CRITICAL,
            AlertSeverityLevel.WARNING_BINARY_CHANGE_EVENT,
        )


@dataclass(frozen=True)
class PrinterAlertRemoved:
    """The alert row `alert_index` left the table (seen missing, or announced by code 1801)."""

    asset: str
    device_index: int
    alert_index: int
    time_ticks: int | None

    @property
    def condition_id(self) -> str:
        return _alert_condition_id(self.device_index, self.alert_index)

    def clears(self, condition_id: str) -> bool:
        return condition_id == self.condition_id


class SupplyLevelState(Enum):
    MEASURED = "measured"
    UNRESTRICTED = "unrestricted"  # -1 "other": the sub-unit places no restriction
    UNKNOWN = "unknown"  # -2
    SOME_REMAINING = "some_remaining"  # -3: known to be above zero, amount not sensed


@dataclass(frozen=True)
class SupplyLevel:
    """A prtMarkerSuppliesTable row. For a receptacle, the level is the space left."""

    asset: str
    device_index: int
    supply_index: int
    supply_type: MarkerSuppliesType
    supply_class: MarkerSuppliesClass | None
    description: str
    max_capacity: int | None  # None: -1 (no restriction) or -2 (unknown)
    level: int | None  # None unless level_state is MEASURED
    level_state: SupplyLevelState

    @property
    def condition_id(self) -> str:
        return f"printer-supply:{self.device_index}.{self.supply_index}"

    @property
    def percent_remaining(self) -> float | None:
        if self.level is None or not self.max_capacity:
            return None
        return min(100.0, 100.0 * self.level / self.max_capacity)


@dataclass(frozen=True)
class PageCounter:
    """prtMarkerLifeCount, a persistent Counter32: the fleet service takes it as a meter reading."""

    asset: str
    device_index: int
    marker_index: int
    life_count: int
    unit: MarkerCounterUnit | None


def decode_alert_row(asset: str, row: Row) -> PrinterAlert | PrinterAlertRemoved:
    device_index = _optional_index(row, "hrDeviceIndex", _DEFAULT_DEVICE_INDEX)
    alert_index = _ranged(row, "prtAlertIndex", 1, _INTEGER32_MAX)
    code = _integer(_required(row, "prtAlertCode"), "prtAlertCode")
    time_ticks = _optional_ranged(row, "prtAlertTime", 0, _COUNTER32_MAX)
    group_index = _optional_ranged(row, "prtAlertGroupIndex", NOT_APPLICABLE, _INTEGER32_MAX)
    if code == ALERT_REMOVAL_OF_BINARY_CHANGE_ENTRY:
        if group_index is None or group_index < 1:
            raise MalformedDiagnostic(
                "an alertRemovalOfBinaryChangeEntry(1801) row must name the removed row "
                "in prtAlertGroupIndex"
            )
        return PrinterAlertRemoved(asset, device_index, group_index, time_ticks)
    training = row.get("prtAlertTrainingLevel")
    location = _optional_ranged(row, "prtAlertLocation", UNKNOWN, _INTEGER32_MAX)
    return assemble(PrinterAlert, {
        "asset": asset,
        "device_index": device_index,
        "alert_index": alert_index,
        "severity_level": wire_enum(
            _required(row, "prtAlertSeverityLevel"), AlertSeverityLevel, "prtAlertSeverityLevel"
        ),
        "training_level": None
        if training is None
        else wire_enum(training, AlertTrainingLevel, "prtAlertTrainingLevel"),
        "group": wire_enum(_required(row, "prtAlertGroup"), AlertGroup, "prtAlertGroup"),
        "group_index": None if group_index in (None, NOT_APPLICABLE) else group_index,
        "location": None if location in (None, UNKNOWN) else location,
        "code": code,
        "description": _description(row, "prtAlertDescription"),
        "time_ticks": time_ticks,
    })


def decode_supply_row(asset: str, row: Row) -> SupplyLevel:
    max_capacity = _ranged(row, "prtMarkerSuppliesMaxCapacity", UNKNOWN, _INTEGER32_MAX)
    level = _ranged(row, "prtMarkerSuppliesLevel", SOME_REMAINING, _INTEGER32_MAX)
    supply_class = row.get("prtMarkerSuppliesClass")
    return assemble(SupplyLevel, {
        "asset": asset,
        "device_index": _optional_index(row, "hrDeviceIndex", _DEFAULT_DEVICE_INDEX),
        "supply_index": _ranged(row, "prtMarkerSuppliesIndex", 1, 65535),
        "supply_type": wire_enum(
            _required(row, "prtMarkerSuppliesType"), MarkerSuppliesType, "prtMarkerSuppliesType"
        ),
        "supply_class": None
        if supply_class is None
        else wire_enum(supply_class, MarkerSuppliesClass, "prtMarkerSuppliesClass"),
        "description": _description(row, "prtMarkerSuppliesDescription"),
        "max_capacity": max_capacity if max_capacity > 0 else None,
        "level": level if level >= 0 else None,
        "level_state": _LEVEL_STATES.get(level, SupplyLevelState.MEASURED),
    })


_LEVEL_STATES = {
    NOT_APPLICABLE: SupplyLevelState.UNRESTRICTED,
    UNKNOWN: SupplyLevelState.UNKNOWN,
    SOME_REMAINING: SupplyLevelState.SOME_REMAINING,
}


def decode_marker_row(asset: str, row: Row) -> PageCounter:
    unit = row.get("prtMarkerCounterUnit")
    return assemble(PageCounter, {
        "asset": asset,
        "device_index": _optional_index(row, "hrDeviceIndex", _DEFAULT_DEVICE_INDEX),
        "marker_index": _ranged(row, "prtMarkerIndex", 1, 65535),
        "life_count": _ranged(row, "prtMarkerLifeCount", 0, _COUNTER32_MAX),
        "unit": None if unit is None else wire_enum(unit, MarkerCounterUnit, "prtMarkerCounterUnit"),
    })


@dataclass(frozen=True)
class AlertTableChange:
    """Apply `removed` before `raised`: a reset printer reuses alert indexes."""

    removed: tuple[PrinterAlertRemoved, ...]
    raised: tuple[PrinterAlert, ...]


class PrinterAlertTable:
    """The active alerts of one printer, updated from successive walks of prtAlertTable."""

    def __init__(self, active: Iterable[PrinterAlert] = ()) -> None:
        self._active = {_row_identity(alert): alert for alert in active}

    @property
    def active(self) -> tuple[PrinterAlert, ...]:
        return tuple(self._active.values())

    def update(self, walk: Iterable[PrinterAlert | PrinterAlertRemoved]) -> AlertTableChange:
        # A row is the same alert only if its code and time also match: indexes restart at 1
        # after a printer reset. Code 1801 rows need no handling: the binary row they announce
        # is already missing from the walk.
        current = {_row_identity(row): row for row in walk if isinstance(row, PrinterAlert)}
        removed = [
            PrinterAlertRemoved(alert.asset, alert.device_index, alert.alert_index, None)
            for identity, alert in self._active.items()
            if identity not in current
        ]
        raised = [alert for identity, alert in current.items() if identity not in self._active]
        self._active = current
        return AlertTableChange(tuple(removed), tuple(raised))


def _row_identity(alert: PrinterAlert) -> tuple[int, int, int, int | None]:
    return (alert.device_index, alert.alert_index, alert.code, alert.time_ticks)


def _alert_condition_id(device_index: int, alert_index: int) -> str:
    return f"printer-alert:{device_index}.{alert_index}"


def _required(row: Row, column: str) -> object:
    value = row.get(column)
    if value is None:
        raise MalformedDiagnostic(f"{column} is missing")
    return value


def _ranged(row: Row, column: str, low: int, high: int) -> int:
    value = _integer(_required(row, column), column)
    if not low <= value <= high:
        raise MalformedDiagnostic(f"{column} {value} is outside {low}..{high}")
    return value


def _optional_ranged(row: Row, column: str, low: int, high: int) -> int | None:
    raw = row.get(column)
    if raw is None:
        return None
    value = _integer(raw, column)
    if not low <= value <= high:
        raise MalformedDiagnostic(f"{column} {value} is outside {low}..{high}")
    return value


def _optional_index(row: Row, column: str, default: int) -> int:
    value = _optional_ranged(row, column, 1, _INTEGER32_MAX)
    return default if value is None else value


def _integer(raw: object, column: str) -> int:
    # Most columns are plain digits, which wire_integer would also read with int() (str.isdecimal
    # is its regex's \d+: Unicode category Nd); its strip and regex are for the other spellings.
    return int(raw) if type(raw) is str and raw.isdecimal() else wire_integer(raw, column)


def _description(row: Row, column: str) -> str:
    value = row.get(column, "")
    if isinstance(value, bytes):
        octets = value
        text = value.decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
        # ASCII text is as many octets as characters: no need to encode it to count them.
        octets = value if value.isascii() else value.encode("utf-8")
    else:
        raise MalformedDiagnostic(f"{column} must be text, not {value!r}")
    if len(octets) > _DESCRIPTION_MAX_OCTETS:
        raise MalformedDiagnostic(f"{column} is longer than {_DESCRIPTION_MAX_OCTETS} octets")
    return text
