"""Solomon VRPTW instances mapped onto the shared routing core.

Integer scale: times, distances and costs inside the solver are instance units x 1000
(`SOLOMON_SCALE`). Arc costs are rounded; arc travel times are rounded *up*, so any route the
solver accepts also meets every window when re-timed in double precision. The reported distance
is recomputed in double precision from the coordinates, as in the literature.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from services.maintenance.scheduling.model import Objective
from services.maintenance.scheduling.routing_core import (
    CoreJob,
    CoreProblem,
    CoreSearch,
    CoreVehicle,
    SolverStatus,
    solve_core,
)
from services.maintenance.scheduling.solomon_check import (
    SolomonInstance,
    check_routes,
    route_distance,
)

SOLOMON_SCALE = 1000


@dataclass(frozen=True)
class SolomonSolution:
    instance: str
    status: SolverStatus
    routes: tuple[tuple[int, ...], ...]  # customer ids per used vehicle
    distance: float
    vehicles: int
    feasible: bool
    violations: tuple[str, ...]
    seconds: float


def read_solomon(path: Path) -> SolomonInstance:
    lines = path.read_text().splitlines()
    vehicles, capacity = (int(v) for v in lines[4].split())
    rows = [tuple(int(v) for v in line.split()) for line in lines[9:] if line.strip()]
    return SolomonInstance(
        name=lines[0].strip(),
        fleet_size=vehicles,
        capacity=capacity,
        x=tuple(r[1] for r in rows),
        y=tuple(r[2] for r in rows),
        demand=tuple(r[3] for r in rows),
        ready=tuple(r[4] for r in rows),
        due=tuple(r[5] for r in rows),
        service=tuple(r[6] for r in rows),
    )


def to_core_problem(instance: SolomonInstance, objective: Objective) -> CoreProblem:
    nodes = len(instance.x)
    exact = [
        [
            math.hypot(instance.x[i] - instance.x[j], instance.y[i] - instance.y[j])
            for j in range(nodes)
        ]
        for i in range(nodes)
    ]
    cost = [[round(d * SOLOMON_SCALE) for d in row] for row in exact]
    travel_time = [[math.ceil(d * SOLOMON_SCALE) for d in row] for row in exact]
    # A vehicle must cost more than any distance it could save, so fewer routes always win.
    fixed_cost = sum(max(row) for row in cost) if objective is Objective.VEHICLES else 0
    horizon = instance.due[0] * SOLOMON_SCALE
    jobs = tuple(
        CoreJob(
            windows=((instance.ready[c] * SOLOMON_SCALE, instance.due[c] * SOLOMON_SCALE),),
            service=instance.service[c] * SOLOMON_SCALE,
            demands=(instance.demand[c],),
        )
        for c in range(1, nodes)
    )
    vehicle = CoreVehicle(
        0, 0, instance.ready[0] * SOLOMON_SCALE, horizon, (instance.capacity,), fixed_cost
    )
    return CoreProblem(1, jobs, (vehicle,) * instance.fleet_size, travel_time, cost, horizon)


def solve_solomon(
    instance: SolomonInstance, objective: Objective, search: CoreSearch
) -> SolomonSolution:
    started = time.monotonic()
    result = solve_core(to_core_problem(instance, objective), search)
    routes = tuple(
        tuple(stop.job + 1 for stop in route.stops) for route in result.routes if route.stops
    )
    violations = check_routes(instance, routes) if routes else ("no solution",)
    return SolomonSolution(
        instance=instance.name,
        status=result.status,
        routes=routes,
        distance=sum(route_distance(instance, r) for r in routes),
        vehicles=len(routes),
        feasible=not violations,
        violations=tuple(violations),
        seconds=time.monotonic() - started,
    )
