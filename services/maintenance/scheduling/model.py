"""The technician day-planning problem and its solution, as plain dataclasses.

All datetimes are timezone-aware UTC. Site opening hours are given in the site's local time and
turned into UTC windows with zoneinfo (`opening_windows`), so daylight-saving days come out right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from services.maintenance.scheduling.routing_core import SolverStatus


class Objective(Enum):
    DISTANCE = "distance"  # least travel, any number of routes
    VEHICLES = "vehicles"  # fewest routes (technicians or vehicles) first, then least travel


class Priority(Enum):
    LOW = 1
    NORMAL = 2
    HIGH = 5
    URGENT = 20


class SlaKind(Enum):
    HARD = "hard"  # the visit must finish by the deadline, or not be planned at all
    SOFT = "soft"  # finishing late costs `lateness_cost_per_second` for every second late


class UnassignedReason(Enum):
    SKILL = "skill"  # no technician has the required skill
    TERRITORY = "territory"  # skilled technicians exist, none covers the site's territory
    PARTS = "parts"  # no eligible van carries the parts: needs a depot run or a later day
    WINDOW = (
        "window"  # no eligible technician can reach the site while open (and before a hard SLA)
    )
    CAPACITY = "capacity"  # feasible alone, but the day is full: left out for higher-value orders


class VisitStatus(Enum):
    PLANNED = "planned"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    DONE = "done"


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    key: str = ""  # row/column name in a supplied TravelMatrix


@dataclass(frozen=True)
class TimeWindow:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("time windows need timezone-aware datetimes")
        if self.end < self.start:
            raise ValueError(f"window ends before it starts: {self.start} > {self.end}")


@dataclass(frozen=True)
class OpeningHours:
    weekday: int  # 0 = Monday, as datetime.weekday()
    opens: time
    closes: time


def opening_windows(
    hours: Sequence[OpeningHours], timezone: str, first_day: date, last_day: date
) -> tuple[TimeWindow, ...]:
    """The site's opening hours on each local date in [first_day, last_day], as UTC windows."""
    zone = ZoneInfo(timezone)
    windows: list[TimeWindow] = []
    day = first_day
    while day <= last_day:
        for slot in hours:
            if slot.weekday == day.weekday():
                opens = datetime.combine(day, slot.opens, zone).astimezone(UTC)
                closes = datetime.combine(day, slot.closes, zone).astimezone(UTC)
                windows.append(TimeWindow(opens, closes))
        day += timedelta(days=1)
    return tuple(sorted(windows, key=lambda w: w.start))


@dataclass(frozen=True)
class Site:
    location: Location
    timezone: str  # IANA name, e.g. "Europe/Berlin"
    opening_hours: tuple[OpeningHours, ...]
    territory: str | None = None


@dataclass(frozen=True)
class BreakRule:
    earliest_start: datetime
    latest_start: datetime
    duration: timedelta


@dataclass(frozen=True)
class Technician:
    id: str
    skills: frozenset[str]
    home: Location
    shift: TimeWindow
    lunch_break: BreakRule | None = None
    territories: frozenset[str] | None = None  # None: goes anywhere
    van_stock: Mapping[str, int] = field(default_factory=dict)  # part number -> quantity
    # Where the day continues from when re-planning (last finished site); None: home.
    start_location: Location | None = None


@dataclass(frozen=True)
class WorkOrder:
    id: str
    site: Site
    duration: timedelta
    skill: str
    parts: Mapping[str, int] = field(default_factory=dict)
    priority: Priority = Priority.NORMAL
    sla_deadline: datetime | None = None  # the visit should be finished by then
    sla_kind: SlaKind = SlaKind.SOFT
    lateness_cost_per_second: int = 5  # metres of travel one second of soft-SLA lateness is worth
    customer_weight: int = 1  # account tier: higher is served first when not everything fits


@dataclass(frozen=True)
class HaversineTravel:
    road_factor: float = 1.3
    speed_kmh: float = 50.0


@dataclass(frozen=True)
class TravelMatrix:
    keys: tuple[str, ...]  # Location.key of each row and column
    metres: Sequence[Sequence[float]]
    seconds: Sequence[Sequence[float]]


@dataclass(frozen=True)
class Problem:
    technicians: tuple[Technician, ...]
    orders: tuple[WorkOrder, ...]
    travel: HaversineTravel | TravelMatrix = HaversineTravel()
    now: datetime | None = None  # when re-planning: nothing new starts before this
    # Re-planning: per technician, visits under way (EN_ROUTE/ON_SITE) that must open the route,
    # with the service start each is pinned to (None: not before `now`).
    fixed_visits: Mapping[str, tuple[tuple[str, datetime | None], ...]] = field(
        default_factory=dict
    )
    # Re-planning: the current plan's order sequence per technician, used as the first solution.
    warm_start: Mapping[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Params:
    time_limit: timedelta = timedelta(seconds=10)
    # OR-Tools routing search is single-threaded; more workers are refused rather than ignored.
    workers: int = 1
    objective: Objective = Objective.DISTANCE
    # Cost of leaving an order out, in metres of travel, before weight x priority multipliers.
    unserved_base_cost: int = 10_000_000


@dataclass(frozen=True)
class PlannedVisit:
    order_id: str
    arrival: datetime  # ETA at the site
    start: datetime  # service start (arrival, or opening time if early)
    departure: datetime
    travel_metres: float  # from the previous stop
    lateness: timedelta  # past a soft SLA deadline; zero when on time
    fixed: bool = False


@dataclass(frozen=True)
class TechnicianPlan:
    technician_id: str
    leaves: datetime
    returns: datetime
    visits: tuple[PlannedVisit, ...]
    travel_metres: float
    lunch_break_start: datetime | None = None


@dataclass(frozen=True)
class UnassignedOrder:
    order_id: str
    reason: UnassignedReason
    detail: str


@dataclass(frozen=True)
class Solution:
    status: SolverStatus
    plans: tuple[TechnicianPlan, ...]
    unassigned: tuple[UnassignedOrder, ...]
    travel_metres: float
    lateness: timedelta
    objective: int | None  # integer cost the solver minimised (metres + penalties)
    # Routing local search proves no lower bound, so best_bound and gap stay None.
    best_bound: int | None
    gap: float | None
    seconds: float
    notes: tuple[str, ...] = ()
