"""Meter readings: batch recording with per-reading verdicts, resets, listing, usage between instants."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import NamedTuple

from fleetops.fleet.v1 import meters_pb2 as mpb
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.fleet.api.assets import ASSET_COLLECTION, ASSETS, check_assets_visible
from services.fleet.api.catalog import register_specs
from services.fleet.domain.meters import (
    DEFAULT_AVERAGE_WINDOW,
    DEFAULT_READ_TOLERANCE,
    MAX_READINGS_PER_BATCH,
    Assessment,
    CounterState,
    Endpoint,
    EndpointKind,
    Reading,
    ReadingSource,
    RegisterRules,
    Usage,
    Verdict,
    advance_after,
    assess,
    endpoint_near,
    parse_decimal,
    plain,
    usage_from,
)
from services.fleet.meter_store import (
    StoredReading,
    asset_registers,
    insert_readings,
    latest_readings,
    neighbours,
    readings_at,
    resets_of,
    restate,
    usage_points,
)
from services.fleet.store import MeterReadingRow, MeterResetRow
from services.runtime.audit import note_change, note_changes
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.proto_values import duration_or
from services.runtime.resources import from_timestamp, required_interval, to_timestamp

MAX_USAGE_ASSETS = 1000
_SOURCE_FROM_PROTO = {mpb.READING_SOURCE_DEVICE: ReadingSource.DEVICE, mpb.READING_SOURCE_MANUAL: ReadingSource.MANUAL,
                      mpb.READING_SOURCE_ESTIMATED: ReadingSource.ESTIMATED}
_SOURCE_TO_PROTO = {v.value: k for k, v in _SOURCE_FROM_PROTO.items()}
_OUTCOME = {Verdict.ACCEPTED: mpb.READING_OUTCOME_ACCEPTED, Verdict.DUPLICATE: mpb.READING_OUTCOME_DUPLICATE,
            Verdict.REJECTED: mpb.READING_OUTCOME_REJECTED}
_COUNTER_STEP = Decimal("0.0001")
_KIND = {EndpointKind.ACTUAL: mpb.ENDPOINT_KIND_ACTUAL, EndpointKind.ESTIMATED: mpb.ENDPOINT_KIND_ESTIMATED,
         EndpointKind.NO_DATA: mpb.ENDPOINT_KIND_NO_DATA}


class _Result(NamedTuple):
    """A reading's result message's fields (set in the response in index order)."""

    outcome: int
    reason: str
    rollover: bool
    field: str


# The results without a reason, shared: most of a batch's.
_PLAIN_RESULTS = {(verdict, rollover): _Result(_OUTCOME[verdict], "", rollover, "")
                  for verdict in Verdict for rollover in (False, True)}


class _Parsed:
    __slots__ = ("index", "asset_id", "register", "reading", "source")

    def __init__(self, index: int, asset_id: str, register: str, reading: Reading, source: ReadingSource):
        self.index, self.asset_id, self.register, self.reading, self.source = index, asset_id, register, reading, source


def _parse_readings(messages, results: dict[int, _Result]) -> list[_Parsed]:
    """The readings that parse, in batch order; `results` gets the others' rejections. Each asset name
    and read time is parsed once: a batch holds each many times."""
    parsed: list[_Parsed] = []
    asset_ids: dict[str, str] = {}
    read_times: dict[tuple[int, int], datetime] = {}
    for index, message in enumerate(messages):
        try:
            asset_id = asset_ids.get(message.asset)
            if asset_id is None:
                asset_id = asset_ids[message.asset] = ASSETS.key(message.asset, f"readings[{index}].asset")
            if not message.register:
                raise InvalidArgument.field(f"readings[{index}].register", "is required")
            if not message.HasField("read_time"):
                raise InvalidArgument.field(f"readings[{index}].read_time", "is required")
            value = parse_decimal(message.value, f"readings[{index}].value")
        except InvalidArgument as error:
            violation = error.violations[0]
            results[index] = _Result(mpb.READING_OUTCOME_REJECTED, violation.description, False, violation.field)
            continue
        stamp = message.read_time
        read_time = read_times.get((stamp.seconds, stamp.nanos))
        if read_time is None:
            read_time = read_times[(stamp.seconds, stamp.nanos)] = from_timestamp(stamp)
        parsed.append(_Parsed(index, asset_id, message.register, Reading(read_time, value),
                              _SOURCE_FROM_PROTO.get(message.source, ReadingSource.DEVICE)))
    return parsed


class MeterMethods:
    """Meters (mixed into FleetApi)."""

    def RecordMeterReadings(self, request: mpb.RecordMeterReadingsRequest, context) -> mpb.RecordMeterReadingsResponse:
        if len(request.readings) > MAX_READINGS_PER_BATCH:
            raise InvalidArgument.field("readings", f"at most {MAX_READINGS_PER_BATCH} readings per call,"
                                                    f" got {len(request.readings)}")
        results: dict[int, _Result] = {}
        parsed = _parse_readings(request.readings, results)

        def record(session: Session) -> mpb.RecordMeterReadingsResponse:
            asset_ids = {p.asset_id for p in parsed}
            check_assets_visible(session, asset_ids)
            accepted_per_asset = self._judge_and_store(session, asset_ids, parsed, results)
            _note_accepted(session, accepted_per_asset)
            response = mpb.RecordMeterReadingsResponse()
            add = response.results.add
            counts = defaultdict(int)
            for index in range(len(request.readings)):
                # Set field by field, only what differs from the defaults: most results are a bare ACCEPTED.
                outcome, reason, rollover, field = results[index]
                result = add()
                result.index = index
                result.outcome = outcome
                if reason:
                    result.reason = reason
                if field:
                    result.field = field
                if rollover:
                    result.rollover = True
                counts[outcome] += 1
            for outcome, count in counts.items():
                self._readings_recorded.labels(mpb.ReadingOutcome.Name(outcome)[len("READING_OUTCOME_"):]
                                               .lower()).inc(count)
            response.accepted_count = counts[mpb.READING_OUTCOME_ACCEPTED]
            response.duplicate_count = counts[mpb.READING_OUTCOME_DUPLICATE]
            response.rejected_count = counts[mpb.READING_OUTCOME_REJECTED]
            return response

        return self._standard.run("RecordMeterReadings", request, mpb.RecordMeterReadingsResponse, record)

    def _judge_and_store(self, session: Session, asset_ids: set[str], parsed: list[_Parsed],
                         results: dict[int, _Result]) -> dict[str, int]:
        """Judges the readings pair by pair (asset and register), each pair's in time order, into
        `results`, and stores the accepted ones; how many each asset got accepted."""
        groups = _readings_by_pair(session, asset_ids, parsed, results)
        latest = latest_readings(session, set(groups))
        # Only a reading at or before its pair's latest can meet a stored one: in-order batches skip the lookup.
        stored_at = readings_at(session, {(*pair, p.reading.read_time) for pair, (_, group) in groups.items()
                                          if (last := latest.get(pair)) is not None
                                          for p in _not_after(group, last.reading.read_time)})
        resets = resets_of(session, set(groups))
        accepted_rows: list[tuple] = []
        accepted_per_asset: dict[str, int] = defaultdict(int)
        restate_since: dict[tuple[str, str], datetime] = {}  # pairs that got a reading before their latest
        for pair in sorted(groups):
            rules, group = groups[pair]
            asset_id, register = pair
            pair_resets = resets.get(pair, ())
            stored = latest.get(pair)
            last_reading, last_state = (stored.reading, stored.state) if stored else (None, CounterState())
            accepted_at: dict[datetime, Decimal] = {}
            accepted_before = len(accepted_rows)
            for p in group:
                reading = p.reading
                same_time = accepted_at.get(reading.read_time)
                if same_time is None and stored_at:
                    stored_there = stored_at.get((asset_id, register, reading.read_time))
                    same_time = stored_there and stored_there.value
                appended = last_reading is None or reading.read_time > last_reading.read_time
                if appended:
                    before, after = last_reading, None
                else:
                    before, after = neighbours(session, pair, reading.read_time)
                verdict: Assessment = assess(reading, before, after, pair_resets, rules, same_time)
                results[p.index] = _result_of(verdict, p.index)
                if verdict.verdict is not Verdict.ACCEPTED:
                    continue
                accepted_at[reading.read_time] = reading.value
                if appended:
                    state = advance_after(last_state, None if last_reading is None else last_reading.read_time,
                                          reading, pair_resets, rules)
                    last_reading, last_state = reading, state
                else:
                    state = CounterState(Decimal(0), reading.value)  # restated below, with its neighbours
                    restate_since[pair] = min(reading.read_time, restate_since.get(pair, reading.read_time))
                accepted_rows.append((asset_id, register, reading.read_time, reading.value, p.source.value,
                                      state.consumed, state.high_water, state.rollovers, state.resets))
            if last_reading is not None and (stored is None or last_reading is not stored.reading):
                latest[pair] = StoredReading(last_reading, last_state)
            if len(accepted_rows) > accepted_before:
                accepted_per_asset[asset_id] += len(accepted_rows) - accepted_before
        insert_readings(session, accepted_rows, latest)
        for pair, since in sorted(restate_since.items()):
            restate(session, pair, since, groups[pair][0])
        return accepted_per_asset

    def RecordMeterReset(self, request: mpb.RecordMeterResetRequest, context) -> mpb.MeterReset:
        reset = request.reset
        asset_id = ASSETS.key(reset.asset, "reset.asset")
        if not reset.HasField("reset_time"):
            raise InvalidArgument.field("reset.reset_time", "is required")
        before = parse_decimal(reset.value_before, "reset.value_before")
        after = parse_decimal(reset.value_after, "reset.value_after")

        def record(session: Session) -> mpb.MeterReset:
            check_assets_visible(session, [asset_id])
            assets = asset_registers(session, [asset_id], lock=True)
            if asset_id not in assets:
                raise NotFound(reset.asset)
            if reset.register not in {r["code"] for r in assets[asset_id][1]}:
                raise InvalidArgument.field("reset.register", f"the asset's model reports no register {reset.register!r}")
            reset_time = from_timestamp(reset.reset_time)
            session.add(MeterResetRow(asset_id=asset_id, register=reset.register, reset_time=reset_time,
                                      value_before=before, value_after=after, reason=reset.reason))
            session.flush()
            rules = {spec.code: spec.rules for spec in register_specs(assets[asset_id][1])}[reset.register]
            restate(session, (asset_id, reset.register), reset_time, rules)
            note_change(session, reset.asset, details=f"register {reset.register}: {before} -> {after}")
            return reset

        return self._standard.run("RecordMeterReset", request, mpb.MeterReset, record)

    def ListMeterReadings(self, request: mpb.ListMeterReadingsRequest, context) -> mpb.ListMeterReadingsResponse:
        asset_id = ASSETS.key(request.asset, "asset")
        query = {"asset": asset_id, "register": request.register}
        page = self._tokens.parse(request.page_size, request.page_token, query)
        with self._db.unit_of_work() as session:
            ASSET_COLLECTION.rows(session).get(asset_id)
            statement = select(MeterReadingRow).where(MeterReadingRow.asset_id == asset_id)
            if request.register:
                statement = statement.where(MeterReadingRow.register == request.register)
            order = (MeterReadingRow.read_time, MeterReadingRow.register)
            if page.after:
                after_time = datetime.fromisoformat(page.after[0])
                statement = statement.where((MeterReadingRow.read_time > after_time) | (
                    (MeterReadingRow.read_time == after_time) & (MeterReadingRow.register > page.after[1])))
            rows = list(session.scalars(statement.order_by(*order).limit(page.size + 1)))
            rows, token = self._tokens.finish(rows, page, lambda r: (r.read_time.isoformat(), r.register), query)
            readings = [mpb.MeterReading(asset=request.asset, register=r.register, value=plain(r.value),
                                         read_time=to_timestamp(r.read_time), source=_SOURCE_TO_PROTO[r.source])
                        for r in rows]
        return mpb.ListMeterReadingsResponse(readings=readings, next_page_token=token)

    def GetUsage(self, request: mpb.GetUsageRequest, context) -> mpb.GetUsageResponse:
        if not request.assets:
            raise InvalidArgument.field("assets", "name at least one asset")
        if len(request.assets) > MAX_USAGE_ASSETS:
            raise InvalidArgument.field("assets", f"at most {MAX_USAGE_ASSETS} assets per call")
        asset_ids = [ASSETS.key(name, f"assets[{i}]") for i, name in enumerate(request.assets)]
        if not request.register:
            raise InvalidArgument.field("register", "is required")
        start, end = required_interval(request)
        tolerance = duration_or(request.read_tolerance, DEFAULT_READ_TOLERANCE, "read_tolerance")
        window = duration_or(request.average_window, DEFAULT_AVERAGE_WINDOW, "average_window")
        distinct = list(dict.fromkeys(asset_ids))
        with self._db.unit_of_work() as session:
            check_assets_visible(session, distinct)
            assets = asset_registers(session, distinct)
            missing = next((f"assets/{a}" for a in asset_ids if a not in assets), None)
            if missing is not None:
                raise NotFound(missing)
            reports = {model_id: any(r["code"] == request.register for r in registers)
                       for model_id, registers in assets.values()}
            unknown = next((name for name, a in zip(request.assets, asset_ids, strict=True)
                            if not reports[assets[a][0]]), None)
            if unknown is not None:
                raise InvalidArgument.field("register", f"{unknown} reports no register {request.register!r}")
            around = usage_points(session, distinct, request.register, (start, end), tolerance, window)
        usages = {asset_id: usage_from(*(endpoint_near(moment, *points, tolerance, window)
                                         for moment, points in zip((start, end), around[asset_id], strict=True)))
                  for asset_id in distinct}
        return _usage_response(request, [usages[a] for a in asset_ids])


def _usage_response(request: mpb.GetUsageRequest, usages: list[Usage]) -> mpb.GetUsageResponse:
    """One message per asset, each a copy of a prototype for its ends' kinds and reading times (the
    assets of a call mostly share them) with its own figures: building nested messages field by
    field costs more than the rest of the call."""
    response = mpb.GetUsageResponse()
    add = response.usages.add
    prototypes: dict[tuple, mpb.AssetUsage] = {}
    stamps: dict[datetime, Timestamp] = {}
    total = Decimal(0)
    for name, usage in zip(request.assets, usages, strict=True):
        start, end = usage.start, usage.end
        key = (start.time, start.kind, start.reading_time, end.time, end.kind, end.reading_time)
        if key not in prototypes:
            prototypes[key] = mpb.AssetUsage(register=request.register, start=_endpoint(start, stamps),
                                             end=_endpoint(end, stamps))
        message = add()
        message.CopyFrom(prototypes[key])
        message.asset = name
        message.quantity = plain(usage.quantity)
        message.rollovers = usage.rollovers
        message.resets = usage.resets
        if start.counter_value is not None:
            message.start.counter_value = _counter(start.counter_value)
        if end.counter_value is not None:
            message.end.counter_value = _counter(end.counter_value)
        total += usage.quantity
    response.total_quantity = plain(total)
    return response


def _counter(value: Decimal) -> str:
    return plain(value.quantize(_COUNTER_STEP))


def _endpoint(endpoint: Endpoint, stamps: dict[datetime, Timestamp]) -> mpb.UsageEndpoint:
    """An endpoint's kind and times (its counter value is per asset)."""
    def stamp(moment: datetime) -> Timestamp:
        if moment not in stamps:
            stamps[moment] = to_timestamp(moment)
        return stamps[moment]

    message = mpb.UsageEndpoint(time=stamp(endpoint.time), kind=_KIND[endpoint.kind])
    if endpoint.reading_time is not None:
        message.reading_time.CopyFrom(stamp(endpoint.reading_time))
    return message


def _note_accepted(session: Session, accepted_per_asset: dict[str, int]) -> None:
    """Audits the batch per asset (readings are high volume: one record per asset and call, not per reading)."""
    note_changes(session, [(ASSETS.name_of(asset_id), "", f"{count} readings accepted")
                           for asset_id, count in sorted(accepted_per_asset.items())])


def _readings_by_pair(session: Session, asset_ids: set[str], parsed: list[_Parsed],
                      results: dict[int, _Result]) -> dict[tuple[str, str], tuple[RegisterRules, list[_Parsed]]]:
    """The readings of registers the assets have, by (asset, register), with the register's rules, each
    pair's in time order (in batch order at equal times); `results` gets the others' rejections. Each
    pair is looked up once: a batch holds each many times."""
    assets = asset_registers(session, asset_ids, lock=True)
    groups: dict[tuple[str, str], tuple[RegisterRules, list[_Parsed]]] = {}
    rejections: dict[tuple[str, str], tuple[str, str]] = {}  # pair -> (the field at fault, why)
    specs_of_model: dict[str, dict] = {}
    for p in parsed:
        pair = (p.asset_id, p.register)
        group = groups.get(pair)
        if group is not None:
            group[1].append(p)
            continue
        if pair not in rejections:
            if p.asset_id not in assets:
                rejections[pair] = "asset", f"assets/{p.asset_id} does not exist"
            else:
                model_id, registers = assets[p.asset_id]
                if model_id not in specs_of_model:
                    specs_of_model[model_id] = {spec.code: spec for spec in register_specs(registers)}
                specs = specs_of_model[model_id]
                if p.register in specs:
                    groups[pair] = (specs[p.register].rules, [p])
                    continue
                rejections[pair] = "register", (f"the asset's model reports no register {p.register!r};"
                                                f" it has {', '.join(sorted(specs)) or 'none'}")
        field, reason = rejections[pair]
        results[p.index] = _rejected(f"readings[{p.index}].{field}", reason)
    for _, group in groups.values():
        group.sort(key=_read_time)  # stable: readings at the same time keep their batch order
    return groups


_read_time = attrgetter("reading.read_time")


def _not_after(group: list[_Parsed], moment: datetime) -> list[_Parsed]:
    """The readings of a group in time order at or before `moment`."""
    return group[:bisect_right(group, moment, key=_read_time)]


def _result_of(verdict: Assessment, index: int) -> _Result:
    if verdict.reason:
        return _Result(_OUTCOME[verdict.verdict], verdict.reason, verdict.rollover, f"readings[{index}].value")
    return _PLAIN_RESULTS[verdict.verdict, verdict.rollover]


def _rejected(field: str, reason: str) -> _Result:
    return _Result(mpb.READING_OUTCOME_REJECTED, reason, False, field)
