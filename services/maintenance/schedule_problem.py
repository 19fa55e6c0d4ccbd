"""The planner's problem for one territory and day, read from maintenance's own tables and the
asset directory (sites as the fleet service describes them).

Choices the stored data does not make for us (each is also written into the schedule's notes when
it applies):
- Shift: technicians have no shift calendar yet, so each works 08:00-17:00 in their own time
  zone on the planned day, without a modelled lunch break.
- Van stock is not tracked, so an order's likely parts do not restrict who can go.
- An order without a skill can be done by any technician of the territory.
- An order without an expected duration is planned as a one-hour visit.
- A site without opening hours is open all day.
- The territory's orders are found through the cached site territory of their assets; an asset
  whose site moved into the territory is seen once its cache entry is refreshed (asset_directory TTL).
- SLA: the resolution due time is a soft deadline (lateness costs, see the planner). An order whose
  resolution falls due by the end of the planned day at its site breaches unless visited that day,
  so it weighs double when not everything fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.maintenance.asset_directory import AssetDirectory, AssetRef
from services.maintenance.domain.diagnostics import Severity
from services.maintenance.domain.work_orders import WorkOrderState
from services.maintenance.scheduling.model import (
    Location,
    OpeningHours,
    Priority,
    Problem,
    Site,
    SlaKind,
    Technician,
    TimeWindow,
    VisitStatus,
    WorkOrder,
)
from services.maintenance.store import TechnicianRow
from services.maintenance.store_ingest import AssetRefRow
from services.maintenance.store_orders import WorkOrderRow

SHIFT_START, SHIFT_END = time(8), time(17)
DEFAULT_VISIT_MINUTES = 60
SLA_DUE_THAT_DAY_WEIGHT = 2
# Stands for "no particular skill": every technician has it.
ANY_SKILL = "*"
PRIORITY_OF_SEVERITY = {Severity.INFO: Priority.LOW, Severity.WARNING: Priority.NORMAL,
                        Severity.MAJOR: Priority.HIGH, Severity.CRITICAL: Priority.URGENT}
PLANNABLE_STATES = (WorkOrderState.NEW.value, WorkOrderState.SCHEDULED.value)
# Orders of a plan being re-planned that stay in the problem: open ones, and completed ones (the
# technician continues from the last completed site).
_REPLAN_STATES = (*PLANNABLE_STATES, WorkOrderState.DISPATCHED.value, WorkOrderState.EN_ROUTE.value,
                  WorkOrderState.ON_SITE.value, WorkOrderState.COMPLETED.value)
VISIT_STATUS_OF_STATE = {WorkOrderState.EN_ROUTE.value: VisitStatus.EN_ROUTE,
                         WorkOrderState.ON_SITE.value: VisitStatus.ON_SITE,
                         WorkOrderState.COMPLETED.value: VisitStatus.DONE}


@dataclass(frozen=True)
class PlanningInput:
    problem: Problem
    unlocated: tuple[str, ...]  # order ids whose site has no position
    notes: tuple[str, ...]
    states: dict[str, str]  # order id -> work order state, for re-planning


def build_problem(session: Session, directory: AssetDirectory, territory: str, day: date,
                  keep_orders: tuple[str, ...] = ()) -> PlanningInput | None:
    """None when the territory has no technician who can be planned. `keep_orders` (a plan being
    re-planned) joins the territory's NEW/SCHEDULED orders unless on hold or cancelled."""
    notes: list[str] = []
    technicians = _technicians(session, territory, day, notes)
    if not technicians:
        return None
    # Candidates by the cached territory (an indexed read), confirmed below on fresh asset details.
    rows = list(session.scalars(
        select(WorkOrderRow).join(AssetRefRow, AssetRefRow.asset_id == WorkOrderRow.asset_id)
        .where(WorkOrderRow.state.in_(PLANNABLE_STATES), AssetRefRow.service_territory == territory)
        .order_by(WorkOrderRow.id)))
    known = {row.id for row in rows}
    rows += session.scalars(select(WorkOrderRow).where(WorkOrderRow.id.in_(sorted(set(keep_orders) - known)),
                                                       WorkOrderRow.state.in_(_REPLAN_STATES)))
    assets = directory.resolve(session, {row.asset_id for row in rows})
    kept = set(keep_orders)
    orders: list[WorkOrder] = []
    unlocated: list[str] = []
    states: dict[str, str] = {}
    for row in rows:
        asset = assets.get(row.asset_id)
        if asset is None or (asset.service_territory != territory and row.id not in kept):
            continue
        if asset.site_latitude is None or asset.site_longitude is None:
            unlocated.append(row.id)
            continue
        orders.append(_order(row, asset, day))
        states[row.id] = row.state
    if any(not row.expected_duration_minutes for row in rows if row.id in states):
        notes.append(f"orders without an expected duration are planned as {DEFAULT_VISIT_MINUTES}-minute visits")
    problem = Problem(technicians=tuple(technicians), orders=tuple(orders))
    return PlanningInput(problem, tuple(unlocated), tuple(notes), states)


def visit_statuses(states: dict[str, str]) -> dict[str, VisitStatus]:
    return {order_id: VISIT_STATUS_OF_STATE[state] for order_id, state in states.items()
            if state in VISIT_STATUS_OF_STATE}


def _technicians(session: Session, territory: str, day: date, notes: list[str]) -> list[Technician]:
    technicians = []
    for row in session.scalars(select(TechnicianRow).where(TechnicianRow.territory == territory)
                               .order_by(TechnicianRow.id)):
        if row.home_latitude is None or row.home_longitude is None:
            notes.append(f"technicians/{row.id} has no home base and was left out")
            continue
        zone = ZoneInfo(row.time_zone)
        shift = TimeWindow(datetime.combine(day, SHIFT_START, zone), datetime.combine(day, SHIFT_END, zone))
        technicians.append(Technician(
            id=row.id, skills=frozenset(row.skills) | {ANY_SKILL},
            home=Location(row.home_latitude, row.home_longitude), shift=shift,
            territories=frozenset({territory})))
    if technicians:
        notes.append(f"shifts: {SHIFT_START:%H:%M}-{SHIFT_END:%H:%M} in each technician's time zone (no shift"
                     " calendar yet), no lunch break modelled")
    return technicians


def _order(row: WorkOrderRow, asset: AssetRef, day: date) -> WorkOrder:
    site = Site(Location(asset.site_latitude, asset.site_longitude), asset.time_zone, _opening_hours(asset),
                asset.service_territory or None)
    due = row.resolution_due if row.sla_tier else None
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(asset.time_zone))
    return WorkOrder(
        id=row.id, site=site, duration=timedelta(minutes=row.expected_duration_minutes or DEFAULT_VISIT_MINUTES),
        skill=row.skill or ANY_SKILL, priority=PRIORITY_OF_SEVERITY[Severity(row.priority)],
        sla_deadline=due, sla_kind=SlaKind.SOFT,
        customer_weight=SLA_DUE_THAT_DAY_WEIGHT if due is not None and due <= end_of_day else 1)


def _opening_hours(asset: AssetRef) -> tuple[OpeningHours, ...]:
    if not asset.opening_hours:
        return tuple(OpeningHours(weekday, time(0), time.max) for weekday in range(7))
    return tuple(OpeningHours(weekday - 1, _clock(opens), _clock(closes))
                 for weekday, opens, closes in asset.opening_hours)


def _clock(text: str) -> time:
    """"HH:MM"; "24:00" (closing at midnight) is the last instant of the day."""
    hours, minutes = (int(part) for part in text.split(":"))
    return time.max if hours == 24 else time(hours, minutes)
