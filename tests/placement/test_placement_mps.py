"""A realistic managed-print case: 3 floors, 120 users in 15 groups, 6 models, 25 devices today."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest

from services.fleet.placement import (
    CandidatePosition,
    CurrentDevice,
    DemandGroup,
    DeviceModel,
    Limits,
    Params,
    Plan,
    Problem,
    Status,
    solve,
)

FLOORS = 3
GROUP_X = (5, 17, 29, 41, 53)
"""Metres along each floor's corridor."""
POSITION_X = (0, 20, 40, 60)
STAIRS_M = 25
MAX_WALK = Decimal(30)
USERS = ((6, 8, 10, 7, 9), (12, 5, 8, 9, 6), (10, 7, 8, 6, 9))
COLOUR_GROUPS = {(0, 2), (1, 1), (1, 2), (2, 2)}
A3_GROUPS = {(2, 4)}
PAGES_PER_USER = 300
COLOUR_PAGES_PER_USER = 60


def model(
    model_id: str, pages: int, colour: int, monthly: str, cpp: str, colour_cpp: str, features: set[str]
) -> DeviceModel:
    return DeviceModel(
        id=model_id,
        capacity={"pages": pages, "colour_pages": colour},
        monthly_cost=Decimal(monthly),
        features=frozenset(features),
        variable_cost={"pages": Decimal(cpp), "colour_pages": Decimal(colour_cpp)},
        install_cost=Decimal(150),
        move_cost=Decimal(60),
        retire_cost=Decimal(40),
    )


# Capacities are monthly pages at 70 % of the rated duty cycle; colour pages also count as pages.
MODELS = (
    model("mono-desk", 3_000, 0, "18.00", "0.012", "0", set()),
    model("mono-mfp", 12_000, 0, "45.00", "0.006", "0", {"scan"}),
    model("mono-a3", 25_000, 0, "85.00", "0.005", "0", {"scan", "a3"}),
    model("colour-desk", 2_500, 1_000, "28.00", "0.012", "0.060", {"colour"}),
    model("colour-mfp", 10_000, 4_000, "70.00", "0.007", "0.045", {"colour", "scan"}),
    model("colour-a3", 20_000, 8_000, "120.00", "0.006", "0.040", {"colour", "scan", "a3"}),
)

TODAY_PER_FLOOR = {
    0: ("mono-desk", "colour-desk"),
    20: ("mono-mfp", "mono-desk", "colour-desk"),
    40: ("colour-mfp", "mono-desk"),
    60: ("mono-desk", "mono-a3"),
}
"""Position x -> today's devices there; 9 per floor less two retired last year = 25."""


def mps_problem() -> Problem:
    groups = []
    for floor in range(FLOORS):
        for index, users in enumerate(USERS[floor]):
            needs = {"colour"} if (floor, index) in COLOUR_GROUPS else set()
            if (floor, index) in A3_GROUPS:
                needs |= {"a3"}
            colour = users * COLOUR_PAGES_PER_USER if "colour" in needs else 0
            groups.append(
                DemandGroup(
                    id=f"F{floor}-G{index}",
                    demand={"pages": users * PAGES_PER_USER, "colour_pages": colour},
                    needs=frozenset(needs),
                    users=users,
                )
            )
    positions = [CandidatePosition(f"F{floor}-P{x}", max_devices=3) for floor in range(FLOORS) for x in POSITION_X]
    distance = {}
    for group in groups:
        floor, index = int(group.id[1]), int(group.id[4])
        for position in positions:
            p_floor, p_x = int(position.id[1]), int(position.id.split("-P")[1])
            distance[(group.id, position.id)] = Decimal(abs(GROUP_X[index] - p_x) + STAIRS_M * abs(floor - p_floor))
    current = [
        CurrentDevice(f"F{floor}-P{x}-{n}", model_id, f"F{floor}-P{x}")
        for floor in range(FLOORS)
        for x, models in TODAY_PER_FLOOR.items()
        for n, model_id in enumerate(models)
    ]
    retired_last_year = {"F0-P20-2", "F1-P60-0"}
    return Problem(
        groups=tuple(groups),
        positions=tuple(positions),
        models=MODELS,
        walking_distance=distance,
        current_fleet=tuple(device for device in current if device.id not in retired_last_year),
        limits=Limits(max_walking_distance=MAX_WALK),
        walking_cost_per_unit=Decimal("0.05"),
        horizon_months=36,
    )


@pytest.fixture(scope="module")
def problem() -> Problem:
    return mps_problem()


@pytest.fixture(scope="module")
def plan(problem: Problem) -> Plan:
    return solve(problem, Params(time_limit_seconds=60, num_workers=1))


def test_case_is_the_advertised_size(problem: Problem) -> None:
    assert len(problem.groups) == 15 and sum(group.users for group in problem.groups) == 120
    assert len(problem.models) == 6 and len(problem.current_fleet) == 25
    assert len({position.id[:2] for position in problem.positions}) == 3


def test_plan_serves_every_group_within_walking_distance_with_the_features_it_needs(
    problem: Problem, plan: Plan
) -> None:
    assert plan.status is Status.OPTIMAL
    models = {model.id: model for model in problem.models}
    assignments = {a.group_id: a for a in plan.assignments}
    assert sorted(assignments) == sorted(group.id for group in problem.groups)
    planned = {(d.position_id, d.slot): d.model_id for d in plan.devices}
    load: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for group in problem.groups:
        a = assignments[group.id]
        assert planned[(a.position_id, a.slot)] == a.model_id
        assert problem.walking_distance[(group.id, a.position_id)] <= MAX_WALK
        assert group.needs <= models[a.model_id].features, group.id
        for resource, amount in group.demand.items():
            load[(a.position_id, a.slot)][resource] += amount
    for key, used in load.items():
        capacity = models[planned[key]].capacity
        assert all(amount <= capacity[resource] for resource, amount in used.items()), key


def test_plan_costs_less_than_todays_fleet_and_accounts_for_every_device(problem: Problem, plan: Plan) -> None:
    assert plan.today is not None and plan.cost is not None and plan.changes is not None
    assert plan.cost.monthly < plan.today.monthly
    assert plan.monthly_saving is not None and plan.monthly_saving * problem.horizon_months > plan.cost.change_one_off
    changes = plan.changes
    touched = list(changes.kept) + [device_id for device_id, _, _ in changes.moved] + list(changes.retired)
    assert sorted(touched) == sorted(device.id for device in problem.current_fleet)
    assert len(plan.devices) == len(changes.kept) + len(changes.moved) + len(changes.added)
    assert len(plan.devices) < len(problem.current_fleet)
    assert plan.cost.change_one_off == 150 * len(changes.added) + 60 * len(changes.moved) + 40 * len(changes.retired)
    assert plan.objective is not None
    # The solver prices each group's monthly cost to the cent; the plan's costs are exact.
    exact = problem.horizon_months * plan.cost.monthly + plan.cost.change_one_off
    assert abs(plan.objective - exact) <= Decimal("0.005") * len(problem.groups) * problem.horizon_months
