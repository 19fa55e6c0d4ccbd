"""A site's opening hours and the business-time clock that SLA targets are counted on.

Opening hours are wall-clock intervals per weekday in the site's IANA time zone, with closed
holidays (site-local dates). Business time is the real elapsed time during which the site is open:
on the night clocks go forward, a site open 00:00-24:00 is open 23 hours. A wall time the clock
skips (02:30 in Berlin's spring gap) is taken as the moment the clock jumps past it (03:00 CEST),
so an interval starting or ending in the gap starts or ends at the jump. A wall time the clock
passes twice (autumn) means its first pass. An overnight shift is two intervals: one ending at
24:00 and one starting at 00:00 the next day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.maintenance.domain.utc import as_utc
from services.runtime.errors import FieldViolation, InvalidArgument

MINUTES_PER_DAY = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")

DayIntervals = tuple[tuple[int, int], ...]  # (start, end) minutes after local midnight


@dataclass(frozen=True)
class OpeningHours:
    time_zone: str
    weekly: tuple[DayIntervals, ...]  # Monday first; () is a closed day
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        violations = []
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            violations.append(FieldViolation("opening_hours.time_zone", f"unknown time zone {self.time_zone!r}"))
        if len(self.weekly) != len(WEEKDAYS):
            violations.append(FieldViolation("opening_hours.weekly", "must list all seven weekdays, Monday first"))
        for day, intervals in zip(WEEKDAYS, self.weekly, strict=False):
            previous_end = 0
            for start, end in intervals:
                if not previous_end <= start < end <= MINUTES_PER_DAY:
                    violations.append(FieldViolation(
                        f"opening_hours.{day}", "intervals must lie within the day, in order, without overlap"))
                    break
                previous_end = end
        if not any(self.weekly):
            violations.append(FieldViolation("opening_hours.weekly", "must be open on at least one weekday"))
        if violations:
            raise InvalidArgument(violations)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def parse(
        cls, time_zone: str, weekly: Mapping[str, str], holidays: Iterable[date] = ()
    ) -> OpeningHours:
        """From `{"mon": "08:00-12:00,13:00-17:00", ...}`; a missing or empty day is closed,
        and "24:00" ends a day."""
        unknown = set(weekly) - set(WEEKDAYS)
        if unknown:
            raise InvalidArgument.field("opening_hours", f"unknown weekdays {sorted(unknown)}; use {WEEKDAYS}")
        return cls(
            time_zone=time_zone,
            weekly=tuple(_parse_day(day, weekly.get(day, "")) for day in WEEKDAYS),
            holidays=frozenset(holidays),
        )

    @classmethod
    def always_open(cls, time_zone: str = "UTC") -> OpeningHours:
        return cls(time_zone, (((0, MINUTES_PER_DAY),),) * len(WEEKDAYS))


def open_intervals(hours: OpeningHours, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The site's open intervals in UTC from `start` on (the first clipped to `start`), in order;
    one per opening-hours entry, so a site open around the clock yields one a day. Endless."""
    start = as_utc(start, "start")
    zone = hours.zone
    day = start.astimezone(zone).date() - timedelta(days=1)
    while True:
        for opened, closed in _day_intervals(hours, zone, day):
            if closed > start:
                yield max(opened, start), closed
        day += timedelta(days=1)


def add_business_time(start: datetime, duration: timedelta, hours: OpeningHours) -> datetime:
    """The UTC instant at which `duration` of business time has passed since `start`. A positive
    duration that runs out exactly at closing ends at the closing time."""
    start = as_utc(start, "start")
    if duration < timedelta(0):
        raise InvalidArgument.field("duration", "must not be negative")
    if duration == timedelta(0):
        return start
    remaining = duration
    for opened, closed in open_intervals(hours, start):
        if remaining <= closed - opened:
            return opened + remaining
        remaining -= closed - opened
    raise AssertionError("open_intervals never ends")


def business_time_between(a: datetime, b: datetime, hours: OpeningHours) -> timedelta:
    """Business time from `a` to `b`; negative when `b` is before `a`."""
    a, b = as_utc(a, "from"), as_utc(b, "to")
    if b < a:
        return -business_time_between(b, a, hours)
    total = timedelta(0)
    for opened, closed in open_intervals(hours, a):
        if opened >= b:
            break
        total += min(closed, b) - opened
    return total


def _day_intervals(hours: OpeningHours, zone: ZoneInfo, day: date) -> Iterator[tuple[datetime, datetime]]:
    if day in hours.holidays:
        return
    for start_minute, end_minute in hours.weekly[day.weekday()]:
        opened, closed = _to_utc(day, start_minute, zone), _to_utc(day, end_minute, zone)
        if opened < closed:  # an interval lying wholly in a skipped DST hour is never open
            yield opened, closed


def _to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    if minute == MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), 0
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    for _ in range(MINUTES_PER_DAY):
        if _exists(local):
            return local.astimezone(UTC)
        local += timedelta(minutes=1)  # wall-clock arithmetic: walks to the end of the gap
    raise InvalidArgument.field("opening_hours.time_zone", f"{zone.key} skips a whole day on {day}")


def _exists(local: datetime) -> bool:
    round_trip = local.astimezone(UTC).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None) == local.replace(tzinfo=None)


def _parse_day(day: str, text: str) -> DayIntervals:
    intervals = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        match = _INTERVAL.match(part)
        if not match:
            raise InvalidArgument.field(f"opening_hours.{day}", f"expected HH:MM-HH:MM, got {part!r}")
        start_h, start_m, end_h, end_m = map(int, match.groups())
        if start_m > 59 or end_m > 59 or start_h > 23 or end_h > 24 or (end_h == 24 and end_m):
            raise InvalidArgument.field(f"opening_hours.{day}", f"not a time of day: {part!r}")
        intervals.append((start_h * 60 + start_m, end_h * 60 + end_m))
    return tuple(intervals)
