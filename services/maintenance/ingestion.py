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
from sqlalchemy import insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from services.maintenance.asset_directory import AssetDirectory, AssetRef
from services.maintenance.decoding import Decoded, decode, event_format, payload_kind, state_kind
from services.maintenance.domain.alarms import Alarm, AlarmState, clear, clearing_signal, observe
from services.maintenance.domain.consumables import LevelReading
from services.maintenance.domain.diagnostics import (Action, MalformedDiagnostic, Severity, PageCounter, SupplyLevel, load_catalogues,
                                                     load_registry_bundle, normalize)
from services.maintenance.orders import OrderDesk
from services.maintenance.store_ingest import (AlarmRow, DeviceStateRow, DiagnosticEventRow, MeterOutboxRow,
                                               SupplyReadingRow)
from services.runtime.clients import Peer
from services.runtime.dataclass_json import from_json, to_json
from services.runtime.db import upsert, utc_now
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.resources import from_timestamp
from services.runtime.server import Runtime

log = logging.getLogger(__name__)

MAX_EVENTS_PER_BATCH = 10_000
MAX_ID_LENGTH = 200
# A cleared alarm this recent is loaded too: a repeat within the flapping window reopens it.
RECENT_CLEAR_WINDOW = timedelta(hours=2)
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
    alarms: set[str] = field(default_factory=set)
    work_orders: set[str] = field(default_factory=set)


class _AlarmBook:
    """The batch's view of alarms: the latest alarm per (asset, fault key), as rows and domain objects."""

    def __init__(self, session: Session, asset_ids: list[str], now: datetime):
        self.rows: dict[tuple[str, str], AlarmRow] = {}
        self.alarms: dict[tuple[str, str], Alarm] = {}
        for chunk in _chunks(asset_ids):
            for row in session.scalars(select(AlarmRow).where(
                    AlarmRow.asset_id.in_(chunk),
                    or_(AlarmRow.state == AlarmState.ACTIVE.value, AlarmRow.last_seen >= now - RECENT_CLEAR_WINDOW))
                    .order_by(AlarmRow.id)):
                self.rows[(row.asset_id, row.fault_key)] = row
                self.alarms[(row.asset_id, row.fault_key)] = from_json(Alarm, row.body)
        self.changed: set[tuple[str, str]] = set()

    def active_of(self, asset_id: str) -> list[tuple[tuple[str, str], Alarm]]:
        return [(k, a) for k, a in self.alarms.items() if k[0] == asset_id and a.is_active]

    def put(self, key: tuple[str, str], alarm: Alarm) -> None:
        previous = self.alarms.get(key)
        if previous is not None and previous.first_seen != alarm.first_seen:
            self.rows.pop(key)  # a new episode gets a row of its own
        self.alarms[key] = alarm
        self.changed.add(key)

    def save(self, session: Session) -> None:
        for key in sorted(self.changed):
            alarm = self.alarms[key]
            row = self.rows.get(key)
            values = dict(state=alarm.state.value, severity=alarm.peak_severity.name.lower(), last_seen=alarm.last_seen,
                          body=to_json(alarm), family=alarm.family)
            if row is None:
                row = AlarmRow(asset_id=key[0], fault_key=key[1], **values)
                session.add(row)
                self.rows[key] = row
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                row.version += 1
        session.flush()

    def name(self, key: tuple[str, str]) -> str:
        return f"alarms/{self.rows[key].id}"


class Ingestion:
    def __init__(self, runtime: Runtime, assets: AssetDirectory, orders: OrderDesk):
        self._db = runtime.database
        self._assets = assets
        self._orders = orders
        self._catalogues = load_catalogues()
        self._registries = load_registry_bundle()
        registry = runtime.metrics.registry
        self._events = Counter("fleetops_maintenance_events_ingested", "Diagnostic events by format and result.",
                               ["format", "result"], registry=registry)
        self._batch_seconds = Histogram("fleetops_maintenance_ingest_batch_seconds",
                                        "Time to ingest one batch, from request to commit.", registry=registry)
        self._forwarder = MeterForwarder(runtime, Peer(runtime.config.peers["fleet"], fleet_grpc.FleetServiceStub,
                                                       "maintenance"))

    def ingest(self, request: dpb.IngestDiagnosticsRequest) -> dpb.IngestDiagnosticsResponse:
        started = time.perf_counter()
        if len(request.events) > MAX_EVENTS_PER_BATCH:
            raise InvalidArgument.field("events", f"at most {MAX_EVENTS_PER_BATCH} events per call, got {len(request.events)}")
        results: dict[int, dpb.IngestResult] = {}
        events = self._screen(request, results)
        if events:
            with self._db.unit_of_work() as session:
                self._process(session, events, results)
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
        stored: dict[tuple[str, str], str] = {}
        for chunk in _chunks(events):
            keys = [(e.message.source, e.message.source_event_id) for e in chunk]
            stored.update({(s, i): f for s, i, f in session.execute(
                select(DiagnosticEventRow.source, DiagnosticEventRow.source_event_id, DiagnosticEventRow.fingerprint)
                .where(tuple_(DiagnosticEventRow.source, DiagnosticEventRow.source_event_id).in_(keys)))})
        fresh: list[_Event] = []
        for event in events:
            earlier = stored.get((event.message.source, event.message.source_event_id))
            if earlier is None:
                fresh.append(event)
            elif earlier == event.fingerprint:
                results[event.index] = dpb.IngestResult(index=event.index, outcome=O.INGEST_OUTCOME_DUPLICATE)
            else:
                results[event.index] = dpb.IngestResult(
                    index=event.index, outcome=O.INGEST_OUTCOME_CONFLICT,
                    reason=f"event {event.message.source_event_id!r} of {event.message.source!r} was ingested"
                           f" before with other content")
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
        rows, outbox, supplies = [], [], []
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
                    for key, alarm in book.active_of(event.asset_id):
                        after = clear(alarm, signal, at)
                        if after != alarm:
                            book.put(key, after)
                            event.alarms.add(key)
                if fault is not None:
                    key = (event.asset_id, fault.fault_key)
                    book.put(key, observe(book.alarms.get(key), fault, at))
                    event.alarms.add(key)
                    routed.append((event, key))
                if isinstance(item, PageCounter):
                    register = "total_impressions" if item.marker_index == 1 else f"marker{item.marker_index}_impressions"
                    outbox.append(dict(asset_id=event.asset_id, register=register, value=str(item.life_count),
                                       read_time=at, source="DEVICE"))
                    event.work_orders.update(self._orders.meter_reading(session, ref, register, None,
                                                                        Decimal(item.life_count), at))
                if isinstance(item, SupplyLevel) and item.percent_remaining is not None:
                    supplies.append((ref, item, at))
            rows.append(dict(source=event.message.source, source_event_id=event.message.source_event_id,
                             fingerprint=event.fingerprint, asset_id=event.asset_id, kind=event.kind,
                             observe_time=at, receive_time=now))
            results[event.index] = dpb.IngestResult(index=event.index, outcome=O.INGEST_OUTCOME_ACCEPTED,
                                                    reason=decoded.note)
        book.save(session)
        for event, key in routed:
            row = book.rows[key]
            if row.work_order_id is None and book.alarms[key].is_active:
                order = self._orders.route_alarm(session, book.alarms[key], assets[event.asset_id], now)
                if order:
                    row.work_order_id = order
            if row.work_order_id:
                event.work_orders.add(row.work_order_id)
        for ref, item, at in supplies:
            self._record_supply(session, ref, item, at, now)
        for chunk in _chunks(rows):
            session.execute(insert(DiagnosticEventRow), chunk)
        if outbox:
            session.execute(insert(MeterOutboxRow), outbox)
        upsert(session, DeviceStateRow.__table__,
               [dict(asset_id=a, kind=k, state=states[a][k]) for a, k in sorted(touched_states)], ["asset_id", "kind"])
        for event in events:
            result = results[event.index]
            if result.outcome == O.INGEST_OUTCOME_ACCEPTED:
                result.alarms.extend(sorted(book.name(k) for k in event.alarms))
                result.work_orders.extend(sorted(event.work_orders))

    def _load_states(self, session: Session, asset_ids: list[str]) -> dict[str, dict[str, dict]]:
        states: dict[str, dict[str, dict]] = {a: {} for a in asset_ids}
        for chunk in _chunks(asset_ids):
            for row in session.scalars(select(DeviceStateRow).where(DeviceStateRow.asset_id.in_(chunk))):
                states[row.asset_id][row.kind] = row.state
        return states

    def _record_supply(self, session: Session, ref: AssetRef, item: SupplyLevel, at: datetime, now: datetime) -> None:
        supply = f"{item.device_index}.{item.supply_index}"
        upsert(session, SupplyReadingRow.__table__, [dict(asset_id=ref.asset_id, supply=supply, observe_time=at,
                                                          level_percent=item.percent_remaining)],
               ["asset_id", "supply", "observe_time"])
        history = [LevelReading(r.observe_time, r.level_percent) for r in session.scalars(
            select(SupplyReadingRow).where(SupplyReadingRow.asset_id == ref.asset_id, SupplyReadingRow.supply == supply,
                                           SupplyReadingRow.observe_time >= at - timedelta(days=60))
            .order_by(SupplyReadingRow.observe_time))]
        self._orders.supply_levels(session, ref, supply, history, now)


def _problem(message: dpb.DiagnosticEvent) -> str:
    for name in ("source", "source_event_id"):
        value = getattr(message, name)
        if not value:
            return f"{name} is required"
        if len(value) > MAX_ID_LENGTH:
            return f"{name} is longer than {MAX_ID_LENGTH} characters"
    parts = message.asset.split("/")
    if len(parts) != 2 or parts[0] != "assets" or not parts[1]:
        return f"asset must look like assets/{{asset}}, got {message.asset!r}"
    if not message.HasField("observe_time"):
        return "observe_time is required"
    if payload_kind(message) is None:
        return "the event has no payload (printer_alert, j1939_message, redfish_event, ...)"
    return ""


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
