"""Service levels: response and resolution targets per contract tier, counted in business time.

A clock starts when the work order opens; its due time (the breach time) is fixed then and stored,
so later changes to opening hours do not move a promise already made. Response is met when the
technician first arrives on site, resolution when the order is completed.

Status of a clock at `now`:
- MET: met at or before its due time;
- BREACHED: met after its due time, or unmet and `now` is past it (`breached_at` is the due time);
- AT_RISK: unmet, and less than `at_risk_share` of the target is left in business time;
- ON_TRACK: otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.maintenance.domain.business_hours import (
    OpeningHours,
    add_business_time,
    business_time_between,
)
from services.maintenance.domain.utc import as_utc
from services.runtime.errors import FieldViolation, InvalidArgument


class SlaStatus(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"


# Beyond a year a target promises nothing; it also keeps the seconds within the column's integer.
MAX_TARGET = timedelta(days=366)


@dataclass(frozen=True)
class SlaTier:
    name: str
    response_target: timedelta
    resolution_target: timedelta
    at_risk_share: float = 0.25

    def __post_init__(self) -> None:
        violations = []
        if self.response_target <= timedelta(0):
            violations.append(FieldViolation("sla_tier.response_target", "must be positive"))
        for field, target in (("response_target", self.response_target), ("resolution_target", self.resolution_target)):
            if target > MAX_TARGET:
                violations.append(FieldViolation(f"sla_tier.{field}", f"must be at most {MAX_TARGET.days} days"))
        if self.resolution_target < self.response_target:
            violations.append(FieldViolation("sla_tier.resolution_target",
                                             "must not be shorter than the response target"))
        if not 0 < self.at_risk_share < 1:
            violations.append(FieldViolation("sla_tier.at_risk_share", "must be between 0 and 1"))
        if violations:
            raise InvalidArgument(violations)


@dataclass(frozen=True)
class SlaClock:
    started_at: datetime
    target: timedelta  # business time
    due_at: datetime  # UTC; the breach time when unmet by then
    at_risk_share: float


@dataclass(frozen=True)
class SlaTerms:
    tier: str
    response: SlaClock
    resolution: SlaClock


@dataclass(frozen=True)
class SlaReading:
    status: SlaStatus
    due_at: datetime
    breached_at: datetime | None
    remaining: timedelta  # business time until due; negative once past it


def start_clock(started_at: datetime, target: timedelta, at_risk_share: float, hours: OpeningHours) -> SlaClock:
    started_at = as_utc(started_at, "started_at")
    return SlaClock(started_at, target, add_business_time(started_at, target, hours), at_risk_share)


def start_sla(tier: SlaTier, started_at: datetime, hours: OpeningHours) -> SlaTerms:
    return SlaTerms(
        tier=tier.name,
        response=start_clock(started_at, tier.response_target, tier.at_risk_share, hours),
        resolution=start_clock(started_at, tier.resolution_target, tier.at_risk_share, hours),
    )


def evaluate(clock: SlaClock, met_at: datetime | None, now: datetime, hours: OpeningHours) -> SlaReading:
    now = as_utc(now, "now")
    end = now if met_at is None else as_utc(met_at, "met_at")
    remaining = business_time_between(end, clock.due_at, hours)
    if end > clock.due_at:
        return SlaReading(SlaStatus.BREACHED, clock.due_at, clock.due_at, remaining)
    if met_at is not None:
        return SlaReading(SlaStatus.MET, clock.due_at, None, remaining)
    at_risk = remaining < clock.target * clock.at_risk_share
    return SlaReading(SlaStatus.AT_RISK if at_risk else SlaStatus.ON_TRACK, clock.due_at, None, remaining)
