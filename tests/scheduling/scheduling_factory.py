"""Small technician problems around Berlin for the scheduling tests."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from services.maintenance.scheduling.model import (
    Location,
    OpeningHours,
    Site,
    Technician,
    TimeWindow,
    WorkOrder,
)

DAY = datetime(2025, 3, 12, tzinfo=UTC)  # a Wednesday
DEPOT = Location(52.52, 13.405)


def all_week(opens: time = time(0, 0), closes: time = time(23, 59)) -> tuple[OpeningHours, ...]:
    return tuple(OpeningHours(day, opens, closes) for day in range(7))


def site(
    north_km: float = 0.0,
    east_km: float = 0.0,
    timezone: str = "Europe/Berlin",
    hours: tuple[OpeningHours, ...] | None = None,
    territory: str | None = None,
) -> Site:
    location = Location(DEPOT.latitude + north_km / 111.2, DEPOT.longitude + east_km / 67.7)
    return Site(location, timezone, hours or all_week(), territory)


def technician(
    tech_id: str,
    skills: tuple[str, ...] = ("printer",),
    start_hour: int = 7,
    end_hour: int = 16,
    **extra: object,
) -> Technician:
    shift = TimeWindow(DAY + timedelta(hours=start_hour), DAY + timedelta(hours=end_hour))
    return Technician(tech_id, frozenset(skills), DEPOT, shift, **extra)  # type: ignore[arg-type]


def order(
    order_id: str,
    at: Site | None = None,
    hours: float = 1.0,
    skill: str = "printer",
    **extra: object,
) -> WorkOrder:
    return WorkOrder(order_id, at or site(), timedelta(hours=hours), skill, **extra)  # type: ignore[arg-type]
