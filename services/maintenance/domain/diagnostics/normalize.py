"""Decoded diagnostics events -> NormalizedFault, through the device class's catalogue."""

from __future__ import annotations

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
from services.maintenance.domain.diagnostics.j1939_dm import DtcActivated, DtcCleared
from services.maintenance.domain.diagnostics.printer import (
    PageCounter,
    PrinterAlert,
    PrinterAlertRemoved,
    SupplyLevel,
)
from services.maintenance.domain.diagnostics.redfish_events import RedfishEvent

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


def _printer_alert(alert: PrinterAlert, catalogue: PrinterCatalogue) -> NormalizedFault:
    entry = catalogue.alert_code(alert.code)
    name = entry.name if entry else f"code{alert.code}"
    rule_name = entry.rule if entry else "unclassified"
    if entry and entry.generic_name:
        rule_name = catalogue.group_rules.get(alert.group, {}).get(entry.generic_name, rule_name)
    rule = catalogue.rules[rule_name]
    training_action = (
        None
        if alert.training_level is None
        else catalogue.training_levels.get(alert.training_level)
    )
    action = _printer_action(rule.action, training_action)
    where = alert.group.name.lower() + (
        "" if alert.group_index is None else f" {alert.group_index}"
    )
    return _fault(
        asset=alert.asset,
        fault_key=f"printer/{name}",
        condition_id=alert.condition_id,
        severity=rule.severity or catalogue.severity_levels[alert.severity_level],
        rule=rule,
        action=action,
        defaults=catalogue.defaults,
        description=f"{name} ({where})" + (f": {alert.description}" if alert.description else ""),
    )


def _printer_action(rule_action: Action, training_action: Action | None) -> Action:
    """The printer's training level is its maker's own verdict on who must act, so it decides,
    except that a consumable is shipped whoever fits it (a field-service alert still dispatches)."""
    if training_action is Action.DISPATCH:
        return Action.DISPATCH
    if rule_action is Action.SHIP_CONSUMABLE:
        return Action.SHIP_CONSUMABLE
    return rule_action if training_action is None else training_action


def _supply_level(level: SupplyLevel, catalogue: PrinterCatalogue) -> NormalizedFault | None:
    supply_rule = catalogue.supply_rule(level.supply_type)
    percent = level.percent_remaining
    if percent is None or percent > supply_rule.ship_at_or_below_percent:
        return None
    rule = catalogue.rules[supply_rule.rule]
    label = level.description or level.supply_type.name.lower()
    return _fault(
        asset=level.asset,
        fault_key=f"printer/supply/{level.supply_type.name.lower()}",
        condition_id=level.condition_id,
        severity=catalogue.supply_empty_severity
        if level.level == 0
        else catalogue.supply_low_severity,
        rule=rule,
        action=rule.action,
        defaults=catalogue.defaults,
        description=f"{label}: {percent:.0f}% remaining",
    )


def _dtc(event: DtcActivated, catalogue: ForkliftCatalogue) -> NormalizedFault:
    dtc = event.dtc
    fmi = catalogue.fmis[dtc.fmi]
    rule = catalogue.rules[fmi.rule]
    spn = catalogue.spns.get(dtc.spn)
    lit = event.lamps.lit()
    severity = max(
        (catalogue.lamp_severity[lamp] for lamp in lit if lamp in catalogue.lamp_severity),
        default=rule.severity or catalogue.no_lamp_severity,
    )
    action = Action.DISPATCH if severity >= catalogue.dispatch_at_or_above_severity else rule.action
    parts = tuple(dict.fromkeys((spn.likely_parts if spn else ()) + rule.likely_parts))
    spn_text = f"SPN {dtc.spn}" + (f" {spn.name}" if spn else "")
    lamps_text = f"; lamps on: {', '.join(lit)}" if lit else ""
    return _fault(
        asset=event.asset,
        fault_key=f"forklift/spn-{dtc.spn}/fmi-{dtc.fmi}",
        condition_id=event.condition_id,
        severity=severity,
        rule=FaultRule(
            rule.category, rule.action, rule.skill, rule.expected_duration_minutes, parts
        ),
        action=action,
        defaults=catalogue.defaults,
        description=f"{spn_text}, FMI {dtc.fmi} {fmi.description} (source {event.source_address})"
        + lamps_text,
    )


def _redfish(event: RedfishEvent, catalogue: ServerCatalogue) -> NormalizedFault:
    candidates = [f"{event.prefix}.{event.message_key}"]
    if event.registry_message is not None:
        candidates += event.registry_message.maps_to_general_messages
    rule_name = next(
        (
            catalogue.messages[candidate]
            for candidate in candidates
            if candidate in catalogue.messages
        ),
        catalogue.registries.get(event.prefix, catalogue.unknown_registry)[event.severity],
    )
    rule = catalogue.rules[rule_name]
    resolution = event.resolution if event.resolution not in (None, "", "None.") else None
    return _fault(
        asset=event.asset,
        fault_key=f"server/{event.prefix}.{event.message_key}",
        condition_id=event.condition_id,
        severity=rule.severity or catalogue.severities[event.severity],
        rule=rule,
        action=rule.action,
        defaults=catalogue.defaults,
        description=event.message + (f" Resolution: {resolution}" if resolution else ""),
    )


def _fault(
    *,
    asset: str,
    fault_key: str,
    condition_id: str,
    severity: Severity,
    rule: FaultRule,
    action: Action,
    defaults: Defaults,
    description: str,
) -> NormalizedFault:
    dispatching = action is Action.DISPATCH
    return NormalizedFault(
        asset=asset,
        fault_key=fault_key,
        condition_id=condition_id,
        severity=severity,
        category=rule.category,
        action=action,
        skill=(rule.skill or defaults.skill) if dispatching else None,
        expected_duration_minutes=(
            rule.expected_duration_minutes or defaults.expected_duration_minutes
        )
        if dispatching
        else rule.expected_duration_minutes,
        likely_parts=rule.likely_parts,
        description=description,
    )


Kind = TypeVar("Kind", PrinterCatalogue, ForkliftCatalogue, ServerCatalogue)


def _expect(catalogue: Catalogue, kind: type[Kind]) -> Kind:
    if not isinstance(catalogue, kind):
        raise TypeError(f"this event needs a {kind.__name__}, not a {type(catalogue).__name__}")
    return catalogue
