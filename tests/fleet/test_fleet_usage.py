"""GetUsage for many assets at once answers exactly what the whole reading history implies.

The service reads only a few stored readings per asset (with the counter state kept beside each);
the oracle here walks every reading of every asset and picks or estimates each end by brute force:
the reading nearest the instant within the tolerance (the earlier one on a tie), else the last
earlier reading extrapolated by the daily average over the trailing window, else the first reading.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from fleetops.fleet.v1 import meters_pb2 as mpb
from google.protobuf import duration_pb2

from services.fleet.domain.meters import (
    CounterState,
    Reading,
    RegisterRules,
    Reset,
    advance_after,
    walk,
)
from tests.fleet.fleet_factory import Fleet, at, stamp

ROLLOVER, JITTER = Decimal(10_000_000), Decimal(5)
DAY = timedelta(days=1)


@dataclass
class History:
    readings: list[tuple[datetime, str]]
    resets: list[tuple[datetime, str, str]]  # (time, value before, value after)
    shuffled: bool = False  # readings arrive one call each, in random order (late readings)
    late_resets: bool = False  # resets recorded after every reading (else in time order with them)


def _daily(first: datetime, days: int, start: int, per_day: int, step: timedelta = DAY) -> list[tuple[datetime, str]]:
    return [(first + n * step, str((start + n * per_day) % int(ROLLOVER))) for n in range(days)]


HISTORIES = {
    "daily": History(_daily(at(1, 6), 31, 1000, 100), []),
    "rolls over": History(_daily(at(1, 6), 31, 9_998_000, 250), []),
    "jitters": History([(at(1, 6), "500"), (at(5, 6), "900"), (at(6, 6), "897"), (at(9, 6), "1300"),
                        (at(15, 6), "1296"), (at(25, 6), "2000")], []),
    "reset": History(_daily(at(1, 6), 12, 50_000, 300) + _daily(at(14, 6), 18, 100, 200),
                     [(at(13, 6), "53700", "0")]),
    "late reset": History(_daily(at(2, 18), 9, 7000, 40, 3 * DAY), [(at(12), "7200", "10")], shuffled=True,
                          late_resets=True),
    "late readings": History([(at(1, 6), "9999000"), (at(5, 6), "9999500"), (at(8, 6), "9999497"),
                              (at(12, 6), "300"), (at(20, 6), "1300"), (at(26, 6), "2000")], [], shuffled=True),
    "goes silent": History([(at(1, 6), "1000"), (at(3, 6), "1150"), (at(9, 18), "1800"), (at(18, 6), "2600")], []),
    "starts late": History(_daily(at(12, 9), 10, 40_000, 70), []),
    "single reading": History([(at(10, 12), "777")], []),
    "equidistant": History([(at(9, 12), "1000"), (at(11, 12), "1300"), (at(21, 12), "2000"), (at(23, 12), "2500")], []),
    "sub-second": History([(at(1, 6) + timedelta(microseconds=123_457), "10"),
                           (at(4, 7) + timedelta(microseconds=999_999), "333.3333"),
                           (at(7, 8) + timedelta(microseconds=1), "601.5")], []),
    "never read": History([], []),
}

# (start, end, read tolerance, averaging window); None: the service's defaults (24 hours, 30 days)
WINDOWS = [
    (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), None, None),
    (at(10, 12), at(20, 12), None, None),
    (at(10, 12), at(22, 12), timedelta(days=1), timedelta(days=4)),
    (at(5, 6), at(26, 6), timedelta(hours=1), timedelta(days=2)),
    (at(3), at(28, 1), timedelta(hours=3), None),
    (at(20), at(25), timedelta(hours=2), timedelta(days=15)),  # windows that start exactly at a reading
    (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 20, tzinfo=UTC), None, None),
    (datetime(2026, 4, 10, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC), timedelta(days=2), timedelta(days=9)),
    (at(1, 6) + timedelta(microseconds=123_457), at(7, 8), timedelta(seconds=1), timedelta(days=5)),
]


def _duration(value: timedelta | None) -> duration_pb2.Duration | None:
    if value is None:
        return None
    message = duration_pb2.Duration()
    message.FromTimedelta(value)
    return message


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


@dataclass(frozen=True)
class Point:
    time: datetime
    value: Decimal
    consumed: Decimal
    rollovers: int
    resets: int


def _points(history: History) -> list[Point]:
    """Every reading with the usage counted since the first one (the walk ingestion stores)."""
    readings = sorted((Reading(time, Decimal(value)) for time, value in history.readings), key=lambda r: r.read_time)
    resets = [Reset(time, Decimal(before), Decimal(after)) for time, before, after in history.resets]
    states = walk(CounterState(), None, readings, resets, RegisterRules(ROLLOVER, JITTER))
    return [Point(r.read_time, r.value, s.consumed, s.rollovers, s.resets) for r, s in zip(readings, states, strict=True)]


def _days(span: timedelta) -> Decimal:
    return Decimal(span.total_seconds()) / Decimal(86_400)


def _expected_end(points: list[Point], moment: datetime, tolerance: timedelta, window: timedelta):
    """(kind, consumed, counter value, reading time, rollovers, resets) at `moment`, by brute force."""
    if not points:
        return mpb.ENDPOINT_KIND_NO_DATA, Decimal(0), None, None, 0, 0
    near = [p for p in points if abs(p.time - moment) <= tolerance]
    if near:
        p = min(near, key=lambda p: (abs(p.time - moment), p.time))
        return mpb.ENDPOINT_KIND_ACTUAL, p.consumed, p.value, p.time, p.rollovers, p.resets
    earlier = [p for p in points if p.time <= moment]
    if not earlier:
        return mpb.ENDPOINT_KIND_ESTIMATED, Decimal(0), points[0].value, points[0].time, 0, 0
    last = earlier[-1]
    first = next(p for p in points if p.time >= last.time - window)
    rate = Decimal(0) if first is last else (last.consumed - first.consumed) / _days(last.time - first.time)
    extra = rate * _days(moment - last.time)
    return mpb.ENDPOINT_KIND_ESTIMATED, last.consumed + extra, last.value + extra, last.time, last.rollovers, last.resets


def _record(f: Fleet, asset, history: History, shuffle: random.Random) -> None:
    """The readings before the resets, the resets, then the rest (or every reading first, with `late_resets`)."""
    cut = None if history.late_resets or not history.resets else history.resets[0][0]
    before = [r for r in history.readings if cut is None or r[0] < cut]
    for part in (before, [r for r in history.readings if r not in before]):
        if history.shuffled:
            for reading in shuffle.sample(part, len(part)):
                assert f.read(asset, reading).accepted_count == 1, reading
        elif part:
            assert f.read(asset, *part).accepted_count == len(part), part
        if part is before:
            for time, value_before, value_after in history.resets:
                f.stub.RecordMeterReset(mpb.RecordMeterResetRequest(reset=mpb.MeterReset(
                    asset=asset.name, register="mono_impressions", reset_time=stamp(time),
                    value_before=value_before, value_after=value_after)))


@pytest.fixture(scope="module")
def histories(fleet) -> dict[str, tuple[str, list[Point]]]:
    """Each history recorded on its own printer (jitter 5, rollover at 10,000,000): {label: (asset name, points)}."""
    f = Fleet(fleet.channel)
    model = f.printer_model(rollover_at=str(ROLLOVER), jitter=str(JITTER))
    customer = f.customer()
    site = f.site(customer)
    shuffle = random.Random(5)
    recorded = {}
    for label, history in HISTORIES.items():
        asset = f.asset(customer, model, site)
        _record(f, asset, history, shuffle)
        recorded[label] = (asset.name, _points(history))
    return recorded


@pytest.mark.parametrize("start, end, tolerance, window", WINDOWS)
def test_usage_of_many_assets_matches_their_whole_history(fleet, histories, start, end, tolerance, window):
    names = [name for name, _ in histories.values()]
    request = mpb.GetUsageRequest(assets=[*names, names[0]], register="mono_impressions", start_time=stamp(start),
                                  end_time=stamp(end), read_tolerance=_duration(tolerance),
                                  average_window=_duration(window))
    response = Fleet(fleet.channel).stub.GetUsage(request)
    assert [u.asset for u in response.usages] == [*names, names[0]]
    total = Decimal(0)
    for (label, (name, points)), usage in zip(histories.items(), response.usages, strict=False):
        ends = [_expected_end(points, moment, tolerance or DAY, window or 30 * DAY) for moment in (start, end)]
        quantity = max(ends[1][1] - ends[0][1], Decimal(0)).quantize(Decimal("0.0001"))
        total += quantity
        expected = mpb.AssetUsage(asset=name, register="mono_impressions", quantity=_plain(quantity),
                                  rollovers=ends[1][4] - ends[0][4], resets=ends[1][5] - ends[0][5])
        for endpoint, moment, (kind, _, value, read_time, _, _) in zip((expected.start, expected.end), (start, end),
                                                                       ends, strict=True):
            endpoint.time.CopyFrom(stamp(moment))
            endpoint.kind = kind
            if value is not None:
                endpoint.counter_value = _plain(value.quantize(Decimal("0.0001")))
            if read_time is not None:
                endpoint.reading_time.CopyFrom(stamp(read_time))
        assert usage == expected, label
    assert response.usages[-1] == response.usages[0]
    assert response.total_quantity == _plain(total + Decimal(response.usages[0].quantity))


def test_usage_refuses_an_asset_without_the_register(fleet, histories):
    f = Fleet(fleet.channel)
    names = [name for name, _ in histories.values()]
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.GetUsage(mpb.GetUsageRequest(assets=names, register="toner_cartridges", start_time=stamp(at(1)),
                                            end_time=stamp(at(2))))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{names[0]} reports no register 'toner_cartridges'" in caught.value.details()


def test_usage_names_the_first_unknown_asset(fleet, histories):
    f = Fleet(fleet.channel)
    names = [name for name, _ in histories.values()]
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.GetUsage(mpb.GetUsageRequest(assets=[names[0], "assets/ghost-1", "assets/ghost-2"],
                                            register="mono_impressions", start_time=stamp(at(1)),
                                            end_time=stamp(at(2))))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "assets/ghost-1" in caught.value.details()


def test_advancing_reading_by_reading_matches_the_walk():
    """RecordMeterReadings advances an appended reading's state alone (`advance_after`); it must land
    where one walk over the whole history does, resets between readings, on them and before the first."""
    rules = RegisterRules(rollover_at=ROLLOVER, backward_jitter_tolerance=JITTER)
    shuffle = random.Random(11)
    for _ in range(200):
        times = sorted(shuffle.sample(range(1, 60), 12))
        readings = [Reading(at(1) + t * DAY, Decimal(shuffle.randrange(0, 9_000_000))) for t in times[:8]]
        resets = [Reset(at(1) + t * DAY, Decimal(shuffle.randrange(0, 9_000_000)), Decimal(shuffle.randrange(0, 100)))
                  for t in sorted([*times[8:], times[shuffle.randrange(8)], 0])]
        state, after, stepped = CounterState(), None, []
        for reading in readings:
            state, after = advance_after(state, after, reading, resets, rules), reading.read_time
            stepped.append(state)
        assert stepped == walk(CounterState(), None, readings, resets, rules)
