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
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from services.runtime.errors import InvalidArgument

MAX_READINGS_PER_BATCH = 10_000
# Counter values are stored as integers scaled by 10^4: four decimals, and below 10^14 to fit 64 bits.
METER_DECIMALS = 4
MAX_METER_VALUE = Decimal(10) ** 14
_METER_STEP = Decimal(1).scaleb(-METER_DECIMALS)
_WHOLE_COUNT_DIGITS = 14  # at most this many digits: below MAX_METER_VALUE
DEFAULT_READ_TOLERANCE = timedelta(hours=24)
DEFAULT_AVERAGE_WINDOW = timedelta(days=30)
_ONE_DAY_SECONDS = Decimal(86_400)
_ZERO = Decimal(0)


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


class Reading(NamedTuple):  # a tuple: a batch makes thousands, and a frozen dataclass costs twice as much to make
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


# Shared: a batch judges thousands of readings, nearly all accepted.
_ACCEPTED = Assessment(Verdict.ACCEPTED)
_ACCEPTED_ROLLOVER = Assessment(Verdict.ACCEPTED, rollover=True)
_DUPLICATE = Assessment(Verdict.DUPLICATE)


def plain(value: Decimal) -> str:
    """`120000.0000` -> `120000`, `1.50` -> `1.5`: how a counter value is shown to people."""
    return format(value.normalize(), "f") if value else "0"


def parse_decimal(text: str, field_path: str, *, allow_empty: bool = False) -> Decimal | None:
    if text == "" and allow_empty:
        return None
    if len(text) <= _WHOLE_COUNT_DIGITS and text.isascii() and text.isdigit():
        return Decimal(text)  # a whole count, as devices report them (most values): within every limit below
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
            return _DUPLICATE
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
    return _ACCEPTED_ROLLOVER if rollover else _ACCEPTED


def _judge_step(earlier: Reading, later: Reading, rules: RegisterRules) -> Assessment | bool:
    if earlier.value - later.value <= rules.backward_jitter_tolerance and later.value <= earlier.value:
        return False
    step = _forward_step(earlier.value, later.value, rules)
    if step is None:
        return Assessment(Verdict.REJECTED, f"counter went backwards from {plain(earlier.value)} to {plain(later.value)};"
                                            f" record a meter reset if the board or device was swapped")
    return step[1]


def _reset_between(resets: Sequence[Reset], start: datetime, end: datetime) -> bool:
    return bool(resets) and any(start < reset.reset_time <= end for reset in resets)


class CounterState(NamedTuple):  # a tuple, as `Reading`: one per reading stored
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


def advance_after(state: CounterState, after: datetime | None, reading: Reading, resets: Sequence[Reset],
                  rules: RegisterRules) -> CounterState:
    """`walk` for one reading (a reading appended in time order): the state after `reading`, from `state`
    reached at the reading at time `after` (None: before anything); `resets` in time order."""
    if not resets:
        return advance(state, reading, (), rules)
    passed = [r for r in resets if (after is None or r.reset_time > after) and r.reset_time <= reading.read_time]
    return advance(state, reading, passed, rules)


class MeterPoint(NamedTuple):
    """A stored reading with the counter state after it (see `CounterState`): what an endpoint is taken
    from. The counter value and the usage since the first reading are whole units of 10^-METER_DECIMALS,
    as stored: GetUsage reads four of these per asset and turns only the one it uses into decimals."""

    read_time: datetime
    value: int
    consumed: int
    rollovers: int
    resets: int


def _decimal(units: int) -> Decimal:
    return Decimal(units).scaleb(-METER_DECIMALS)


def _units(value: Decimal) -> int:
    units = value.scaleb(METER_DECIMALS)
    if units != units.to_integral_value():
        raise ValueError(f"{value} has more than {METER_DECIMALS} decimal places")
    return int(units)


@dataclass
class Timeline:
    """Cumulative consumption at every reading of one asset's register in a stretch of time, in time order."""

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

    def index_at_or_after(self, moment: datetime) -> int:
        return bisect_left(self._times, moment)

    def point(self, index: int) -> MeterPoint | None:
        if index >= len(self.readings):
            return None
        reading = self.readings[index]
        return MeterPoint(reading.read_time, _units(reading.value), _units(self.consumed[index]),
                          self.rollovers_before[index], self.resets_before[index])

    @classmethod
    def of_states(cls, readings: Sequence[Reading], states: Sequence[CounterState]) -> Timeline:
        return cls(list(readings), [s.consumed for s in states], [s.rollovers for s in states],
                   [s.resets for s in states])


def build_timeline(readings: Iterable[Reading], resets: Iterable[Reset], rules: RegisterRules) -> Timeline:
    """Walks the readings in time order, counting usage across rollovers, resets and jitter."""
    ordered = sorted(readings, key=lambda r: r.read_time)
    states = walk(CounterState(), None, ordered, sorted(resets, key=lambda r: r.reset_time), rules)
    return Timeline.of_states(ordered, states)


def nearest_within(moment: datetime, before: datetime | None, after: datetime | None,
                   tolerance: timedelta) -> datetime | None:
    """Which read time an endpoint at `moment` takes as actual: the nearer of the last reading at or before
    it (`before`) and the next one after it (`after`) when within `tolerance`, the earlier on a tie; None
    when neither is."""
    if before is None:
        return after if after is not None and after - moment <= tolerance else None
    early = moment - before
    if after is not None and after - moment < early:
        return after if after - moment <= tolerance else None
    return before if early <= tolerance else None


def estimate_window_start(moment: datetime, last_at_or_before: datetime | None, next_after: datetime | None,
                          tolerance: timedelta, window: timedelta) -> datetime | None:
    """Where the averaging window for an estimate at `moment` starts, when one is needed: no reading
    within `tolerance` and an earlier reading to extrapolate (see `endpoint_near`); else None."""
    if last_at_or_before is None or nearest_within(moment, last_at_or_before, next_after, tolerance) is not None:
        return None
    return last_at_or_before - window


class Endpoint(NamedTuple):  # a tuple: GetUsage makes two per asset, a thousand assets a call
    time: datetime
    kind: EndpointKind
    consumed: Decimal  # cumulative consumption on the timeline at this instant
    counter_value: Decimal | None
    reading_time: datetime | None
    rollovers: int = 0
    resets: int = 0


def _days(span: timedelta) -> Decimal:
    return Decimal(span.total_seconds()) / _ONE_DAY_SECONDS


def endpoint_near(moment: datetime, before: MeterPoint | None, after: MeterPoint | None,
                  window_first: MeterPoint | None, tolerance: timedelta, window: timedelta) -> Endpoint:
    """The counter at `moment`: the nearest reading within `tolerance`, else an estimate.

    `before` is the last reading at or before `moment`, `after` the next one. The estimate extrapolates
    `before` by its daily average over the trailing `window`, which starts at `window_first`, the first
    reading at or after `before.read_time - window` (only read when `estimate_window_start` says so);
    with no earlier reading (a new device) the first reading stands for the start.
    """
    nearest = nearest_within(moment, None if before is None else before.read_time,
                             None if after is None else after.read_time, tolerance)
    if nearest is not None:
        point = before if before is not None and before.read_time == nearest else after
        return Endpoint(moment, EndpointKind.ACTUAL, _decimal(point.consumed), _decimal(point.value), point.read_time,
                        point.rollovers, point.resets)
    if before is None:
        if after is None:
            return Endpoint(moment, EndpointKind.NO_DATA, _ZERO, None, None)
        return Endpoint(moment, EndpointKind.ESTIMATED, _ZERO, _decimal(after.value), after.read_time)
    if window_first is None or window_first.read_time < before.read_time - window:
        raise ValueError(f"an estimate at {moment.isoformat()} needs the first reading of its averaging window")
    consumed = _decimal(before.consumed)
    average = _ZERO
    if window_first.read_time < before.read_time:  # average consumption per day over the window
        average = (consumed - _decimal(window_first.consumed)) / _days(before.read_time - window_first.read_time)
    extra = average * _days(moment - before.read_time)
    return Endpoint(moment, EndpointKind.ESTIMATED, consumed + extra, _decimal(before.value) + extra, before.read_time,
                    before.rollovers, before.resets)


def endpoint_at(timeline: Timeline, moment: datetime, tolerance: timedelta, window: timedelta) -> Endpoint:
    """`endpoint_near` with the readings around `moment` taken from the whole timeline."""
    last = timeline.index_at_or_before(moment)
    before = None if last is None else timeline.point(last)
    window_first = None if before is None else timeline.point(timeline.index_at_or_after(before.read_time - window))
    return endpoint_near(moment, before, timeline.point(0 if last is None else last + 1), window_first, tolerance,
                         window)


class Usage(NamedTuple):
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
    return usage_from(endpoint_at(timeline, start, tolerance, window), endpoint_at(timeline, end, tolerance, window),
                      places)


def usage_from(first: Endpoint, last: Endpoint, places: int = 4) -> Usage:
    """The usage between two endpoints of one register (never negative), to `places` decimals."""
    quantity = max(last.consumed - first.consumed, _ZERO).quantize(Decimal(1).scaleb(-places))
    return Usage(first, last, quantity.normalize() if quantity else _ZERO,
                 last.rollovers - first.rollovers, last.resets - first.resets)
