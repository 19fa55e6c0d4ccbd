"""Technician day plans: skills, site-local windows, SLA priority, reasons for what is left out."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from scheduling_factory import DAY, order, site, technician

from services.maintenance.scheduling.model import (
    BreakRule,
    OpeningHours,
    Params,
    Priority,
    Problem,
    SlaKind,
    Solution,
    UnassignedReason,
)
from services.maintenance.scheduling.planner import solve
from services.maintenance.scheduling.routing_core import SolverStatus

FAST = Params(time_limit=timedelta(seconds=1))


def assigned(solution: Solution) -> dict[str, str]:
    return {v.order_id: p.technician_id for p in solution.plans for v in p.visits}


def reasons(solution: Solution) -> dict[str, UnassignedReason]:
    return {u.order_id: u.reason for u in solution.unassigned}


def test_each_order_goes_to_a_technician_with_its_skill() -> None:
    techs = (technician("printer-tech", ("printer",)), technician("forklift-tech", ("forklift",)))
    orders = tuple(
        order(f"{skill}-{i}", site(north_km=i, east_km=-i), skill=skill)
        for i in range(3)
        for skill in ("printer", "forklift")
    )
    solution = solve(Problem(techs, orders), FAST)
    assert solution.status is SolverStatus.FEASIBLE
    plan = assigned(solution)
    assert len(plan) == 6
    for order_id, tech_id in plan.items():
        assert tech_id == f"{order_id.split('-')[0]}-tech"


def test_visits_fall_in_site_opening_hours_in_the_site_timezone() -> None:
    # Both sites open 09:00-11:00 local time: 08:00 UTC in Berlin, 13:00 UTC in New York (EDT
    # already started on 9 March 2025), so one shift covering both must visit them hours apart.
    morning = (OpeningHours(DAY.weekday(), time(9), time(11)),)
    berlin = order("berlin", site(east_km=5, hours=morning), hours=0.5)
    new_york = order(
        "new-york", site(north_km=5, timezone="America/New_York", hours=morning), hours=0.5
    )
    tech = technician("t1", start_hour=6, end_hour=18)
    solution = solve(Problem((tech,), (berlin, new_york)), FAST)
    visits = {v.order_id: v for p in solution.plans for v in p.visits}
    assert set(visits) == {"berlin", "new-york"}
    for order_id, zone in (("berlin", "Europe/Berlin"), ("new-york", "America/New_York")):
        local_start = visits[order_id].start.astimezone(ZoneInfo(zone))
        local_end = visits[order_id].departure.astimezone(ZoneInfo(zone))
        assert local_start.time() >= time(9) and local_end.time() <= time(11), order_id
    assert visits["berlin"].departure <= DAY + timedelta(hours=10)
    assert visits["new-york"].start >= DAY + timedelta(hours=13)


def test_closed_site_is_unassigned_for_window() -> None:
    sunday_only = (OpeningHours(6, time(9), time(17)),)
    solution = solve(
        Problem((technician("t1"),), (order("closed", site(hours=sunday_only)),)), FAST
    )
    assert reasons(solution) == {"closed": UnassignedReason.WINDOW}


def test_hard_sla_past_reach_is_unassigned_for_window() -> None:
    far = order(
        "far", site(north_km=60), sla_deadline=DAY + timedelta(hours=8), sla_kind=SlaKind.HARD
    )
    solution = solve(Problem((technician("t1", start_hour=7),), (far,)), FAST)
    assert reasons(solution) == {"far": UnassignedReason.WINDOW}


def test_sla_critical_order_is_served_first_when_the_day_is_short() -> None:
    # Room for one 3-hour job in a 4-hour shift: the urgent hard-SLA one must win over a
    # normal order of a better account.
    tech = technician("t1", start_hour=8, end_hour=12)
    routine = order("routine", site(east_km=2), hours=3, customer_weight=2)
    critical = order(
        "critical",
        site(east_km=-2),
        hours=3,
        priority=Priority.URGENT,
        sla_deadline=DAY + timedelta(hours=12),
        sla_kind=SlaKind.HARD,
    )
    solution = solve(Problem((tech,), (routine, critical)), FAST)
    assert assigned(solution) == {"critical": "t1"}
    assert reasons(solution) == {"routine": UnassignedReason.CAPACITY}


def test_higher_tier_account_is_kept_when_not_everything_fits() -> None:
    tech = technician("t1", start_hour=8, end_hour=12)
    small = order("small-account", site(east_km=1), hours=3, customer_weight=1)
    large = order("large-account", site(east_km=-1), hours=3, customer_weight=5)
    solution = solve(Problem((tech,), (small, large)), FAST)
    assert assigned(solution) == {"large-account": "t1"}


def test_unassigned_reasons_name_skill_territory_and_parts() -> None:
    tech = technician(
        "t1", skills=("printer",), territories=frozenset({"north"}), van_stock={"fuser": 1}
    )
    orders = (
        order("needs-forklift", skill="forklift"),
        order("wrong-territory", site(territory="south")),
        order("needs-drum", parts={"drum": 1}),
        order("doable", site(territory="north"), parts={"fuser": 1}),
    )
    solution = solve(Problem((tech,), orders), FAST)
    assert assigned(solution) == {"doable": "t1"}
    assert reasons(solution) == {
        "needs-forklift": UnassignedReason.SKILL,
        "wrong-territory": UnassignedReason.TERRITORY,
        "needs-drum": UnassignedReason.PARTS,
    }


def test_van_stock_is_consumed_across_visits() -> None:
    tech = technician("t1", van_stock={"fuser": 1})
    orders = (
        order("a", site(east_km=1), parts={"fuser": 1}),
        order("b", site(east_km=2), parts={"fuser": 1}),
    )
    solution = solve(Problem((tech,), orders), FAST)
    assert len(assigned(solution)) == 1
    assert list(reasons(solution).values()) == [UnassignedReason.CAPACITY]


def test_soft_sla_lateness_is_reported_and_break_is_kept() -> None:
    lunch = BreakRule(DAY + timedelta(hours=11), DAY + timedelta(hours=12), timedelta(minutes=30))
    tech = technician("t1", start_hour=8, end_hour=17, lunch_break=lunch)
    # Two 2-hour jobs both due by 10:00: one of them cannot make it.
    due = DAY + timedelta(hours=10)
    orders = tuple(order(f"o{i}", site(east_km=i), hours=2, sla_deadline=due) for i in (1, 2))
    solution = solve(Problem((tech,), orders), FAST)
    (plan,) = solution.plans
    assert len(plan.visits) == 2
    assert solution.lateness >= timedelta(hours=1, minutes=59)
    assert plan.lunch_break_start is not None
    break_end = plan.lunch_break_start + timedelta(minutes=30)
    for visit in plan.visits:
        assert visit.departure <= plan.lunch_break_start or visit.start >= break_end


def test_travel_and_etas_are_consistent() -> None:
    tech = technician("t1")
    orders = tuple(order(f"o{i}", site(north_km=3 * i, east_km=2), hours=0.5) for i in range(4))
    solution = solve(Problem((tech,), orders), FAST)
    (plan,) = solution.plans
    assert plan.travel_metres > 2 * 9_000  # out to the farthest site and back, at least
    for visit in plan.visits:
        assert plan.leaves <= visit.arrival <= visit.start < visit.departure <= plan.returns
    assert solution.travel_metres == plan.travel_metres


def test_orders_are_never_silently_dropped() -> None:
    techs = (technician("t1", start_hour=8, end_hour=10),)
    orders = tuple(order(f"o{i}", site(north_km=i), hours=1) for i in range(5))
    solution = solve(Problem(techs, orders), FAST)
    planned = set(assigned(solution))
    left_out = set(reasons(solution))
    assert planned | left_out == {o.id for o in orders}
    assert not planned & left_out


@pytest.mark.parametrize(
    ("problem", "params", "message"),
    [
        (Problem((), (order("a"),)), FAST, "at least one technician"),
        (Problem((technician("t1"),), (order("a"), order("a"))), FAST, "order ids must be unique"),
        (Problem((technician("t1"),), (order("a"),)), Params(workers=2), "single-threaded"),
    ],
)
def test_bad_input_is_refused(problem: Problem, params: Params, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve(problem, params)
