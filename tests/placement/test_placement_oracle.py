"""Random tiny placement problems against a brute-force oracle that tries every fleet and assignment."""

from __future__ import annotations

import itertools
from collections import Counter
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.fleet.placement import (
    CandidatePosition,
    CurrentDevice,
    DemandGroup,
    DeviceModel,
    Limits,
    Params,
    Problem,
    Status,
    solve,
)

MODEL_IDS = ("basic", "colour")
POSITION_IDS = ("north", "south")


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    models = tuple(
        DeviceModel(
            id=model_id,
            capacity={"pages": draw(st.integers(4, 12))},
            monthly_cost=Decimal(draw(st.integers(0, 20))),
            features=frozenset({"colour"}) if model_id == "colour" else frozenset(),
            variable_cost={"pages": Decimal(draw(st.integers(0, 30))) / 100},
            install_cost=Decimal(draw(st.integers(0, 15))),
            move_cost=Decimal(draw(st.integers(0, 15))),
            retire_cost=Decimal(draw(st.integers(0, 15))),
        )
        for model_id in MODEL_IDS
    )
    positions = tuple(
        CandidatePosition(
            id=position_id,
            max_devices=draw(st.integers(1, 2)),
            allowed_models=draw(st.sampled_from([None, frozenset({"basic"}), frozenset(MODEL_IDS)])),
        )
        for position_id in POSITION_IDS
    )
    groups = tuple(
        DemandGroup(
            id=f"g{i}",
            demand={"pages": draw(st.integers(1, 5))},
            needs=draw(st.sampled_from([frozenset(), frozenset({"colour"})])),
            users=draw(st.integers(1, 3)),
        )
        for i in range(draw(st.integers(1, 3)))
    )
    distance = {
        (group.id, position.id): Decimal(value)
        for group in groups
        for position in positions
        if (value := draw(st.sampled_from([None, *range(10)]))) is not None
    }
    current = []
    for position in positions:
        allowed = sorted(position.allowed_models or MODEL_IDS)
        for slot in range(draw(st.integers(0, position.max_devices))):
            current.append(CurrentDevice(f"{position.id}-{slot}", draw(st.sampled_from(allowed)), position.id))
    return Problem(
        groups=groups,
        positions=positions,
        models=models,
        walking_distance=distance,
        current_fleet=tuple(current),
        limits=Limits(
            max_devices=draw(st.one_of(st.none(), st.integers(2, 3))),
            max_walking_distance=draw(st.one_of(st.none(), st.integers(5, 9).map(Decimal))),
        ),
        walking_cost_per_unit=Decimal(draw(st.integers(0, 3))) / 10,
        horizon_months=draw(st.integers(1, 6)),
    )


def brute_force(problem: Problem) -> Decimal | None:
    """Least objective over every fleet per position and every assignment; None if none serves all."""
    models = {model.id: model for model in problem.models}
    per_position = []
    for position in problem.positions:
        allowed = sorted(position.allowed_models or models)
        per_position.append(
            [
                [(position.id, model_id) for model_id in combo]
                for size in range(position.max_devices + 1)
                for combo in itertools.combinations_with_replacement(allowed, size)
            ]
        )
    best: Decimal | None = None
    for choice in itertools.product(*per_position):
        devices = [device for fleet in choice for device in fleet]
        if problem.limits.max_devices is not None and len(devices) > problem.limits.max_devices:
            continue
        device_cost = sum((models[m].monthly_cost for _, m in devices), Decimal(0))
        serving = _best_assignment(problem, devices)
        if serving is None:
            continue
        total = problem.horizon_months * (device_cost + serving) + _change_cost(problem, devices)
        if best is None or total < best:
            best = total
    return best


def _best_assignment(problem: Problem, devices: list[tuple[str, str]]) -> Decimal | None:
    models = {model.id: model for model in problem.models}
    limit = problem.limits.max_walking_distance
    best: Decimal | None = None
    for picks in itertools.product(range(len(devices)), repeat=len(problem.groups)):
        load: Counter[int] = Counter()
        cost = Decimal(0)
        for group, pick in zip(problem.groups, picks):
            position_id, model_id = devices[pick]
            model = models[model_id]
            distance = problem.walking_distance.get((group.id, position_id))
            if distance is None or (limit is not None and distance > limit) or not group.needs <= model.features:
                break
            load[pick] += group.demand["pages"]
            cost += group.demand["pages"] * model.variable_cost["pages"]
            cost += problem.walking_cost_per_unit * distance * group.users
        else:
            if all(load[i] <= models[devices[i][1]].capacity["pages"] for i in load):
                if best is None or cost < best:
                    best = cost
    return best


def _change_cost(problem: Problem, devices: list[tuple[str, str]]) -> Decimal:
    planned = Counter(devices)
    today = Counter((device.position_id, device.model_id) for device in problem.current_fleet)
    total = Decimal(0)
    for model in problem.models:
        kept = sum(min(planned[key], today[key]) for key in planned | today if key[1] == model.id)
        arriving = sum(count for key, count in planned.items() if key[1] == model.id) - kept
        leaving = sum(count for key, count in today.items() if key[1] == model.id) - kept
        total += min(
            model.move_cost * moves + model.install_cost * (arriving - moves) + model.retire_cost * (leaving - moves)
            for moves in range(min(arriving, leaving) + 1)
        )
    return total


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_solver_matches_brute_force(problem: Problem) -> None:
    expected = brute_force(problem)
    plan = solve(problem, Params(time_limit_seconds=20, num_workers=1))
    if expected is None:
        assert plan.status is Status.INFEASIBLE
        return
    assert plan.status is Status.OPTIMAL
    assert plan.objective == expected
    assert plan.cost is not None
    assert problem.horizon_months * plan.cost.monthly + plan.cost.change_one_off == expected
