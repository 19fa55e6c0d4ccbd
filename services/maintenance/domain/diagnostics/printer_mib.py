"""Printer MIB v2 code tables (RFC 3805 and the IANA-PRINTER-MIB 2019-07-08 revision).

Member names are the MIB labels in UPPER_SNAKE form (`warningBinaryChangeEvent` ->
`WARNING_BINARY_CHANGE_EVENT`); `mib_label_to_member_name` is that conversion. The prtAlertCode
enumeration (781 values) is data, in the printer catalogue, because operators edit its mapping.
"""

from __future__ import annotations

import re
from enum import IntEnum
from functools import lru_cache
from typing import TypeVar

from services.maintenance.domain.diagnostics.errors import MalformedDiagnostic

# RFC 3805 prtAlertGroupIndex / prtAlertLocation / prtMarkerSupplies* sentinels.
NOT_APPLICABLE = -1
UNKNOWN = -2
SOME_REMAINING = -3

ALERT_REMOVAL_OF_BINARY_CHANGE_ENTRY = 1801
FINISHER_CODE_BASE = 30000


class AlertSeverityLevel(IntEnum):
    """PrtAlertSeverityLevelTC (Printer-MIB): critical stops printing until fixed."""

    OTHER = 1
    CRITICAL = 3
    WARNING = 4
    WARNING_BINARY_CHANGE_EVENT = 5


class AlertTrainingLevel(IntEnum):
    """PrtAlertTrainingLevelTC: who should act on an alert."""

    OTHER = 1
    UNKNOWN = 2
    UNTRAINED = 3
    TRAINED = 4
    FIELD_SERVICE = 5
    MANAGEMENT = 6
    NO_INTERVENTION_REQUIRED = 7


class AlertGroup(IntEnum):
    """PrtAlertGroupTC: the type of sub-unit an alert is about."""

    OTHER = 1
    UNKNOWN = 2
    HOST_RESOURCES_MIB_STORAGE_TABLE = 3
    HOST_RESOURCES_MIB_DEVICE_TABLE = 4
    GENERAL_PRINTER = 5
    COVER = 6
    LOCALIZATION = 7
    INPUT = 8
    OUTPUT = 9
    MARKER = 10
    MARKER_SUPPLIES = 11
    MARKER_COLORANT = 12
    MEDIA_PATH = 13
    CHANNEL = 14
    INTERPRETER = 15
    CONSOLE_DISPLAY_BUFFER = 16
    CONSOLE_LIGHTS = 17
    ALERT = 18
    FIN_DEVICE = 30
    FIN_SUPPLY = 31
    FIN_SUPPLY_MEDIA_INPUT = 32
    FIN_ATTRIBUTE = 33
    SCAN_DEVICE = 50
    SCANNER = 51
    SCAN_MEDIA_PATH = 52
    FAX_DEVICE = 60
    FAX_MODEM = 61
    OUTPUT_CHANNEL = 70


class MarkerSuppliesType(IntEnum):
    """PrtMarkerSuppliesTypeTC."""

    OTHER = 1
    UNKNOWN = 2
    TONER = 3
    WASTE_TONER = 4
    INK = 5
    INK_CARTRIDGE = 6
    INK_RIBBON = 7
    WASTE_INK = 8
    OPC = 9
    DEVELOPER = 10
    FUSER_OIL = 11
    SOLID_WAX = 12
    RIBBON_WAX = 13
    WASTE_WAX = 14
    FUSER = 15
    CORONA_WIRE = 16
    FUSER_OIL_WICK = 17
    CLEANER_UNIT = 18
    FUSER_CLEANING_PAD = 19
    TRANSFER_UNIT = 20
    TONER_CARTRIDGE = 21
    FUSER_OILER = 22
    WATER = 23
    WASTE_WATER = 24
    GLUE_WATER_ADDITIVE = 25
    WASTE_PAPER = 26
    BINDING_SUPPLY = 27
    BANDING_SUPPLY = 28
    STITCHING_WIRE = 29
    SHRINK_WRAP = 30
    PAPER_WRAP = 31
    STAPLES = 32
    INSERTS = 33
    COVERS = 34
    MATTE_TONER = 35
    MATTE_INK = 36


class MarkerSuppliesClass(IntEnum):
    """PrtMarkerSuppliesClassTC: for a receptacle the level is the space left, not the supply."""

    OTHER = 1
    SUPPLY_THAT_IS_CONSUMED = 3
    RECEPTACLE_THAT_IS_FILLED = 4


class MarkerCounterUnit(IntEnum):
    """PrtMarkerCounterUnitTC: the unit of prtMarkerLifeCount."""

    TEN_THOUSANDTHS_OF_INCHES = 3
    MICROMETERS = 4
    CHARACTERS = 5
    LINES = 6
    IMPRESSIONS = 7
    SHEETS = 8
    DOT_ROW = 9
    HOURS = 11
    FEET = 16
    METERS = 17


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_LABELLED_NUMBER = re.compile(r"^\s*\w*\s*\(\s*(-?\d+)\s*\)\s*$")
_DECIMAL = re.compile(r"-?\d+")
_BARE_LABEL = re.compile(r"\s*[A-Za-z]\w*\s*")

Code = TypeVar("Code", bound=IntEnum)


def mib_label_to_member_name(label: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", label).upper()


def wire_integer(raw: object, column: str) -> int:
    """An SNMP INTEGER as a poller reports it: 3, "3" or "critical(3)"."""
    if isinstance(raw, str):  # the usual case: SNMP maps carry text
        text = raw.strip()
        if _DECIMAL.fullmatch(text):
            return int(text)
        labelled = _LABELLED_NUMBER.match(text)
        if labelled:
            return int(labelled.group(1))
    elif isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    raise MalformedDiagnostic(f"{column} must be an integer, not {raw!r}")


def wire_enum(raw: object, enum: type[Code], column: str) -> Code:
    """An enumerated column given as its number, "label(number)" or the bare MIB label."""
    if isinstance(raw, str):
        return _enum_from_text(raw, enum, column)
    return _enum_member(wire_integer(raw, column), enum, column)


# Pollers spell the few values of an enumerated column the same way every time; the bound keeps
# odd input from growing the cache. Rejections raise, so they are not cached.
@lru_cache(maxsize=4096)
def _enum_from_text(raw: str, enum: type[Code], column: str) -> Code:
    if _BARE_LABEL.fullmatch(raw):
        try:
            return enum[mib_label_to_member_name(raw.strip())]
        except KeyError:
            raise MalformedDiagnostic(f"{column} {raw!r} is not a {enum.__name__} label") from None
    return _enum_member(wire_integer(raw, column), enum, column)


def _enum_member(number: int, enum: type[Code], column: str) -> Code:
    try:
        return enum(number)
    except ValueError:
        raise MalformedDiagnostic(f"{column} {number} is not a {enum.__name__} value") from None
