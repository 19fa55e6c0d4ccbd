"""Properties every technician plan must have, on random small days."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scheduling_factory import order, site, technician

from services.maintenance.scheduling.model import OpeningHours, Params, Problem, WorkOrder
from services.maintenance.scheduling.planner import solve

SKILLS = ("printer", "forklift")
ZONES = ("Europe/Berlin", "Europe/London", "America/New_York")


@st.composite
def days(draw: st.DrawFn) -> Problem:
    techs = tuple(
        technician(
            f"t{i}",
            skills=(draw(st.sampled_from(SKILLS)),),
            start_hour=draw(st.integers(5, 9)),
            end_hour=draw(st.integers(12, 20)),
        )
        for i in range(draw(st.integers(1, 3)))
    )
    orders = []
    for i in range(draw(st.integers(1, 7))):
        opens = draw(st.integers(0, 14))
        hours = tuple(
            OpeningHours(d, time(opens), time(opens + draw(st.integers(2, 9)))) for d in range(7)
        )
        where = site(
            draw(st.floats(-20, 20)), draw(st.floats(-20, 20)), draw(st.sampled_from(ZONES)), hours
        )
        orders.append(
            order(
                f"o{i}",
                where,
                hours=draw(st.sampled_from((0.5, 1.0, 2.0))),
                skill=draw(st.sampled_from(SKILLS)),
            )
        )
    return Problem(techs, tuple(orders))


def within_opening_hours(work: WorkOrder, start_utc, end_utc) -> bool:  # type: ignore[no-untyped-def]
    zone = ZoneInfo(work.site.timezone)
    start, end = start_utc.astimezone(zone), end_utc.astimezone(zone)
    return any(
        slot.weekday == start.weekday()
        and slot.opens <= start.time()
        and end.time() <= slot.closes
        and start.date() == end.date()
        for slot in work.site.opening_hours
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days())
def test_plans_respect_skills_windows_shifts_and_account_for_every_order(problem: Problem) -> None:
    solution = solve(problem, Params(time_limit=timedelta(seconds=0.3)))
    orders = {o.id: o for o in problem.orders}
    techs = {t.id: t for t in problem.technicians}
    planned = [v.order_id for p in solution.plans for v in p.visits]
    unassigned = [u.order_id for u in solution.unassigned]
    assert sorted(planned + unassigned) == sorted(orders)
    for plan in solution.plans:
        tech = techs[plan.technician_id]
        assert tech.shift.start <= plan.leaves and plan.returns <= tech.shift.end
        previous_departure = plan.leaves
        for visit in plan.visits:
            work = orders[visit.order_id]
            assert work.skill in tech.skills
            assert visit.departure - visit.start == work.duration
            assert within_opening_hours(work, visit.start, visit.departure)
            assert previous_departure <= visit.arrival <= visit.start
            previous_departure = visit.departure
        assert previous_departure <= plan.returns
