"""Alarm -> work order rules: what an alarm sets in motion, given the asset's open orders.

`decide` is evaluated for an alarm each time it opens or repeats, in this order:
1. a cleared alarm: nothing;
2. a consumable fault (toner low): ship it (`consumables.shipments_for_alarm` skips supplies
   with a shipment already open);
3. the alarm is already on an open order: nothing;
4. an open order of the same asset covers the alarm's fault family: attach to it (whatever the
   alarm's severity), the oldest if several;
5. a flapping alarm: nothing (see alarms.py);
6. no rule matches: nothing;
7. an open corrective order on the asset needs the same skill: attach to it, so one technician
   visit deals with both faults;
8. otherwise: create an order.
Hence never two open orders for one asset and fault family, however many alarms arrive, as long
as each decision is applied before the next is taken (one unit of work per asset).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.maintenance.domain.alarms import Alarm, AlarmKey
from services.maintenance.domain.diagnostics import Action, Severity
from services.maintenance.domain.utc import as_utc
from services.maintenance.domain.work_orders import CreateOrder, WorkOrder, WorkOrderKind
from services.runtime.errors import InvalidArgument


@dataclass(frozen=True)
class DispatchRule:
    """An alarm matches when it meets every threshold. `technician_faults_only` limits the rule
    to faults the catalogue says need a technician; without it, a fault the device itself deals
    with (a paper jam) can still start an order when it keeps coming back."""

    name: str
    min_severity: Severity = Severity.INFO
    min_repeat_count: int = 1
    min_active: timedelta = timedelta(0)
    technician_faults_only: bool = True

    def __post_init__(self) -> None:
        if self.min_repeat_count < 1:
            raise InvalidArgument.field(f"rules[{self.name}].min_repeat_count", "must be at least 1")
        if self.min_active < timedelta(0):
            raise InvalidArgument.field(f"rules[{self.name}].min_active", "must not be negative")

    def matches(self, alarm: Alarm, now: datetime) -> bool:
        return (
            alarm.peak_severity >= self.min_severity
            and alarm.count >= self.min_repeat_count
            and alarm.active_for(now) >= self.min_active
            and (alarm.fault.needs_technician or not self.technician_faults_only)
        )


DEFAULT_RULES: tuple[DispatchRule, ...] = (
    DispatchRule("major-or-worse", min_severity=Severity.MAJOR),
    DispatchRule("warning-lasting-4h", min_severity=Severity.WARNING, min_active=timedelta(hours=4)),
    DispatchRule("warning-repeated-3x", min_severity=Severity.WARNING, min_repeat_count=3),
    DispatchRule("recurring-10x", min_severity=Severity.WARNING, min_repeat_count=10, technician_faults_only=False),
)


@dataclass(frozen=True)
class AttachToOrder:
    order_id: str
    alarm: AlarmKey
    reason: str


@dataclass(frozen=True)
class ShipConsumable:
    asset: str
    parts: tuple[str, ...]
    supplies: frozenset[str]  # the alarm's device conditions (which cartridge, where known)
    alarm: AlarmKey


@dataclass(frozen=True)
class NoAction:
    reason: str


Decision = CreateOrder | AttachToOrder | ShipConsumable | NoAction


def decide(
    alarm: Alarm,
    open_orders_for_asset: Iterable[WorkOrder],
    rules: Iterable[DispatchRule],
    now: datetime,
) -> Decision:
    now = as_utc(now, "now")
    if not alarm.is_active:
        return NoAction("the alarm is cleared")
    if alarm.fault.action is Action.SHIP_CONSUMABLE:
        return ShipConsumable(alarm.asset, alarm.fault.likely_parts, alarm.conditions, alarm.key)
    orders = sorted(
        (order for order in open_orders_for_asset if order.is_open and order.asset == alarm.asset),
        key=lambda order: (order.created_at, order.id),
    )
    holding = next((order for order in orders if alarm.key in order.alarms), None)
    if holding is not None:
        return NoAction(f"already on work order {holding.id}")
    same_family = next((order for order in orders if alarm.family in order.families), None)
    if same_family is not None:
        return AttachToOrder(same_family.id, alarm.key, f"work order {same_family.id} covers {alarm.family}")
    if alarm.flapping:
        return NoAction("the alarm is flapping")
    rule = next((rule for rule in rules if rule.matches(alarm, now)), None)
    if rule is None:
        return NoAction("no rule matches")
    same_skill = next(
        (order for order in orders
         if order.kind is WorkOrderKind.CORRECTIVE and alarm.fault.skill is not None
         and order.skill == alarm.fault.skill),
        None,
    )
    if same_skill is not None:
        return AttachToOrder(same_skill.id, alarm.key, f"rule {rule.name}; {same_skill.id} needs the same skill")
    return CreateOrder(
        asset=alarm.asset,
        kind=WorkOrderKind.CORRECTIVE,
        family=alarm.family,
        priority=alarm.peak_severity,
        skill=alarm.fault.skill,
        expected_duration_minutes=alarm.fault.expected_duration_minutes,
        likely_parts=alarm.fault.likely_parts,
        reason=f"rule {rule.name}",
        alarm=alarm.key,
        downtime_start=alarm.first_seen if alarm.fault.needs_technician else None,
    )
