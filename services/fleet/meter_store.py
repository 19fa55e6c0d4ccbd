"""Set-based reads and writes of meter readings and resets (one query per batch, never per row)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, func, insert, select, tuple_
from sqlalchemy.orm import Session

from services.fleet.domain.meters import Reading, Reset
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


def latest_readings(session: Session, pairs: set[Pair]) -> dict[Pair, Reading]:
    found: dict[Pair, Reading] = {}
    ordered = sorted(pairs)
    for offset in range(0, len(ordered), _CHUNK):
        rows = session.scalars(select(MeterLatestRow).where(
            tuple_(MeterLatestRow.asset_id, MeterLatestRow.register).in_(ordered[offset:offset + _CHUNK])))
        found.update({(r.asset_id, r.register): Reading(r.read_time, r.value) for r in rows})
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


def insert_readings(session: Session, rows: list[dict], latest: dict[Pair, Reading]) -> None:
    """Inserts the accepted readings and moves each pair's latest reading forward (`latest` holds
    what this batch has made the latest)."""
    if not rows:
        return
    session.execute(insert(MeterReadingRow), rows)
    touched = {(r["asset_id"], r["register"]) for r in rows}
    upsert(session, MeterLatestRow.__table__, [
        dict(asset_id=a, register=g, read_time=latest[(a, g)].read_time, value=latest[(a, g)].value)
        for a, g in sorted(touched)], ["asset_id", "register"])


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
