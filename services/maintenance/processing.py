"""Processing of acknowledged diagnostic events: decode, alarms, work orders, supplies, meters.

Events wait in `event_queue`, an entry per acknowledging transaction and asset (see ingestion.py and
store_ingest.py). A round takes assets with queue entries, locks their `asset_refs` rows (SKIP LOCKED
in the background, so replicas share the work and each asset is worked on by one transaction at a
time), decodes their entries' events oldest first, applies what they mean and takes the entries off
the queue, all in one transaction: after a crash the round is rolled back and its events are still
pending, so each event takes effect exactly once.

An event whose asset the fleet service has not described yet (it was down when the event came)
waits; once described, an asset whose customer does not consent to data collection has its
events discarded (`discarded`, never processed), and one that is not in the fleet has them
rejected. A payload that breaks its specification is `rejected` with the decoder's reason.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from operator import attrgetter

import psycopg
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import ARRAY, any_, bindparam, cast, func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from services.maintenance.asset_directory import AssetDirectory, AssetRef
from services.maintenance.decoding import Decoded, decode, event_format, payload_kind, state_kind
from services.maintenance.domain.alarms import Alarm, AlarmState, clear, clearing_signal, observe
from services.maintenance.domain.consumables import LevelReading
from services.maintenance.domain.diagnostics import (
    Action,
    Catalogues,
    MalformedDiagnostic,
    PageCounter,
    RegistrySet,
    Severity,
    SupplyLevel,
    normalize,
)
from services.maintenance.domain.work_orders import WorkOrderState
from services.maintenance.orders import OrderDesk, OrderRound
from services.maintenance.store_ingest import (
    AlarmRow,
    DeviceStateRow,
    DiagnosticEventRow,
    EventStatus,
    MeterOutboxRow,
    QueueEntryRow,
    SupplyReadingRow,
    dequeue,
)
from services.maintenance.store_orders import WorkOrderRow
from services.runtime.dataclass_json import from_json, to_json
from services.runtime.db import (
    Database,
    bulk_insert,
    bulk_insert_returning_ids,
    bulk_update,
    bulk_upsert,
    chunks,
    is_postgresql,
    one_of,
    utc_now,
)
from services.runtime.resources import from_timestamp
from services.runtime.server import Runtime

log = logging.getLogger(__name__)

# A cleared alarm this recent is loaded too: a repeat within the flapping window reopens it.
RECENT_CLEAR_WINDOW = timedelta(hours=2)
# One round's share of the backlog: enough events to amortize a round's queries (a round costs
# about the same number of statements whether it holds 100 events or 20,000), small enough that
# its transaction stays short and other replicas find assets left to take. A round takes whole
# queue entries, oldest first, and at least one: it may exceed this by its last entry's events.
ROUND_ASSETS = 500
ROUND_EVENTS = 20_000
# Assets a round considers: other replicas may hold the oldest ones (SKIP LOCKED passes over them).
ROUND_CANDIDATES = 4 * ROUND_ASSETS
# How often an idle processor looks for assets the fleet service could not describe before, or for
# events another replica acknowledged while this one was not listening (see WAKE_CHANNEL).
IDLE_POLL_SECONDS = 1.0
# On PostgreSQL, acknowledging events notifies this channel: the processors of every replica start
# at once instead of at their next poll.
WAKE_CHANNEL = "fleetops_maintenance_events"
# On PostgreSQL, a processor vacuums the queue after taking this many events off it. Queue entries
# live seconds and carry their events' payloads: left to autovacuum (off on some servers; by default
# not before a fifth of the table is dead) their dead copies pile up, and every round's search for
# pending assets reads them all again.
VACUUM_QUEUE_AFTER_EVENTS = 100_000


class _Event:
    """An event as a round works on it. A round holds thousands of them, made one per event: a plain
    class with slots, and what it touched recorded only when a caller awaits its outcome."""

    __slots__ = ("alarms", "asset_id", "at", "awaited", "kind", "message", "newly_routed", "reason",
                 "receive_time", "status", "work_orders")

    def __init__(self, message: dpb.DiagnosticEvent, asset_id: str, kind: str, at: datetime,
                 receive_time: datetime, awaited: bool):
        self.message = message
        self.asset_id = asset_id
        self.kind = kind
        self.at = at  # its observe_time
        self.receive_time = receive_time
        self.awaited = awaited
        self.status = EventStatus.PROCESSED
        self.reason = ""
        # The _Entry objects and the work orders it touched, for its outcome (None: nobody awaits it).
        self.alarms: list[_Entry] | None = [] if awaited else None
        self.work_orders: set[str] | None = set() if awaited else None
        self.newly_routed = False  # one of its alarms was put on a work order by this round

    def reject(self, status: EventStatus, reason: str) -> None:
        self.status, self.reason = status, reason

    @property
    def key(self) -> tuple[str, str]:
        return self.message.source, self.message.source_event_id


class _Entry:
    """One alarm episode as the round sees it: the domain alarm, its row id (None until saved) and
    the work order it is on."""

    __slots__ = ("alarm", "changed", "id", "work_order_id")

    def __init__(self, alarm: Alarm, row_id: int | None, work_order_id: str | None):
        self.alarm, self.id, self.work_order_id, self.changed = alarm, row_id, work_order_id, False


class _AlarmBook:
    """The round's view of alarms: the latest episode per (asset, fault key), plus episodes that a
    new one replaced during the round (they are saved too)."""

    def __init__(self, session: Session, asset_ids: list[str], now: datetime):
        self.latest: dict[tuple[str, str], _Entry] = {}
        self._keys_of: dict[str, dict[tuple[str, str], None]] = defaultdict(dict)  # asset -> its keys, in order
        self._replaced: list[_Entry] = []
        table = AlarmRow.__table__
        for chunk in chunks(asset_ids):
            for row in session.execute(select(table.c.id, table.c.asset_id, table.c.fault_key, table.c.body,
                                              table.c.work_order_id).where(
                    table.c.asset_id.in_(chunk),
                    or_(table.c.state == AlarmState.ACTIVE.value, table.c.last_seen >= now - RECENT_CLEAR_WINDOW))
                    .order_by(table.c.id)):
                key = (row.asset_id, row.fault_key)
                self.latest[key] = _Entry(from_json(Alarm, row.body), row.id, row.work_order_id)
                self._keys_of[row.asset_id][key] = None

    def alarm(self, key: tuple[str, str]) -> Alarm | None:
        entry = self.latest.get(key)
        return entry.alarm if entry else None

    def active_of(self, asset_id: str) -> list[tuple[tuple[str, str], Alarm]]:
        """The asset's active alarms with their keys, in the order their keys came to the book."""
        latest = self.latest
        return [(key, alarm) for key in self._keys_of[asset_id] if (alarm := latest[key].alarm).is_active]

    def put(self, key: tuple[str, str], alarm: Alarm) -> _Entry:
        entry = self.latest.get(key)
        # A new episode starts at count 1; a late repeat moves first_seen back but is the same episode.
        if entry is None or (alarm.count == 1 and entry.alarm.first_seen != alarm.first_seen):
            if entry is not None and entry.changed:
                self._replaced.append(entry)
            entry = self.latest[key] = _Entry(alarm, None, None)
            self._keys_of[key[0]][key] = None
        entry.alarm, entry.changed = alarm, True
        return entry

    def save(self, session: Session) -> None:
        """Writes the changed episodes: the new ones in bulk (their ids drawn first), then the updates."""
        table = AlarmRow.__table__
        entries = [*self._replaced, *(e for e in self.latest.values() if e.changed)]
        values = [dict(state=e.alarm.state.value, severity=e.alarm.peak_severity.name.lower(),
                       last_seen=e.alarm.last_seen, body=to_json(e.alarm), family=e.alarm.family,
                       work_order_id=e.work_order_id) for e in entries]
        new = [(entry, row) for entry, row in zip(entries, values, strict=True) if entry.id is None]
        stored = [(entry.id, *row.values()) for entry, row in zip(entries, values, strict=True) if entry.id is not None]
        columns = [*values[0]] if values else []
        ids = bulk_insert_returning_ids(session, table, ["asset_id", "fault_key", "version", *columns], [
            (entry.alarm.asset.split("/", 1)[1], entry.alarm.fault_key, 1, *row.values()) for entry, row in new])
        for (entry, _), row_id in zip(new, ids, strict=True):
            entry.id = row_id
        bulk_update(session, table, "id", ["id", *columns], stored, increment=["version"])


class EventProcessor:
    """Turns pending events into alarms, orders, supply history and meter readings; runs in a
    background thread and, for callers that wait for the outcome, on their own thread."""

    def __init__(self, runtime: Runtime, assets: AssetDirectory, orders: OrderDesk, catalogues: Catalogues,
                 registries: RegistrySet, after_commit, *, background: bool = True):
        self._db = runtime.database
        self._assets = assets
        self._orders = orders
        self._catalogues = catalogues
        self._registries = registries
        self._after_commit = after_commit  # e.g. wakes the meter forwarder
        registry = runtime.metrics.registry
        self._processed = Counter("fleetops_maintenance_events_processed", "Acknowledged events processed, by format"
                                  " and result (processed, rejected by the decoder, discarded without consent).",
                                  ["format", "result"], registry=registry)
        self._to_work_order = Histogram("fleetops_maintenance_event_to_work_order_seconds",
                                        "From receiving an event to its alarm being on a work order (committed).",
                                        registry=registry, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
        registry.register(BacklogGauges(runtime.database))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._notifies = self._db.engine.dialect.name == "postgresql"
        self._vacuums_queue = self._notifies
        self._dequeued = 0  # events taken off the queue since it was last vacuumed (see VACUUM_QUEUE_AFTER_EVENTS)
        self._threads = [threading.Thread(target=self._run, name="event-processor", daemon=True)]
        if self._notifies:
            self._threads.append(threading.Thread(target=self._listen, name="event-processor-wakeups", daemon=True))
        if background:
            for thread in self._threads:
                thread.start()

    def wake(self) -> None:
        """Events were acknowledged: this replica's processor, and on PostgreSQL every replica's, starts."""
        self._wake.set()
        if not self._notifies:
            return
        try:
            with self._db.engine.begin() as connection:
                connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": WAKE_CHANNEL})
        except SQLAlchemyError:  # the events are stored; other replicas find them at their next poll
            log.warning("could not notify other replicas of acknowledged events", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=30)

    def process_assets(self, asset_ids: Iterable[str]) -> None:
        """Processes every pending event of these assets now, waiting for whoever holds them."""
        ids = sorted(set(asset_ids))
        while ids and self._round(ids, wait=True):
            pass

    def drain(self) -> int:
        """Processes rounds on the calling thread until nothing is left it can take; how many events."""
        settled = 0
        while not self._stop.is_set() and (count := self._round(None, wait=False)):
            settled += count
            self._dequeued += count
            if self._vacuums_queue and self._dequeued >= VACUUM_QUEUE_AFTER_EVENTS:
                self._vacuum_queue()
        return settled

    def _vacuum_queue(self) -> None:
        """VACUUM of the queue table, outside any transaction (SKIP_LOCKED: one replica vacuuming is enough)."""
        self._dequeued = 0
        try:
            with self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text(f"VACUUM (SKIP_LOCKED) {QueueEntryRow.__tablename__}"))
        except SQLAlchemyError:  # the next one tries again; meanwhile rounds only read more
            log.warning("could not vacuum the pending-event queue", exc_info=True)

    def _listen(self) -> None:
        """Wakes the processor on each notification of WAKE_CHANNEL, on a connection of its own."""
        url = self._db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {WAKE_CHANNEL}")
                    self._wake.set()  # events notified while this replica was not listening
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=IDLE_POLL_SECONDS, stop_after=1):
                            self._wake.set()
            except psycopg.Error:  # e.g. the database restarts: the poll goes on meanwhile
                log.info("not listening for acknowledged events; retrying", exc_info=True)
                self._stop.wait(IDLE_POLL_SECONDS)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=IDLE_POLL_SECONDS)
            self._wake.clear()
            try:
                self.drain()
            except Exception:  # the round was rolled back; its events are still pending
                log.warning("processing diagnostic events failed; retrying", exc_info=True)
                self._stop.wait(IDLE_POLL_SECONDS)

    def _round(self, asset_ids: list[str] | None, *, wait: bool) -> int:
        """One transaction over some assets' oldest pending events; how many events it settled."""
        with self._db.unit_of_work() as session:
            candidates = asset_ids if asset_ids is not None else self._pending_assets(session)
            if not candidates:
                return 0
            found = self._assets.lookup(session, candidates, refresh=True)
            locked = set(self._assets.lock(session, found.found, skip_locked=not wait,
                                           limit=None if wait else ROUND_ASSETS))
            # Assets the fleet service answered for without describing them are not in the fleet.
            absent = [a for a in candidates if a not in found.found and a not in found.unreachable]
            entry_ids, events = self._load(session, sorted(locked) + absent)
            if not entry_ids:
                return 0
            now = utc_now()
            accepted = self._screen(events, found.found)
            self._apply(session, accepted, found.found, now)
            dequeue(session, entry_ids)
            self._settle(session, events, now)
        committed = utc_now()
        by_format: Tally[tuple[str, str]] = Tally()
        for (kind, status), count in Tally(map(_kind_and_status, events)).items():
            by_format[(event_format(kind), status.value)] += count
        for (device_format, status), count in by_format.items():
            self._processed.labels(device_format, status).inc(count)
        for event in events:
            if event.newly_routed:
                self._to_work_order.observe((committed - event.receive_time).total_seconds())
        self._after_commit()
        return len(events)

    @staticmethod
    def _pending_assets(session: Session) -> list[str]:
        queue = QueueEntryRow.__table__
        return list(session.scalars(select(queue.c.asset_id).group_by(queue.c.asset_id)
                                    .order_by(func.min(queue.c.receive_time)).limit(ROUND_CANDIDATES)))

    @staticmethod
    def _load(session: Session, asset_ids: list[str]) -> tuple[list[int], list[_Event]]:
        """The round's queue entries (these assets' oldest, up to ROUND_EVENTS events) and their events,
        oldest first: by observe time, then as acknowledged (by receive time and entry), then by their
        position in their request."""
        queue = QueueEntryRow.__table__
        # Entries are picked by their times, ids and event counts alone: sorting their payloads would
        # cost more.
        ahead = func.sum(queue.c.event_count).over(order_by=(queue.c.receive_time, queue.c.id)) - queue.c.event_count
        waiting = (select(queue.c.id, ahead.label("ahead"))
                   .where(one_of(session, queue.c.asset_id, asset_ids)).subquery())
        oldest = waiting.c.ahead < ROUND_EVENTS
        if is_postgresql(session):
            # The picked ids as one array (the cast makes `= ANY` read the subquery's value, not its
            # rows), looked up by key: a join would read the whole queue again.
            ids = select(func.array_agg(waiting.c.id)).where(oldest).scalar_subquery()
            picked = queue.c.id == any_(cast(ids, ARRAY(queue.c.id.type)))
        else:
            picked = queue.c.id.in_(select(waiting.c.id).where(oldest))
        entries = session.connection().execute(  # Core rows: the ORM's result layer costs more than the query
            select(queue.c.id, queue.c.asset_id, queue.c.receive_time, queue.c.awaited, queue.c.events)
            .where(picked)).all()
        entries.sort(key=lambda entry: (entry.receive_time, entry.id))
        parse = dpb.IngestDiagnosticsRequest.FromString
        events = [_Event(message, asset_id, payload_kind(message), from_timestamp(message.observe_time),
                         receive_time, awaited)
                  for _, asset_id, receive_time, awaited, payload in entries for message in parse(payload).events]
        events.sort(key=_observed)  # stable: events observed at the same instant stay as acknowledged
        return [entry.id for entry in entries], events

    @staticmethod
    def _screen(events: list[_Event], assets: dict[str, AssetRef]) -> list[_Event]:
        accepted = []
        for event in events:
            ref = assets.get(event.asset_id)
            if ref is None:
                event.reject(EventStatus.REJECTED, f"{event.message.asset} does not exist in the fleet")
            elif not ref.data_collection_consent:
                event.reject(EventStatus.DISCARDED, f"{ref.customer} has not consented to data collection;"
                                                    f" the event was discarded")
            else:
                accepted.append(event)
        return accepted

    @staticmethod
    def _settle(session: Session, events: list[_Event], now: datetime) -> None:
        """Writes an event's own row only when there is something to record: a rejection, a note, an
        awaited outcome (their queue entries are deleted in the same transaction)."""
        table = DiagnosticEventRow.__table__
        detailed = [dict(key_source=e.key[0], key_event_id=e.key[1], status=e.status, reason=e.reason[:2000],
                         process_time=now, outcome=_outcome(e) if e.awaited else None)
                    for e in events if e.status is not EventStatus.PROCESSED or e.reason or e.awaited]
        if detailed:
            session.execute(table.update().where(table.c.source == bindparam("key_source"),
                                                 table.c.source_event_id == bindparam("key_event_id")), detailed)

    def _apply(self, session: Session, events: list[_Event], assets: dict[str, AssetRef], now: datetime) -> None:
        asset_ids = sorted({e.asset_id for e in events})
        states = self._load_states(session, asset_ids)
        book = _AlarmBook(session, asset_ids, now)
        touched_states: set[tuple[str, str]] = set()
        routed: list[tuple[_Event, _Entry]] = []
        outbox: list[tuple] = []
        supplies: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        counters: dict[tuple[str, str], tuple[int, datetime, _Event]] = {}
        for event in events:
            ref = assets[event.asset_id]
            at = event.at
            asset_states = states[event.asset_id]
            before = dict(asset_states)
            try:
                decoded: Decoded = decode(event.message, ref.name, asset_states, self._registries, kind=event.kind)
            except MalformedDiagnostic as error:
                states[event.asset_id] = before
                event.reject(EventStatus.REJECTED, error.reason)
                continue
            event.reason = decoded.note
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
                        if after is not alarm:  # clear answers the alarm itself when the signal ends none of it
                            entry = book.put(key, after)
                            if event.alarms is not None:
                                event.alarms.append(entry)
                if fault is not None:
                    key = (event.asset_id, fault.fault_key)
                    entry = book.put(key, observe(book.alarm(key), fault, at))
                    if event.alarms is not None:
                        event.alarms.append(entry)
                    routed.append((event, entry))
                if isinstance(item, PageCounter):
                    register = "total_impressions" if item.marker_index == 1 else f"marker{item.marker_index}_impressions"
                    outbox.append((event.asset_id, register, str(item.life_count), at, "DEVICE"))
                    counters[(event.asset_id, register)] = max(counters.get((event.asset_id, register), (0, at, event)),
                                                               (item.life_count, at, event), key=lambda c: c[0])
                if isinstance(item, SupplyLevel) and item.percent_remaining is not None:
                    supply = f"{item.device_index}.{item.supply_index}"
                    supplies[(event.asset_id, supply)].append((event.asset_id, supply, at, item.percent_remaining))
        desk = self._orders.round(session, {a: assets[a] for a in asset_ids})
        closed = self._closed_orders(session, {e.work_order_id for _, e in routed if e.work_order_id})
        decided: set[int] = set()
        for event, entry in routed:
            if entry.work_order_id in closed:  # its order is done: a new occurrence needs a new decision
                entry.work_order_id = None
            # Decided once per round, in its final state; an alarm that asks for no action is decided
            # when its episode opens (it may join an open order then) and not again on every repeat.
            needs_decision = entry.alarm.count == 1 or entry.alarm.fault.action is not Action.NONE
            if (id(entry) not in decided and needs_decision and entry.work_order_id is None
                    and entry.alarm.is_active):
                decided.add(id(entry))
                order = desk.route_alarm(entry.alarm, assets[event.asset_id], now)
                if order:
                    entry.work_order_id = order
                    event.newly_routed = True
            if entry.work_order_id and event.work_orders is not None:
                event.work_orders.add(entry.work_order_id)
        book.save(session)
        for (asset_id, register), (value, at, event) in sorted(counters.items(), key=lambda c: c[0]):
            orders = desk.meter_reading(assets[asset_id], register, None, Decimal(value), at)
            if event.work_orders is not None:
                event.work_orders.update(orders)
        self._record_supplies(session, desk, supplies, assets, now)
        bulk_insert(session, MeterOutboxRow.__table__, ["asset_id", "register", "value", "read_time", "source"], outbox)
        bulk_upsert(session, DeviceStateRow.__table__, ["asset_id", "kind", "state"],
                    [(a, k, states[a][k]) for a, k in sorted(touched_states)], ["asset_id", "kind"])

    @staticmethod
    def _closed_orders(session: Session, names: set[str]) -> set[str]:
        ids = sorted(name.split("/", 1)[1] for name in names)
        closed: set[str] = set()
        for chunk in chunks(ids):
            closed |= {f"workOrders/{i}" for i in session.scalars(select(WorkOrderRow.id).where(
                WorkOrderRow.id.in_(chunk), WorkOrderRow.state.in_([WorkOrderState.COMPLETED.value,
                                                                    WorkOrderState.CANCELLED.value])))}
        return closed

    @staticmethod
    def _load_states(session: Session, asset_ids: list[str]) -> dict[str, dict[str, dict]]:
        states: dict[str, dict[str, dict]] = {a: {} for a in asset_ids}
        table = DeviceStateRow.__table__
        for chunk in chunks(asset_ids):
            for asset_id, kind, state in session.execute(select(table.c.asset_id, table.c.kind, table.c.state)
                                                          .where(table.c.asset_id.in_(chunk))):
                states[asset_id][kind] = state
        return states

    def _record_supplies(self, session: Session, desk: OrderRound, supplies: dict[tuple[str, str], list[tuple]],
                         assets: dict[str, AssetRef], now: datetime) -> None:
        """Stores the round's supply levels, then lets each supply's history decide on a shipment."""
        rows = [row for readings in supplies.values() for row in readings]
        bulk_upsert(session, SupplyReadingRow.__table__, ["asset_id", "supply", "observe_time", "level_percent"], rows,
                    ["asset_id", "supply", "observe_time"])
        if not supplies:
            return
        since = now - self._orders.forecast.window  # what the forecast looks at; older levels are not fetched
        histories: dict[tuple[str, str], list[LevelReading]] = defaultdict(list)
        for chunk in chunks(sorted({asset_id for asset_id, _ in supplies})):
            for row in session.scalars(select(SupplyReadingRow).where(
                    SupplyReadingRow.asset_id.in_(chunk), SupplyReadingRow.observe_time >= since)
                    .order_by(SupplyReadingRow.observe_time)):
                histories[(row.asset_id, row.supply)].append(LevelReading(row.observe_time, row.level_percent))
        for asset_id, supply in sorted(supplies):
            desk.supply_levels(assets[asset_id], supply, histories[(asset_id, supply)], now)


_observed = attrgetter("at")
_kind_and_status = attrgetter("kind", "status")


def _outcome(event: _Event) -> dict | None:
    alarms = sorted({f"alarms/{entry.id}" for entry in event.alarms})
    if not alarms and not event.work_orders:
        return None
    return {"alarms": alarms, "work_orders": sorted(event.work_orders)}


class BacklogGauges(Collector):
    """Events acknowledged but not processed yet, how long the oldest has waited, and meter readings
    not forwarded to the fleet service yet: read at scrape time from the database, so every replica
    reports the whole deployment's backlog."""

    def __init__(self, database: Database):
        self._database = database

    def collect(self):
        try:
            with self._database.unit_of_work() as session:
                count, oldest = session.execute(select(func.coalesce(func.sum(QueueEntryRow.event_count), 0),
                                                       func.min(QueueEntryRow.receive_time))).one()
                unforwarded = session.scalar(select(func.count()).where(~MeterOutboxRow.sent))
        except Exception:  # a scrape must not fail because the database is briefly away
            log.warning("could not measure the ingestion backlog for /metrics", exc_info=True)
            return
        backlog = GaugeMetricFamily("fleetops_maintenance_ingest_backlog_events",
                                    "Diagnostic events acknowledged and not processed yet.")
        backlog.add_metric([], count)
        lag = GaugeMetricFamily("fleetops_maintenance_ingest_lag_seconds",
                                "Age of the oldest acknowledged, unprocessed diagnostic event (0: none waiting).")
        lag.add_metric([], (utc_now() - oldest).total_seconds() if oldest else 0.0)
        outbox = GaugeMetricFamily("fleetops_maintenance_meter_outbox_readings",
                                   "Meter readings (page counts, technicians' readings) waiting to be sent to the fleet service.")
        outbox.add_metric([], unforwarded)
        yield backlog
        yield lag
        yield outbox
