"""Independent VRPTW feasibility check in double precision.

Deliberately shares nothing with the solver: it re-times each route from the raw instance data
(no integer scale, no OR-Tools), so a rounding or modelling mistake in the solver shows up here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

# Window checks tolerate float noise only, far below the 1/1000 solver scale.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SolomonInstance:
    name: str
    fleet_size: int
    capacity: int
    x: tuple[int, ...]
    y: tuple[int, ...]
    demand: tuple[int, ...]
    ready: tuple[int, ...]
    due: tuple[int, ...]
    service: tuple[int, ...]


def _distance(instance: SolomonInstance, a: int, b: int) -> float:
    return math.hypot(instance.x[a] - instance.x[b], instance.y[a] - instance.y[b])


def route_distance(instance: SolomonInstance, route: tuple[int, ...]) -> float:
    stops = (0, *route, 0)
    return sum(_distance(instance, a, b) for a, b in pairwise(stops))


def check_routes(instance: SolomonInstance, routes: tuple[tuple[int, ...], ...]) -> list[str]:
    """Every violation found; an empty list means feasible."""
    violations: list[str] = []
    customers = len(instance.x) - 1
    visits = Counter(c for route in routes for c in route)
    for customer in range(1, customers + 1):
        if visits[customer] != 1:
            violations.append(f"customer {customer} visited {visits[customer]} times")
    unknown = sorted(c for c in visits if not 1 <= c <= customers)
    if unknown:
        violations.append(f"unknown customers {unknown}")
    if len([r for r in routes if r]) > instance.fleet_size:
        violations.append(f"{len(routes)} routes exceed the fleet of {instance.fleet_size}")
    for number, route in enumerate(routes):
        load = sum(instance.demand[c] for c in route if 1 <= c <= customers)
        if load > instance.capacity:
            violations.append(f"route {number}: load {load} > capacity {instance.capacity}")
        clock = float(instance.ready[0])
        previous = 0
        for customer in route:
            if not 1 <= customer <= customers:
                continue
            clock = max(clock + _distance(instance, previous, customer), instance.ready[customer])
            if clock > instance.due[customer] + _TOLERANCE:
                due = instance.due[customer]
                violations.append(
                    f"route {number}: customer {customer} starts at {clock:.4f} > due {due}"
                )
            clock += instance.service[customer]
            previous = customer
        clock += _distance(instance, previous, 0)
        if clock > instance.due[0] + _TOLERANCE:
            violations.append(
                f"route {number}: returns at {clock:.4f} > depot due {instance.due[0]}"
            )
    return violations
