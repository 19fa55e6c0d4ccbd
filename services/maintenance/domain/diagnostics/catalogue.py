"""Fault catalogues: one JSON file per device class, edited without code changes.

Each file names fault rules (category, action, skill, duration, parts, optional severity) and
maps the device's own codes onto them. Loading checks every reference, so a mistyped rule name
fails when the service starts rather than when that fault first occurs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TypeVar

from services.maintenance.domain.diagnostics.faults import Action, FaultRule, Severity
from services.maintenance.domain.diagnostics.printer_mib import (
    FINISHER_CODE_BASE,
    AlertGroup,
    AlertSeverityLevel,
    AlertTrainingLevel,
    MarkerSuppliesType,
    mib_label_to_member_name,
)
from services.maintenance.domain.diagnostics.redfish_registry import Health
from services.maintenance.domain.diagnostics.shipped_data import CATALOGUE_DIR

_GENERIC_CODE_LIMIT = 100  # prtAlertCode 1..99 are generic; the alert group says which sub-unit
_SUBUNIT_PREFIX = "subunit"
FMI_COUNT = 32

Label = TypeVar("Label", bound=IntEnum)


class CatalogueError(ValueError):
    """A catalogue file that is inconsistent; raised when it is loaded."""


@dataclass(frozen=True)
class Defaults:
    """Used when a rule that ends in a dispatch names no skill or duration."""

    skill: str
    expected_duration_minutes: int


@dataclass(frozen=True)
class AlertCodeEntry:
    code: int
    name: str
    rule: str
    generic_name: str | None  # the generic code (1..38) it is, or a finisher code built on


@dataclass(frozen=True)
class SupplyRule:
    rule: str
    ship_at_or_below_percent: float


@dataclass(frozen=True)
class PrinterCatalogue:
    rules: Mapping[str, FaultRule]
    defaults: Defaults
    severity_levels: Mapping[AlertSeverityLevel, Severity]
    training_levels: Mapping[AlertTrainingLevel, Action | None]  # None: the rule decides
    group_rules: Mapping[AlertGroup, Mapping[str, str]]
    finisher_subunits: Mapping[int, str]
    supplies: Mapping[MarkerSuppliesType, SupplyRule]
    supply_low_severity: Severity
    supply_empty_severity: Severity
    alert_codes: Mapping[int, AlertCodeEntry]

    def alert_code(self, code: int) -> AlertCodeEntry | None:
        """Explicit entries first; finisher codes 30000 + 100*subunit + generic are derived."""
        if code in self.alert_codes:
            return self.alert_codes[code]
        subunit = self.finisher_subunits.get((code - FINISHER_CODE_BASE) // 100)
        generic = self.alert_codes.get(code % 100)
        if code < FINISHER_CODE_BASE or subunit is None or generic is None:
            return None
        suffix = generic.name.removeprefix(_SUBUNIT_PREFIX)
        name = subunit + suffix[0].upper() + suffix[1:]
        return AlertCodeEntry(code, name, generic.rule, generic.name)

    def supply_rule(self, supply_type: MarkerSuppliesType) -> SupplyRule:
        return self.supplies.get(supply_type, self.supplies[MarkerSuppliesType.OTHER])


@dataclass(frozen=True)
class SpnEntry:
    name: str
    likely_parts: tuple[str, ...]


@dataclass(frozen=True)
class FmiEntry:
    description: str
    rule: str


@dataclass(frozen=True)
class ForkliftCatalogue:
    rules: Mapping[str, FaultRule]
    defaults: Defaults
    lamp_severity: Mapping[str, Severity]
    no_lamp_severity: Severity
    dispatch_at_or_above_severity: Severity
    fmis: Mapping[int, FmiEntry]
    spns: Mapping[int, SpnEntry]


@dataclass(frozen=True)
class ServerCatalogue:
    rules: Mapping[str, FaultRule]
    defaults: Defaults
    severities: Mapping[Health, Severity]
    registries: Mapping[str, Mapping[Health, str]]
    unknown_registry: Mapping[Health, str]
    messages: Mapping[str, str]  # "Prefix.MessageKey" -> rule


Catalogue = PrinterCatalogue | ForkliftCatalogue | ServerCatalogue


@dataclass(frozen=True)
class Catalogues:
    printer: PrinterCatalogue
    forklift: ForkliftCatalogue
    server: ServerCatalogue


def load_catalogues(directory: Path = CATALOGUE_DIR) -> Catalogues:
    return Catalogues(
        _load_as(directory / "printer.json", PrinterCatalogue),
        _load_as(directory / "forklift.json", ForkliftCatalogue),
        _load_as(directory / "server.json", ServerCatalogue),
    )


Kind = TypeVar("Kind", PrinterCatalogue, ForkliftCatalogue, ServerCatalogue)


def _load_as(path: Path, kind: type[Kind]) -> Kind:
    catalogue = load_catalogue(path)
    if not isinstance(catalogue, kind):
        raise CatalogueError(f"{path.name} is not a {kind.__name__}")
    return catalogue


def load_catalogue(path: Path) -> Catalogue:
    document = json.loads(path.read_text(encoding="utf-8"))
    return catalogue_from_document(document)


def catalogue_from_document(document: Mapping[str, object]) -> Catalogue:
    device_class = document.get("device_class")
    try:
        build = _BUILDERS[str(device_class)]
    except KeyError:
        raise CatalogueError(
            f"device_class {device_class!r} is not one of {sorted(_BUILDERS)}"
        ) from None
    try:
        return build(document)
    except CatalogueError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise CatalogueError(f"{device_class} catalogue: {error!r}") from error


def _printer(document: Mapping[str, object]) -> PrinterCatalogue:
    rules = _rules(document)
    codes = {}
    for entry in _list(document, "alert_codes"):
        code = int(entry["code"])
        generic_name = entry["name"] if code < _GENERIC_CODE_LIMIT else None
        codes[code] = AlertCodeEntry(
            code, entry["name"], _rule_ref(rules, entry["rule"]), generic_name
        )
    group_rules = {
        _label(AlertGroup, group): {
            code_name: _rule_ref(rules, rule) for code_name, rule in by_code.items()
        }
        for group, by_code in _mapping(document, "group_rules").items()
    }
    supplies = {
        _label(MarkerSuppliesType, supply): SupplyRule(
            _rule_ref(rules, spec["rule"]), float(spec["ship_at_or_below_percent"])
        )
        for supply, spec in _mapping(document, "supplies").items()
    }
    if MarkerSuppliesType.OTHER not in supplies:
        raise CatalogueError("printer catalogue: supplies needs an 'other' entry as the default")
    return PrinterCatalogue(
        rules=rules,
        defaults=_defaults(document),
        severity_levels={
            _label(AlertSeverityLevel, level): Severity.from_name(severity)
            for level, severity in _mapping(document, "severity_levels").items()
        },
        training_levels={
            _label(AlertTrainingLevel, level): None if action is None else Action(action)
            for level, action in _mapping(document, "training_levels").items()
        },
        group_rules=group_rules,
        finisher_subunits={
            int(number): name for number, name in _mapping(document, "finisher_subunits").items()
        },
        supplies=supplies,
        supply_low_severity=Severity.from_name(str(document["supply_low_severity"])),
        supply_empty_severity=Severity.from_name(str(document["supply_empty_severity"])),
        alert_codes=codes,
    )


def _forklift(document: Mapping[str, object]) -> ForkliftCatalogue:
    rules = _rules(document)
    fmis = {
        int(entry["fmi"]): FmiEntry(entry["description"], _rule_ref(rules, entry["rule"]))
        for entry in _list(document, "fmis")
    }
    if set(fmis) != set(range(FMI_COUNT)):
        raise CatalogueError("forklift catalogue: fmis must list every FMI from 0 to 31")
    return ForkliftCatalogue(
        rules=rules,
        defaults=_defaults(document),
        lamp_severity={
            lamp: Severity.from_name(severity)
            for lamp, severity in _mapping(document, "lamp_severity").items()
        },
        no_lamp_severity=Severity.from_name(str(document["no_lamp_severity"])),
        dispatch_at_or_above_severity=Severity.from_name(
            str(document["dispatch_at_or_above_severity"])
        ),
        fmis=fmis,
        spns={
            int(entry["spn"]): SpnEntry(entry["name"], tuple(entry["likely_parts"]))
            for entry in _list(document, "spns")
        },
    )


def _server(document: Mapping[str, object]) -> ServerCatalogue:
    rules = _rules(document)

    def by_health(mapping: Mapping[str, str]) -> dict[Health, str]:
        chosen = {Health(health): _rule_ref(rules, rule) for health, rule in mapping.items()}
        if set(chosen) != set(Health):
            raise CatalogueError("server catalogue: each registry needs OK, Warning and Critical")
        return chosen

    return ServerCatalogue(
        rules=rules,
        defaults=_defaults(document),
        severities={
            Health(health): Severity.from_name(severity)
            for health, severity in _mapping(document, "severities").items()
        },
        registries={
            prefix: by_health(mapping)
            for prefix, mapping in _mapping(document, "registries").items()
        },
        unknown_registry=by_health(_mapping(document, "unknown_registry")),
        messages={
            message: _rule_ref(rules, rule)
            for message, rule in _mapping(document, "messages").items()
        },
    )


_BUILDERS = {"printer": _printer, "forklift": _forklift, "server": _server}


def _rules(document: Mapping[str, object]) -> dict[str, FaultRule]:
    return {
        name: FaultRule(
            category=spec["category"],
            action=Action(spec["action"]),
            skill=spec["skill"],
            expected_duration_minutes=int(spec["expected_duration_minutes"]),
            likely_parts=tuple(spec["likely_parts"]),
            severity=Severity.from_name(spec["severity"]) if "severity" in spec else None,
        )
        for name, spec in _mapping(document, "rules").items()
    }


def _defaults(document: Mapping[str, object]) -> Defaults:
    spec = _mapping(document, "defaults")
    return Defaults(str(spec["skill"]), int(spec["expected_duration_minutes"]))


def _rule_ref(rules: Mapping[str, FaultRule], name: str) -> str:
    if name not in rules:
        raise CatalogueError(f"rule {name!r} is used but not defined")
    return name


def _label(enum: type[Label], label: str) -> Label:
    try:
        return enum[mib_label_to_member_name(label)]
    except KeyError:
        raise CatalogueError(f"{label!r} is not a {enum.__name__} label") from None


def _mapping(document: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = document[key]
    if not isinstance(value, Mapping):
        raise CatalogueError(f"{key} must be an object")
    return value


def _list(document: Mapping[str, object], key: str) -> list[dict[str, object]]:
    value = document[key]
    if not isinstance(value, list):
        raise CatalogueError(f"{key} must be an array")
    return value
