"""Decoded diagnostics events -> NormalizedFault, through the device class's catalogue."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from services.maintenance.domain.diagnostics.catalogue import (
    Catalogue,
    Defaults,
    ForkliftCatalogue,
    PrinterCatalogue,
    ServerCatalogue,
)
from services.maintenance.domain.diagnostics.faults import (
    Action,
    FaultRule,
    NormalizedFault,
    Severity,
)
from services.maintenance.domain.diagnostics.j1939_dm import DtcActivated, DtcCleared, Lamps
from services.maintenance.domain.diagnostics.printer import (
    PageCounter,
    PrinterAlert,
    PrinterAlertRemoved,
    SupplyLevel,
)
from services.maintenance.domain.diagnostics.printer_mib import (
    AlertGroup,
    AlertSeverityLevel,
    AlertTrainingLevel,
    MarkerSuppliesType,
)
from services.maintenance.domain.diagnostics.redfish_events import RedfishEvent
from services.maintenance.domain.diagnostics.redfish_registry import Health
from services.maintenance.domain.frozen import assemble

DecodedEvent = (
    PrinterAlert
    | PrinterAlertRemoved
    | SupplyLevel
    | PageCounter
    | DtcActivated
    | DtcCleared
    | RedfishEvent
)


def normalize(event: DecodedEvent, catalogue: Catalogue) -> NormalizedFault | None:
    """The fault an event raises, or None for events that raise none: removals and clearings,
    page counters, and supply levels above their shipping threshold."""
    match event:
        case PrinterAlert():
            return _printer_alert(event, _expect(catalogue, PrinterCatalogue))
        case SupplyLevel():
            return _supply_level(event, _expect(catalogue, PrinterCatalogue))
        case DtcActivated():
            return _dtc(event, _expect(catalogue, ForkliftCatalogue))
        case RedfishEvent():
            return _redfish(event, _expect(catalogue, ServerCatalogue))
        case PrinterAlertRemoved() | PageCounter() | DtcCleared():
            return None
    raise TypeError(f"no normalization for {type(event).__name__}")


# What a fault takes from the catalogue, as NormalizedFault's fields: fault_key, severity, category,
# action, skill, expected_duration_minutes, likely_parts.
_FaultKind = tuple[str, Severity, str, Action, "str | None", int, tuple[str, ...]]

# Why a memo: the catalogue look-ups, rule choice and names of a fault are the same for every event
# with the same code (alert code and group, supply type, SPN/FMI and lamps, MessageId and severity),
# and a fleet repeats a few codes all day. Keyed by the catalogue's identity (the entry holds the
# catalogue, so its id cannot be reused while the entry lives) and every event field the derivation
# reads; the asset, condition and free text are added per event. Bounded: emptied when full.
_MEMO_LIMIT = 4096
_memo: dict[tuple, tuple[Catalogue, object]] = {}


def _memoized(derive: Callable[..., Derived], catalogue: Catalogue, *fields: Hashable) -> Derived:
    key = (derive, id(catalogue), *fields)
    hit = _memo.get(key)
    if hit is not None and hit[0] is catalogue:
        return hit[1]
    derived = derive(catalogue, *fields)
    if len(_memo) >= _MEMO_LIMIT:
        _memo.clear()
    _memo[key] = (catalogue, derived)
    return derived


def _printer_alert(alert: PrinterAlert, catalogue: PrinterCatalogue) -> NormalizedFault:
    kind, title = _memoized(_alert_kind, catalogue, alert.code, alert.group, alert.group_index,
                            alert.training_level, alert.severity_level)
    description = title + (f": {alert.description}" if alert.description else "")
    return _fault(alert.asset, alert.condition_id, description, kind)


def _alert_kind(
    catalogue: PrinterCatalogue,
    code: int,
    group: AlertGroup,
    group_index: int | None,
    training_level: AlertTrainingLevel | None,
    severity_level: AlertSeverityLevel,
) -> tuple[_FaultKind, str]:
    """The alert's fault kind, and its description before the printer's own text."""
    entry = catalogue.alert_code(code)
    name = entry.name if entry else f"code{code}"
    rule_name = entry.rule if entry else "unclassified"
    if entry and entry.generic_name:
        rule_name = catalogue.group_rules.get(group, {}).get(entry.generic_name, rule_name)
    rule = catalogue.rules[rule_name]
    training_action = None if training_level is None else catalogue.training_levels.get(training_level)
    where = group.name.lower() + ("" if group_index is None else f" {group_index}")
    kind = _fault_kind(
        fault_key=f"printer/{name}",
        severity=rule.severity or catalogue.severity_levels[severity_level],
        rule=rule,
        action=_printer_action(rule.action, training_action),
        defaults=catalogue.defaults,
    )
    return kind, f"{name} ({where})"


def _printer_action(rule_action: Action, training_action: Action | None) -> Action:
    """The printer's training level is its maker's own verdict on who must act, so it decides,
    except that a consumable is shipped whoever fits it (a field-service alert still dispatches)."""
    if training_action is Action.DISPATCH:
        return Action.DISPATCH
    if rule_action is Action.SHIP_CONSUMABLE:
        return Action.SHIP_CONSUMABLE
    return rule_action if training_action is None else training_action


def _supply_level(level: SupplyLevel, catalogue: PrinterCatalogue) -> NormalizedFault | None:
    threshold, type_name, empty_kind, low_kind = _memoized(_supply_kinds, catalogue, level.supply_type)
    percent = level.percent_remaining
    if percent is None or percent > threshold:
        return None
    label = level.description or type_name
    return _fault(level.asset, level.condition_id, f"{label}: {percent:.0f}% remaining",
                  empty_kind if level.level == 0 else low_kind)


def _supply_kinds(
    catalogue: PrinterCatalogue, supply_type: MarkerSuppliesType
) -> tuple[float, str, _FaultKind, _FaultKind]:
    """The supply's shipping threshold, its name, and its fault kind when empty and when low."""
    supply_rule = catalogue.supply_rule(supply_type)
    rule = catalogue.rules[supply_rule.rule]
    type_name = supply_type.name.lower()

    def kind(severity: Severity) -> _FaultKind:
        return _fault_kind(fault_key=f"printer/supply/{type_name}", severity=severity, rule=rule,
                           action=rule.action, defaults=catalogue.defaults)

    return (supply_rule.ship_at_or_below_percent, type_name,
            kind(catalogue.supply_empty_severity), kind(catalogue.supply_low_severity))


def _dtc(event: DtcActivated, catalogue: ForkliftCatalogue) -> NormalizedFault:
    kind, description = _memoized(_dtc_kind, catalogue, event.dtc.spn, event.dtc.fmi, event.lamps,
                                  event.source_address)
    return _fault(event.asset, event.condition_id, description, kind)


def _dtc_kind(
    catalogue: ForkliftCatalogue, spn_number: int, fmi_number: int, lamps: Lamps, source_address: int
) -> tuple[_FaultKind, str]:
    """The DTC's fault kind and description."""
    fmi = catalogue.fmis[fmi_number]
    rule = catalogue.rules[fmi.rule]
    spn = catalogue.spns.get(spn_number)
    lit = lamps.lit()
    severity = max(
        (catalogue.lamp_severity[lamp] for lamp in lit if lamp in catalogue.lamp_severity),
        default=rule.severity or catalogue.no_lamp_severity,
    )
    action = Action.DISPATCH if severity >= catalogue.dispatch_at_or_above_severity else rule.action
    parts = tuple(dict.fromkeys((spn.likely_parts if spn else ()) + rule.likely_parts))
    spn_text = f"SPN {spn_number}" + (f" {spn.name}" if spn else "")
    lamps_text = f"; lamps on: {', '.join(lit)}" if lit else ""
    kind = _fault_kind(
        fault_key=f"forklift/spn-{spn_number}/fmi-{fmi_number}",
        severity=severity,
        rule=FaultRule(rule.category, rule.action, rule.skill, rule.expected_duration_minutes, parts),
        action=action,
        defaults=catalogue.defaults,
    )
    return kind, f"{spn_text}, FMI {fmi_number} {fmi.description} (source {source_address})" + lamps_text


def _redfish(event: RedfishEvent, catalogue: ServerCatalogue) -> NormalizedFault:
    general = None if event.registry_message is None else event.registry_message.maps_to_general_messages
    kind, resolution_text = _memoized(_redfish_kind, catalogue, event.prefix, event.message_key, general,
                                      event.severity, event.resolution)
    return _fault(event.asset, event.condition_id, event.message + resolution_text, kind)


def _redfish_kind(
    catalogue: ServerCatalogue,
    prefix: str,
    message_key: str,
    general_messages: tuple[str, ...] | None,
    severity: Health,
    resolution: str | None,
) -> tuple[_FaultKind, str]:
    """The message's fault kind, and the text its description ends with."""
    candidates = [f"{prefix}.{message_key}", *(general_messages or ())]
    rule_name = next(
        (catalogue.messages[candidate] for candidate in candidates if candidate in catalogue.messages),
        catalogue.registries.get(prefix, catalogue.unknown_registry)[severity],
    )
    rule = catalogue.rules[rule_name]
    if resolution in (None, "", "None."):
        resolution = None
    kind = _fault_kind(
        fault_key=f"server/{prefix}.{message_key}",
        severity=rule.severity or catalogue.severities[severity],
        rule=rule,
        action=rule.action,
        defaults=catalogue.defaults,
    )
    return kind, f" Resolution: {resolution}" if resolution else ""


def _fault_kind(*, fault_key: str, severity: Severity, rule: FaultRule, action: Action,
                defaults: Defaults) -> _FaultKind:
    dispatching = action is Action.DISPATCH
    return (
        fault_key,
        severity,
        rule.category,
        action,
        (rule.skill or defaults.skill) if dispatching else None,
        (rule.expected_duration_minutes or defaults.expected_duration_minutes)
        if dispatching
        else rule.expected_duration_minutes,
        rule.likely_parts,
    )


def _fault(asset: str, condition_id: str, description: str, kind: _FaultKind) -> NormalizedFault:
    fault_key, severity, category, action, skill, expected_duration_minutes, likely_parts = kind
    return assemble(NormalizedFault, {
        "asset": asset, "fault_key": fault_key, "condition_id": condition_id, "severity": severity,
        "category": category, "action": action, "skill": skill,
        "expected_duration_minutes": expected_duration_minutes, "likely_parts": likely_parts,
        "description": description})


Kind = TypeVar("Kind", PrinterCatalogue, ForkliftCatalogue, ServerCatalogue)
Derived = TypeVar("Derived")


def _expect(catalogue: Catalogue, kind: type[Kind]) -> Kind:
    if not isinstance(catalogue, kind):
        raise TypeError(f"this event needs a {kind.__name__}, not a {type(catalogue).__name__}")
    return catalogue
