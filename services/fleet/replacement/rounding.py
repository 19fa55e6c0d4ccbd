"""An integer plan from the LP for large models: split the LP into paths, choose integer counts.

Each cohort's LP flow splits into paths (replacement schedules for a position) with fractional
position counts. A small MIP then picks an integer count per path, within one of its LP value,
summing to the cohort size and meeting every period's budget, crew, batch and demand rows. Any
choice is a valid flow, and the paths come from the LP optimum, so the plan lands close to the LP
bound. The MIP has one variable per path (hundreds), not per arc (hundreds of thousands).

When the period limits bind, the integer counts near the LP point may not fit them; the LP is then
re-solved with every limit tightened by a margin of a few assets' worth (budget: the dearest
price, crew: one installation, demand: the largest capacity), doubling until the MIP finds a plan.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from services.fleet.replacement.formulation import ORIGINAL, FlowModel
from services.fleet.replacement.pricing import RestrictedLP
from services.fleet.replacement.problem import Problem, SolveParams

_EPSILON = 1e-7
_ROUNDING_GAP = 1e-4
_ATTEMPT_SECONDS = 2.0
_MARGINS = (0, 0.2, 0.5, 1, 2, 4)


@dataclass
class _Path:
    cohort: int
    arcs: list[int]
    weight: float
    cost: float
    capital: np.ndarray
    installs: np.ndarray
    capacity: np.ndarray


def _split(
    flow: FlowModel, lp_values: np.ndarray, cohort: int, periods: int
) -> list[tuple[list[int], float]]:
    """One cohort's arc flow as (arcs, positions) paths from the current assets to the horizon."""
    remaining: dict[int, float] = {}
    leaving: dict[int, list[int]] = {}
    for column in np.flatnonzero((flow.arc_cohort == cohort) & (lp_values > _EPSILON)).tolist():
        remaining[column] = float(lp_values[column])
        leaving.setdefault(int(flow.arc_start[column]), []).append(column)
    paths = []
    while True:
        starts = [c for c in leaving.get(ORIGINAL, []) if remaining[c] > _EPSILON]
        if not starts:
            return paths
        path = [max(starts, key=remaining.get)]
        node = int(flow.arc_end[path[0]])
        while node < periods:
            onward = [c for c in leaving.get(node, []) if remaining[c] > _EPSILON]
            if not onward:
                break
            path.append(max(onward, key=remaining.get))
            node = int(flow.arc_end[path[-1]])
        weight = min(remaining[c] for c in path)
        for column in path:
            remaining[column] -= weight
        if node == periods:
            paths.append((path, weight))


def _profile(
    problem: Problem, flow: FlowModel, cohort: int, arcs: list[int], weight: float
) -> _Path:
    """Per-period capital, installations and capacity of one position following `arcs`."""
    periods = problem.periods
    capital = np.zeros(periods)
    installs = np.zeros(periods)
    capacity = np.zeros(periods)
    start_age = problem.cohorts[cohort].age or 0
    for arc in arcs:
        start, end, name = int(flow.arc_start[arc]), int(flow.arc_end[arc]), flow.arc_model[arc]
        if name is None:
            continue
        model = problem.models[name]
        first = max(start, 0)
        if start != ORIGINAL:
            capital[start] += model.price_at(start)
            installs[start] += 1
        if end < periods:
            age = end - start if start != ORIGINAL else start_age + end
            capital[end] -= model.residual_at(age)
        capacity[first:end] = model.capacity
    cost = float(flow.sparse.cost[arcs].sum())
    return _Path(cohort, arcs, weight, cost, capital, installs, capacity)


def _shifted(flow: FlowModel, arc_index: dict, arcs: list[int]) -> list[list[int]]:
    """The path with one replacement moved a period earlier or later, where such arcs exist."""
    variants = []
    for i in range(len(arcs) - 1):
        before, after = arcs[i], arcs[i + 1]
        cohort = int(flow.arc_cohort[before])
        start, boundary, end = (
            int(flow.arc_start[before]),
            int(flow.arc_end[before]),
            int(flow.arc_end[after]),
        )
        for moved in (boundary - 1, boundary + 1):
            first = arc_index.get((cohort, flow.arc_model[before], start, moved))
            second = arc_index.get((cohort, flow.arc_model[after], moved, end))
            if first is not None and second is not None and start < moved < end:
                variants.append(arcs[:i] + [first, second] + arcs[i + 2 :])
    return variants


def arc_index(flow: FlowModel) -> dict[tuple[int, str | None, int, int], int]:
    """Column of each arc, by (cohort, model, start, end)."""
    return {
        (c, m, s, e): column
        for column, (c, m, s, e) in enumerate(
            zip(
                flow.arc_cohort.tolist(),
                flow.arc_model,
                flow.arc_start.tolist(),
                flow.arc_end.tolist(),
            )
        )
        if c >= 0
    }


def _paths(
    problem: Problem, flow: FlowModel, lp_values: np.ndarray, arcs_by_key: dict
) -> list[_Path]:
    """The LP's paths with their fractional counts, then their one-period shifts with count 0."""
    paths = []
    seen: set[tuple[int, ...]] = set()
    variants = []
    for cohort, spec in enumerate(problem.cohorts):
        split = _split(flow, lp_values, cohort, problem.periods)
        total = sum(weight for _, weight in split)
        for arcs, weight in split:
            paths.append(_profile(problem, flow, cohort, arcs, weight * spec.count / total))
            seen.add(tuple(arcs))
            variants += [(cohort, v) for v in _shifted(flow, arcs_by_key, arcs)]
    for cohort, arcs in variants:
        if tuple(arcs) not in seen:
            seen.add(tuple(arcs))
            paths.append(_profile(problem, flow, cohort, arcs, 0.0))
    return paths


def round_flow(
    problem: Problem,
    flow: FlowModel,
    lp_values: np.ndarray,
    arcs_by_key: dict,
    params: SolveParams,
    deadline: float,
) -> np.ndarray | None:
    """Integer arc flows near the LP optimum that meet every limit, or None if none was found."""
    paths = _paths(problem, flow, lp_values, arcs_by_key)
    solver = pywraplp.Solver.CreateSolver(params.solver)
    solver.SetNumThreads(params.num_workers)
    counts = [
        solver.IntVar(max(0, math.floor(p.weight) - 1), math.ceil(p.weight) + 1, "") for p in paths
    ]
    objective = solver.Objective()
    for count, path in zip(counts, paths):
        objective.SetCoefficient(count, path.cost)
    for cohort, spec in enumerate(problem.cohorts):
        row = solver.Constraint(spec.count, spec.count)
        for count, path in zip(counts, paths):
            if path.cohort == cohort:
                row.SetCoefficient(count, 1)
    _add_period_rows(problem, solver, counts, paths)
    seconds = min(_ATTEMPT_SECONDS, deadline - time.perf_counter())
    solver.SetTimeLimit(max(1, int(1000 * seconds)))
    settings = pywraplp.MPSolverParameters()
    settings.SetDoubleParam(settings.RELATIVE_MIP_GAP, _ROUNDING_GAP)
    if solver.Solve(settings) not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return None
    values = np.zeros(flow.sparse.size, dtype=np.int64)
    for count, path in zip(counts, paths):
        values[path.arcs] += round(count.solution_value())
    return values


def _add_period_rows(
    problem: Problem, solver: pywraplp.Solver, counts: list[pywraplp.Variable], paths: list[_Path]
) -> None:
    total = sum(c.count for c in problem.cohorts)
    batch_fixed_cost = problem.batch_fixed_cost
    members = [
        {i for i, c in enumerate(problem.cohorts) if c.name in demand.cohorts}
        for demand in problem.demands
    ]
    for t in range(problem.periods):
        installing = [(c, p) for c, p in zip(counts, paths) if p.installs[t]]
        batch = None
        if batch_fixed_cost > 0 and installing:
            batch = solver.BoolVar("")
            solver.Objective().SetCoefficient(batch, problem.discount(t) * batch_fixed_cost)
            link = solver.Constraint(-math.inf, 0)
            link.SetCoefficient(batch, -total)
            for count, _ in installing:
                link.SetCoefficient(count, 1)
        if problem.crew is not None and installing:
            crew = solver.Constraint(-math.inf, problem.crew[t])
            for count, path in installing:
                crew.SetCoefficient(count, path.installs[t])
        if problem.budget is not None:
            budget = solver.Constraint(-math.inf, problem.budget[t])
            for count, path in zip(counts, paths):
                if path.capital[t]:
                    budget.SetCoefficient(count, path.capital[t])
            if batch is not None:
                budget.SetCoefficient(batch, batch_fixed_cost)
        for demand, cohorts in zip(problem.demands, members):
            level = solver.Constraint(demand.required[t], math.inf)
            for count, path in zip(counts, paths):
                if path.cohort in cohorts:
                    level.SetCoefficient(count, path.capacity[t])


def _tighten(problem: Problem, flow: FlowModel, lp: RestrictedLP, margin: float) -> None:
    price = max(m.price_at(problem.periods) for m in problem.models.values())
    capacity = max(m.capacity for m in problem.models.values())
    for t in range(problem.periods):
        if flow.budget_rows is not None:
            lp.set_row_upper(flow.budget_rows[t], problem.budget[t] - margin * price)
        if flow.crew_rows is not None:
            lp.set_row_upper(flow.crew_rows[t], max(0, problem.crew[t] - math.ceil(margin)))
        for d, demand in enumerate(problem.demands):
            lp.set_column_lower(flow.level_columns[d][t], demand.required[t] + margin * capacity)


def round_lp(
    problem: Problem, flow: FlowModel, lp: RestrictedLP, params: SolveParams, deadline: float
) -> np.ndarray | None:
    """Integer arc flows from the LP, tightening the LP's limits by growing margins if needed."""
    arcs_by_key = arc_index(flow)
    for margin in _MARGINS:
        if margin:
            _tighten(problem, flow, lp, margin)
            if time.perf_counter() >= deadline or not lp.solve(deadline):
                return None
        values = round_flow(problem, flow, lp.values(), arcs_by_key, params, deadline)
        if values is not None:
            return values
    return None
