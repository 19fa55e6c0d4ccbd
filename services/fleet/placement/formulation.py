"""The placement MIP, built once in OR-Tools MathOpt so CP-SAT, HiGHS and SCIP all solve it.

Each position p has ``max_devices`` slots k; ``device[p, k, m]`` says slot k holds a device of
model m, and ``serve[g, p, k, m]`` says group g uses it. Costs enter the solver as integers in
grains of 1/cost_scale money (see ``Params.cost_scale``).

Changes against today's fleet are counted per model: at each position the plan keeps
min(planned, current) devices of a model; the remaining current devices of that model either move
to a position that needs one or retire, and the remaining needs are met by new devices.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from ortools.math_opt.python import mathopt

from services.fleet.placement.model import DeviceModel, DemandGroup, Problem

SlotKey = tuple[str, int, str]
"""(position id, slot index, model id)."""
ServeKey = tuple[str, str, int, str]
"""(group id, position id, slot index, model id)."""


def grains(amount: Decimal, cost_scale: int) -> int:
    return int((amount * cost_scale).to_integral_value(rounding=ROUND_HALF_EVEN))


def variable_cost(group: DemandGroup, model: DeviceModel) -> Decimal:
    return sum(
        (Decimal(amount) * model.variable_cost.get(resource, Decimal(0)) for resource, amount in group.demand.items()),
        Decimal(0),
    )


def walking_cost(problem: Problem, group: DemandGroup, position_id: str) -> Decimal:
    distance = problem.walking_distance[(group.id, position_id)]
    return problem.walking_cost_per_unit * distance * group.users


def reachable_options(problem: Problem) -> dict[str, list[tuple[str, str]]]:
    """Group id -> (position id, model id) pairs that may serve the group on their own terms:
    within walking distance, model allowed there, features present, enough capacity."""
    max_walk = problem.limits.max_walking_distance
    options: dict[str, list[tuple[str, str]]] = {}
    for group in problem.groups:
        fitting_models = [
            model
            for model in problem.models
            if group.needs <= model.features
            and all(
                _fits(amount, model.capacity.get(resource, 0), problem.split_demand)
                for resource, amount in group.demand.items()
            )
        ]
        pairs: list[tuple[str, str]] = []
        for position in problem.positions:
            distance = problem.walking_distance.get((group.id, position.id))
            if distance is None or (max_walk is not None and distance > max_walk):
                continue
            pairs.extend(
                (position.id, model.id)
                for model in fitting_models
                if position.allowed_models is None or model.id in position.allowed_models
            )
        options[group.id] = pairs
    return options


def _fits(amount: int, capacity: int, split_demand: bool) -> bool:
    # With split demand a group only needs the model to offer the resource at all.
    return amount == 0 or (capacity > 0 if split_demand else amount <= capacity)


@dataclass
class PlacementModel:
    model: mathopt.Model
    device: dict[SlotKey, mathopt.Variable]
    serve: dict[ServeKey, mathopt.Variable]
    integral_objective: bool = True
    """True when every feasible objective value is a whole number of grains."""


def build(
    problem: Problem,
    cost_scale: int,
    options: Mapping[str, list[tuple[str, str]]],
    fixed_fleet: Counter[tuple[str, str]] | None = None,
) -> PlacementModel:
    """The MIP for ``problem``; with ``fixed_fleet`` ((position id, model id) -> count) the devices
    are fixed to those counts and only the assignment is optimised, without change costs or limits
    (this prices today's fleet)."""
    mo = mathopt.Model(name="placement")
    current = Counter((device.position_id, device.model_id) for device in problem.current_fleet)
    placement = PlacementModel(
        mo, _add_devices(mo, problem, options, current, fixed_fleet), {}, integral_objective=not problem.split_demand
    )
    assignment_cost = _add_service(placement, problem, options, cost_scale)
    resources = sorted({resource for group in problem.groups for resource, amount in group.demand.items() if amount})
    _add_capacity(placement, problem, resources)
    models = {model.id: model for model in problem.models}
    monthly = assignment_cost + mathopt.fast_sum(
        grains(models[key[2]].monthly_cost, cost_scale) * var for key, var in placement.device.items()
    )
    objective = problem.horizon_months * monthly
    if fixed_fleet is None:
        _add_count_cuts(placement, problem, resources)
        _add_limits(placement, problem, cost_scale, monthly)
        objective += _change_cost(placement, problem, cost_scale, current)
    mo.minimize(objective)
    return placement


def _add_devices(
    mo: mathopt.Model,
    problem: Problem,
    options: Mapping[str, list[tuple[str, str]]],
    current: Counter[tuple[str, str]],
    fixed_fleet: Counter[tuple[str, str]] | None,
) -> dict[SlotKey, mathopt.Variable]:
    used_models_at: dict[str, set[str]] = defaultdict(set)
    for pairs in options.values():
        for position_id, model_id in pairs:
            used_models_at[position_id].add(model_id)
    todays_models = {model_id for _, model_id in current}
    device: dict[SlotKey, mathopt.Variable] = {}
    for position in problem.positions:
        # A device nobody uses only pays off as one of today's devices kept or parked there
        # instead of paying to retire it, so idle slots are offered only for today's models.
        parkable = todays_models if position.allowed_models is None else todays_models & position.allowed_models
        ordered = sorted(used_models_at[position.id] | parkable)
        fixed = _fixed_slots(fixed_fleet, position.id, ordered) if fixed_fleet is not None else None
        for slot in range(position.max_devices):
            for model_id in ordered:
                var = mo.add_binary_variable(name=f"device[{position.id},{slot},{model_id}]")
                if fixed is not None:
                    var.lower_bound = var.upper_bound = 1.0 if fixed.get(slot) == model_id else 0.0
                device[(position.id, slot, model_id)] = var
            occupied = mathopt.fast_sum(device[(position.id, slot, m)] for m in ordered)
            mo.add_linear_constraint(occupied <= 1)
            if slot > 0:
                # Fill slots in order: an empty slot k-1 forbids slot k (removes slot symmetry).
                mo.add_linear_constraint(occupied <= mathopt.fast_sum(device[(position.id, slot - 1, m)] for m in ordered))
    return device


def _add_service(
    placement: PlacementModel, problem: Problem, options: Mapping[str, list[tuple[str, str]]], cost_scale: int
) -> mathopt.LinearExpression:
    """Every group served exactly once by a device that exists; returns the monthly assignment cost."""
    mo = placement.model
    models = {model.id: model for model in problem.models}
    slots = {position.id: position.max_devices for position in problem.positions}
    terms: list[mathopt.LinearExpression] = []
    for group in problem.groups:
        choices = []
        for position_id, model_id in options[group.id]:
            cost = grains(variable_cost(group, models[model_id]) + walking_cost(problem, group, position_id), cost_scale)
            for slot in range(slots[position_id]):
                key = (group.id, position_id, slot, model_id)
                if problem.split_demand:
                    var = mo.add_variable(lb=0.0, ub=1.0, name=f"serve{key}")
                else:
                    var = mo.add_binary_variable(name=f"serve{key}")
                placement.serve[key] = var
                choices.append(var)
                # Disaggregated linking: much tighter LP bound than capacity alone.
                mo.add_linear_constraint(var <= placement.device[(position_id, slot, model_id)])
                if cost:
                    terms.append(cost * var)
        mo.add_linear_constraint(mathopt.fast_sum(choices) == 1, name=f"served[{group.id}]")
    return mathopt.fast_sum(terms)


def _add_capacity(placement: PlacementModel, problem: Problem, resources: list[str]) -> None:
    models = {model.id: model for model in problem.models}
    demand = {group.id: group.demand for group in problem.groups}
    served_by: dict[SlotKey, list[ServeKey]] = defaultdict(list)
    for key in placement.serve:
        served_by[key[1:]].append(key)
    for slot_key, var in placement.device.items():
        capacity = models[slot_key[2]].capacity
        for resource in resources:
            users = [key for key in served_by.get(slot_key, []) if demand[key[0]].get(resource, 0)]
            # A device that can hold all its possible users at once needs no capacity row.
            if users and sum(demand[key[0]][resource] for key in users) > capacity.get(resource, 0):
                placement.model.add_linear_constraint(
                    mathopt.fast_sum(demand[key[0]][resource] * placement.serve[key] for key in users)
                    <= capacity.get(resource, 0) * var
                )


def _add_count_cuts(placement: PlacementModel, problem: Problem, resources: list[str]) -> None:
    """Redundant cuts: total capacity covers total demand, and so the device count is at least
    total demand over the largest capacity, rounded up (the LP alone would allow 9.9 devices)."""
    models = {model.id: model for model in problem.models}
    for resource in resources:
        total = sum(group.demand.get(resource, 0) for group in problem.groups)
        capacities = {key: models[key[2]].capacity.get(resource, 0) for key in placement.device}
        placement.model.add_linear_constraint(
            mathopt.fast_sum(capacities[key] * var for key, var in placement.device.items()) >= total
        )
        largest = max(capacities.values(), default=0)
        if largest > 0:
            placement.model.add_linear_constraint(mathopt.fast_sum(placement.device.values()) >= -(-total // largest))


def _fixed_slots(fixed_fleet: Counter[tuple[str, str]], position_id: str, ordered: list[str]) -> dict[int, str]:
    slot_models = [model_id for model_id in ordered for _ in range(fixed_fleet.get((position_id, model_id), 0))]
    return dict(enumerate(slot_models))


def _planned_count(placement: PlacementModel, position_id: str, model_id: str) -> mathopt.LinearExpression:
    return mathopt.fast_sum(var for (p, _, m), var in placement.device.items() if p == position_id and m == model_id)


def _change_cost(
    placement: PlacementModel, problem: Problem, cost_scale: int, current: Counter[tuple[str, str]]
) -> mathopt.LinearExpression:
    mo = placement.model
    terms: list[mathopt.LinearExpression] = []
    for model in problem.models:
        planned_total = mathopt.fast_sum(var for (_, _, m), var in placement.device.items() if m == model.id)
        current_total = sum(count for (_, m), count in current.items() if m == model.id)
        if current_total == 0:
            terms.append(grains(model.install_cost, cost_scale) * planned_total)
            continue
        kept_terms = []
        for (position_id, model_id), count in current.items():
            if model_id != model.id:
                continue
            kept = mo.add_integer_variable(lb=0, ub=count, name=f"kept[{position_id},{model_id}]")
            mo.add_linear_constraint(kept <= _planned_count(placement, position_id, model_id))
            kept_terms.append(kept)
        kept_total = mathopt.fast_sum(kept_terms)
        moved = mo.add_integer_variable(lb=0, ub=current_total, name=f"moved[{model.id}]")
        mo.add_linear_constraint(moved <= planned_total - kept_total)
        mo.add_linear_constraint(moved <= current_total - kept_total)
        added = planned_total - kept_total - moved
        retired = current_total - kept_total - moved
        terms.append(
            grains(model.install_cost, cost_scale) * added
            + grains(model.retire_cost, cost_scale) * retired
            + grains(model.move_cost, cost_scale) * moved
        )
    return mathopt.fast_sum(terms)


def _add_limits(placement: PlacementModel, problem: Problem, cost_scale: int, monthly: mathopt.LinearExpression) -> None:
    limits = problem.limits
    if limits.max_devices is not None:
        placement.model.add_linear_constraint(mathopt.fast_sum(placement.device.values()) <= limits.max_devices)
    if limits.monthly_budget is not None:
        placement.model.add_linear_constraint(monthly <= grains(limits.monthly_budget, cost_scale))
