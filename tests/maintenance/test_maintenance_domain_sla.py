"""The business-hours clock (weekends, lunch breaks, holidays, DST changes) and SLA status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.maintenance.domain.business_hours import (
    OpeningHours,
    add_business_time,
    business_time_between,
)
from services.maintenance.domain.sla import SlaStatus, SlaTier, evaluate, start_sla
from services.runtime.errors import InvalidArgument

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = OpeningHours.parse("Europe/Berlin", dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "08:00-17:00"))
LUNCH = OpeningHours.parse("Asia/Tokyo", dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-12:00,13:00-18:00"))
NEW_YORK_24_7 = OpeningHours.always_open("America/New_York")
WEEKEND_SHIFTS = OpeningHours.parse("Europe/Berlin", {"sat": "22:00-24:00", "sun": "00:00-02:30,02:30-05:00"})


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def test_friday_afternoon_response_is_due_monday_morning() -> None:
    due = add_business_time(berlin(2025, 3, 7, 16, 0), hours(4), OFFICE)  # Friday 16:00
    assert due == berlin(2025, 3, 10, 11, 0)
    assert business_time_between(berlin(2025, 3, 7, 16, 0), due, OFFICE) == hours(4)
    assert business_time_between(berlin(2025, 3, 8, 9, 0), berlin(2025, 3, 9, 18, 0), OFFICE) == timedelta(0)


def test_a_request_made_on_saturday_starts_counting_on_monday() -> None:
    assert add_business_time(berlin(2025, 3, 8, 10, 0), hours(2), OFFICE) == berlin(2025, 3, 10, 10, 0)


def test_weekend_clock_across_the_spring_dst_change() -> None:
    friday = berlin(2025, 3, 28, 16, 0)  # 15:00 UTC, CET; clocks go forward on Sunday 30 March
    due = add_business_time(friday, hours(4), OFFICE)
    assert due == berlin(2025, 3, 31, 11, 0) and due.astimezone(UTC).hour == 9  # CEST, not 10 UTC


def test_a_site_open_around_the_clock_has_a_23_hour_and_a_25_hour_sunday() -> None:
    spring = datetime(2025, 3, 9, tzinfo=ZoneInfo("America/New_York"))
    assert business_time_between(spring, spring + timedelta(days=1), NEW_YORK_24_7) == hours(23)
    autumn = datetime(2025, 11, 2, tzinfo=ZoneInfo("America/New_York"))
    assert business_time_between(autumn, autumn + timedelta(days=1), NEW_YORK_24_7) == hours(25)
    saturday_noon = datetime(2025, 3, 8, 12, tzinfo=ZoneInfo("America/New_York"))
    assert add_business_time(saturday_noon, hours(24), NEW_YORK_24_7) == datetime(
        2025, 3, 9, 13, tzinfo=ZoneInfo("America/New_York"))


def test_night_shift_through_the_skipped_hour_counts_real_time() -> None:
    saturday = berlin(2025, 3, 29, 12, 0)
    # Sat 22:00-24:00 CET, then Sun 00:00-05:00 where 02:00-03:00 does not exist: 2 h + 4 h.
    assert business_time_between(saturday, berlin(2025, 3, 30, 12, 0), WEEKEND_SHIFTS) == hours(6)
    assert add_business_time(saturday, hours(4), WEEKEND_SHIFTS) == berlin(2025, 3, 30, 3, 0)


def test_lunch_break_and_holidays_are_closed() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    before_lunch = datetime(2025, 5, 1, 11, tzinfo=tokyo)
    assert add_business_time(before_lunch, hours(2), LUNCH) == datetime(2025, 5, 1, 14, tzinfo=tokyo)
    golden_week = OpeningHours(LUNCH.time_zone, LUNCH.weekly, frozenset({date(2025, 5, 5), date(2025, 5, 6)}))
    friday_17 = datetime(2025, 5, 2, 17, tzinfo=tokyo)
    assert add_business_time(friday_17, hours(2), golden_week) == datetime(2025, 5, 7, 10, tzinfo=tokyo)


@pytest.mark.parametrize(
    ("weekly", "field"),
    [
        ({"mon": "08:00-17:00,12:00-13:00"}, "opening_hours.mon"),  # overlapping
        ({"tue": "17:00-08:00"}, "opening_hours.tue"),  # backwards
        ({"wed": "8-17"}, "opening_hours.wed"),
        ({"thu": "08:00-24:30"}, "opening_hours.thu"),
        ({}, "opening_hours.weekly"),  # never open: no due time could be computed
        ({"funday": "08:00-17:00"}, "opening_hours"),
    ],
)
def test_bad_opening_hours_name_the_field(weekly: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        OpeningHours.parse("Europe/Berlin", weekly)
    assert field in [violation.field for violation in caught.value.violations]


def test_unknown_time_zone_is_invalid() -> None:
    with pytest.raises(InvalidArgument):
        OpeningHours.parse("Mars/Olympus", {"mon": "08:00-17:00"})


SITE_HOURS = st.sampled_from([OFFICE, LUNCH, NEW_YORK_24_7, WEEKEND_SHIFTS,
                              OpeningHours.parse("Australia/Lord_Howe", {"sun": "01:00-03:00", "wed": "00:00-24:00"})])
INSTANTS = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC))
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10))


@settings(max_examples=150, deadline=None)
@given(SITE_HOURS, INSTANTS, DURATIONS)
def test_business_time_to_the_due_time_is_the_duration(
    site: OpeningHours, start: datetime, duration: timedelta
) -> None:
    assert business_time_between(start, add_business_time(start, duration, site), site) == duration


@settings(max_examples=150, deadline=None)
@given(SITE_HOURS, INSTANTS, INSTANTS)
def test_adding_the_business_time_between_two_instants_lands_at_or_before_the_second(
    site: OpeningHours, a: datetime, b: datetime
) -> None:
    start, end = min(a, b), max(a, b)
    between = business_time_between(start, end, site)
    assert business_time_between(end, start, site) == -between
    assert timedelta(0) <= between <= end - start
    reached = add_business_time(start, between, site)
    assert reached <= end and business_time_between(reached, end, site) == timedelta(0)


TIER = SlaTier("gold", response_target=hours(4), resolution_target=hours(16), at_risk_share=0.25)


def test_sla_status_over_a_weekend() -> None:
    terms = start_sla(TIER, berlin(2025, 3, 7, 16, 0), OFFICE)
    response = terms.response
    assert response.due_at == berlin(2025, 3, 10, 11, 0)
    assert terms.resolution.due_at == berlin(2025, 3, 11, 14, 0)  # 16 h: Fri 1 + Mon 9 + Tue 6

    saturday = evaluate(response, None, berlin(2025, 3, 8, 12, 0), OFFICE)
    assert saturday.status is SlaStatus.ON_TRACK and saturday.remaining == hours(3)  # the clock stood still
    monday = evaluate(response, None, berlin(2025, 3, 10, 10, 15), OFFICE)
    assert monday.status is SlaStatus.AT_RISK and monday.remaining == timedelta(minutes=45)
    late = evaluate(response, None, berlin(2025, 3, 10, 11, 1), OFFICE)
    assert late.status is SlaStatus.BREACHED and late.breached_at == response.due_at


def test_sla_met_on_time_and_met_late() -> None:
    response = start_sla(TIER, berlin(2025, 3, 7, 16, 0), OFFICE).response
    on_time = evaluate(response, berlin(2025, 3, 10, 11, 0), berlin(2025, 3, 12), OFFICE)
    assert on_time.status is SlaStatus.MET and on_time.breached_at is None
    late = evaluate(response, berlin(2025, 3, 10, 12, 0), berlin(2025, 3, 12), OFFICE)
    assert late.status is SlaStatus.BREACHED and late.breached_at == berlin(2025, 3, 10, 11, 0)
    assert late.remaining == -hours(1)


def test_tier_validation() -> None:
    with pytest.raises(InvalidArgument):
        SlaTier("x", response_target=hours(4), resolution_target=hours(2))
    with pytest.raises(InvalidArgument):
        SlaTier("x", response_target=hours(4), resolution_target=hours(8), at_risk_share=1.5)
