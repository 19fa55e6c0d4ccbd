"""Ingestion: device events in, alarms and work orders out, nothing lost and nothing twice.

One batch is one unit of work: replays are found by (source, source_event_id) with set-based
queries, the batch's assets are locked (so per-asset decisions are serialized across callers),
events are decoded and turned into alarm changes, and everything is written together. Page
counters go to an outbox in the same transaction and are forwarded to the fleet service after.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import meters_pb2 as fleet_meters
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from prometheus_client import Counter, Histogram
from sqlalchemy import delete, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from services.maintenance.asset_directory import AssetDirectory, AssetRef
from services.maintenance.decoding import Decoded, decode, event_format, payload_kind, state_kind
from services.maintenance.domain.alarms import Alarm, AlarmState, clear, clearing_signal, observe
from services.maintenance.domain.consumables import LevelReading
from services.maintenance.domain.diagnostics import (Action, MalformedDiagnostic, Severity, PageCounter, SupplyLevel, load_catalogues,
                                                     load_registry_bundle, normalize)
from services.maintenance.orders import OrderDesk
from services.maintenance.store_orders import WorkOrderRow
from services.maintenance.domain.work_orders import WorkOrderState
from services.maintenance.store_ingest import (AlarmRow, DeviceStateRow, DiagnosticEventRow, MeterOutboxRow,
                                               SupplyReadingRow)
from services.maintenance.store import AuditRecord
from services.runtime.audit import AuditTrail
from services.runtime.clients import Peer
from services.runtime.dataclass_json import from_json, to_json
from services.runtime.db import insert_new, upsert, utc_now
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.resources import from_timestamp, id_violation
from services.runtime.server import Runtime

log = logging.getLogger(__name__)

MAX_EVENTS_PER_BATCH = 10_000
MAX_ID_LENGTH = 200
# A cleared alarm this recent is loaded too: a repeat within the flapping window reopens it.
RECENT_CLEAR_WINDOW = timedelta(hours=2)
# How far back supply levels feed the days-to-empty forecast.
SUPPLY_HISTORY = timedelta(days=60)
_CHUNK = 1000
O = dpb.IngestOutcome


def _chunks(items: list, size: int = _CHUNK):
    for offset in range(0, len(items), size):
        yield items[offset:offset + size]


@dataclass
class _Event:
    index: int
    message: dpb.DiagnosticEvent
    asset_id: str
    fingerprint: str
    kind: str
    alarms: list = field(default_factory=list)  # the _Entry objects it touched
    work_orders: set[str] = field(default_factory=set)
    newly_routed: bool = False  # one of its alarms was put on a work order by this batch


class _Entry:
    """One alarm episode as the batch sees it: the domain alarm and its row (None until saved)."""

    __slots__ = ("alarm", "row", "changed")

    def __init__(self, alarm: Alarm, row: AlarmRow | None):
        self.alarm, self.row, self.changed = alarm, row, False


class _AlarmBook:
    """The batch's view of alarms: the latest episode per (asset, fault key), plus episodes that a
    new one replaced during the batch (they are saved too)."""

    def __init__(self, session: Session, asset_ids: list[str], now: datetime):
        self.latest: dict[tuple[str, str], _Entry] = {}
        self._replaced: list[_Entry] = []
        for chunk in _chunks(asset_ids):
            for row in session.scalars(select(AlarmRow).where(
                    AlarmRow.asset_id.in_(chunk),
                    or_(AlarmRow.state == AlarmState.ACTIVE.value, AlarmRow.last_seen >= now - RECENT_CLEAR_WINDOW))
                    .order_by(AlarmRow.id)):
                self.latest[(row.asset_id, row.fault_key)] = _Entry(from_json(Alarm, row.body), row)

    def alarm(self, key: tuple[str, str]) -> Alarm | None:
        entry = self.latest.get(key)
        return entry.alarm if entry else None

    def active_of(self, asset_id: str) -> list[tuple[str, str]]:
        return [k for k, e in self.latest.items() if k[0] == asset_id and e.alarm.is_active]

    def put(self, key: tuple[str, str], alarm: Alarm) -> _Entry:
        entry = self.latest.get(key)
        if entry is None or entry.alarm.first_seen != alarm.first_seen:
            if entry is not None and entry.changed:
                self._replaced.append(entry)
            entry = self.latest[key] = _Entry(alarm, None)
        entry.alarm, entry.changed = alarm, True
        return entry

    def save(self, session: Session) -> None:
        for entry in [*self._replaced, *(e for e in self.latest.values() if e.changed)]:
            alarm = entry.alarm
            values = dict(state=alarm.state.value, severity=alarm.peak_severity.name.lower(), last_seen=alarm.last_seen,
                          body=to_json(alarm), family=alarm.family)
            if entry.row is None:
                entry.row = AlarmRow(asset_id=alarm.asset.split("/", 1)[1], fault_key=alarm.fault_key, **values)
                session.add(entry.row)
            else:
                for name, value in values.items():
                    setattr(entry.row, name, value)
                entry.row.version += 1
        session.flush()


class Ingestion:
    def __init__(self, runtime: Runtime, assets: AssetDirectory, orders: OrderDesk):
        self._db = runtime.database
        self._assets = assets
        self._orders = orders
        self._audit = AuditTrail(runtime.database, AuditRecord)
        self._catalogues = load_catalogues()
        self._registries = load_registry_bundle()
        registry = runtime.metrics.registry
        self._events = Counter("fleetops_maintenance_events_ingested", "Diagnostic events by format and result.",
                               ["format", "result"], registry=registry)
        self._batch_seconds = Histogram("fleetops_maintenance_ingest_batch_seconds",
                                        "Time to ingest one batch, from request to commit.", registry=registry)
        self._to_work_order = Histogram("fleetops_maintenance_event_to_work_order_seconds",
                                        "From receiving an event to its alarm being on a work order (committed).",
                                        registry=registry, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self._forwarder = MeterForwarder(runtime, Peer(runtime.config, "fleet", fleet_grpc.FleetServiceStub))

    def ingest(self, request: dpb.IngestDiagnosticsRequest) -> dpb.IngestDiagnosticsResponse:
        started = time.perf_counter()
        if len(request.events) > MAX_EVENTS_PER_BATCH:
            raise InvalidArgument.field("events", f"at most {MAX_EVENTS_PER_BATCH} events per call, got {len(request.events)}")
        results: dict[int, dpb.IngestResult] = {}
        events = self._screen(request, results)
        if events:
            with self._db.unit_of_work() as session:
                self._process(session, events, results)
                self._audit.insert(session, "IngestDiagnostics", _batch_audit(request, events, results),
                                   request.batch_id)
            routed = sum(1 for e in events if e.newly_routed)
            for _ in range(routed):
                self._to_work_order.observe(time.perf_counter() - started)
            self._forwarder.wake()
        ordered = [results[i] for i in range(len(request.events))]
        counts: dict[int, int] = defaultdict(int)
        for result in ordered:
            counts[result.outcome] += 1
        for index, event in enumerate(request.events):
            kind = payload_kind(event)
            self._events.labels(event_format(kind) if kind else "unknown",
                                O.Name(results[index].outcome)[len("INGEST_OUTCOME_"):].lower()).inc()
        self._batch_seconds.observe(time.perf_counter() - started)
        return dpb.IngestDiagnosticsResponse(
            results=ordered, accepted_count=counts[O.INGEST_OUTCOME_ACCEPTED],
            duplicate_count=counts[O.INGEST_OUTCOME_DUPLICATE], conflict_count=counts[O.INGEST_OUTCOME_CONFLICT],
            rejected_count=counts[O.INGEST_OUTCOME_REJECTED], batch_id=request.batch_id)

    def _screen(self, request: dpb.IngestDiagnosticsRequest, results: dict[int, dpb.IngestResult]) -> list[_Event]:
        """Validates each event and settles replays inside the batch itself."""
        events: list[_Event] = []
        first_of: dict[tuple[str, str], _Event] = {}
        for index, message in enumerate(request.events):
            problem = _problem(message)
            if problem:
                results[index] = dpb.IngestResult(index=index, outcome=O.INGEST_OUTCOME_REJECTED, reason=problem)
                continue
            fingerprint = hashlib.blake2b(message.SerializeToString(deterministic=True), digest_size=16).hexdigest()
            event = _Event(index, message, message.asset.split("/", 1)[1], fingerprint, payload_kind(message))
            key = (message.source, message.source_event_id)
            if key in first_of:
                same = first_of[key].fingerprint == fingerprint
                results[index] = dpb.IngestResult(
                    index=index, outcome=O.INGEST_OUTCOME_DUPLICATE if same else O.INGEST_OUTCOME_CONFLICT,
                    reason="" if same else f"event {key[1]!r} of {key[0]!r} appears earlier in this batch with other content")
                continue
            first_of[key] = event
            events.append(event)
        return events

    def _process(self, session: Session, events: list[_Event], results: dict[int, dpb.IngestResult]) -> None:
        now = utc_now()
        fresh, replays = self._claim(session, events, now)
        stored: dict[tuple[str, str], str] = {}
        for chunk in _chunks(replays):
            keys = [_key(e) for e in chunk]
            stored.update({(s, i): f for s, i, f in session.execute(
                select(DiagnosticEventRow.source, DiagnosticEventRow.source_event_id, DiagnosticEventRow.fingerprint)
                .where(tuple_(DiagnosticEventRow.source, DiagnosticEventRow.source_event_id).in_(keys)))})
        for event in replays:
            if stored.get(_key(event)) == event.fingerprint:
                results[event.index] = dpb.IngestResult(index=event.index, outcome=O.INGEST_OUTCOME_DUPLICATE)
            else:
                results[event.index] = dpb.IngestResult(
                    index=event.index, outcome=O.INGEST_OUTCOME_CONFLICT,
                    reason=f"event {event.message.source_event_id!r} of {event.message.source!r} was ingested"
                           f" before with other content")
        try:
            self._judge(session, fresh, results, now)
        finally:
            rejected = [_key(e) for e in fresh if results.get(e.index) and
                        results[e.index].outcome == O.INGEST_OUTCOME_REJECTED]
            for chunk in _chunks(rejected):  # a rejected event leaves nothing behind, not even its id
                session.execute(delete(DiagnosticEventRow).where(
                    tuple_(DiagnosticEventRow.source, DiagnosticEventRow.source_event_id).in_(chunk)))

    def _claim(self, session: Session, events: list[_Event], now: datetime) -> tuple[list[_Event], list[_Event]]:
        """Claims the events' ids: (events first seen now, replays of stored ones). A concurrent batch
        holding the same id makes this one wait, then see a replay."""
        claimed: set[tuple] = set()
        # Every batch claims in key order, so two batches sharing ids wait on each other, never in a cycle.
        for chunk in _chunks(sorted(events, key=_key)):
            claimed |= insert_new(session, DiagnosticEventRow.__table__, [dict(
                source=e.message.source, source_event_id=e.message.source_event_id, fingerprint=e.fingerprint,
                asset_id=e.asset_id, kind=e.kind, observe_time=from_timestamp(e.message.observe_time),
                receive_time=now) for e in chunk], ["source", "source_event_id"])
        return [e for e in events if _key(e) in claimed], [e for e in events if _key(e) not in claimed]

    def _judge(self, session: Session, fresh: list[_Event], results: dict[int, dpb.IngestResult], now: datetime) -> None:
        assets = self._assets.resolve(session, [e.asset_id for e in fresh], lock=True)
        accepted: list[_Event] = []
        refused = 0
        for event in fresh:
            ref = assets.get(event.asset_id)
            if ref is None:
                results[event.index] = _rejected(event.index, f"{event.message.asset} does not exist in the fleet")
            elif not ref.data_collection_consent:
                refused += 1
                results[event.index] = _rejected(event.index, f"FAILED_PRECONDITION: {ref.customer} has not consented"
                                                              f" to data collection; the event was not stored")
            else:
                accepted.append(event)
        if refused and refused == len(fresh) and not accepted:
            raise FailedPrecondition("the customers of these assets have not consented to data collection;"
                                     " nothing was stored", reason="NO_DATA_COLLECTION_CONSENT")
        self._apply(session, accepted, assets, results, now)

    def _apply(self, session: Session, events: list[_Event], assets: dict[str, AssetRef],
               results: dict[int, dpb.IngestResult], now: datetime) -> None:
        asset_ids = sorted({e.asset_id for e in events})
        states = self._load_states(session, asset_ids)
        book = _AlarmBook(session, asset_ids, now)
        touched_states: set[tuple[str, str]] = set()
        routed: list[tuple[_Event, tuple[str, str]]] = []
        outbox: list[dict] = []
        supplies: dict[tuple[str, str], list[dict]] = defaultdict(list)
        counters: dict[tuple[str, str], tuple[int, datetime, _Event]] = {}
        for event in sorted(events, key=lambda e: (e.message.observe_time.seconds, e.message.observe_time.nanos, e.index)):
            ref = assets[event.asset_id]
            at = from_timestamp(event.message.observe_time)
            asset_states = states[event.asset_id]
            before = {k: v for k, v in asset_states.items()}
            try:
                decoded: Decoded = decode(event.message, ref.name, asset_states, self._registries)
            except MalformedDiagnostic as error:
                states[event.asset_id] = before
                results[event.index] = _rejected(event.index, error.reason)
                continue
            kind = state_kind(event.kind)
            if kind:
                touched_states.add((event.asset_id, kind))
            catalogue = getattr(self._catalogues, ref.device_class or event_format(event.kind))
            for item in decoded.items:
                fault = normalize(item, catalogue)
                signal = clearing_signal(item, fault)
                if fault is not None and fault.severity is Severity.INFO and fault.action is Action.NONE:
                    fault = None  # informational (e.g. Redfish "...Corrected", severity OK): nothing to alarm
                if signal is not None:
                    for key in book.active_of(event.asset_id):
                        alarm = book.alarm(key)
                        after = clear(alarm, signal, at)
                        if after != alarm:
                            event.alarms.append(book.put(key, after))
                if fault is not None:
                    key = (event.asset_id, fault.fault_key)
                    entry = book.put(key, observe(book.alarm(key), fault, at))
                    event.alarms.append(entry)
                    routed.append((event, entry))
                if isinstance(item, PageCounter):
                    register = "total_impressions" if item.marker_index == 1 else f"marker{item.marker_index}_impressions"
                    outbox.append(dict(asset_id=event.asset_id, register=register, value=str(item.life_count),
                                       read_time=at, source="DEVICE"))
                    counters[(event.asset_id, register)] = max(counters.get((event.asset_id, register), (0, at, event)),
                                                               (item.life_count, at, event), key=lambda c: c[0])
                if isinstance(item, SupplyLevel) and item.percent_remaining is not None:
                    supplies[(event.asset_id, f"{item.device_index}.{item.supply_index}")].append(
                        dict(asset_id=event.asset_id, supply=f"{item.device_index}.{item.supply_index}",
                             observe_time=at, level_percent=item.percent_remaining))
            results[event.index] = dpb.IngestResult(index=event.index, outcome=O.INGEST_OUTCOME_ACCEPTED,
                                                    reason=decoded.note)
        book.save(session)
        closed = self._closed_orders(session, {e.row.work_order_id for _, e in routed if e.row.work_order_id})
        decided: set[int] = set()
        for event, entry in routed:
            if entry.row.work_order_id in closed:  # its order is done: a new occurrence needs a new decision
                entry.row.work_order_id = None
            # Decided once per batch, in its final state; an alarm that asks for no action is decided
            # when its episode opens (it may join an open order then) and not again on every repeat.
            needs_decision = entry.alarm.count == 1 or entry.alarm.fault.action is not Action.NONE
            if (id(entry) not in decided and needs_decision and entry.row.work_order_id is None
                    and entry.alarm.is_active):
                decided.add(id(entry))
                order = self._orders.route_alarm(session, entry.alarm, assets[event.asset_id], now)
                if order:
                    entry.row.work_order_id = order
                    event.newly_routed = True
            if entry.row.work_order_id:
                event.work_orders.add(entry.row.work_order_id)
        for (asset_id, register), (value, at, event) in sorted(counters.items(), key=lambda c: c[0]):
            event.work_orders.update(self._orders.meter_reading(session, assets[asset_id], register, None,
                                                                Decimal(value), at))
        self._record_supplies(session, supplies, assets, now)
        if outbox:
            session.execute(insert(MeterOutboxRow), outbox)
        upsert(session, DeviceStateRow.__table__,
               [dict(asset_id=a, kind=k, state=states[a][k]) for a, k in sorted(touched_states)], ["asset_id", "kind"])
        for event in events:
            result = results[event.index]
            if result.outcome == O.INGEST_OUTCOME_ACCEPTED:
                result.alarms.extend(sorted({f"alarms/{entry.row.id}" for entry in event.alarms}))
                result.work_orders.extend(sorted(event.work_orders))

    @staticmethod
    def _closed_orders(session: Session, names: set[str]) -> set[str]:
        ids = sorted(name.split("/", 1)[1] for name in names)
        closed: set[str] = set()
        for chunk in _chunks(ids):
            closed |= {f"workOrders/{i}" for i in session.scalars(select(WorkOrderRow.id).where(
                WorkOrderRow.id.in_(chunk), WorkOrderRow.state.in_([WorkOrderState.COMPLETED.value,
                                                                    WorkOrderState.CANCELLED.value])))}
        return closed

    def _load_states(self, session: Session, asset_ids: list[str]) -> dict[str, dict[str, dict]]:
        states: dict[str, dict[str, dict]] = {a: {} for a in asset_ids}
        for chunk in _chunks(asset_ids):
            for row in session.scalars(select(DeviceStateRow).where(DeviceStateRow.asset_id.in_(chunk))):
                states[row.asset_id][row.kind] = row.state
        return states

    def _record_supplies(self, session: Session, supplies: dict[tuple[str, str], list[dict]],
                         assets: dict[str, AssetRef], now: datetime) -> None:
        """Stores the batch's supply levels, then lets each supply's history decide on a shipment."""
        rows = [row for readings in supplies.values() for row in readings]
        for chunk in _chunks(rows):
            upsert(session, SupplyReadingRow.__table__, chunk, ["asset_id", "supply", "observe_time"])
        for asset_id, supply in sorted(supplies):
            since = min(r["observe_time"] for r in supplies[(asset_id, supply)]) - SUPPLY_HISTORY
            history = [LevelReading(r.observe_time, r.level_percent) for r in session.scalars(
                select(SupplyReadingRow).where(SupplyReadingRow.asset_id == asset_id, SupplyReadingRow.supply == supply,
                                               SupplyReadingRow.observe_time >= since)
                .order_by(SupplyReadingRow.observe_time))]
            self._orders.supply_levels(session, assets[asset_id], supply, history, now)


def _key(event: _Event) -> tuple[str, str]:
    return (event.message.source, event.message.source_event_id)


def _problem(message: dpb.DiagnosticEvent) -> str:
    for name in ("source", "source_event_id"):
        value = getattr(message, name)
        if not value:
            return f"{name} is required"
        if len(value) > MAX_ID_LENGTH:
            return f"{name} is longer than {MAX_ID_LENGTH} characters"
    parts = message.asset.split("/")
    # The fleet service refuses a malformed asset name outright, which would fail the whole batch.
    if len(parts) != 2 or parts[0] != "assets" or id_violation(parts[1], "asset"):
        return f"asset must look like assets/{{asset}}, got {message.asset!r}"
    if not message.HasField("observe_time"):
        return "observe_time is required"
    if payload_kind(message) is None:
        return "the event has no payload (printer_alert, j1939_message, redfish_event, ...)"
    return ""


def _batch_audit(request: dpb.IngestDiagnosticsRequest, events: list[_Event],
                 results: dict[int, dpb.IngestResult]) -> list[tuple[str, str, str]]:
    """Ingestion is audited per batch, not per event (events are high volume, each stored once anyway);
    a batch that accepted nothing (all replays, say) changed nothing and leaves no record."""
    accepted = [e for e in events if results[e.index].outcome == O.INGEST_OUTCOME_ACCEPTED]
    if not accepted:
        return []
    return [(f"diagnosticBatches/{request.batch_id}" if request.batch_id else "", "",
             f"{len(accepted)} of {len(request.events)} events accepted, for {len({e.asset_id for e in accepted})} assets")]


def _rejected(index: int, reason: str) -> dpb.IngestResult:
    return dpb.IngestResult(index=index, outcome=O.INGEST_OUTCOME_REJECTED, reason=reason)


class MeterForwarder:
    """Sends outbox meter readings to the fleet service in the background, oldest first; a reading
    stays in the outbox until the fleet service has answered for it."""

    def __init__(self, runtime: Runtime, fleet: Peer):
        self._db = runtime.database
        self._fleet = fleet
        self._wake = threading.Event()
        threading.Thread(target=self._run, name="meter-forwarder", daemon=True).start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(timeout=30)
            self._wake.clear()
            try:
                while self.forward_once():
                    pass
            except Exception:  # the next wake-up tries again; nothing is marked sent
                log.warning("forwarding meter readings to the fleet service failed", exc_info=True)

    def forward_once(self, limit: int = 5000) -> int:
        with self._db.unit_of_work() as session:
            pending = list(session.scalars(select(MeterOutboxRow).where(MeterOutboxRow.sent.is_(False))
                                           .order_by(MeterOutboxRow.id).limit(limit)))
            if not pending:
                return 0
            readings = []
            for row in pending:
                reading = fleet_meters.MeterReading(asset=f"assets/{row.asset_id}", register=row.register,
                                                    value=row.value, source=getattr(fleet_meters, f"READING_SOURCE_{row.source}"))
                reading.read_time.FromDatetime(row.read_time)
                readings.append(reading)
            response = self._fleet.call(self._fleet.stub.RecordMeterReadings,
                                        fleet_meters.RecordMeterReadingsRequest(readings=readings), default_timeout=60)
            for row, result in zip(pending, response.results, strict=True):
                session.execute(update(MeterOutboxRow).where(MeterOutboxRow.id == row.id).values(
                    sent=True, result=fleet_meters.ReadingOutcome.Name(result.outcome) + (f": {result.reason}" if result.reason else "")))
            return len(pending)
