"""Preventive maintenance: meter crossings (once per crossing), calendar due dates, and merging
due maintenance into an open corrective visit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.maintenance.domain.diagnostics import Severity
from services.maintenance.domain.preventive import (
    DueReason,
    MergeIntoOrder,
    PmPlan,
    due_by_calendar,
    due_by_meter,
    meter_crossings,
    next_calendar_due,
    place_due_pm,
    plans_for,
    site_today,
)
from services.maintenance.domain.work_order_rules import NoAction
from services.maintenance.domain.work_orders import (
    CreateOrder,
    WorkOrderKind,
    add_pm_task,
    cancel,
    open_order,
)
from services.runtime.errors import InvalidArgument

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
HOURS_PLAN = PmPlan("pmPlans/service-500h", "500-hour service", "forklift/preventive-maintenance", "forklift-mechanic",
                    90, ("oil-filter",), model="models/ec-30", meter="hours", every_units=Decimal(500),
                    start_value=Decimal(1000))
CALENDAR_PLAN = PmPlan("pmPlans/quarterly", "quarterly inspection", "forklift/preventive-maintenance",
                       "forklift-mechanic", 30, model="models/ec-30", every_days=90, start_date=date(2025, 1, 1))


def d(value: str) -> Decimal:
    return Decimal(value)


@pytest.mark.parametrize(
    ("previous", "new", "crossed"),
    [
        ("1400", "1499.9", ()),
        ("1400", "1500", (1,)),  # reaching the multiple is crossing it
        ("1500", "1999", ()),  # ... and it does not fire again
        ("1999.5", "2000", (2,)),
        ("2000", "3600", (3, 4, 5)),  # one jump over three multiples
        ("0", "999", ()),  # below the start value nothing is due
        ("0", "1000", ()),  # the start value itself is not a service point
        ("900", "1600", (1,)),
        ("1700", "1700", ()),
    ],
)
def test_meter_crossings(previous: str, new: str, crossed: tuple[int, ...]) -> None:
    assert meter_crossings(HOURS_PLAN, d(previous), d(new)) == crossed


def test_a_jump_over_several_multiples_is_one_due_task_naming_them_all() -> None:
    due = due_by_meter(HOURS_PLAN, "assets/forklift-7", d("2000"), d("3600"))
    assert due.reason is DueReason.METER and due.multiples == (3, 4, 5)
    task = due.task()
    assert task.reason == "hours reached 3500 (covers 3 intervals)" and task.plan == HOURS_PLAN.id
    assert due_by_meter(HOURS_PLAN, "assets/forklift-7", d("3600"), d("3700")) is None


def test_a_meter_going_backwards_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        meter_crossings(HOURS_PLAN, d("1600"), d("1500"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=30), st.integers(0, 2000))
def test_each_multiple_fires_exactly_once_however_the_readings_fall(steps: list[int], first: int) -> None:
    readings = [Decimal(first)]
    for step in steps:
        readings.append(readings[-1] + step)
    fired = [k for before, after in zip(readings, readings[1:], strict=False)
             for k in meter_crossings(HOURS_PLAN, before, after)]
    assert fired == list(meter_crossings(HOURS_PLAN, readings[0], readings[-1]))
    assert len(set(fired)) == len(fired)


def test_calendar_due_dates_float_from_the_last_service() -> None:
    assert next_calendar_due(CALENDAR_PLAN, None) == date(2025, 4, 1)
    assert next_calendar_due(CALENDAR_PLAN, date(2025, 4, 20)) == date(2025, 7, 19)
    assert next_calendar_due(HOURS_PLAN, None) is None
    assert due_by_calendar(CALENDAR_PLAN, "assets/f", date(2025, 3, 31), None) is None
    assert due_by_calendar(CALENDAR_PLAN, "assets/f", date(2025, 3, 24), None, lead_days=7) is None
    due = due_by_calendar(CALENDAR_PLAN, "assets/f", date(2025, 3, 25), None, lead_days=7)
    assert due.due_date == date(2025, 4, 1) and due.task().reason == "due 2025-04-01"


def test_the_site_date_decides_when_a_plan_falls_due() -> None:
    evening_utc = datetime(2025, 3, 31, 20, 0, tzinfo=UTC)  # already 1 April in Tokyo
    assert site_today(evening_utc, "Asia/Tokyo") == date(2025, 4, 1)
    assert site_today(evening_utc, "America/Chicago") == date(2025, 3, 31)


def test_an_asset_plan_overrides_its_models_plan_for_the_same_task() -> None:
    own = PmPlan("pmPlans/f7-250h", "500-hour service", "forklift/preventive-maintenance", "forklift-mechanic", 90,
                 asset="assets/forklift-7", meter="hours", every_units=Decimal(250))
    other_model = PmPlan("pmPlans/other", "annual", "forklift/preventive-maintenance", None, 30,
                         model="models/other", every_days=365, start_date=date(2025, 1, 1))
    plans = [HOURS_PLAN, CALENDAR_PLAN, own, other_model]
    assert plans_for("assets/forklift-7", "models/ec-30", plans) == [own, CALENDAR_PLAN]
    assert plans_for("assets/forklift-8", "models/ec-30", plans) == [HOURS_PLAN, CALENDAR_PLAN]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(model="m", asset="a", every_days=30, start_date=date(2025, 1, 1)),  # both scopes
        dict(model="m"),  # no interval
        dict(model="m", every_days=30),  # no start date
        dict(model="m", every_units=Decimal(100)),  # no meter
        dict(model="m", meter="hours", every_units=Decimal(0)),
    ],
)
def test_plans_are_validated(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        PmPlan("pmPlans/x", "x", "f", None, 10, **kwargs)


def corrective(order_id: str, asset: str, skill: str, site: str = "sites/hq", minutes: int = 0):
    create = CreateOrder(asset, WorkOrderKind.CORRECTIVE, "forklift/electrical", Severity.MAJOR, skill, 60,
                         ("fuse",), "alarm")
    return open_order(order_id, create, site, T0 + timedelta(minutes=minutes))


def test_due_pm_merges_into_the_open_corrective_visit_at_the_site() -> None:
    due = due_by_meter(HOURS_PLAN, "assets/forklift-7", d("1400"), d("1500"))
    other_asset = corrective("workOrders/1", "assets/forklift-2", "forklift-mechanic")
    same_asset = corrective("workOrders/2", "assets/forklift-7", "forklift-mechanic", minutes=5)
    wrong_skill = corrective("workOrders/0", "assets/forklift-7", "forklift-electrical", minutes=-5)
    elsewhere = corrective("workOrders/3", "assets/forklift-7", "forklift-mechanic", site="sites/depot")
    placed = place_due_pm(due, "sites/hq", [other_asset, wrong_skill, same_asset, elsewhere])
    assert placed == MergeIntoOrder("workOrders/2", due.task())
    merged = add_pm_task(same_asset, placed.task, T0)
    assert merged.expected_duration_minutes == 60 + 90 and merged.likely_parts == ("fuse", "oil-filter")
    assert add_pm_task(merged, placed.task, T0) is merged
    assert place_due_pm(due, "sites/hq", [merged, other_asset]) == NoAction("already on work order workOrders/2")
    assert place_due_pm(due, "sites/hq", [other_asset]) == MergeIntoOrder("workOrders/1", due.task())


def test_due_pm_without_a_visit_to_join_gets_its_own_preventive_order() -> None:
    due = due_by_calendar(CALENDAR_PLAN, "assets/forklift-7", date(2025, 4, 1), None)
    closed = cancel(corrective("workOrders/1", "assets/forklift-7", "forklift-mechanic"), "duplicate", T0)
    placed = place_due_pm(due, "sites/hq", [closed, corrective("workOrders/2", "assets/x", "printer-technician")])
    assert isinstance(placed, CreateOrder) and placed.kind is WorkOrderKind.PREVENTIVE
    order = open_order("workOrders/4", placed, "sites/hq", T0)
    assert order.pm_tasks == (due.task(),) and order.expected_duration_minutes == 30 and order.downtime is None
