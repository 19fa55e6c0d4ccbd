"""Preventive maintenance plans: every N days and/or every N units of a meter.

Meter rule: a plan with interval I from start value S fires at S + I, S + 2I, ...: a reading
crosses multiple k when the previous reading was below S + kI and the new one is at or above it.
Each multiple fires once: the same or a lower multiple is never crossed again. Several multiples
crossed in one jump (the meter was not read for a long time) make ONE due task, naming every
multiple it covers: one service brings the asset up to date, and the skipped multiples stay
visible to the customer instead of turning into back-to-back visits.

Calendar rule: the first service is due `every_days` after the plan's start date, each next one
`every_days` after the last completed one (a late service moves the next one, as in most CMMS).
Both rules may be set; whichever is due first makes a task, and the other's due task merges with
it because a visit holds one task per (plan, asset).

A due task goes onto an open corrective order at the same site that needs the same skill (the
one on the same asset first, then the oldest), else onto a new preventive order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.maintenance.domain.diagnostics import Severity
from services.maintenance.domain.utc import as_utc
from services.maintenance.domain.work_order_rules import NoAction
from services.maintenance.domain.work_orders import CreateOrder, PmTask, WorkOrder, WorkOrderKind
from services.runtime.errors import FieldViolation, InvalidArgument


@dataclass(frozen=True)
class PmPlan:
    id: str
    task: str
    family: str  # e.g. printer/preventive-maintenance: a maintenance-due alarm joins its order
    skill: str | None
    expected_duration_minutes: int
    parts: tuple[str, ...] = ()
    model: str | None = None  # exactly one of model and asset
    asset: str | None = None
    every_days: int | None = None
    start_date: date | None = None
    meter: str | None = None
    every_units: Decimal | None = None
    start_value: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        violations = []
        if (self.model is None) == (self.asset is None):
            violations.append(FieldViolation("plan.scope", "name exactly one of model and asset"))
        if self.every_days is None and self.every_units is None:
            violations.append(FieldViolation("plan.interval", "set every_days, every_units or both"))
        if self.every_days is not None and (self.every_days <= 0 or self.start_date is None):
            violations.append(FieldViolation("plan.every_days", "must be positive, with a start_date"))
        if self.every_units is not None and (not self.meter or not self.every_units > 0):
            violations.append(FieldViolation("plan.every_units", "must be positive, with a meter"))
        if self.expected_duration_minutes < 0:
            violations.append(FieldViolation("plan.expected_duration_minutes", "must not be negative"))
        if violations:
            raise InvalidArgument(violations)


class DueReason(StrEnum):
    CALENDAR = "calendar"
    METER = "meter"


@dataclass(frozen=True)
class DuePm:
    plan: PmPlan
    asset: str
    reason: DueReason
    due_date: date | None = None  # calendar
    multiples: tuple[int, ...] = ()  # meter: every multiple of the interval this covers

    def task(self) -> PmTask:
        if self.reason is DueReason.CALENDAR:
            why = f"due {self.due_date.isoformat()}"
        else:
            reached = self.plan.start_value + self.multiples[-1] * self.plan.every_units
            skipped = f" (covers {len(self.multiples)} intervals)" if len(self.multiples) > 1 else ""
            why = f"{self.plan.meter} reached {reached}{skipped}"
        return PmTask(self.plan.id, self.asset, self.plan.task, why,
                      self.plan.expected_duration_minutes, self.plan.parts)


@dataclass(frozen=True)
class MergeIntoOrder:
    order_id: str
    task: PmTask


def plans_for(asset: str, model: str, plans: Iterable[PmPlan]) -> list[PmPlan]:
    """The plans that apply to an asset: its own, and its model's except where one of its own
    plans has the same task (an asset-specific interval overrides the model's)."""
    plans = list(plans)
    own = [plan for plan in plans if plan.asset == asset]
    own_tasks = {plan.task for plan in own}
    return own + [plan for plan in plans if plan.model == model and plan.task not in own_tasks]


def meter_crossings(plan: PmPlan, previous: Decimal, new: Decimal) -> tuple[int, ...]:
    """The multiples k of the plan's interval with previous < start + k*interval <= new."""
    if plan.every_units is None:
        return ()
    if new < previous:
        raise InvalidArgument.field("meter_reading", "went backwards; pass accepted cumulative values "
                                                     "and rebase the plan after a counter reset")
    return tuple(range(_multiple_reached(plan, previous) + 1, _multiple_reached(plan, new) + 1))


def due_by_meter(plan: PmPlan, asset: str, previous: Decimal, new: Decimal) -> DuePm | None:
    crossed = meter_crossings(plan, previous, new)
    return DuePm(plan, asset, DueReason.METER, multiples=crossed) if crossed else None


def next_calendar_due(plan: PmPlan, last_completed: date | None) -> date | None:
    if plan.every_days is None:
        return None
    return (last_completed or plan.start_date) + timedelta(days=plan.every_days)


def due_by_calendar(
    plan: PmPlan, asset: str, today: date, last_completed: date | None, lead_days: int = 0
) -> DuePm | None:
    """Due when its date is at most `lead_days` away, so the visit can be planned ahead."""
    due = next_calendar_due(plan, last_completed)
    if due is None or due > today + timedelta(days=lead_days):
        return None
    return DuePm(plan, asset, DueReason.CALENDAR, due_date=due)


def site_today(now: datetime, time_zone: str) -> date:
    """The calendar date at the site: plans fall due by the site's day, not UTC's."""
    return as_utc(now, "now").astimezone(ZoneInfo(time_zone)).date()


def place_due_pm(
    due: DuePm, site: str, open_orders_at_site: Iterable[WorkOrder]
) -> MergeIntoOrder | CreateOrder | NoAction:
    orders = sorted((order for order in open_orders_at_site if order.is_open and order.site == site),
                    key=lambda order: (order.created_at, order.id))
    planned = next((order for order in orders
                    if any((t.plan, t.asset) == (due.plan.id, due.asset) for t in order.pm_tasks)), None)
    if planned is not None:
        return NoAction(f"already on work order {planned.id}")
    visits = [order for order in orders
              if order.kind is WorkOrderKind.CORRECTIVE and (due.plan.skill is None or order.skill == due.plan.skill)]
    visit = min(visits, key=lambda order: order.asset != due.asset, default=None)
    if visit is not None:
        return MergeIntoOrder(visit.id, due.task())
    return CreateOrder(
        asset=due.asset,
        kind=WorkOrderKind.PREVENTIVE,
        family=due.plan.family,
        priority=Severity.INFO,
        skill=due.plan.skill,
        expected_duration_minutes=0,
        likely_parts=(),
        reason=f"preventive maintenance plan {due.plan.id}",
        pm_tasks=(due.task(),),
    )


def _multiple_reached(plan: PmPlan, value: Decimal) -> int:
    if value < plan.start_value:
        return 0
    return int((value - plan.start_value) // plan.every_units)  # non-negative, so // is floor
