"""Re-planning around an urgent fault keeps visits under way where they are."""

from __future__ import annotations

from datetime import timedelta

from scheduling_factory import DAY, order, site, technician

from services.maintenance.scheduling.model import (
    Params,
    Priority,
    Problem,
    SlaKind,
    VisitStatus,
)
from services.maintenance.scheduling.planner import solve
from services.maintenance.scheduling.replan import replan

FAST = Params(time_limit=timedelta(seconds=1))


def morning_plan(end_hour: int) -> Problem:
    techs = (
        technician("north", start_hour=8, end_hour=end_hour),
        technician("south", start_hour=8, end_hour=end_hour),
    )
    orders = tuple(
        order(f"{side}-{i}", site(north_km=sign * 4 * i, east_km=i), hours=1)
        for side, sign in (("n", 1), ("s", -1))
        for i in range(1, 4)
    )
    return Problem(techs, orders)


def test_replan_keeps_visits_under_way_and_serves_the_urgent_order() -> None:
    problem = morning_plan(end_hour=13)
    current = solve(problem, FAST)
    assert not current.unassigned
    assert len(current.plans) == 2  # three one-hour jobs a side do not fit one shift
    first, second = current.plans[0], current.plans[1]
    statuses = {
        first.visits[0].order_id: VisitStatus.DONE,
        first.visits[1].order_id: VisitStatus.ON_SITE,
        second.visits[0].order_id: VisitStatus.DONE,
        second.visits[1].order_id: VisitStatus.EN_ROUTE,
    }
    now = first.visits[1].start + timedelta(minutes=10)
    urgent = order(
        "urgent",
        site(north_km=1, east_km=1),
        hours=0.5,
        priority=Priority.URGENT,
        sla_deadline=now + timedelta(hours=3),
        sla_kind=SlaKind.HARD,
    )
    updated = replan(
        problem, current, statuses, [urgent], now, Params(time_limit=timedelta(seconds=2))
    )

    plans = {p.technician_id: p for p in updated.plans}
    on_site = plans[first.technician_id].visits[0]
    assert on_site.order_id == first.visits[1].order_id
    assert on_site.fixed and on_site.start == first.visits[1].start
    en_route = plans[second.technician_id].visits[0]
    assert en_route.order_id == second.visits[1].order_id and en_route.fixed
    served = {v.order_id for p in updated.plans for v in p.visits}
    assert "urgent" in served
    assert first.visits[0].order_id not in served  # done work is not planned again
    assert second.visits[0].order_id not in served
    assert not updated.unassigned
    for plan in updated.plans:
        for visit in plan.visits:
            if not visit.fixed:
                assert visit.start >= now


def test_replan_reports_what_no_longer_fits() -> None:
    problem = morning_plan(end_hour=12)
    current = solve(problem, FAST)
    now = DAY + timedelta(hours=10, minutes=30)
    late_fault = order("late", site(north_km=1), hours=1, priority=Priority.URGENT)
    updated = replan(problem, current, {}, [late_fault], now, FAST)
    served = {v.order_id for p in updated.plans for v in p.visits}
    unassigned = {u.order_id for u in updated.unassigned}
    assert served | unassigned == {o.id for o in problem.orders} | {"late"}
    assert len(served) <= 2  # 90 minutes left in the shifts, one-hour jobs
