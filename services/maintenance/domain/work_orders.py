"""Work orders: one visit's worth of work on an asset, changed only by verbs.

    NEW -> SCHEDULED -> DISPATCHED -> EN_ROUTE -> ON_SITE -> COMPLETED
    put_on_hold (waiting for parts) from NEW .. ON_SITE; resume sends the order back to NEW
    for re-planning (the visit it was on is over); cancel from any open state but ON_SITE (a
    visit that took place is completed, with a resolution code such as no-fault-found).

A verb in a state it does not apply to is `FailedPrecondition`. Repeating the verb that led to
the current state with the same arguments returns the order unchanged (a retried call is
harmless); with other arguments it is refused. (Not so for resume: a NEW order does not show
that it was ever on hold.) Technician verbs check the caller is the assigned
technician before anything else (`PermissionDenied`).

Downtime (used by invoicing for availability credits) is recorded for corrective orders only:
planned maintenance is not unavailability. It starts when the asset's dispatchable fault was
first seen, or when the order opened if no dispatchable fault started it, and ends at completion
or cancellation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from services.maintenance.domain.alarms import Alarm, AlarmKey
from services.maintenance.domain.business_hours import OpeningHours
from services.maintenance.domain.diagnostics import Severity
from services.maintenance.domain.sla import SlaReading, SlaTerms, evaluate
from services.maintenance.domain.utc import as_utc
from services.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied

MAX_NOTE_LENGTH = 4000
MAX_LABOUR_MINUTES = 7 * 24 * 60
_RESOLUTION_CODE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class WorkOrderState(StrEnum):
    NEW = "new"
    SCHEDULED = "scheduled"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


S = WorkOrderState
OPEN_STATES = frozenset(S) - {S.COMPLETED, S.CANCELLED}

# The states each verb applies to.
ALLOWED_FROM: dict[str, frozenset[WorkOrderState]] = {
    "schedule": frozenset({S.NEW, S.SCHEDULED}),
    "dispatch": frozenset({S.SCHEDULED, S.DISPATCHED}),
    "accept": frozenset({S.DISPATCHED}),
    "start_travel": frozenset({S.DISPATCHED}),
    "arrive": frozenset({S.EN_ROUTE}),
    "put_on_hold": frozenset({S.NEW, S.SCHEDULED, S.DISPATCHED, S.EN_ROUTE, S.ON_SITE}),
    "resume": frozenset({S.ON_HOLD}),
    "complete": frozenset({S.ON_SITE}),
    "cancel": OPEN_STATES - {S.ON_SITE},
    "add_note": frozenset(S) - {S.CANCELLED},
}


class WorkOrderKind(StrEnum):
    CORRECTIVE = "corrective"
    PREVENTIVE = "preventive"


@dataclass(frozen=True)
class VisitWindow:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class PartUsed:
    part: str
    quantity: int


@dataclass(frozen=True)
class MeterReading:
    meter: str
    value: Decimal


@dataclass(frozen=True)
class Completion:
    resolution_code: str
    parts_used: tuple[PartUsed, ...]
    labour_minutes: int
    meter_reading: MeterReading | None
    notes: str


@dataclass(frozen=True)
class WorkNote:
    at: datetime
    technician: str
    text: str


@dataclass(frozen=True)
class DowntimeInterval:
    asset: str
    start: datetime
    end: datetime | None  # None while the asset is still down

    def duration(self, now: datetime) -> timedelta:
        return max(timedelta(0), (self.end or now) - self.start)


@dataclass(frozen=True)
class PmTask:
    """A preventive-maintenance task on a visit; one per (plan, asset) on an open order."""

    plan: str
    asset: str
    task: str
    reason: str
    expected_duration_minutes: int
    parts: tuple[str, ...]


@dataclass(frozen=True)
class CreateOrder:
    """Everything a new order needs but its id, site and SLA, which the caller supplies."""

    asset: str
    kind: WorkOrderKind
    family: str
    priority: Severity
    skill: str | None  # None: the fault names no skill; the dispatcher chooses
    expected_duration_minutes: int
    likely_parts: tuple[str, ...]
    reason: str
    alarm: AlarmKey | None = None
    downtime_start: datetime | None = None  # None: when the order opens
    pm_tasks: tuple[PmTask, ...] = ()


@dataclass(frozen=True)
class WorkOrder:
    id: str
    asset: str
    site: str
    kind: WorkOrderKind
    families: frozenset[str]
    priority: Severity
    skill: str | None
    expected_duration_minutes: int
    likely_parts: tuple[str, ...]
    state: WorkOrderState
    created_at: datetime
    updated_at: datetime
    alarms: tuple[AlarmKey, ...] = ()
    pm_tasks: tuple[PmTask, ...] = ()
    sla: SlaTerms | None = None
    window: VisitWindow | None = None
    technician: str | None = None
    accepted_at: datetime | None = None
    arrived_at: datetime | None = None  # the first arrival: it meets the response target
    hold_reason: str | None = None
    completion: Completion | None = None
    completed_at: datetime | None = None
    cancel_reason: str | None = None
    notes: tuple[WorkNote, ...] = ()
    downtime: DowntimeInterval | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


def open_order(order_id: str, create: CreateOrder, site: str, at: datetime, sla: SlaTerms | None = None) -> WorkOrder:
    at = as_utc(at, "create_time")
    corrective = create.kind is WorkOrderKind.CORRECTIVE
    downtime_start = at if create.downtime_start is None else min(at, as_utc(create.downtime_start, "downtime_start"))
    return WorkOrder(
        id=order_id,
        asset=create.asset,
        site=site,
        kind=create.kind,
        families=frozenset({create.family}),
        priority=create.priority,
        skill=create.skill,
        expected_duration_minutes=create.expected_duration_minutes
        + sum(task.expected_duration_minutes for task in create.pm_tasks),
        likely_parts=_union(create.likely_parts, *(task.parts for task in create.pm_tasks)),
        state=S.NEW,
        created_at=at,
        updated_at=at,
        alarms=() if create.alarm is None else (create.alarm,),
        pm_tasks=create.pm_tasks,
        sla=sla,
        downtime=DowntimeInterval(create.asset, downtime_start, None) if corrective else None,
    )


def is_assigned_to(order: WorkOrder, technician: str) -> bool:
    return order.technician is not None and order.technician == technician


def ensure_assigned_to(order: WorkOrder, technician: str) -> None:
    if not is_assigned_to(order, technician):
        raise PermissionDenied(f"work order {order.id} is not assigned to {technician}",
                               reason="NOT_ASSIGNED_TECHNICIAN", metadata={"work_order": order.id})


def orders_of(technician: str, orders: Iterable[WorkOrder]) -> list[WorkOrder]:
    """ListMyWorkOrders: the caller's orders, and nobody else's."""
    return [order for order in orders if is_assigned_to(order, technician)]


def schedule(order: WorkOrder, window: VisitWindow, at: datetime) -> WorkOrder:
    """Plan the visit, or move it (SCHEDULED again with another window)."""
    window = VisitWindow(as_utc(window.start, "window.start"), as_utc(window.end, "window.end"))
    if window.end <= window.start:
        raise InvalidArgument.field("window.end", "must be after window.start")
    if order.state is S.SCHEDULED and order.window == window:
        return order
    _require_state(order, "schedule")
    return _changed(order, at, state=S.SCHEDULED, window=window)


def dispatch(order: WorkOrder, technician: str, at: datetime) -> WorkOrder:
    """Assign the visit; dispatching to someone else before it is underway reassigns it."""
    _require_text(technician, "technician")
    if order.state is S.DISPATCHED and order.technician == technician:
        return order
    _require_state(order, "dispatch")
    return _changed(order, at, state=S.DISPATCHED, technician=technician, accepted_at=None)


def accept(order: WorkOrder, technician: str, at: datetime) -> WorkOrder:
    ensure_assigned_to(order, technician)
    if order.state is S.DISPATCHED and order.accepted_at is not None:
        return order
    _require_state(order, "accept")
    at = as_utc(at, "accept_time")
    return _changed(order, at, accepted_at=at)


def start_travel(order: WorkOrder, technician: str, at: datetime) -> WorkOrder:
    ensure_assigned_to(order, technician)
    if order.state is S.EN_ROUTE:
        return order
    _require_state(order, "start_travel")
    if order.accepted_at is None:
        raise FailedPrecondition(f"work order {order.id} must be accepted before travel starts",
                                 reason="WORK_ORDER_NOT_ACCEPTED", metadata={"work_order": order.id})
    return _changed(order, at, state=S.EN_ROUTE)


def arrive(order: WorkOrder, technician: str, at: datetime) -> WorkOrder:
    ensure_assigned_to(order, technician)
    if order.state is S.ON_SITE:
        return order
    _require_state(order, "arrive")
    at = as_utc(at, "arrive_time")
    return _changed(order, at, state=S.ON_SITE, arrived_at=order.arrived_at or at)


def put_on_hold(order: WorkOrder, reason: str, at: datetime, technician: str | None = None) -> WorkOrder:
    """Waiting for parts. A technician may hold only their own order; None is the back office."""
    if technician is not None:
        ensure_assigned_to(order, technician)
    _require_text(reason, "hold_reason")
    if order.state is S.ON_HOLD and order.hold_reason == reason:
        return order
    _require_state(order, "put_on_hold")
    return _changed(order, at, state=S.ON_HOLD, hold_reason=reason)


def resume(order: WorkOrder, at: datetime) -> WorkOrder:
    """The parts are in: back to NEW, unassigned, for the planner to schedule a new visit."""
    _require_state(order, "resume")
    return _changed(order, at, state=S.NEW, hold_reason=None, window=None, technician=None, accepted_at=None)


def complete(order: WorkOrder, technician: str, completion: Completion, at: datetime) -> WorkOrder:
    ensure_assigned_to(order, technician)
    _validate_completion(completion)
    if order.state is S.COMPLETED and order.completion == completion:
        return order
    _require_state(order, "complete")
    at = as_utc(at, "complete_time")
    return _changed(order, at, state=S.COMPLETED, completion=completion, completed_at=at,
                    downtime=_ended(order.downtime, at))


def cancel(order: WorkOrder, reason: str, at: datetime) -> WorkOrder:
    _require_text(reason, "cancel_reason")
    if order.state is S.CANCELLED and order.cancel_reason == reason:
        return order
    _require_state(order, "cancel")
    at = as_utc(at, "cancel_time")
    return _changed(order, at, state=S.CANCELLED, cancel_reason=reason, downtime=_ended(order.downtime, at))


def add_note(order: WorkOrder, technician: str, text: str, at: datetime) -> WorkOrder:
    ensure_assigned_to(order, technician)
    if not 0 < len(text.strip()) <= MAX_NOTE_LENGTH:
        raise InvalidArgument.field("note.text", f"is required, at most {MAX_NOTE_LENGTH} characters")
    _require_state(order, "add_note")
    at = as_utc(at, "note_time")
    return _changed(order, at, notes=order.notes + (WorkNote(at, technician, text),))


def attach_alarm(order: WorkOrder, alarm: Alarm, at: datetime) -> WorkOrder:
    """Another alarm of the same asset joins the visit: its family, its severity, and (for a
    dispatchable fault) an earlier downtime start."""
    if alarm.asset != order.asset:
        raise InvalidArgument.field("alarm", f"is on {alarm.asset}, the work order on {order.asset}")
    if alarm.key in order.alarms:
        return order
    _require_open(order, "attach an alarm to")
    downtime = order.downtime
    if downtime is not None and alarm.fault.needs_technician and alarm.first_seen < downtime.start:
        downtime = replace(downtime, start=alarm.first_seen)
    return _changed(order, at, alarms=order.alarms + (alarm.key,), families=order.families | {alarm.family},
                    priority=max(order.priority, alarm.peak_severity), downtime=downtime)


def add_pm_task(order: WorkOrder, task: PmTask, at: datetime) -> WorkOrder:
    if any((t.plan, t.asset) == (task.plan, task.asset) for t in order.pm_tasks):
        return order
    _require_open(order, "add a maintenance task to")
    return _changed(order, at, pm_tasks=order.pm_tasks + (task,),
                    expected_duration_minutes=order.expected_duration_minutes + task.expected_duration_minutes,
                    likely_parts=_union(order.likely_parts, task.parts))


def order_sla(order: WorkOrder, now: datetime, hours: OpeningHours) -> tuple[SlaReading, SlaReading] | None:
    """(response, resolution) readings for lists and metrics; None for orders without an SLA and
    for cancelled ones, which promise nothing any more."""
    if order.sla is None or order.state is S.CANCELLED:
        return None
    resolved_at = order.completed_at if order.state is S.COMPLETED else None
    return (evaluate(order.sla.response, order.arrived_at, now, hours),
            evaluate(order.sla.resolution, resolved_at, now, hours))


def downtime_between(intervals: Iterable[DowntimeInterval], start: datetime, end: datetime) -> timedelta:
    """Time in [start, end) during which the asset was down, overlapping intervals counted once."""
    start, end = as_utc(start, "start"), as_utc(end, "end")
    total, covered_until = timedelta(0), start
    for interval in sorted(intervals, key=lambda i: i.start):
        lower = max(interval.start, covered_until)
        upper = min(interval.end or end, end)
        if upper > lower:
            total += upper - lower
            covered_until = upper
    return total


def _require_state(order: WorkOrder, verb: str) -> None:
    if order.state not in ALLOWED_FROM[verb]:
        raise FailedPrecondition(
            f"cannot {verb.replace('_', ' ')} work order {order.id}: it is {order.state.value}",
            reason="WORK_ORDER_STATE",
            metadata={"work_order": order.id, "state": order.state.value, "verb": verb},
        )


def _require_open(order: WorkOrder, what: str) -> None:
    if not order.is_open:
        raise FailedPrecondition(f"cannot {what} work order {order.id}: it is {order.state.value}",
                                 reason="WORK_ORDER_STATE", metadata={"work_order": order.id})


def _require_text(value: str, field_path: str) -> None:
    if not value.strip():
        raise InvalidArgument.field(field_path, "is required")


def _changed(order: WorkOrder, at: datetime, **changes: object) -> WorkOrder:
    return replace(order, updated_at=as_utc(at, "update_time"), **changes)


def _ended(downtime: DowntimeInterval | None, at: datetime) -> DowntimeInterval | None:
    return None if downtime is None else replace(downtime, end=max(at, downtime.start))


def _union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part for group in groups for part in group))


def _validate_completion(completion: Completion) -> None:
    violations = []
    if not _RESOLUTION_CODE.match(completion.resolution_code):
        violations.append(FieldViolation("completion.resolution_code", "must be a lowercase code like replaced-part"))
    for index, used in enumerate(completion.parts_used):
        if not used.part.strip():
            violations.append(FieldViolation(f"completion.parts_used[{index}].part", "is required"))
        if used.quantity <= 0:
            violations.append(FieldViolation(f"completion.parts_used[{index}].quantity", "must be positive"))
    if not 0 <= completion.labour_minutes <= MAX_LABOUR_MINUTES:
        violations.append(FieldViolation("completion.labour_minutes", f"must be between 0 and {MAX_LABOUR_MINUTES}"))
    reading = completion.meter_reading
    if reading is not None and (not reading.meter.strip() or not reading.value.is_finite() or reading.value < 0):
        violations.append(FieldViolation("completion.meter_reading", "needs a meter name and a non-negative value"))
    if len(completion.notes) > MAX_NOTE_LENGTH:
        violations.append(FieldViolation("completion.notes", f"must be at most {MAX_NOTE_LENGTH} characters"))
    if violations:
        raise InvalidArgument(violations)
