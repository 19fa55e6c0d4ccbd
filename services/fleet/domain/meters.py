"""Cumulative meters: which readings to accept, and consumption between two instants.

Counters only go up, except:
- a **rollover**: the counter wrapped at its width (`rollover_at`). A backward reading is a rollover
  when the forward distance through the wrap is less than half the width; a larger jump back is
  not believable as usage and is rejected;
- a **reset**: a board or device swap recorded explicitly with the values before and after;
- **jitter**: a reading at most `backward_jitter_tolerance` below the highest value seen is accepted
  and counts no usage (the counter is taken to stand still until it passes that value again).
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from services.runtime.errors import InvalidArgument

MAX_READINGS_PER_BATCH = 10_000
# Counter values are stored as integers scaled by 10^4: four decimals, and below 10^14 to fit 64 bits.
METER_DECIMALS = 4
MAX_METER_VALUE = Decimal(10) ** 14
_METER_STEP = Decimal(1).scaleb(-METER_DECIMALS)
DEFAULT_READ_TOLERANCE = timedelta(hours=24)
DEFAULT_AVERAGE_WINDOW = timedelta(days=30)
_ONE_DAY_SECONDS = Decimal(86_400)


class ReadingSource(enum.Enum):
    DEVICE = "DEVICE"
    MANUAL = "MANUAL"
    ESTIMATED = "ESTIMATED"


class Verdict(enum.Enum):
    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"


class EndpointKind(enum.Enum):
    ACTUAL = "ACTUAL"
    ESTIMATED = "ESTIMATED"
    NO_DATA = "NO_DATA"


@dataclass(frozen=True)
class RegisterRules:
    rollover_at: Decimal | None = None
    backward_jitter_tolerance: Decimal = Decimal(0)


@dataclass(frozen=True)
class Reading:
    read_time: datetime
    value: Decimal


@dataclass(frozen=True)
class Reset:
    reset_time: datetime
    value_before: Decimal
    value_after: Decimal


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reason: str = ""
    rollover: bool = False


def plain(value: Decimal) -> str:
    """`120000.0000` -> `120000`, `1.50` -> `1.5`: how a counter value is shown to people."""
    return format(value.normalize(), "f") if value else "0"


def parse_decimal(text: str, field_path: str, *, allow_empty: bool = False) -> Decimal | None:
    if text == "" and allow_empty:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidArgument.field(field_path, f"must be a decimal number, got {text!r}") from None
    if not value.is_finite() or value < 0 or value >= MAX_METER_VALUE:
        raise InvalidArgument.field(field_path, "must be a finite, non-negative decimal below 10^14")
    if value != value.quantize(_METER_STEP):
        raise InvalidArgument.field(field_path, f"has more than {METER_DECIMALS} decimal places")
    return value


def _forward_step(previous: Decimal, current: Decimal, rules: RegisterRules) -> tuple[Decimal, bool] | None:
    """Usage from `previous` to `current`, whether it wrapped; None when not believable."""
    if current >= previous:
        return current - previous, False
    if rules.rollover_at is not None and previous < rules.rollover_at:
        wrapped = current + rules.rollover_at - previous
        if wrapped < rules.rollover_at / 2:
            return wrapped, True
    return None


def assess(reading: Reading, before: Reading | None, after: Reading | None, resets: Sequence[Reset],
           rules: RegisterRules, same_time_value: Decimal | None) -> Assessment:
    """Judges a reading against its neighbours in time on the same asset and register.

    `same_time_value` is the value already stored at exactly this read time, if any. A reset between
    a neighbour and the reading cuts the comparison (the counter started again).
    """
    if same_time_value is not None:
        if same_time_value == reading.value:
            return Assessment(Verdict.DUPLICATE)
        return Assessment(Verdict.REJECTED, f"a different value ({plain(same_time_value)}) is already recorded for"
                                            f" this asset, register and read time")
    if rules.rollover_at is not None and reading.value >= rules.rollover_at:
        return Assessment(Verdict.REJECTED, f"value {plain(reading.value)} is beyond the counter's width"
                                            f" (it rolls over at {plain(rules.rollover_at)})")
    rollover = False
    if before is not None and not _reset_between(resets, before.read_time, reading.read_time):
        verdict = _judge_step(before, reading, rules)
        if isinstance(verdict, Assessment):
            return verdict
        rollover = verdict
    if after is not None and not _reset_between(resets, reading.read_time, after.read_time):
        verdict = _judge_step(reading, after, rules)
        if isinstance(verdict, Assessment):
            return Assessment(Verdict.REJECTED, f"a later reading ({plain(after.value)} at {after.read_time.isoformat()})"
                                                f" is lower: {verdict.reason}")
    return Assessment(Verdict.ACCEPTED, rollover=rollover)


def _judge_step(earlier: Reading, later: Reading, rules: RegisterRules) -> Assessment | bool:
    if earlier.value - later.value <= rules.backward_jitter_tolerance and later.value <= earlier.value:
        return False
    step = _forward_step(earlier.value, later.value, rules)
    if step is None:
        return Assessment(Verdict.REJECTED, f"counter went backwards from {plain(earlier.value)} to {plain(later.value)};"
                                            f" record a meter reset if the board or device was swapped")
    return step[1]


def _reset_between(resets: Sequence[Reset], start: datetime, end: datetime) -> bool:
    return any(start < reset.reset_time <= end for reset in resets)


@dataclass(frozen=True, slots=True)
class CounterState:
    """Where the walk through one register's readings stands after a reading: the usage counted since
    the first reading (continuous across rollovers, resets and jitter), the highest value since the
    last reset or wrap, and the rollovers and resets passed. The fleet stores it with every reading,
    so the usage between two instants is the difference of two stored states."""

    consumed: Decimal = Decimal(0)
    high_water: Decimal | None = None  # None before the first reading and reset
    rollovers: int = 0
    resets: int = 0


def advance(state: CounterState, reading: Reading, resets: Iterable[Reset], rules: RegisterRules) -> CounterState:
    """The state after `reading`, given the resets (in time order) since the previous reading."""
    consumed, high_water, rollovers, reset_count = state.consumed, state.high_water, state.rollovers, state.resets
    for reset in resets:
        if high_water is not None and reset.value_before > high_water:
            consumed += reset.value_before - high_water
        high_water = reset.value_after
        reset_count += 1
    if high_water is None:
        high_water = reading.value
    elif reading.value >= high_water:
        consumed += reading.value - high_water
        high_water = reading.value
    elif high_water - reading.value > rules.backward_jitter_tolerance:
        step = _forward_step(high_water, reading.value, rules)
        if step is not None:  # stored readings were accepted, so only rollovers remain here
            consumed += step[0]
            rollovers += 1
            high_water = reading.value
    return CounterState(consumed, high_water, rollovers, reset_count)


def walk(state: CounterState, after: datetime | None, readings: Sequence[Reading], resets: Sequence[Reset],
         rules: RegisterRules) -> list[CounterState]:
    """The states after each of `readings` (in time order), starting from `state` reached at the
    reading at time `after` (None: before anything); `resets` in time order, later ones than `after` count."""
    pending = [r for r in resets if after is None or r.reset_time > after]
    states: list[CounterState] = []
    index = 0
    for reading in readings:
        passed = index
        while passed < len(pending) and pending[passed].reset_time <= reading.read_time:
            passed += 1
        state = advance(state, reading, pending[index:passed], rules)
        index = passed
        states.append(state)
    return states


@dataclass
class Timeline:
    """Cumulative consumption at readings of one asset's register, in time order.

    Either every reading in a stretch of time, or (as GetUsage builds it from stored states) only
    the readings around the instants asked about: the last one at or before each instant, the next
    one after it and the first one of the averaging window before the last.
    """

    readings: list[Reading]
    consumed: list[Decimal]
    rollovers_before: list[int]
    resets_before: list[int]
    _times: list[datetime] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._times = [r.read_time for r in self.readings]

    def index_at_or_before(self, moment: datetime) -> int | None:
        position = bisect_right(self._times, moment) - 1
        return position if position >= 0 else None

    @classmethod
    def of_states(cls, readings: Sequence[Reading], states: Sequence[CounterState]) -> Timeline:
        return cls(list(readings), [s.consumed for s in states], [s.rollovers for s in states],
                   [s.resets for s in states])


def build_timeline(readings: Iterable[Reading], resets: Iterable[Reset], rules: RegisterRules) -> Timeline:
    """Walks the readings in time order, counting usage across rollovers, resets and jitter."""
    ordered = sorted(readings, key=lambda r: r.read_time)
    states = walk(CounterState(), None, ordered, sorted(resets, key=lambda r: r.reset_time), rules)
    return Timeline.of_states(ordered, states)


def estimate_window_start(moment: datetime, last_at_or_before: datetime | None, next_after: datetime | None,
                     tolerance: timedelta, window: timedelta) -> datetime | None:
    """Where the averaging window for an estimate at `moment` starts, when one is needed: no reading
    within `tolerance` and an earlier reading to extrapolate (see `endpoint_at`); else None."""
    near = [t for t in (last_at_or_before, next_after) if t is not None and abs(t - moment) <= tolerance]
    if near or last_at_or_before is None:
        return None
    return last_at_or_before - window


@dataclass(frozen=True)
class Endpoint:
    time: datetime
    kind: EndpointKind
    consumed: Decimal  # cumulative consumption on the timeline at this instant
    counter_value: Decimal | None
    reading_time: datetime | None
    rollovers: int = 0
    resets: int = 0


def _nearest_within(timeline: Timeline, moment: datetime, tolerance: timedelta) -> int | None:
    before = timeline.index_at_or_before(moment)
    candidates = [i for i in (before, None if before is None else before + 1, 0 if before is None else None)
                  if i is not None and i < len(timeline.readings)]
    close = [i for i in candidates if abs(timeline.readings[i].read_time - moment) <= tolerance]
    return min(close, key=lambda i: abs(timeline.readings[i].read_time - moment)) if close else None


def _daily_average(timeline: Timeline, last: int, window: timedelta) -> Decimal:
    """Average consumption per day over the `window` that ends at reading `last`."""
    end = timeline.readings[last]
    first = last
    while first > 0 and end.read_time - timeline.readings[first - 1].read_time <= window:
        first -= 1
    if first == last:
        return Decimal(0)
    days = Decimal((end.read_time - timeline.readings[first].read_time).total_seconds()) / _ONE_DAY_SECONDS
    return (timeline.consumed[last] - timeline.consumed[first]) / days


def endpoint_at(timeline: Timeline, moment: datetime, tolerance: timedelta, window: timedelta) -> Endpoint:
    """The counter at `moment`: the nearest reading within `tolerance`, else an estimate.

    The estimate extrapolates the last earlier reading by the trailing daily average over `window`;
    with no earlier reading (a new device) the first reading stands for the start.
    """
    if not timeline.readings:
        return Endpoint(moment, EndpointKind.NO_DATA, Decimal(0), None, None)
    nearest = _nearest_within(timeline, moment, tolerance)
    if nearest is not None:
        reading = timeline.readings[nearest]
        return Endpoint(moment, EndpointKind.ACTUAL, timeline.consumed[nearest], reading.value, reading.read_time,
                        timeline.rollovers_before[nearest], timeline.resets_before[nearest])
    last = timeline.index_at_or_before(moment)
    if last is None:
        first = timeline.readings[0]
        return Endpoint(moment, EndpointKind.ESTIMATED, Decimal(0), first.value, first.read_time)
    reading = timeline.readings[last]
    elapsed_days = Decimal((moment - reading.read_time).total_seconds()) / _ONE_DAY_SECONDS
    extra = _daily_average(timeline, last, window) * elapsed_days
    return Endpoint(moment, EndpointKind.ESTIMATED, timeline.consumed[last] + extra, reading.value + extra,
                    reading.read_time, timeline.rollovers_before[last], timeline.resets_before[last])


@dataclass(frozen=True)
class Usage:
    start: Endpoint
    end: Endpoint
    quantity: Decimal
    rollovers: int
    resets: int


def usage_between(timeline: Timeline, start: datetime, end: datetime,
                  tolerance: timedelta = DEFAULT_READ_TOLERANCE, window: timedelta = DEFAULT_AVERAGE_WINDOW,
                  places: int = 4) -> Usage:
    if end <= start:
        raise InvalidArgument.field("end_time", "must be after start_time")
    first = endpoint_at(timeline, start, tolerance, window)
    last = endpoint_at(timeline, end, tolerance, window)
    quantity = max(last.consumed - first.consumed, Decimal(0)).quantize(Decimal(1).scaleb(-places))
    return Usage(first, last, quantity.normalize() if quantity else Decimal(0),
                 last.rollovers - first.rollovers, last.resets - first.resets)
