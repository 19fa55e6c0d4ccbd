"""Integer routing core shared by the technician planner and the Solomon benchmark adapter.

Everything here is already integer-scaled by the caller: one time unit and one cost unit are
whatever the adapter chose (the technician planner uses seconds and metres, the Solomon adapter
uses 1/1000 of an instance unit). The core only knows depots, jobs and vehicles, so the benchmark
exercises exactly the search the service runs.

Node layout: nodes 0..len(depots)-1 are depots (vehicle start/end points, possibly shared),
node len(depots)+k is job k. Matrices are indexed by node.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import pairwise

from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

TIME_DIMENSION = "time"


class SolverStatus(Enum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"  # time ran out before any solution, infeasibility not proven


@dataclass(frozen=True)
class CoreJob:
    windows: tuple[tuple[int, int], ...]  # allowed service-start intervals, sorted, disjoint
    service: int
    demands: tuple[int, ...] = ()  # one per load dimension (vehicle load, parts by number)
    drop_penalty: int | None = None  # None: the job must be served
    allowed_vehicles: tuple[int, ...] | None = None  # None: any vehicle
    soft_deadline: int | None = None  # latest service start before lateness is charged
    late_cost_per_unit: int = 0


@dataclass(frozen=True)
class CoreBreak:
    earliest_start: int
    latest_start: int
    duration: int


@dataclass(frozen=True)
class CoreVehicle:
    start_depot: int
    end_depot: int
    earliest_start: int
    latest_end: int
    capacities: tuple[int, ...] = ()  # one per load dimension, same order as CoreJob.demands
    fixed_cost: int = 0
    breaks: tuple[CoreBreak, ...] = ()
    # Jobs (by position in CoreProblem.jobs) that must open this route in this order: visits
    # already under way when re-planning.
    fixed_prefix: tuple[int, ...] = ()


@dataclass(frozen=True)
class CoreProblem:
    depot_count: int
    jobs: tuple[CoreJob, ...]
    vehicles: tuple[CoreVehicle, ...]
    travel_time: Sequence[Sequence[int]]  # node x node, excluding service time
    travel_cost: Sequence[Sequence[int]]  # node x node
    horizon: int
    initial_routes: tuple[tuple[int, ...], ...] | None = None  # job positions per vehicle


@dataclass(frozen=True)
class CoreSearch:
    time_limit_seconds: float
    log_search: bool = False


@dataclass(frozen=True)
class CoreStop:
    job: int
    service_start: int


@dataclass(frozen=True)
class CoreRoute:
    vehicle: int
    start_time: int
    stops: tuple[CoreStop, ...]
    end_time: int
    breaks: tuple[tuple[int, int], ...] = ()  # (start, duration)


@dataclass(frozen=True)
class CoreResult:
    status: SolverStatus
    routes: tuple[CoreRoute, ...]
    dropped: tuple[int, ...]
    objective: int | None
    seconds: float
    notes: tuple[str, ...] = ()


class _Model:
    """One OR-Tools model built from a CoreProblem."""

    def __init__(self, problem: CoreProblem) -> None:
        self.problem = problem
        nodes = problem.depot_count + len(problem.jobs)
        starts = [v.start_depot for v in problem.vehicles]
        ends = [v.end_depot for v in problem.vehicles]
        self.manager = pywrapcp.RoutingIndexManager(nodes, len(problem.vehicles), starts, ends)
        self.routing = pywrapcp.RoutingModel(self.manager)
        self._add_costs()
        self.time = self._add_time()
        self._add_loads()
        self._add_jobs()
        self._add_breaks()
        self._fix_prefixes()

    def job_index(self, job: int) -> int:
        return self.manager.NodeToIndex(self.problem.depot_count + job)

    def _add_costs(self) -> None:
        cost = self.routing.RegisterTransitMatrix([list(row) for row in self.problem.travel_cost])
        self.routing.SetArcCostEvaluatorOfAllVehicles(cost)
        for vehicle, spec in enumerate(self.problem.vehicles):
            if spec.fixed_cost:
                self.routing.SetFixedCostOfVehicle(spec.fixed_cost, vehicle)

    def _add_time(self) -> pywrapcp.RoutingDimension:
        problem = self.problem
        service = [0] * problem.depot_count + [job.service for job in problem.jobs]
        # Transit out of a node is its service time plus the drive: cumul = service start.
        matrix = [
            [service[i] + travel for travel in row] for i, row in enumerate(problem.travel_time)
        ]
        transit = self.routing.RegisterTransitMatrix(matrix)
        self.routing.AddDimension(transit, problem.horizon, problem.horizon, False, TIME_DIMENSION)
        time = self.routing.GetDimensionOrDie(TIME_DIMENSION)
        for vehicle, spec in enumerate(problem.vehicles):
            time.CumulVar(self.routing.Start(vehicle)).SetRange(
                spec.earliest_start, spec.latest_end
            )
            time.CumulVar(self.routing.End(vehicle)).SetRange(spec.earliest_start, spec.latest_end)
        for job_position, job in enumerate(problem.jobs):
            cumul = time.CumulVar(self.job_index(job_position))
            cumul.SetRange(job.windows[0][0], job.windows[-1][1])
            for (_, gap_start), (gap_end, _) in pairwise(job.windows):
                if gap_end - gap_start > 1:
                    cumul.RemoveInterval(gap_start + 1, gap_end - 1)
            if job.soft_deadline is not None and job.late_cost_per_unit:
                time.SetCumulVarSoftUpperBound(
                    self.job_index(job_position), job.soft_deadline, job.late_cost_per_unit
                )
        for vehicle in range(len(problem.vehicles)):
            self.routing.AddVariableMinimizedByFinalizer(time.CumulVar(self.routing.End(vehicle)))
            self.routing.AddVariableMaximizedByFinalizer(time.CumulVar(self.routing.Start(vehicle)))
        return time

    def _add_loads(self) -> None:
        dimensions = len(self.problem.vehicles[0].capacities) if self.problem.vehicles else 0
        for k in range(dimensions):
            demand = [0] * self.problem.depot_count + [job.demands[k] for job in self.problem.jobs]
            callback = self.routing.RegisterUnaryTransitVector(demand)
            capacities = [v.capacities[k] for v in self.problem.vehicles]
            self.routing.AddDimensionWithVehicleCapacity(callback, 0, capacities, True, f"load {k}")

    def _add_jobs(self) -> None:
        for job_position, job in enumerate(self.problem.jobs):
            index = self.job_index(job_position)
            if job.allowed_vehicles is not None:
                # -1 keeps "unperformed" possible (SetAllowedVehiclesForIndex's Span binding
                # is unusable from Python in 9.15).
                self.routing.VehicleVar(index).SetValues([-1, *job.allowed_vehicles])
            if job.drop_penalty is not None:
                self.routing.AddDisjunction([index], job.drop_penalty)

    def _add_breaks(self) -> None:
        solver = self.routing.solver()
        service = [0] * self.problem.depot_count + [job.service for job in self.problem.jobs]
        node_visit_transit = [
            service[self.manager.IndexToNode(i)] for i in range(self.routing.Size())
        ]
        node_visit_transit += [0] * len(self.problem.vehicles)
        for vehicle, spec in enumerate(self.problem.vehicles):
            if not spec.breaks:
                continue
            intervals = [
                solver.FixedDurationIntervalVar(
                    b.earliest_start, b.latest_start, b.duration, False, f"break {vehicle}.{k}"
                )
                for k, b in enumerate(spec.breaks)
            ]
            self.time.SetBreakIntervalsOfVehicle(intervals, vehicle, node_visit_transit)

    def _fix_prefixes(self) -> None:
        solver = self.routing.solver()
        for vehicle, spec in enumerate(self.problem.vehicles):
            previous = self.routing.Start(vehicle)
            for job_position in spec.fixed_prefix:
                index = self.job_index(job_position)
                solver.Add(self.routing.NextVar(previous) == index)
                previous = index

    def read(
        self, assignment: pywrapcp.Assignment
    ) -> tuple[tuple[CoreRoute, ...], tuple[int, ...]]:
        routes: list[CoreRoute] = []
        served: set[int] = set()
        for vehicle in range(len(self.problem.vehicles)):
            index = self.routing.Start(vehicle)
            start_time = assignment.Value(self.time.CumulVar(index))
            stops: list[CoreStop] = []
            index = assignment.Value(self.routing.NextVar(index))
            while not self.routing.IsEnd(index):
                job = self.manager.IndexToNode(index) - self.problem.depot_count
                stops.append(CoreStop(job, assignment.Value(self.time.CumulVar(index))))
                served.add(job)
                index = assignment.Value(self.routing.NextVar(index))
            end_time = assignment.Value(self.time.CumulVar(index))
            routes.append(
                CoreRoute(
                    vehicle, start_time, tuple(stops), end_time, self._breaks(assignment, vehicle)
                )
            )
        dropped = tuple(j for j in range(len(self.problem.jobs)) if j not in served)
        return tuple(routes), dropped

    def _breaks(self, assignment: pywrapcp.Assignment, vehicle: int) -> tuple[tuple[int, int], ...]:
        if not self.problem.vehicles[vehicle].breaks:
            return ()
        intervals = assignment.IntervalVarContainer()
        found: list[tuple[int, int]] = []
        for k in range(intervals.Size()):
            element = intervals.Element(k)
            if element.Var().Name().startswith(f"break {vehicle}.") and element.PerformedValue():
                found.append((element.StartValue(), element.DurationValue()))
        return tuple(sorted(found))


_ROUTING_STATUS_OPTIMAL = routing_enums_pb2.RoutingSearchStatus.ROUTING_OPTIMAL
_ROUTING_STATUS_INFEASIBLE = routing_enums_pb2.RoutingSearchStatus.ROUTING_INFEASIBLE

# OR-Tools 9.15's SolveWithIteratedLocalSearch never returns (ignores its time limit) when there
# are fewer jobs than vehicles and vehicles have their own start/end nodes (found with 3
# vehicles/2 jobs up to 10 vehicles/9 jobs). Such small days do not need ruin-and-recreate, so
# they use guided local search; the margin of 2 keeps clear of the edge.
_ILS_MIN_JOBS_PER_VEHICLE = 2

# Operators switched off: each is an insertion-based LNS or exact sub-solver that costs far more
# per call than it earns inside ruin-and-recreate, which already does that job (measured on
# R105/R109/RC105/R101 at 10 s: mean gap 2.9% with them off against 3.7% on).
_SLOW_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_lin_kernighan",
    "use_shortest_path_swap_active",
    "use_shortest_path_two_opt",
)


def _search_parameters(search: CoreSearch, seconds: float, iterated: bool):
    """Parallel cheapest insertion, then local search with slow operators off.

    `iterated`: ruin-and-recreate iterated local search (SISR ruin, simulated-annealing
    acceptance with temperatures derived from the mean arc cost); otherwise guided local search,
    which, unlike ILS in OR-Tools 9.15, can start from a given assignment.
    """
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    for operator in _SLOW_OPERATORS:
        setattr(params.local_search_operators, operator, optional_boolean_pb2.BOOL_FALSE)
    if iterated:
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
        )
        params.use_iterated_local_search = True
        ils = params.iterated_local_search_parameters
        sisr = ils.ruin_recreate_parameters.ruin_strategies.add().sisr
        sisr.max_removed_sequence_size = 10
        sisr.avg_num_removed_visits = 10
        sisr.bypass_factor = 0.01
        ils.reference_solution_acceptance_strategy.simulated_annealing.automatic_temperatures = True
    else:
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
    params.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
    params.log_search = search.log_search
    return params


def solve_core(problem: CoreProblem, search: CoreSearch) -> CoreResult:
    """A fresh solve runs iterated local search; a warm start (re-planning) that is still
    feasible, or a problem with few jobs per vehicle, gets guided local search instead."""
    started = time.monotonic()
    model = _Model(problem)
    routing = model.routing
    notes: list[str] = []
    solution = None
    if problem.initial_routes is not None:
        params = _search_parameters(search, search.time_limit_seconds, iterated=False)
        routing.CloseModelWithParameters(params)
        routes = [[model.job_index(j) for j in route] for route in problem.initial_routes]
        hint = routing.ReadAssignmentFromRoutes(routes, True)
        if hint is not None and routing.CheckIfAssignmentIsFeasible(hint, True):
            solution = routing.SolveFromAssignmentWithParameters(hint, params)
        else:
            notes.append("current plan no longer feasible as it stands; planned afresh")
    if solution is None:
        remaining = search.time_limit_seconds - (time.monotonic() - started)
        if len(problem.jobs) >= _ILS_MIN_JOBS_PER_VEHICLE * len(problem.vehicles):
            params = _search_parameters(search, remaining, iterated=True)
            solution = routing.SolveWithIteratedLocalSearch(params)
        else:
            params = _search_parameters(search, remaining, iterated=False)
            solution = routing.SolveWithParameters(params)
    seconds = time.monotonic() - started
    if solution is None:
        proven = routing.status() == _ROUTING_STATUS_INFEASIBLE
        status = SolverStatus.INFEASIBLE if proven else SolverStatus.UNKNOWN
        return CoreResult(status, (), tuple(range(len(problem.jobs))), None, seconds, tuple(notes))
    routes, dropped = model.read(solution)
    status = (
        SolverStatus.OPTIMAL
        if routing.status() == _ROUTING_STATUS_OPTIMAL
        else SolverStatus.FEASIBLE
    )
    return CoreResult(status, routes, dropped, solution.ObjectiveValue(), seconds, tuple(notes))
