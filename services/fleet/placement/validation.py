"""Checks that a placement problem is well formed before any solver sees it."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from services.fleet.placement.model import InvalidProblemError, Params, Problem, Solver


def validate(problem: Problem, params: Params) -> None:
    """Raise :class:`InvalidProblemError` naming the first offending field."""
    _unique("groups", [group.id for group in problem.groups])
    _unique("positions", [position.id for position in problem.positions])
    _unique("models", [model.id for model in problem.models])
    _unique("current_fleet", [device.id for device in problem.current_fleet])
    model_ids = {model.id for model in problem.models}
    positions = {position.id: position for position in problem.positions}
    position_ids = set(positions)
    group_ids = {group.id for group in problem.groups}

    for i, group in enumerate(problem.groups):
        if any(amount < 0 for amount in group.demand.values()):
            raise InvalidProblemError(f"groups[{i}].demand", "amounts must be non-negative")
        if group.users < 0:
            raise InvalidProblemError(f"groups[{i}].users", "must be non-negative")
    for i, position in enumerate(problem.positions):
        if position.max_devices < 0:
            raise InvalidProblemError(f"positions[{i}].max_devices", "must be non-negative")
        if position.allowed_models is not None and not position.allowed_models <= model_ids:
            unknown = sorted(position.allowed_models - model_ids)
            raise InvalidProblemError(f"positions[{i}].allowed_models", f"unknown models {unknown}")
    for i, model in enumerate(problem.models):
        if any(amount < 0 for amount in model.capacity.values()):
            raise InvalidProblemError(f"models[{i}].capacity", "amounts must be non-negative")
        one_off = [model.install_cost, model.move_cost, model.retire_cost]
        if any(amount < 0 for amount in [model.monthly_cost, *one_off, *model.variable_cost.values()]):
            raise InvalidProblemError(f"models[{i}]", "costs must be non-negative")
    for (group_id, position_id), distance in problem.walking_distance.items():
        if group_id not in group_ids or position_id not in position_ids:
            raise InvalidProblemError("walking_distance", f"unknown pair ({group_id}, {position_id})")
        if distance < 0:
            raise InvalidProblemError("walking_distance", f"negative distance for ({group_id}, {position_id})")
    for i, device in enumerate(problem.current_fleet):
        if device.model_id not in model_ids:
            raise InvalidProblemError(f"current_fleet[{i}].model_id", f"unknown model {device.model_id}")
        if device.position_id not in position_ids:
            raise InvalidProblemError(f"current_fleet[{i}].position_id", f"unknown position {device.position_id}")
        allowed = positions[device.position_id].allowed_models
        if allowed is not None and device.model_id not in allowed:
            raise InvalidProblemError(
                f"current_fleet[{i}].model_id", f"{device.model_id} is not allowed at {device.position_id}"
            )
    per_position = Counter(device.position_id for device in problem.current_fleet)
    for i, position in enumerate(problem.positions):
        if per_position[position.id] > position.max_devices:
            raise InvalidProblemError(
                f"positions[{i}].max_devices", f"today's fleet has {per_position[position.id]} devices there"
            )

    if problem.walking_cost_per_unit < 0:
        raise InvalidProblemError("walking_cost_per_unit", "must be non-negative")
    if problem.horizon_months < 1:
        raise InvalidProblemError("horizon_months", "must be at least 1")
    limits = problem.limits
    if limits.max_devices is not None and limits.max_devices < 0:
        raise InvalidProblemError("limits.max_devices", "must be non-negative")
    if limits.monthly_budget is not None and limits.monthly_budget < Decimal(0):
        raise InvalidProblemError("limits.monthly_budget", "must be non-negative")

    if params.time_limit_seconds <= 0:
        raise InvalidProblemError("params.time_limit_seconds", "must be positive")
    if params.num_workers < 1:
        raise InvalidProblemError("params.num_workers", "must be at least 1")
    if params.cost_scale < 1:
        raise InvalidProblemError("params.cost_scale", "must be at least 1")
    if problem.split_demand and params.solver is Solver.CP_SAT:
        raise InvalidProblemError(
            "params.solver", "split demand needs a MIP solver (highs or scip), CP-SAT has no continuous variables"
        )


def _unique(field_path: str, ids: list[str]) -> None:
    duplicates = sorted(identifier for identifier, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise InvalidProblemError(field_path, f"duplicate ids {duplicates}")
