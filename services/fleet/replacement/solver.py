"""`solve(problem, params)`: build the cohort flow MIP, solve it, decode and re-cost the plan.

Models up to `params.full_model_columns` columns are solved whole by the MIP solver, so "optimal"
is the exact optimum. Larger ones price the optional arcs in on the LP (`pricing.py`) and round
the LP's paths to integer counts with a small MIP (`rounding.py`); their best bound is the
Lagrangian bound from pricing, so the reported gap is a true one. If rounding fails, the MIP runs
over the generated arcs.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.linear_solver import linear_solver_pb2, pywraplp

from services.fleet.replacement.decode import decode_plan
from services.fleet.replacement.evaluate import evaluate
from services.fleet.replacement.formulation import build_flow_model
from services.fleet.replacement.policies import evaluate_baselines, replacement_leads
from services.fleet.replacement.pricing import price_columns
from services.fleet.replacement.problem import (
    Evaluation,
    PositionPlan,
    Problem,
    Solution,
    SolveParams,
)
from services.fleet.replacement.rounding import round_lp
from services.fleet.replacement.sparse import FrozenModel
from services.fleet.replacement.validation import validate

_HAS_SOLUTION = (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE)


def _solve_mip(
    model: FrozenModel, selected: np.ndarray, params: SolveParams, deadline: float
) -> tuple[int, np.ndarray | None, float]:
    """(solver status, values of all columns or None, the solver's best bound)."""
    solver = pywraplp.Solver.CreateSolver(params.solver)
    if solver is None:
        raise ValueError(f"MIP solver {params.solver!r} is not available")
    error = solver.LoadModelFromProto(model.to_proto(selected))
    if error:
        raise RuntimeError(f"flow model rejected: {error}")
    solver.SetNumThreads(params.num_workers)
    solver.SetTimeLimit(max(1, int(1000 * (deadline - time.perf_counter()))))
    if params.log:
        solver.EnableOutput()
    settings = pywraplp.MPSolverParameters()
    settings.SetDoubleParam(settings.RELATIVE_MIP_GAP, params.relative_gap)
    status = solver.Solve(settings)
    if status not in _HAS_SOLUTION:
        return status, None, -np.inf
    response = linear_solver_pb2.MPSolutionResponse()
    solver.FillSolutionResponseProto(response)
    values = np.zeros(model.size, dtype=np.int64)
    values[selected] = np.rint(np.array(response.variable_value)).astype(np.int64)
    return status, values, solver.Objective().BestBound()


def solve(problem: Problem, params: SolveParams = SolveParams()) -> Solution:
    started = time.perf_counter()
    deadline = started + params.time_limit_s
    validate(problem)
    flow = build_flow_model(problem)
    model = flow.sparse
    selected = np.arange(model.size)
    priced_bound = -np.inf
    size = {
        "variables_full_model": int(model.size),
        "constraints": int(len(model.row_lower)),
        "cohorts": len(problem.cohorts),
        "positions": sum(c.count for c in problem.cohorts),
        "pricing_rounds": 0,
    }
    if model.size > params.full_model_columns:
        counts = np.array([c.count for c in problem.cohorts])
        priced = price_columns(flow, counts, problem.periods, deadline, params.num_workers)
        if priced is not None:
            lp, columns = priced
            selected = columns.selected
            priced_bound = columns.lower_bound
            size.update(
                variables=len(selected),
                pricing_rounds=columns.rounds,
                pricing_converged=int(columns.converged),
            )
            values = round_lp(problem, flow, lp, params, deadline)
            if values is not None:
                plan = decode_plan(problem, flow, values)
                evaluation = evaluate(problem, plan)
                if evaluation.feasible:
                    return _solution(
                        problem, params, plan, evaluation, priced_bound, False, started, size
                    )
    size["variables"] = int(len(selected))
    status, values, solver_bound = _solve_mip(model, selected, params, deadline)
    if values is None:
        label = (
            "infeasible"
            if status == pywraplp.Solver.INFEASIBLE and len(selected) == model.size
            else "unknown"
        )
        baselines = evaluate_baselines(problem)
        seconds = time.perf_counter() - started
        return Solution(label, None, None, None, seconds, [], None, baselines, [], size)
    plan = decode_plan(problem, flow, values)
    evaluation = evaluate(problem, plan)
    exact = len(selected) == model.size
    bound = solver_bound if exact else priced_bound
    return _solution(
        problem,
        params,
        plan,
        evaluation,
        bound,
        exact and status == pywraplp.Solver.OPTIMAL,
        started,
        size,
    )


def _solution(
    problem: Problem,
    params: SolveParams,
    plan: list[PositionPlan],
    evaluation: Evaluation,
    bound: float,
    proven: bool,
    started: float,
    size: dict[str, int],
) -> Solution:
    """Packs a feasible plan; `proven` when the MIP closed the gap on the full model."""
    if evaluation.violations:
        raise RuntimeError(f"plan breaks the model: {evaluation.violations[:3]}")
    total_cost = evaluation.net_present_cost
    best_bound = min(bound, total_cost)
    gap = (total_cost - best_bound) / max(1.0, abs(total_cost)) if np.isfinite(best_bound) else None
    if gap is not None and gap <= max(params.relative_gap, 1e-9):
        proven = True
    return Solution(
        status="optimal" if proven else "feasible",
        total_cost=total_cost,
        best_bound=best_bound if np.isfinite(best_bound) else None,
        gap=gap,
        seconds=time.perf_counter() - started,
        plan=plan,
        evaluation=evaluation,
        baselines=evaluate_baselines(problem),
        leads=replacement_leads(problem, plan),
        model_size=size,
    )
