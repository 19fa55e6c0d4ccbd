"""`solve(problem, params)`: build the cohort flow MIP, solve it, decode and re-cost the plan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from ortools.linear_solver import linear_solver_pb2, pywraplp

from services.fleet.replacement.evaluate import evaluate
from services.fleet.replacement.formulation import FlowModel, Vintage, build_flow_model
from services.fleet.replacement.policies import evaluate_baselines, replacement_leads
from services.fleet.replacement.problem import (
    PositionPlan,
    Problem,
    Replacement,
    Solution,
    SolveParams,
)
from services.fleet.replacement.validation import validate

_STATUS = {
    pywraplp.Solver.OPTIMAL: "optimal",
    pywraplp.Solver.FEASIBLE: "feasible",
    pywraplp.Solver.INFEASIBLE: "infeasible",
}


def solve(problem: Problem, params: SolveParams = SolveParams()) -> Solution:
    started = time.perf_counter()
    validate(problem)
    flow = build_flow_model(problem)
    solver = pywraplp.Solver.CreateSolver(params.solver)
    if solver is None:
        raise ValueError(f"MIP solver {params.solver!r} is not available")
    error = solver.LoadModelFromProto(flow.proto)
    if error:
        raise RuntimeError(f"flow model rejected: {error}")
    solver.SetNumThreads(params.num_workers)
    remaining = params.time_limit_s - (time.perf_counter() - started)
    solver.SetTimeLimit(max(1, int(1000 * remaining)))
    if params.log:
        solver.EnableOutput()
    settings = pywraplp.MPSolverParameters()
    settings.SetDoubleParam(settings.RELATIVE_MIP_GAP, params.relative_gap)
    result = solver.Solve(settings)
    status = _STATUS.get(result, "unknown")
    model_size = {
        "variables": solver.NumVariables(),
        "constraints": solver.NumConstraints(),
        "cohorts": len(problem.cohorts),
        "positions": sum(c.count for c in problem.cohorts),
    }
    baselines = evaluate_baselines(problem)
    if status not in ("optimal", "feasible"):
        seconds = time.perf_counter() - started
        return Solution(status, None, None, None, seconds, [], None, baselines, [], model_size)
    response = linear_solver_pb2.MPSolutionResponse()
    solver.FillSolutionResponseProto(response)
    values = np.rint(np.array(response.variable_value)).astype(np.int64)
    plan = decode_plan(problem, flow, values)
    evaluation = evaluate(problem, plan)
    if evaluation.violations:
        raise RuntimeError(f"decoded plan breaks the model: {evaluation.violations[:3]}")
    best_bound = min(solver.Objective().BestBound(), evaluation.net_present_cost)
    total_cost = evaluation.net_present_cost
    gap = (total_cost - best_bound) / max(1.0, abs(total_cost))
    seconds = time.perf_counter() - started
    return Solution(
        status=status,
        total_cost=total_cost,
        best_bound=best_bound,
        gap=gap,
        seconds=seconds,
        plan=plan,
        evaluation=evaluation,
        baselines=baselines,
        leads=replacement_leads(problem, plan),
        model_size=model_size,
    )


@dataclass
class _Group:
    count: int
    vintage: Vintage | None
    steps: list[Replacement] = field(default_factory=list)


def _take(groups: list[_Group], count: int, vintage: Vintage | None | bool = True) -> list[_Group]:
    """Remove `count` positions from `groups`, splitting one if needed.

    `vintage` limits the choice to groups holding that vintage; `True` accepts any group.
    """
    taken: list[_Group] = []
    for group in groups:
        if count == 0:
            break
        if group.count == 0 or (vintage is not True and group.vintage is not vintage):
            continue
        moved = min(group.count, count)
        taken.append(_Group(moved, group.vintage, list(group.steps)))
        group.count -= moved
        count -= moved
    if count:
        raise RuntimeError("solution moves more positions than it holds")
    return taken


def _merged(cohort: str, groups: list[_Group], asset_ids: tuple[str, ...]) -> list[PositionPlan]:
    """One entry per distinct path, asset ids handed out in order."""
    counts: dict[tuple[Replacement, ...], int] = {}
    for group in groups:
        path = tuple(group.steps)
        counts[path] = counts.get(path, 0) + group.count
    plan = []
    first = 0
    for path, count in counts.items():
        ids = asset_ids[first : first + count] if asset_ids else ()
        plan.append(PositionPlan(cohort, count, path, ids))
        first += count
    return plan


def decode_plan(problem: Problem, flow: FlowModel, values: np.ndarray) -> list[PositionPlan]:
    """Split each cohort's integer flows into groups of positions that share one path."""
    vintages_of: dict[int, list[Vintage]] = {}
    for vintage in flow.vintages:
        vintages_of.setdefault(vintage.cohort, []).append(vintage)
    by_start = {(v.cohort, v.model, v.start): v for v in flow.vintages if not v.original}
    plan: list[PositionPlan] = []
    for ci, cohort in enumerate(problem.cohorts):
        original = next((v for v in vintages_of[ci] if v.original), None)
        groups = [_Group(cohort.count, original)]
        for t in range(problem.periods):
            leaving = _take(groups, cohort.count) if cohort.is_empty and t == 0 else []
            for vintage in vintages_of[ci]:
                var = vintage.retire_vars.get(t)
                if var is not None and values[var]:
                    leaving += _take(groups, int(values[var]), vintage)
            for name in cohort.candidates:
                arriving = _take(leaving, int(values[flow.buy_vars[(ci, name, t)]]))
                for group in arriving:
                    group.steps.append(Replacement(t, name))
                    group.vintage = by_start[(ci, name, t)]
                groups += arriving
            if any(group.count for group in leaving):
                raise RuntimeError("solution retires positions it does not refill")
            groups = [group for group in groups if group.count]
        plan += _merged(cohort.name, groups, cohort.asset_ids)
    return plan
