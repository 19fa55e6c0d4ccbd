"""Alarms: one active alarm per (asset, fault key), raised by normalized faults and ended by the
device's own clearing signal or by a quiet period.

An alarm is an episode of one kind of fault on one asset. `observe` opens it or counts a repeat,
`clear` applies a device clearing signal (a printer alert row removed, a J1939 DTC gone from DM1,
a Redfish ClearingLogic, a supply back above its threshold), `expire_quiet` ends alarms the
device stopped repeating. Everything here is a pure function over frozen dataclasses; the caller
stores what they return. Apply a device event's clearing signal before observing the fault it
raises, so that an event which clears and raises (Redfish `...Restored` messages) ends in the
right state.

Flapping (after Nagios' flap detection: the alarm stays, the notifications stop):
- a fault observed within `FlapPolicy.window` after the device cleared its alarm reopens that
  alarm (the same episode; its count goes on) instead of opening a new one;
- the device clear that makes `FlapPolicy.cycles` clears inside the window marks the alarm
  `flapping`; it then stays ACTIVE, and later device clears only empty its conditions;
- a flapping alarm ends only by the quiet period (no raise for `quiet_period`);
- the work-order rules create no new order for a flapping alarm; it is still attached to an open
  order of its family (see `work_order_rules.decide`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from services.maintenance.domain.diagnostics import (
    ClearingRule,
    DecodedEvent,
    DtcCleared,
    NormalizedFault,
    PrinterAlertRemoved,
    RedfishEvent,
    Severity,
    SupplyLevel,
)
from services.maintenance.domain.frozen import assemble
from services.maintenance.domain.utc import as_utc
from services.runtime.errors import FailedPrecondition, InvalidArgument


class AlarmState(StrEnum):
    ACTIVE = "active"
    CLEARED = "cleared"


class ClearReason(StrEnum):
    DEVICE_SIGNAL = "device_signal"
    QUIET_PERIOD = "quiet_period"


@dataclass(frozen=True)
class FlapPolicy:
    cycles: int = 3
    window: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.cycles < 2:
            raise InvalidArgument.field("flap_policy.cycles", "must be at least 2")
        if self.window <= timedelta(0):
            raise InvalidArgument.field("flap_policy.window", "must be positive")


DEFAULT_FLAP_POLICY = FlapPolicy()


@dataclass(frozen=True)
class AlarmKey:
    """Names one episode: the asset, the kind of fault, and when the episode began."""

    asset: str
    fault_key: str
    first_seen: datetime


@dataclass(frozen=True)
class Alarm:
    asset: str
    fault_key: str
    family: str
    fault: NormalizedFault  # the latest observation
    peak_severity: Severity
    state: AlarmState
    first_seen: datetime
    last_seen: datetime
    count: int
    conditions: frozenset[str]  # device conditions raising it now; empty once all were cleared
    recent_clears: tuple[datetime, ...] = ()  # device clears inside the flapping window
    flapping: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    cleared_at: datetime | None = None
    clear_reason: ClearReason | None = None

    @property
    def key(self) -> AlarmKey:
        return AlarmKey(self.asset, self.fault_key, self.first_seen)

    @property
    def is_active(self) -> bool:
        return self.state is AlarmState.ACTIVE

    def active_for(self, now: datetime) -> timedelta:
        return max(timedelta(0), (self.cleared_at or now) - self.first_seen)


class ClearingSignal(Protocol):
    """A device's statement that some of its conditions ended."""

    @property
    def asset(self) -> str: ...

    def clears(self, condition_id: str) -> bool: ...


@dataclass(frozen=True)
class ConditionsEnded:
    """Conditions the device reports as gone by a reading rather than a removal message."""

    asset: str
    condition_ids: frozenset[str]

    def clears(self, condition_id: str) -> bool:
        return condition_id in self.condition_ids


@dataclass(frozen=True)
class RedfishClearing:
    asset: str
    rule: ClearingRule

    def clears(self, condition_id: str) -> bool:
        return self.rule.clears(condition_id)


def fault_family(fault_key: str, category: str) -> str:
    """Faults that one repair visit deals with together: device class plus catalogue category,
    e.g. `printer/paper-path` for every jam and feed fault of a printer."""
    device_class, separator, _ = fault_key.partition("/")
    return f"{device_class}/{category}" if separator else category


def clearing_signal(event: DecodedEvent, raised: NormalizedFault | None) -> ClearingSignal | None:
    """The clearing signal in a decoded event, if any. `raised` is what `normalize` made of the
    same event: a supply level that raises no fault (it is above its threshold again, e.g. a new
    cartridge) ends that supply's condition."""
    match event:
        case PrinterAlertRemoved() | DtcCleared():
            return event
        case RedfishEvent(clearing=ClearingRule() as rule):
            return RedfishClearing(event.asset, rule)
        case SupplyLevel() if raised is None and event.percent_remaining is not None:
            return ConditionsEnded(event.asset, frozenset({event.condition_id}))
    return None


def observe(
    current: Alarm | None,
    fault: NormalizedFault,
    at: datetime,
    policy: FlapPolicy = DEFAULT_FLAP_POLICY,
) -> Alarm:
    """The alarm after `fault` was seen at `at`. `current` is the latest alarm of the same asset
    and fault key, active or cleared, or None. A repeat counts and moves last-seen; a fault seen
    soon after a device clear reopens the alarm (flapping rule); otherwise a new alarm opens."""
    at = as_utc(at, "observed_at")
    if current is not None and (current.asset, current.fault_key) != (fault.asset, fault.fault_key):
        raise InvalidArgument.field("alarm", "belongs to another asset or fault key than the fault")
    if current is None or not (current.is_active or _reopens(current, at, policy)):
        return assemble(Alarm, {
            "asset": fault.asset,
            "fault_key": fault.fault_key,
            "family": fault_family(fault.fault_key, fault.category),
            "fault": fault,
            "peak_severity": fault.severity,
            "state": AlarmState.ACTIVE,
            "first_seen": at,
            "last_seen": at,
            "count": 1,
            "conditions": frozenset({fault.condition_id}),
            "recent_clears": (),
            "flapping": False,
            "acknowledged_at": None,
            "acknowledged_by": None,
            "cleared_at": None,
            "clear_reason": None,
        })
    latest = at >= current.last_seen
    return _changed(
        current,
        fault=fault if latest else current.fault,
        peak_severity=max(current.peak_severity, fault.severity),
        state=AlarmState.ACTIVE,
        first_seen=min(current.first_seen, at),
        last_seen=max(current.last_seen, at),
        count=current.count + 1,
        # A repeat mostly comes from a condition the alarm holds, and mostly with no recent clears.
        conditions=current.conditions
        if fault.condition_id in current.conditions
        else current.conditions | {fault.condition_id},
        recent_clears=_inside_window(current.recent_clears, at, policy) if current.recent_clears else (),
        cleared_at=None,
        clear_reason=None,
    )


def clear(
    alarm: Alarm,
    signal: ClearingSignal,
    at: datetime,
    policy: FlapPolicy = DEFAULT_FLAP_POLICY,
) -> Alarm:
    """The alarm after a device clearing signal. It clears when the signal ends its last active
    condition, unless it is (or thereby becomes) flapping. A signal that ends none of its
    conditions leaves it unchanged."""
    at = as_utc(at, "cleared_at")
    if not alarm.is_active or signal.asset != alarm.asset:
        return alarm
    # Most signals end none of this alarm's conditions (a supply reading above its threshold
    # is checked against every active alarm of the printer): answered before building a set.
    if not any(map(signal.clears, alarm.conditions)):
        return alarm
    remaining = frozenset(c for c in alarm.conditions if not signal.clears(c))
    if remaining:
        return _changed(alarm, conditions=remaining)
    clears = _inside_window(alarm.recent_clears, at, policy) + (at,)
    if alarm.flapping or len(clears) >= policy.cycles:
        return _changed(alarm, conditions=remaining, recent_clears=clears, flapping=True)
    return _changed(
        alarm,
        conditions=remaining,
        recent_clears=clears,
        state=AlarmState.CLEARED,
        cleared_at=at,
        clear_reason=ClearReason.DEVICE_SIGNAL,
    )


def apply_clearing(
    alarms: Iterable[Alarm],
    signal: ClearingSignal,
    at: datetime,
    policy: FlapPolicy = DEFAULT_FLAP_POLICY,
) -> list[Alarm]:
    """The alarms `signal` changed (one Redfish ClearingLogic may end several), in input order."""
    changed = []
    for alarm in alarms:
        after = clear(alarm, signal, at, policy)
        if after != alarm:
            changed.append(after)
    return changed


def expire_quiet(alarms: Iterable[Alarm], now: datetime, quiet_period: timedelta) -> list[Alarm]:
    """Active alarms not raised for `quiet_period`, cleared at the moment the period ran out (so
    the result does not depend on how often this runs). Flapping alarms end here too."""
    now = as_utc(now, "now")
    if quiet_period <= timedelta(0):
        raise InvalidArgument.field("quiet_period", "must be positive")
    return [
        _changed(
            alarm,
            state=AlarmState.CLEARED,
            cleared_at=alarm.last_seen + quiet_period,
            clear_reason=ClearReason.QUIET_PERIOD,
            flapping=False,
            recent_clears=(),
        )
        for alarm in alarms
        if alarm.is_active and now - alarm.last_seen >= quiet_period
    ]


def acknowledge(alarm: Alarm, by: str, at: datetime) -> Alarm:
    """Someone has seen the alarm. Acknowledging again keeps the first acknowledgement."""
    at = as_utc(at, "acknowledged_at")
    if not by.strip():
        raise InvalidArgument.field("acknowledged_by", "is required")
    if alarm.acknowledged_at is not None:
        return alarm
    if not alarm.is_active:
        raise FailedPrecondition("a cleared alarm cannot be acknowledged", reason="ALARM_CLEARED")
    return _changed(alarm, acknowledged_at=at, acknowledged_by=by)


def _reopens(alarm: Alarm, at: datetime, policy: FlapPolicy) -> bool:
    """A device clear followed closely by the same fault is one flapping episode; after a quiet
    period the device had gone silent, so a new fault is a new episode."""
    return (
        alarm.clear_reason is ClearReason.DEVICE_SIGNAL
        and alarm.cleared_at is not None
        and timedelta(0) <= at - alarm.cleared_at <= policy.window
    )


def _changed(alarm: Alarm, **changes: Any) -> Alarm:
    # The alarm with some fields changed, paid on every event an alarm sees: its attributes copied
    # as they are, at a third of the cost of the frozen dataclass's __init__ (one object.__setattr__
    # per field; dataclasses.replace costs more still). Every attribute of an Alarm is a field, and
    # Alarm has no __post_init__ to skip.
    new = object.__new__(Alarm)
    attributes = new.__dict__
    attributes.update(alarm.__dict__)
    attributes.update(changes)
    return new


def _inside_window(clears: tuple[datetime, ...], at: datetime, policy: FlapPolicy) -> tuple[datetime, ...]:
    return tuple(moment for moment in clears if at - moment <= policy.window)
