"""Hand-checkable placement cases whose optimum is worked out in the comments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.fleet.placement import (
    CandidatePosition,
    CurrentDevice,
    DemandGroup,
    DeviceModel,
    InvalidProblemError,
    Limits,
    Params,
    Problem,
    Solver,
    Status,
    solve,
)

PARAMS = Params(time_limit_seconds=10, num_workers=1)

MONO = DeviceModel(
    id="mono",
    capacity={"pages": 10_000},
    monthly_cost=Decimal("30.00"),
    variable_cost={"pages": Decimal("0.005")},
    install_cost=Decimal("100"),
    move_cost=Decimal("40"),
    retire_cost=Decimal("20"),
)
COLOUR = DeviceModel(
    id="colour",
    capacity={"pages": 10_000, "colour_pages": 4_000},
    monthly_cost=Decimal("55.00"),
    features=frozenset({"colour"}),
    variable_cost={"pages": Decimal("0.005"), "colour_pages": Decimal("0.04")},
    install_cost=Decimal("100"),
    move_cost=Decimal("40"),
    retire_cost=Decimal("20"),
)


def one_room(groups: tuple[DemandGroup, ...], **kwargs: object) -> Problem:
    positions = (CandidatePosition("room", max_devices=3),)
    distance = {(group.id, "room"): Decimal(10) for group in groups}
    return Problem(groups=groups, positions=positions, models=(MONO, COLOUR), walking_distance=distance, **kwargs)


@pytest.mark.parametrize("solver", [Solver.HIGHS, Solver.CP_SAT, Solver.SCIP])
def test_colour_need_gets_a_colour_device_and_mono_users_share_it_when_cheaper(solver: Solver) -> None:
    # One colour device cannot take both groups (11,000 pages > 10,000), so the sales group
    # (6,000 pages, 1,000 in colour) takes a colour device and the office (5,000) a mono one:
    # 55 + 30 + 11,000 x 0.005 + 1,000 x 0.04 = 180.00 per month, plus 2 x 100 to install.
    sales = DemandGroup("sales", {"pages": 6_000, "colour_pages": 1_000}, frozenset({"colour"}))
    office = DemandGroup("office", {"pages": 5_000})
    plan = solve(one_room((sales, office)), Params(time_limit_seconds=10, num_workers=1, solver=solver))

    assert plan.status is Status.OPTIMAL
    assert plan.objective == Decimal("380")
    models_by_group = {a.group_id: a.model_id for a in plan.assignments}
    assert models_by_group == {"sales": "colour", "office": "mono"}
    assert plan.cost is not None and plan.cost.monthly == Decimal("180.000")
    assert plan.changes is not None and sorted(plan.changes.added) == [("colour", "room"), ("mono", "room")]


def test_small_groups_share_one_device() -> None:
    # 4,000 + 5,000 pages fit one mono device: 30 + 9,000 x 0.005 = 75 a month, 100 to install.
    groups = (DemandGroup("a", {"pages": 4_000}), DemandGroup("b", {"pages": 5_000}))
    plan = solve(one_room(groups), PARAMS)
    assert plan.status is Status.OPTIMAL
    assert plan.objective == Decimal("175")
    assert len(plan.devices) == 1


def two_rooms(current: tuple[CurrentDevice, ...], horizon_months: int, max_walk: Decimal | None = None) -> Problem:
    group = DemandGroup("team", {"pages": 2_000})
    return Problem(
        groups=(group,),
        positions=(CandidatePosition("east"), CandidatePosition("west")),
        models=(MONO, COLOUR),
        walking_distance={("team", "east"): Decimal(50), ("team", "west"): Decimal(5)},
        current_fleet=current,
        limits=Limits(max_walking_distance=max_walk),
        horizon_months=horizon_months,
    )


def test_keeping_todays_device_costs_nothing_extra() -> None:
    # Today: a colour device in the west (55/month). A mono one is 25 cheaper per month but costs
    # 100 to install and 20 to retire the colour one: over 4 months 4 x 25 = 100 < 120, so keep.
    today = (CurrentDevice("PRN-1", "colour", "west"),)
    plan = solve(two_rooms(today, horizon_months=4), PARAMS)
    assert plan.status is Status.OPTIMAL
    assert plan.changes is not None
    assert plan.changes.kept == ("PRN-1",) and not plan.changes.added and not plan.changes.retired
    assert plan.objective == 4 * (Decimal(55) + Decimal(10))
    assert plan.monthly_saving == Decimal(0)


def test_replacing_pays_off_over_a_long_horizon() -> None:
    # Over 12 months: 12 x 25 = 300 > 120, so retire the colour device and install a mono one.
    today = (CurrentDevice("PRN-1", "colour", "west"),)
    plan = solve(two_rooms(today, horizon_months=12, max_walk=Decimal(20)), PARAMS)
    assert plan.changes is not None
    assert plan.changes.retired == ("PRN-1",) and plan.changes.added == (("mono", "west"),)
    assert plan.objective == 12 * (Decimal(30) + Decimal(10)) + Decimal(120)
    assert plan.cost is not None and plan.cost.change_one_off == Decimal(120)
    assert plan.monthly_saving == Decimal(25)


def test_device_out_of_reach_is_moved_rather_than_replaced() -> None:
    # Today's mono device stands in the east, 50 m away, beyond the 20 m limit: moving it (40)
    # is cheaper than retiring it and installing a new one in the west (20 + 100).
    today = (CurrentDevice("PRN-7", "mono", "east"),)
    plan = solve(two_rooms(today, horizon_months=1, max_walk=Decimal(20)), PARAMS)
    assert plan.status is Status.OPTIMAL
    assert plan.changes is not None and plan.changes.moved == (("PRN-7", "east", "west"),)
    (device,) = plan.devices
    assert (device.position_id, device.current_device_id, device.moved_from) == ("west", "PRN-7", "east")
    assert plan.objective == Decimal(30) + Decimal(10) + Decimal(40)
    # Today's device is out of reach, so today's fleet cannot serve the team at all.
    assert plan.today is None


def test_group_beyond_walking_limit_everywhere_is_infeasible() -> None:
    plan = solve(two_rooms((), horizon_months=1, max_walk=Decimal(1)), PARAMS)
    assert plan.status is Status.INFEASIBLE
    assert plan.objective is None


def test_device_limit_and_budget_are_hard() -> None:
    # 3 x 4,000 pages need two mono devices: 2 x 30 + 12,000 x 0.005 = 120 a month.
    groups = tuple(DemandGroup(name, {"pages": 4_000}) for name in ("a", "b", "c"))
    free = solve(one_room(groups), PARAMS)
    assert free.status is Status.OPTIMAL and len(free.devices) == 2
    assert free.cost is not None and free.cost.monthly == Decimal(120)
    assert solve(one_room(groups, limits=Limits(max_devices=1)), PARAMS).status is Status.INFEASIBLE
    assert solve(one_room(groups, limits=Limits(monthly_budget=Decimal("119.99"))), PARAMS).status is Status.INFEASIBLE
    assert solve(one_room(groups, limits=Limits(monthly_budget=Decimal(120))), PARAMS).status is Status.OPTIMAL


def test_malformed_problem_names_the_field() -> None:
    group = DemandGroup("a", {"pages": 1})
    bad = Problem(
        groups=(group,),
        positions=(CandidatePosition("room"),),
        models=(MONO,),
        walking_distance={("a", "room"): Decimal(1)},
        current_fleet=(CurrentDevice("X", "laser-9000", "room"),),
    )
    with pytest.raises(InvalidProblemError) as error:
        solve(bad, PARAMS)
    assert error.value.field_path == "current_fleet[0].model_id"


def test_split_demand_is_refused_on_cp_sat() -> None:
    problem = one_room((DemandGroup("a", {"pages": 1}),), split_demand=True)
    with pytest.raises(InvalidProblemError, match="split demand"):
        solve(problem, Params(solver=Solver.CP_SAT))
