"""A schedule's solve outcome: the planner's `Solution` as stored JSON and as the API's message.

Times are stored as ISO-8601 UTC strings, durations as whole seconds, distances in metres.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fleetops.maintenance.v1 import scheduling_pb2 as spb
from google.protobuf import duration_pb2
from google.type import date_pb2

from services.maintenance.scheduling.model import (
    PlannedVisit,
    Solution,
    TechnicianPlan,
    UnassignedOrder,
    UnassignedReason,
)
from services.maintenance.scheduling.routing_core import SolverStatus
from services.maintenance.store_orders import WORK_ORDERS
from services.maintenance.store_schedules import SCHEDULES, ScheduleRow
from services.runtime.resources import etag_for, to_timestamp

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
STATE_TO_PROTO = {RUNNING: spb.SCHEDULE_STATE_RUNNING, SUCCEEDED: spb.SCHEDULE_STATE_SUCCEEDED,
                  FAILED: spb.SCHEDULE_STATE_FAILED}
STATUS_TO_PROTO = {status: spb.SolverStatus.Value(f"SOLVER_STATUS_{status.name}") for status in SolverStatus}
REASON_TO_PROTO = {reason: spb.UnassignedReason.Value(f"UNASSIGNED_REASON_{reason.name}")
                   for reason in UnassignedReason}
NO_LOCATION_DETAIL = "the site has no position in the fleet service"


def solution_to_json(solution: Solution) -> dict:
    return {
        "status": solution.status.value, "objective": solution.objective, "seconds": solution.seconds,
        "travel_metres": solution.travel_metres, "lateness_seconds": solution.lateness.total_seconds(),
        "notes": list(solution.notes),
        "plans": [{
            "technician": plan.technician_id, "leaves": plan.leaves.isoformat(), "returns": plan.returns.isoformat(),
            "travel_metres": plan.travel_metres,
            "lunch_break_start": plan.lunch_break_start.isoformat() if plan.lunch_break_start else None,
            "visits": [{"order": v.order_id, "arrival": v.arrival.isoformat(), "start": v.start.isoformat(),
                        "departure": v.departure.isoformat(), "travel_metres": v.travel_metres,
                        "lateness_seconds": v.lateness.total_seconds(), "fixed": v.fixed} for v in plan.visits],
        } for plan in solution.plans],
        "unassigned": [{"order": u.order_id, "reason": u.reason.value, "detail": u.detail}
                       for u in solution.unassigned],
    }


def solution_from_json(data: dict) -> Solution:
    return Solution(
        status=SolverStatus(data["status"]),
        plans=tuple(TechnicianPlan(
            technician_id=plan["technician"], leaves=datetime.fromisoformat(plan["leaves"]),
            returns=datetime.fromisoformat(plan["returns"]),
            visits=tuple(PlannedVisit(
                order_id=v["order"], arrival=datetime.fromisoformat(v["arrival"]),
                start=datetime.fromisoformat(v["start"]), departure=datetime.fromisoformat(v["departure"]),
                travel_metres=v["travel_metres"], lateness=timedelta(seconds=v["lateness_seconds"]),
                fixed=v["fixed"]) for v in plan["visits"]),
            travel_metres=plan["travel_metres"],
            lunch_break_start=datetime.fromisoformat(plan["lunch_break_start"]) if plan["lunch_break_start"] else None,
        ) for plan in data["plans"]),
        unassigned=tuple(UnassignedOrder(u["order"], UnassignedReason(u["reason"]), u["detail"])
                         for u in data["unassigned"]),
        travel_metres=data["travel_metres"], lateness=timedelta(seconds=data["lateness_seconds"]),
        objective=data["objective"], best_bound=None, gap=None, seconds=data["seconds"], notes=tuple(data["notes"]),
    )


def _duration(delta: timedelta) -> duration_pb2.Duration:
    value = duration_pb2.Duration()
    value.FromTimedelta(delta)
    return value


def schedule_to_proto(row: ScheduleRow) -> spb.Schedule:
    message = spb.Schedule(
        name=f"{SCHEDULES}/{row.id}", territory=row.territory,
        date=date_pb2.Date(year=row.plan_date.year, month=row.plan_date.month, day=row.plan_date.day),
        state=STATE_TO_PROTO[row.state], time_limit=_duration(timedelta(seconds=row.time_limit_seconds)),
        error=row.error, applied=row.applied,
        replanned_from=f"{SCHEDULES}/{row.replanned_from}" if row.replanned_from else "",
        urgent_work_order=f"{WORK_ORDERS}/{row.urgent_work_order}" if row.urgent_work_order else "",
        create_time=to_timestamp(row.create_time), update_time=to_timestamp(row.update_time),
        etag=etag_for(row.version), notes=row.notes)
    message.unassigned.extend(
        spb.UnassignedWorkOrder(work_order=f"{WORK_ORDERS}/{order_id}", reason=spb.UNASSIGNED_REASON_NO_LOCATION,
                                detail=NO_LOCATION_DETAIL) for order_id in row.unlocated)
    if row.solution is None:
        return message
    solution = solution_from_json(row.solution)
    message.solver_status = STATUS_TO_PROTO[solution.status]
    message.objective = solution.objective or 0
    message.solve_seconds = solution.seconds
    message.total_travel_metres = solution.travel_metres
    message.total_lateness.CopyFrom(_duration(solution.lateness))
    message.notes.extend(solution.notes)
    for plan in sorted(solution.plans, key=lambda p: p.technician_id):
        message.routes.append(spb.TechnicianRoute(
            technician=f"technicians/{plan.technician_id}", start_time=to_timestamp(plan.leaves),
            end_time=to_timestamp(plan.returns), travel_metres=plan.travel_metres,
            visits=[spb.ScheduledVisit(
                work_order=f"{WORK_ORDERS}/{v.order_id}", arrival_time=to_timestamp(v.arrival),
                start_time=to_timestamp(v.start), departure_time=to_timestamp(v.departure),
                travel_metres=v.travel_metres, lateness=_duration(v.lateness), fixed=v.fixed) for v in plan.visits]))
    message.unassigned.extend(
        spb.UnassignedWorkOrder(work_order=f"{WORK_ORDERS}/{u.order_id}", reason=REASON_TO_PROTO[u.reason],
                                detail=u.detail) for u in solution.unassigned)
    return message
