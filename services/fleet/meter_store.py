"""Set-based reads and writes of meter readings and resets (one query per batch, never per row)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    bindparam,
    column,
    func,
    select,
    text,
    true,
    tuple_,
    type_coerce,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from services.fleet.domain.meters import (
    CounterState,
    MeterPoint,
    Reading,
    RegisterRules,
    Reset,
    estimate_window_start,
    walk,
)
from services.fleet.store import (
    AssetRow,
    DeviceModelRow,
    MeterLatestRow,
    MeterReadingRow,
    MeterResetRow,
)
from services.runtime.db import UtcDateTime, bulk_insert, bulk_upsert, chunks, is_postgresql, one_of

Pair = tuple[str, str]  # (asset id, register)
_LATEST_COLUMNS = ("asset_id", "register", "read_time", "value", "consumed", "high_water", "rollovers", "resets")


def asset_registers(session: Session, asset_ids: Iterable[str], *, lock: bool = False) -> dict[str, tuple[str, list[dict]]]:
    """Each existing asset's model and its registers: {asset id: (model id, registers)}.

    With `lock`, the asset rows are locked in id order, so concurrent batches on the same assets
    queue instead of judging against the same latest reading (SQLite serializes writers anyway).
    """
    ids = sorted(set(asset_ids))
    if not ids:
        return {}
    statement = select(AssetRow.id, AssetRow.device_model_id).where(one_of(session, AssetRow.id, ids)).order_by(AssetRow.id)
    rows = session.connection().execute(statement.with_for_update(of=AssetRow) if lock else statement).all()
    models = dict(session.connection().execute(select(DeviceModelRow.id, DeviceModelRow.registers).where(
        DeviceModelRow.id.in_({model_id for _, model_id in rows}))).all())
    return {asset_id: (model_id, models[model_id]) for asset_id, model_id in rows}


@dataclass(frozen=True, slots=True)
class StoredReading:
    reading: Reading
    state: CounterState


def _state_of(row) -> CounterState:
    return CounterState(row.consumed, row.high_water, row.rollovers, row.resets)


def state_columns(state: CounterState) -> dict:
    return dict(consumed=state.consumed, high_water=state.high_water, rollovers=state.rollovers, resets=state.resets)


def _state_values(state: CounterState) -> tuple:
    return state.consumed, state.high_water, state.rollovers, state.resets


def latest_readings(session: Session, pairs: set[Pair]) -> dict[Pair, StoredReading]:
    """Core rows, found by primary key: on PostgreSQL with the pairs as arrays (a long row-value IN
    list is planned as a scan of the whole table)."""
    if not pairs:
        return {}
    latest = MeterLatestRow
    columns = (latest.asset_id, latest.register, latest.read_time, latest.value, latest.consumed, latest.high_water,
               latest.rollovers, latest.resets)
    ordered = sorted(pairs)
    if is_postgresql(session):
        keys = func.unnest(bindparam("asset_ids", [a for a, _ in ordered], type_=ARRAY(String)),
                           bindparam("registers", [r for _, r in ordered], type_=ARRAY(String))).table_valued(
            column("asset_id", String), column("register", String)).render_derived()
        statements = [select(*columns).join(keys, and_(latest.asset_id == keys.c.asset_id,
                                                        latest.register == keys.c.register))]
    else:
        statements = [select(*columns).where(tuple_(latest.asset_id, latest.register).in_(chunk))
                      for chunk in chunks(ordered)]
    return {(asset_id, register): StoredReading(Reading(read_time, value),
                                                CounterState(consumed, high_water, rollovers, resets))
            for statement in statements
            for asset_id, register, read_time, value, consumed, high_water, rollovers, resets
            in session.connection().execute(statement).all()}


def readings_at(session: Session, keys: set[tuple[str, str, datetime]]) -> dict[tuple[str, str, datetime], Reading]:
    if not keys:
        return {}
    columns = (MeterReadingRow.asset_id, MeterReadingRow.register, MeterReadingRow.read_time, MeterReadingRow.value)
    if is_postgresql(session):
        # A join with the keys as arrays finds each by primary key; PostgreSQL plans a long row-value IN
        # list as a scan of the whole table (seconds for a batch once the table holds a few million rows).
        ordered = sorted(keys)
        rows = session.execute(text(
            "SELECT r.asset_id, r.register, r.read_time, r.value FROM meter_readings AS r"
            " JOIN unnest(CAST(:asset_ids AS text[]), CAST(:registers AS text[]), CAST(:read_times AS timestamptz[]))"
            " AS k(asset_id, register, read_time)"
            " ON r.asset_id = k.asset_id AND r.register = k.register AND r.read_time = k.read_time").columns(*columns),
            dict(asset_ids=[k[0] for k in ordered], registers=[k[1] for k in ordered],
                 read_times=[k[2] for k in ordered]))
    else:
        rows = session.execute(select(*columns).where(tuple_(*columns[:3]).in_(list(keys))))
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
    """Each pair's resets in time order. Selected by asset (indexed), the pairs kept here: a
    thousand-pair row-value IN list costs PostgreSQL more to plan than resets are found."""
    found: dict[Pair, list[Reset]] = defaultdict(list)
    if not pairs:
        return found
    asset_ids = sorted({asset_id for asset_id, _ in pairs})
    rows = session.execute(select(
        MeterResetRow.asset_id, MeterResetRow.register, MeterResetRow.reset_time, MeterResetRow.value_before,
        MeterResetRow.value_after).where(one_of(session, MeterResetRow.asset_id, asset_ids))
        .order_by(MeterResetRow.reset_time, MeterResetRow.id))
    for asset_id, register, reset_time, value_before, value_after in rows:
        if (asset_id, register) in pairs:
            found[(asset_id, register)].append(Reset(reset_time, value_before, value_after))
    return found


READING_COLUMNS = ("asset_id", "register", "read_time", "value", "source", "consumed", "high_water", "rollovers",
                   "resets")


def insert_readings(session: Session, rows: list[tuple], latest: dict[Pair, StoredReading]) -> None:
    """Inserts the accepted readings, rows of `READING_COLUMNS` (with their counter states), and moves
    each pair's latest reading forward (`latest` holds what this batch has made the latest)."""
    if not rows:
        return
    bulk_insert(session, MeterReadingRow.__table__, READING_COLUMNS, rows)
    touched = sorted({(row[0], row[1]) for row in rows})
    bulk_upsert(session, MeterLatestRow.__table__, _LATEST_COLUMNS, [
        (a, g, latest[(a, g)].reading.read_time, latest[(a, g)].reading.value, *_state_values(latest[(a, g)].state))
        for a, g in touched], ["asset_id", "register"])


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


# Per asset and instant, what an endpoint there needs (see `endpoint_near`): the last reading at or
# before it, the next one after it and, for an estimate, the first reading of its averaging window.
Around = tuple[MeterPoint | None, MeterPoint | None, MeterPoint | None]
_AT_OR_BEFORE, _AFTER, _AT_OR_AFTER = "at or before", "after", "at or after"


def _point_columns(reading) -> tuple:
    """A `MeterPoint`'s columns of `reading` (the table or an alias): counters as the stored integers."""
    return (reading.read_time, type_coerce(reading.value, BigInteger), type_coerce(reading.consumed, BigInteger),
            reading.rollovers, reading.resets)


def usage_points(session: Session, asset_ids: list[str], register: str, moments: tuple[datetime, ...],
                 tolerance: timedelta, window: timedelta) -> dict[str, list[Around]]:
    """What endpoints at each of `moments` need of each asset's register, by index lookups: one
    statement finds the readings on either side of every instant for all the assets (one row per
    asset), a second one the averaging windows' first readings where an end must be estimated.

    Core rows, not ORM ones: the ORM's per-row loading would cost more than the lookups.
    """
    if is_postgresql(session):
        assets = func.unnest(bindparam("asset_ids", asset_ids, type_=ARRAY(String))).table_valued("id").render_derived()
    else:
        assets = select(AssetRow.id).where(AssetRow.id.in_(asset_ids)).subquery()
    probes = [_nearest(session, assets.c.id, register, moment, side) for moment in moments
              for side in (_AT_OR_BEFORE, _AFTER)]
    statement = select(assets.c.id, *(column for _, _, point in probes for column in point)).select_from(assets)
    for joined, condition, _ in probes:
        statement = statement.outerjoin(joined, condition)
    sides: dict[str, list[tuple[MeterPoint | None, MeterPoint | None]]] = {}
    window_starts: list[tuple[str, datetime]] = []
    for row in session.connection().execute(statement).all():  # fetchall: one driver call, not one a row
        points = [None if row[i] is None else MeterPoint(*row[i:i + 5]) for i in range(1, len(row), 5)]
        sides[row[0]] = pairs = list(zip(points[0::2], points[1::2], strict=True))
        for moment, (before, after) in zip(moments, pairs, strict=True):
            start = estimate_window_start(moment, before and before.read_time, after and after.read_time, tolerance,
                                          window)
            if start is not None:
                window_starts.append((row[0], start))
    firsts = _first_readings_from(session, register, window_starts)
    return {asset_id: [(before, after, firsts.get((asset_id, before.read_time - window)) if before else None)
                       for before, after in pairs] for asset_id, pairs in sides.items()}


def _first_readings_from(session: Session, register: str,
                         starts: list[tuple[str, datetime]]) -> dict[tuple[str, datetime], MeterPoint]:
    """Each (asset, instant)'s first reading at or after the instant, in one statement."""
    if not starts:
        return {}
    starts = sorted(set(starts))
    if is_postgresql(session):  # arrays: one cached statement, however many pairs
        pairs = func.unnest(bindparam("asset_ids", [a for a, _ in starts], type_=ARRAY(String)),
                            bindparam("since", [t for _, t in starts], type_=ARRAY(UtcDateTime))).table_valued(
            column("asset_id", String), column("since", UtcDateTime)).render_derived()
    else:
        pairs = values(column("asset_id", String), column("since", UtcDateTime), name="starts").data(starts).cte()
    joined, condition, point = _nearest(session, pairs.c.asset_id, register, pairs.c.since, _AT_OR_AFTER)
    statement = select(pairs.c.asset_id, pairs.c.since, *point).select_from(pairs).join(joined, condition)
    return {(row[0], row[1]): MeterPoint(*row[2:]) for row in session.connection().execute(statement)}


def _nearest(session: Session, asset_id, register: str, moment, side: str):
    """The reading of `asset_id`'s register nearest `moment` (a value or a column) on `side`, to join
    to the statement that selects `asset_id`: (what to join, on what, the reading's columns).

    PostgreSQL: a LATERAL lookup (ORDER BY read_time LIMIT 1 on the primary key). SQLite has no
    LATERAL: the read time is found by a correlated min/max, then the row by primary key.
    """
    reading = MeterReadingRow
    if side == _AT_OR_BEFORE:
        condition, order, aggregate = reading.read_time <= moment, reading.read_time.desc(), func.max
    else:
        condition = reading.read_time > moment if side == _AFTER else reading.read_time >= moment
        order, aggregate = reading.read_time, func.min
    of_asset = and_(reading.asset_id == asset_id, reading.register == register, condition)
    if is_postgresql(session):
        nearest = select(*_point_columns(reading)).where(of_asset).order_by(order).limit(1).lateral()
        return nearest, true(), tuple(nearest.c)
    found = aliased(MeterReadingRow)
    time_of = select(aggregate(reading.read_time)).where(of_asset).scalar_subquery()
    return (found, and_(found.asset_id == asset_id, found.register == register, found.read_time == time_of),
            _point_columns(found))
