"""Set-based reads and writes of meter readings and resets (one query per batch, never per row)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, any_, bindparam, func, insert, select, true, tuple_, union, union_all, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from services.fleet.domain.meters import CounterState, Reading, RegisterRules, Reset, Timeline, estimate_window_start, walk
from services.fleet.store import AssetRow, DeviceModelRow, MeterLatestRow, MeterReadingRow, MeterResetRow
from services.runtime.db import upsert

Pair = tuple[str, str]  # (asset id, register)
_CHUNK = 1000


def asset_registers(session: Session, asset_ids: Iterable[str], *, lock: bool = False) -> dict[str, tuple[str, list[dict]]]:
    """Each existing asset's model and its registers: {asset id: (model id, registers)}.

    With `lock`, the asset rows are locked in id order, so concurrent batches on the same assets
    queue instead of judging against the same latest reading (SQLite serializes writers anyway).
    """
    ids = sorted(set(asset_ids))
    if not ids:
        return {}
    statement = select(AssetRow.id, AssetRow.device_model_id).where(AssetRow.id.in_(ids)).order_by(AssetRow.id)
    rows = session.execute(statement.with_for_update(of=AssetRow) if lock else statement).all()
    models = {m.id: m.registers for m in session.scalars(
        select(DeviceModelRow).where(DeviceModelRow.id.in_({r.device_model_id for r in rows})))}
    return {r.id: (r.device_model_id, models[r.device_model_id]) for r in rows}


@dataclass(frozen=True, slots=True)
class StoredReading:
    reading: Reading
    state: CounterState


def _state_of(row) -> CounterState:
    return CounterState(row.consumed, row.high_water, row.rollovers, row.resets)


def state_columns(state: CounterState) -> dict:
    return dict(consumed=state.consumed, high_water=state.high_water, rollovers=state.rollovers, resets=state.resets)


def latest_readings(session: Session, pairs: set[Pair]) -> dict[Pair, StoredReading]:
    found: dict[Pair, StoredReading] = {}
    ordered = sorted(pairs)
    for offset in range(0, len(ordered), _CHUNK):
        rows = session.scalars(select(MeterLatestRow).where(
            tuple_(MeterLatestRow.asset_id, MeterLatestRow.register).in_(ordered[offset:offset + _CHUNK])))
        found.update({(r.asset_id, r.register): StoredReading(Reading(r.read_time, r.value), _state_of(r)) for r in rows})
    return found


def readings_at(session: Session, keys: set[tuple[str, str, datetime]]) -> dict[tuple[str, str, datetime], Reading]:
    if not keys:
        return {}
    rows = session.execute(select(MeterReadingRow.asset_id, MeterReadingRow.register, MeterReadingRow.read_time,
                                  MeterReadingRow.value).where(
        tuple_(MeterReadingRow.asset_id, MeterReadingRow.register, MeterReadingRow.read_time).in_(list(keys))))
    return {(asset_id, register, read_time): Reading(read_time, value) for asset_id, register, read_time, value in rows}


def neighbours(session: Session, pair: Pair, moment: datetime) -> tuple[Reading | None, Reading | None]:
    """The readings just before and just after `moment` (for a reading that arrives late)."""
    asset_id, register = pair
    base = select(MeterReadingRow).where(MeterReadingRow.asset_id == asset_id, MeterReadingRow.register == register)
    before = session.scalars(base.where(MeterReadingRow.read_time < moment)
                             .order_by(MeterReadingRow.read_time.desc()).limit(1)).first()
    after = session.scalars(base.where(MeterReadingRow.read_time > moment)
                            .order_by(MeterReadingRow.read_time).limit(1)).first()
    return (Reading(before.read_time, before.value) if before else None,
            Reading(after.read_time, after.value) if after else None)


def resets_of(session: Session, pairs: set[Pair]) -> dict[Pair, list[Reset]]:
    found: dict[Pair, list[Reset]] = defaultdict(list)
    if not pairs:
        return found
    rows = session.scalars(select(MeterResetRow).where(
        tuple_(MeterResetRow.asset_id, MeterResetRow.register).in_(list(pairs))).order_by(MeterResetRow.reset_time))
    for r in rows:
        found[(r.asset_id, r.register)].append(Reset(r.reset_time, r.value_before, r.value_after))
    return found


def insert_readings(session: Session, rows: list[dict], latest: dict[Pair, StoredReading]) -> None:
    """Inserts the accepted readings (with their counter states) and moves each pair's latest reading
    forward (`latest` holds what this batch has made the latest)."""
    if not rows:
        return
    session.execute(insert(MeterReadingRow), rows)
    touched = {(r["asset_id"], r["register"]) for r in rows}
    upsert(session, MeterLatestRow.__table__, [
        dict(asset_id=a, register=g, read_time=latest[(a, g)].reading.read_time, value=latest[(a, g)].reading.value,
             **state_columns(latest[(a, g)].state)) for a, g in sorted(touched)], ["asset_id", "register"])


def restate(session: Session, pair: Pair, since: datetime, rules: RegisterRules) -> None:
    """Recomputes the stored counter states of the pair's readings from `since` on, after a reading
    arrived late or a reset was recorded there (appending in time order never needs this)."""
    asset_id, register = pair
    of_pair = and_(MeterReadingRow.asset_id == asset_id, MeterReadingRow.register == register)
    previous = session.execute(select(MeterReadingRow).where(of_pair, MeterReadingRow.read_time < since)
                               .order_by(MeterReadingRow.read_time.desc()).limit(1)).scalars().first()
    state, after = (_state_of(previous), previous.read_time) if previous else (CounterState(), None)
    later = session.execute(select(MeterReadingRow.read_time, MeterReadingRow.value).where(
        of_pair, MeterReadingRow.read_time >= since).order_by(MeterReadingRow.read_time)).all()
    if not later:
        return
    readings = [Reading(read_time, value) for read_time, value in later]
    states = walk(state, after, readings, resets_of(session, {pair}).get(pair, []), rules)
    session.execute(update(MeterReadingRow), [
        dict(asset_id=asset_id, register=register, read_time=r.read_time, **state_columns(s))
        for r, s in zip(readings, states, strict=True)])
    session.execute(update(MeterLatestRow).where(
        MeterLatestRow.asset_id == asset_id, MeterLatestRow.register == register,
        MeterLatestRow.read_time == readings[-1].read_time).values(**state_columns(states[-1])))


def readings_between(session: Session, asset_ids: list[str], register: str, start: datetime,
                     end: datetime) -> dict[str, list[Reading]]:
    """Readings in [start, end] plus, per asset, the last one before `start` (the baseline).

    Plain column rows, not ORM objects: a usage query reads tens of thousands of them.
    """
    found: dict[str, list[Reading]] = defaultdict(list)
    columns = (MeterReadingRow.asset_id, MeterReadingRow.read_time, MeterReadingRow.value)
    in_assets = and_(MeterReadingRow.asset_id.in_(asset_ids), MeterReadingRow.register == register)
    previous = (select(MeterReadingRow.asset_id, func.max(MeterReadingRow.read_time).label("read_time"))
                .where(in_assets, MeterReadingRow.read_time < start).group_by(MeterReadingRow.asset_id).subquery())
    baselines = session.execute(select(*columns).join(previous, and_(
        MeterReadingRow.asset_id == previous.c.asset_id, MeterReadingRow.register == register,
        MeterReadingRow.read_time == previous.c.read_time)))
    window = session.execute(select(*columns).where(
        in_assets, MeterReadingRow.read_time >= start, MeterReadingRow.read_time <= end)
        .order_by(MeterReadingRow.asset_id, MeterReadingRow.read_time))
    for asset_id, read_time, value in [*baselines, *window]:
        found[asset_id].append(Reading(read_time, value))
    return found


def usage_timelines(session: Session, asset_ids: list[str], register: str, moments: tuple[datetime, ...],
                    tolerance: timedelta, window: timedelta) -> dict[str, Timeline]:
    """Per asset, the stored readings that an endpoint at each of `moments` needs (see `Timeline`),
    found by index lookups: a few rows per asset, however long the period or history."""
    found = _nearest_readings(session, register, [(asset_ids, moment, side) for moment in moments
                                                  for side in (_AT_OR_BEFORE, _AFTER)])
    window_starts: dict[datetime, list[str]] = defaultdict(list)
    for asset_id, rows in found.items():
        for moment in moments:
            before = max((t for t in rows if t <= moment), default=None)
            after = min((t for t in rows if t > moment), default=None)
            start = estimate_window_start(moment, before, after, tolerance, window)
            if start is not None:
                window_starts[start].append(asset_id)
    if window_starts:
        for asset_id, rows in _nearest_readings(session, register, [
                (ids, start, _AT_OR_AFTER) for start, ids in window_starts.items()]).items():
            found[asset_id].update(rows)
    timelines = {}
    for asset_id, rows in found.items():
        ordered = sorted(rows.items())
        timelines[asset_id] = Timeline.of_states([r for _, (r, _) in ordered], [s for _, (_, s) in ordered])
    return timelines


_AT_OR_BEFORE, _AFTER, _AT_OR_AFTER = "at or before", "after", "at or after"
# (asset ids, instant, side): each of the assets' reading nearest the instant on that side
Probe = tuple[list[str], datetime, str]
_STORED = (MeterReadingRow.asset_id, MeterReadingRow.read_time, MeterReadingRow.value, MeterReadingRow.consumed,
           MeterReadingRow.high_water, MeterReadingRow.rollovers, MeterReadingRow.resets)


def _nearest_readings(session: Session, register: str,
                      probes: list[Probe]) -> dict[str, dict[datetime, tuple[Reading, CounterState]]]:
    """The readings that `probes` ask for, by asset and read time, in one statement of index lookups.

    PostgreSQL: a LATERAL lookup per asset and probe (ORDER BY read_time LIMIT 1 on the primary
    key). SQLite has no LATERAL: the read times are found by correlated min/max first, then the rows
    by primary key (SQLite joins by nested loops on the key anyway).
    """
    reading = MeterReadingRow

    def side_of(moment: datetime, side: str):
        if side == _AT_OR_BEFORE:
            return reading.read_time <= moment, reading.read_time.desc(), func.max
        return (reading.read_time > moment if side == _AFTER else reading.read_time >= moment), reading.read_time, func.min

    of_register = reading.register == register
    if session.get_bind().dialect.name == "postgresql":
        parts, asset_sets = [], {}
        for ids, moment, side in probes:
            if tuple(ids) not in asset_sets:  # one array parameter per set of assets, not one per asset and probe
                asset_sets[tuple(ids)] = select(AssetRow.id).where(
                    AssetRow.id == any_(bindparam(None, list(ids), type_=ARRAY(String)))).cte()
            assets = asset_sets[tuple(ids)]
            condition, order, _ = side_of(moment, side)
            nearest = (select(*_STORED).where(reading.asset_id == assets.c.id, of_register, condition)
                       .order_by(order).limit(1).lateral())
            parts.append(select(nearest).select_from(assets).join(nearest, true()))
        statement = union_all(*parts)
    else:
        times = []
        for ids, moment, side in probes:
            condition, _, aggregate = side_of(moment, side)
            time_of = (select(aggregate(reading.read_time)).where(reading.asset_id == AssetRow.id, of_register, condition)
                       .scalar_subquery())
            times.append(select(AssetRow.id.label("asset_id"), time_of.label("read_time")).where(AssetRow.id.in_(ids)))
        keys = union(*times).subquery()
        statement = select(*_STORED).join(keys, and_(reading.asset_id == keys.c.asset_id, of_register,
                                                     reading.read_time == keys.c.read_time))
    found: dict[str, dict[datetime, tuple[Reading, CounterState]]] = defaultdict(dict)
    for row in session.execute(statement):
        found[row.asset_id][row.read_time] = (Reading(row.read_time, row.value), _state_of(row))
    return found
