"""``solve(problem, params) -> Plan``: the placement optimizer as one pure function."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from ortools.math_opt.python import mathopt

from services.fleet.placement.changes import reconcile
from services.fleet.placement.formulation import (
    PlacementModel,
    build,
    reachable_options,
    variable_cost,
    walking_cost,
)
from services.fleet.placement.model import (
    Assignment,
    CostBreakdown,
    Params,
    Plan,
    Problem,
    Solver,
    Status,
)
from services.fleet.placement.validation import validate

_SOLVER_TYPES = {
    Solver.CP_SAT: mathopt.SolverType.CP_SAT,
    Solver.HIGHS: mathopt.SolverType.HIGHS,
    Solver.SCIP: mathopt.SolverType.GSCIP,
}
_SHARE_EPSILON = 1e-7
"""Split-demand shares below this are solver noise, not service."""


def solve(problem: Problem, params: Params = Params()) -> Plan:
    """Choose devices per position and a device for every group at least cost.

    Raises :class:`~services.fleet.placement.model.InvalidProblemError` for a malformed problem.
    A group that no position can serve (distance, features, capacity) makes the plan infeasible.
    """
    started = time.monotonic()
    validate(problem, params)
    options = reachable_options(problem)
    if any(not pairs for pairs in options.values()):
        return Plan(status=Status.INFEASIBLE, objective=None, bound=None, gap=None, seconds=time.monotonic() - started)

    placement = build(problem, params.cost_scale, options)
    result = _run(placement, params, params.time_limit_seconds)
    status = _status(result)
    if status in (Status.INFEASIBLE, Status.UNKNOWN):
        return Plan(status=status, objective=None, bound=None, gap=None, seconds=time.monotonic() - started)

    objective_grains = result.objective_value()
    bound_grains = result.termination.objective_bounds.dual_bound
    if placement.integral_objective:
        # Whole grains: the bound can be rounded up without losing validity.
        objective_grains = round(objective_grains)
        if math.isfinite(bound_grains):
            bound_grains = math.ceil(bound_grains - 1e-6)
    planned = [key for key, var in placement.device.items() if result.variable_values(var) > 0.5]
    devices, changes, one_off = reconcile(planned, problem.current_fleet, problem.models)
    assignments = _assignments(placement, result)
    cost = _cost(problem, planned, assignments, one_off)

    # Pricing today is an assignment over a fixed fleet (quick); it gets what the plan left, and
    # never less than a tenth of the limit, so a plan that used the whole limit still gets a price.
    remaining = max(params.time_limit_seconds - (time.monotonic() - started), params.time_limit_seconds / 10)
    today = _today(problem, params, options, remaining) if params.evaluate_today and problem.current_fleet else None
    return Plan(
        status=status,
        objective=_money(objective_grains, params.cost_scale),
        bound=_money(bound_grains, params.cost_scale) if math.isfinite(bound_grains) else None,
        gap=_gap(objective_grains, bound_grains) if math.isfinite(bound_grains) else None,
        seconds=time.monotonic() - started,
        devices=devices,
        assignments=assignments,
        cost=cost,
        today=today,
        changes=changes,
    )


def _run(placement: PlacementModel, params: Params, seconds: float) -> mathopt.SolveResult:
    solve_params = _solve_params(placement, params, seconds)
    return mathopt.solve(placement.model, _SOLVER_TYPES[params.solver], params=solve_params)


def _solve_params(placement: PlacementModel, params: Params, seconds: float) -> mathopt.SolveParameters:
    # For integral objectives a gap below one grain proves optimality; floats need a hair of room.
    absolute_gap = 0.999 if placement.integral_objective else 1e-6
    relative_gap = params.relative_gap or (0.0 if placement.integral_objective else 1e-9)
    solve_params = mathopt.SolveParameters(
        time_limit=timedelta(seconds=max(seconds, 0.01)),
        relative_gap_tolerance=relative_gap,
        absolute_gap_tolerance=absolute_gap,
        random_seed=0,
    )
    if params.solver is Solver.CP_SAT:
        # HiGHS and SCIP reject a thread count through MathOpt; their MIP search is serial anyway.
        solve_params.threads = params.num_workers
    return solve_params


def _status(result: mathopt.SolveResult) -> Status:
    reason = result.termination.reason
    if reason == mathopt.TerminationReason.OPTIMAL:
        return Status.OPTIMAL
    if reason in (mathopt.TerminationReason.INFEASIBLE, mathopt.TerminationReason.INFEASIBLE_OR_UNBOUNDED):
        return Status.INFEASIBLE
    if result.has_primal_feasible_solution():
        return Status.FEASIBLE
    return Status.UNKNOWN


def _assignments(placement: PlacementModel, result: mathopt.SolveResult) -> tuple[Assignment, ...]:
    chosen = []
    for (group_id, position_id, slot, model_id), var in placement.serve.items():
        share = result.variable_values(var)
        if share > _SHARE_EPSILON:
            exact = Decimal(1) if placement.integral_objective else Decimal(repr(share))
            chosen.append(Assignment(group_id, position_id, model_id, slot, exact))
    return tuple(sorted(chosen, key=lambda a: (a.group_id, a.position_id, a.slot)))


def _cost(
    problem: Problem, planned: list[tuple[str, int, str]], assignments: tuple[Assignment, ...], one_off: Decimal
) -> CostBreakdown:
    """Exact money from the chosen devices and assignment (no solver rounding)."""
    models = {model.id: model for model in problem.models}
    groups = {group.id: group for group in problem.groups}
    return CostBreakdown(
        device_monthly=sum((models[model_id].monthly_cost for _, _, model_id in planned), Decimal(0)),
        variable_monthly=sum(
            (a.share * variable_cost(groups[a.group_id], models[a.model_id]) for a in assignments), Decimal(0)
        ),
        walking_monthly=sum(
            (a.share * walking_cost(problem, groups[a.group_id], a.position_id) for a in assignments), Decimal(0)
        ),
        change_one_off=one_off,
    )


def _today(
    problem: Problem, params: Params, options: dict[str, list[tuple[str, str]]], seconds: float
) -> CostBreakdown | None:
    """Today's fleet with each group on its best reachable device of today's fleet."""
    fleet = Counter((device.position_id, device.model_id) for device in problem.current_fleet)
    today_options = {group_id: [pair for pair in pairs if pair in fleet] for group_id, pairs in options.items()}
    if any(not pairs for pairs in today_options.values()):
        return None
    placement = build(problem, params.cost_scale, today_options, fixed_fleet=fleet)
    result = _run(placement, params, seconds)
    if not result.has_primal_feasible_solution():
        return None
    planned = [key for key, var in placement.device.items() if result.variable_values(var) > 0.5]
    return _cost(problem, planned, _assignments(placement, result), Decimal(0))


def _money(amount_grains: float, cost_scale: int) -> Decimal:
    return Decimal(repr(amount_grains)) / cost_scale


def _gap(objective: float, bound: float) -> float:
    return max(objective - bound, 0.0) / max(abs(objective), 1e-9)
