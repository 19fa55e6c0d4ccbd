"""`solve(problem, params)`: technician day plans on the shared routing core.

Integer scale inside the solver: time in whole seconds from `epoch` (travel times rounded up, so
ETAs are never optimistic), cost in whole metres of travel. Penalties are expressed in metres:
an unserved order costs `Params.unserved_base_cost` x customer weight x priority (x3 for a hard
SLA), which outweighs any day of driving, so the solver serves all it can and, when it cannot,
keeps the orders worth most; soft-SLA lateness costs `lateness_cost_per_second` per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.maintenance.scheduling.eligibility import Eligibility, assess_orders
from services.maintenance.scheduling.model import (
    Objective,
    Params,
    PlannedVisit,
    Problem,
    SlaKind,
    Solution,
    TechnicianPlan,
    UnassignedOrder,
    UnassignedReason,
    WorkOrder,
)
from services.maintenance.scheduling.routing_core import (
    CoreBreak,
    CoreJob,
    CoreProblem,
    CoreResult,
    CoreRoute,
    CoreSearch,
    CoreVehicle,
    solve_core,
)
from services.maintenance.scheduling.travel import travel_tables

# A missed hard SLA is a contract breach, worth more than a missed soft one of the same tier.
_HARD_SLA_FACTOR = 3


@dataclass(frozen=True)
class _Layout:
    """Which core node and job is which order and technician."""

    epoch: datetime
    orders: tuple[WorkOrder, ...]  # core job k is orders[k]
    metres: list[list[float]]
    seconds: list[list[int]]

    def at(self, offset: int) -> datetime:
        return self.epoch + timedelta(seconds=offset)


def solve(problem: Problem, params: Params) -> Solution:
    """Day plans for `problem`; raises ValueError on input the planner cannot take."""
    _validate(problem, params)
    epoch = _epoch(problem)
    technicians = problem.technicians
    starts = [t.start_location or t.home for t in technicians]
    locations = starts + [t.home for t in technicians] + [o.site.location for o in problem.orders]
    metres, raw_seconds = travel_tables(locations, problem.travel)
    seconds = [[math.ceil(s) for s in row] for row in raw_seconds]
    horizon = _offset(epoch, max(t.shift.end for t in technicians))
    assessed = assess_orders(problem, epoch, horizon, seconds)
    planned = [a for a in assessed if a.reason is None]
    node_of_order = {o.id: 2 * len(technicians) + i for i, o in enumerate(problem.orders)}
    depot_count = 2 * len(technicians)
    nodes = list(range(depot_count)) + [node_of_order[a.order.id] for a in planned]
    layout = _Layout(
        epoch,
        tuple(a.order for a in planned),
        [[metres[i][j] for j in nodes] for i in nodes],
        [[seconds[i][j] for j in nodes] for i in nodes],
    )
    core = _core_problem(problem, params, planned, layout, horizon)
    search = CoreSearch(params.time_limit.total_seconds())
    result = solve_core(core, search)
    return _solution(problem, layout, planned, assessed, result)


def _validate(problem: Problem, params: Params) -> None:
    if params.workers != 1:
        raise ValueError("the routing search is single-threaded: workers must be 1")
    if params.time_limit <= timedelta():
        raise ValueError("time_limit must be positive")
    if not problem.technicians:
        raise ValueError("a plan needs at least one technician")
    for kind, ids in (
        ("technician", [t.id for t in problem.technicians]),
        ("order", [o.id for o in problem.orders]),
    ):
        if len(set(ids)) != len(ids):
            raise ValueError(f"{kind} ids must be unique")


def _epoch(problem: Problem) -> datetime:
    """A day before anything in the problem, so pinned visits under way stay non-negative."""
    moments = [t.shift.start for t in problem.technicians]
    if problem.now is not None:
        moments.append(problem.now)
    moments += [pin for visits in problem.fixed_visits.values() for _, pin in visits if pin]
    return min(moments) - timedelta(days=1)


def _offset(epoch: datetime, moment: datetime) -> int:
    return int((moment - epoch).total_seconds())


def _core_problem(
    problem: Problem, params: Params, planned: list[Eligibility], layout: _Layout, horizon: int
) -> CoreProblem:
    part_numbers = sorted({p for a in planned for p in a.order.parts})
    position = {a.order.id: k for k, a in enumerate(planned)}
    fixed = {order_id for visits in problem.fixed_visits.values() for order_id, _ in visits}
    jobs = tuple(_core_job(a, params, part_numbers, a.order.id in fixed, layout) for a in planned)
    vehicle_fixed_cost = (
        params.unserved_base_cost // 100 if params.objective is Objective.VEHICLES else 0
    )
    vehicles = []
    for v, tech in enumerate(problem.technicians):
        prefix = tuple(position[order_id] for order_id, _ in problem.fixed_visits.get(tech.id, ()))
        earliest = _offset(layout.epoch, tech.shift.start)
        if problem.now is not None:
            earliest = 0 if prefix else max(earliest, _offset(layout.epoch, problem.now))
        brk = tech.lunch_break
        breaks = (
            ()
            if brk is None
            else (
                CoreBreak(
                    _offset(layout.epoch, brk.earliest_start),
                    _offset(layout.epoch, brk.latest_start),
                    int(brk.duration.total_seconds()),
                ),
            )
        )
        vehicles.append(
            CoreVehicle(
                start_depot=v,
                end_depot=len(problem.technicians) + v,
                earliest_start=earliest,
                latest_end=_offset(layout.epoch, tech.shift.end),
                capacities=tuple(tech.van_stock.get(p, 0) for p in part_numbers),
                fixed_cost=vehicle_fixed_cost,
                breaks=breaks,
                fixed_prefix=prefix,
            )
        )
    initial = None
    if problem.warm_start is not None:
        initial = tuple(
            tuple(position[o] for o in problem.warm_start.get(t.id, ()) if o in position)
            for t in problem.technicians
        )
    return CoreProblem(
        depot_count=2 * len(problem.technicians),
        jobs=jobs,
        vehicles=tuple(vehicles),
        travel_time=layout.seconds,
        travel_cost=[[round(m) for m in row] for row in layout.metres],
        horizon=horizon,
        initial_routes=initial,
    )


def _core_job(
    assessed: Eligibility, params: Params, part_numbers: list[str], fixed: bool, layout: _Layout
) -> CoreJob:
    order = assessed.order
    soft_deadline = None
    if order.sla_deadline is not None and order.sla_kind is SlaKind.SOFT:
        soft_deadline = _offset(layout.epoch, order.sla_deadline) - int(
            order.duration.total_seconds()
        )
    penalty = params.unserved_base_cost * order.customer_weight * order.priority.value
    if order.sla_kind is SlaKind.HARD and order.sla_deadline is not None:
        penalty *= _HARD_SLA_FACTOR
    return CoreJob(
        windows=assessed.windows,
        service=int(order.duration.total_seconds()),
        demands=tuple(order.parts.get(p, 0) for p in part_numbers),
        drop_penalty=None if fixed else penalty,
        allowed_vehicles=assessed.technicians,
        soft_deadline=soft_deadline,
        late_cost_per_unit=order.lateness_cost_per_second if soft_deadline is not None else 0,
    )


def _solution(
    problem: Problem,
    layout: _Layout,
    planned: list[Eligibility],
    assessed: list[Eligibility],
    result: CoreResult,
) -> Solution:
    fixed = {order_id for visits in problem.fixed_visits.values() for order_id, _ in visits}
    plans = tuple(_plan(problem, layout, route, fixed) for route in result.routes if route.stops)
    unassigned = [
        UnassignedOrder(a.order.id, a.reason, a.detail) for a in assessed if a.reason is not None
    ]
    unassigned += [
        UnassignedOrder(
            planned[j].order.id,
            UnassignedReason.CAPACITY,
            "not enough technician time or van stock today; higher-value orders were kept",
        )
        for j in result.dropped
    ]
    lateness = sum((v.lateness for p in plans for v in p.visits), timedelta())
    return Solution(
        status=result.status,
        plans=plans,
        unassigned=tuple(unassigned),
        travel_metres=sum(p.travel_metres for p in plans),
        lateness=lateness,
        objective=result.objective,
        best_bound=None,
        gap=None,
        seconds=result.seconds,
        notes=result.notes,
    )


def _plan(problem: Problem, layout: _Layout, route: CoreRoute, fixed: set[str]) -> TechnicianPlan:
    depots = 2 * len(problem.technicians)
    previous_node = route.vehicle
    departure = route.start_time
    travel = 0.0
    visits: list[PlannedVisit] = []
    break_start = route.breaks[0][0] if route.breaks else None
    for stop in route.stops:
        order = layout.orders[stop.job]
        node = depots + stop.job
        arrival = departure + layout.seconds[previous_node][node]
        if break_start is not None and departure <= break_start < stop.service_start:
            arrival += route.breaks[0][1]  # the break is taken on the way
        service_end = stop.service_start + int(order.duration.total_seconds())
        late = 0
        if order.sla_deadline is not None:
            late = max(0, service_end - _offset(layout.epoch, order.sla_deadline))
        leg = layout.metres[previous_node][node]
        travel += leg
        visits.append(
            PlannedVisit(
                order_id=order.id,
                arrival=layout.at(min(arrival, stop.service_start)),
                start=layout.at(stop.service_start),
                departure=layout.at(service_end),
                travel_metres=leg,
                lateness=timedelta(seconds=late),
                fixed=order.id in fixed,
            )
        )
        previous_node, departure = node, service_end
    travel += layout.metres[previous_node][len(problem.technicians) + route.vehicle]
    return TechnicianPlan(
        technician_id=problem.technicians[route.vehicle].id,
        leaves=layout.at(route.start_time),
        returns=layout.at(route.end_time),
        visits=tuple(visits),
        travel_metres=travel,
        lunch_break_start=None if break_start is None else layout.at(break_start),
    )
