"""Technician scheduling: plan a territory's day as a pollable job, apply it, re-plan around urgent work.

The problem is read in the RPC's unit of work; the solve runs in the service's solver processes
(`runtime.workers`) and its outcome is written by `SolveJobs` in a unit of work of its own. A
schedule is stored RUNNING before the solve starts, so a caller who stops waiting can poll it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from datetime import date, datetime, timedelta
from typing import Any

from fleetops.maintenance.v1 import scheduling_pb2 as spb
from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.maintenance.domain.work_orders import VisitWindow, WorkOrderState, dispatch, schedule
from services.maintenance.orders import new_id
from services.maintenance.schedule_codec import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    schedule_to_proto,
    solution_from_json,
    solution_to_json,
)
from services.maintenance.schedule_problem import PLANNABLE_STATES, PlanningInput, build_problem, visit_statuses
from services.maintenance.scheduling.model import Params
from services.maintenance.scheduling.planner import solve
from services.maintenance.scheduling.replan import replan
from services.maintenance.store_orders import WORK_ORDERS, WorkOrderRow, load_order, save_order
from services.maintenance.store_schedules import ScheduleRow
from services.runtime.audit import note_change
from services.runtime.db import utc_now
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from services.runtime.jobs import SolveJobs
from services.runtime.repository import NamedRows
from services.runtime.resources import NamePattern, check_etag, from_timestamp, parse_name
from services.runtime.scoping import internal

log = logging.getLogger(__name__)

SCHEDULE_NAMES = NamePattern("schedules/{schedule}")
SCHEDULE_SCOPE = internal("technician schedules")  # routes through every customer's sites
DEFAULT_PLAN_SECONDS = 10.0
DEFAULT_REPLAN_SECONDS = 3.0
MAX_SOLVE_SECONDS = 300.0
# How long the blocking form may wait beyond the time limit (queueing behind other solves, storing).
_WAIT_SLACK_SECONDS = 30.0
_UNDER_WAY = (WorkOrderState.EN_ROUTE, WorkOrderState.ON_SITE)


def _plan_date(request: Message) -> date:
    given = request.date
    try:
        return date(given.year, given.month, given.day)
    except ValueError:
        raise InvalidArgument.field("date", "must be a full calendar date (year, month and day)") from None


def _time_limit(request: Message, default: float) -> float:
    if not request.HasField("time_limit"):
        return default
    seconds = request.time_limit.ToTimedelta().total_seconds()
    if not 0 < seconds <= MAX_SOLVE_SECONDS:
        raise InvalidArgument.field("time_limit", f"must be positive and at most {MAX_SOLVE_SECONDS:.0f} s")
    return seconds


def _params(seconds: float) -> Params:
    return Params(time_limit=timedelta(seconds=seconds), workers=1)


def _record(schedule_id: str) -> Callable[[Session, Any, BaseException | None], None]:
    """Writes a solve's outcome onto its schedule."""

    def record(session: Session, solution: Any, error: BaseException | None) -> None:
        row = NamedRows(session, ScheduleRow, SCHEDULE_NAMES, SCHEDULE_SCOPE).get(schedule_id, for_update=True)
        if error is None:
            row.state, row.solution = SUCCEEDED, solution_to_json(solution)
        else:
            row.state = FAILED
            # The planner refuses input it cannot take with a ValueError whose message is for the user.
            if isinstance(error, ValueError):
                row.error = str(error)
            else:
                log.error("solve of schedules/%s failed", schedule_id, exc_info=error)
                row.error = "the solver failed; the details are in the service log"
        row.touch()

    return record


class ScheduleMethods:
    """Schedules (mixed into MaintenanceApi, which provides `_solves`, `_assets`, `_standard`)."""

    def CreateSchedule(self, request: spb.CreateScheduleRequest, context) -> spb.Schedule:
        territory = request.territory.strip()
        if not territory:
            raise InvalidArgument.field("territory", "is required")
        day = _plan_date(request)
        seconds = _time_limit(request, DEFAULT_PLAN_SECONDS)

        def plan(session: Session) -> tuple[ScheduleRow, tuple]:
            planning = self._planning(session, territory, day)
            row = ScheduleRow(territory=territory, plan_date=day, time_limit_seconds=seconds)
            return row, (solve, (planning.problem, _params(seconds)), planning)

        return self._start_schedule("CreateSchedule", request, plan, seconds)

    def ReplanSchedule(self, request: spb.ReplanScheduleRequest, context) -> spb.Schedule:
        base_id = SCHEDULE_NAMES.key(request.name)
        urgent_id = parse_name(request.work_order, WORK_ORDERS, "work_order")
        now = from_timestamp(request.now) if request.HasField("now") else utc_now()
        seconds = _time_limit(request, DEFAULT_REPLAN_SECONDS)

        def plan(session: Session) -> tuple[ScheduleRow, tuple]:
            base = NamedRows(session, ScheduleRow, SCHEDULE_NAMES, SCHEDULE_SCOPE).get(base_id)
            if base.state != SUCCEEDED:
                raise FailedPrecondition(f"{request.name} is {base.state}: only a finished plan can be re-planned",
                                         reason="SCHEDULE_NOT_SUCCEEDED", metadata={"schedule": request.name})
            urgent = session.get(WorkOrderRow, urgent_id)
            if urgent is None:
                raise NotFound(request.work_order)
            if urgent.state not in PLANNABLE_STATES:
                raise FailedPrecondition(f"{request.work_order} is {urgent.state}: only NEW or SCHEDULED orders"
                                         " can be added to a plan", reason="WORK_ORDER_STATE",
                                         metadata={"work_order": request.work_order})
            current = solution_from_json(base.solution)
            planned = tuple(v.order_id for p in current.plans for v in p.visits)
            planning = self._planning(session, base.territory, base.plan_date, planned)
            new_orders = [o for o in planning.problem.orders if o.id == urgent_id]
            if not new_orders:
                raise FailedPrecondition(f"{request.work_order} is not at a site of territory {base.territory!r}"
                                         " with a known position", reason="WORK_ORDER_OUTSIDE_PLAN",
                                         metadata={"work_order": request.work_order})
            row = ScheduleRow(territory=base.territory, plan_date=base.plan_date, time_limit_seconds=seconds,
                              replanned_from=base_id, urgent_work_order=urgent_id)
            args = (planning.problem, current, visit_statuses(planning.states), new_orders, now, _params(seconds))
            return row, (replan, args, planning)

        return self._start_schedule("ReplanSchedule", request, plan, seconds)

    def GetSchedule(self, request: spb.GetScheduleRequest, context) -> spb.Schedule:
        return self._schedule(SCHEDULE_NAMES.key(request.name))

    def ListSchedules(self, request: spb.ListSchedulesRequest, context) -> spb.ListSchedulesResponse:
        query = {"territory": request.territory}
        page = self._tokens.parse(request.page_size, request.page_token, query)
        with self._db.unit_of_work() as session:
            rows = NamedRows(session, ScheduleRow, SCHEDULE_NAMES, SCHEDULE_SCOPE).page(page, territory=request.territory)
            rows, token = self._tokens.finish(rows, page, lambda r: (r.id,), query)
            return spb.ListSchedulesResponse(schedules=[schedule_to_proto(r) for r in rows], next_page_token=token)

    def ApplySchedule(self, request: spb.ApplyScheduleRequest, context) -> spb.Schedule:
        key = SCHEDULE_NAMES.key(request.name)

        def apply(session: Session) -> spb.Schedule:
            row = NamedRows(session, ScheduleRow, SCHEDULE_NAMES, SCHEDULE_SCOPE).get(key, for_update=True)
            check_etag(request.name, request.etag, row.version)
            if row.state != SUCCEEDED:
                raise FailedPrecondition(f"{request.name} is {row.state}: only a finished plan can be applied",
                                         reason="SCHEDULE_NOT_SUCCEEDED", metadata={"schedule": request.name})
            if row.applied:
                raise FailedPrecondition(f"{request.name} was already applied", reason="SCHEDULE_APPLIED",
                                         metadata={"schedule": request.name})
            _apply_visits(session, solution_from_json(row.solution), utc_now())
            row.applied = True
            row.touch()
            session.flush()
            return schedule_to_proto(row)

        return self._standard.run("ApplySchedule", request, spb.Schedule, apply)

    # --- helpers ----------------------------------------------------------------------------------

    def _planning(self, session: Session, territory: str, day: date,
                  keep_orders: tuple[str, ...] = ()) -> PlanningInput:
        planning = build_problem(session, self._assets, territory, day, keep_orders)
        if planning is None:
            raise FailedPrecondition(f"territory {territory!r} has no technician with a home base to plan",
                                     reason="NO_TECHNICIANS", metadata={"territory": territory})
        return planning

    def _start_schedule(self, method: str, request: Message,
                        plan: Callable[[Session], tuple[ScheduleRow, tuple]], seconds: float) -> spb.Schedule:
        """Stores the schedule RUNNING (idempotent on request_id), starts its solve, and with
        `request.wait` waits for the outcome while the caller's deadline allows."""
        SCHEDULE_SCOPE.check_write()
        if self._solves is None:
            raise FailedPrecondition("this service runs without solver processes", reason="NO_SOLVER_WORKERS")
        started: dict[str, tuple] = {}

        def create(session: Session) -> spb.Schedule:
            row, (function, args, planning) = plan(session)
            row.id, row.state = new_id("sch"), RUNNING
            row.notes, row.unlocated = list(planning.notes), list(planning.unlocated)
            NamedRows(session, ScheduleRow, SCHEDULE_NAMES, SCHEDULE_SCOPE).add(row)
            started[row.id] = (function, args)
            return schedule_to_proto(row)

        answer = self._standard.run(method, request, spb.Schedule, create)
        schedule_id = SCHEDULE_NAMES.key(answer.name)
        if schedule_id in started:  # not a replay: this call created the schedule
            function, args = started[schedule_id]
            stored = self._submit(schedule_id, function, args)
            if request.wait:
                SolveJobs.wait(stored, seconds + _WAIT_SLACK_SECONDS)
        return self._schedule(schedule_id)

    def _submit(self, schedule_id: str, function: Callable, args: tuple) -> Future:
        try:
            return self._solves.start(function, args, _record(schedule_id))
        except ResourceExhausted as refused:
            with self._db.unit_of_work() as session:
                _record(schedule_id)(session, None, ValueError(refused.message))
            raise

    def _schedule(self, schedule_id: str) -> spb.Schedule:
        with self._db.unit_of_work() as session:
            return schedule_to_proto(NamedRows(session, ScheduleRow, SCHEDULE_NAMES, SCHEDULE_SCOPE).get(schedule_id))


def _apply_visits(session: Session, solution, now: datetime) -> None:
    """Each visit through the work-order verbs: NEW/SCHEDULED orders get the planned window, then
    every order goes to its technician. Visits already under way by their technician stay as they
    are; any order that cannot take its visit any more fails the whole apply."""
    technician_of = {v.order_id: plan.technician_id for plan in solution.plans for v in plan.visits}
    visit_of = {v.order_id: v for plan in solution.plans for v in plan.visits}
    rows = session.scalars(select(WorkOrderRow).where(WorkOrderRow.id.in_(sorted(visit_of)))
                           .order_by(WorkOrderRow.id).with_for_update().execution_options(populate_existing=True))
    for row in rows:
        order, technician, visit = load_order(row), technician_of[row.id], visit_of[row.id]
        if order.state in _UNDER_WAY and order.technician == technician:
            continue
        if order.state in (WorkOrderState.NEW, WorkOrderState.SCHEDULED):
            order = schedule(order, VisitWindow(visit.start, visit.departure), now)
        save_order(row, dispatch(order, technician, now))
        note_change(session, f"{WORK_ORDERS}/{row.id}", details=f"dispatched to technicians/{technician}")
