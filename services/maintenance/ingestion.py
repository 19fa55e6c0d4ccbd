"""Ingestion: device events in, acknowledged once they are durably stored, nothing lost and nothing twice.

A batch is validated event by event (a malformed one is rejected with its index and reason, the rest
go on), replays are settled by (source, source_event_id) and the event's fingerprint, events of
customers without data-collection consent are refused, and the accepted events are appended as
pending in one transaction (on PostgreSQL through COPY). The answer goes out after that commit;
decoding, alarms and work orders happen in `processing.EventProcessor`, in the background, or before
the answer when the caller sets `wait_for_processing`.

Consent is checked against what this service knows of the asset (asked from the fleet service the
first time). When the fleet service cannot be reached, events of assets it never described are
accepted and wait; processing discards them if their customer turns out not to consent.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter as Tally
from collections import defaultdict
from hashlib import blake2b

from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import meters_pb2 as fleet_meters
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from prometheus_client import Counter, Histogram
from sqlalchemy import select, text, tuple_
from sqlalchemy.orm import Session

from services.maintenance.asset_directory import AssetDirectory
from services.maintenance.decoding import event_format, payload_kind
from services.maintenance.domain.diagnostics import load_catalogues, load_registry_bundle
from services.maintenance.orders import OrderDesk
from services.maintenance.processing import EventProcessor
from services.maintenance.store import AuditRecord
from services.maintenance.store_ingest import (
    DiagnosticEventRow,
    EventStatus,
    MeterOutboxRow,
    NewEvent,
    append_events,
    unsent_readings,
)
from services.runtime.audit import AuditTrail
from services.runtime.clients import Peer
from services.runtime.db import is_postgresql, one_of, utc_now
from services.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument
from services.runtime.request_limits import RequestLimits
from services.runtime.resources import id_violation
from services.runtime.server import Runtime

log = logging.getLogger(__name__)

# "0" makes a replica only acknowledge (and process for callers that wait): other replicas, or a
# dedicated worker replica, process the backlog.
BACKGROUND_PROCESSING_VARIABLE = "MAINTENANCE_BACKGROUND_PROCESSING"
MAX_EVENTS_PER_BATCH = 10_000
MAX_ID_LENGTH = 200
_CHUNK = 1000
# Replicas forward meter readings one at a time (a PostgreSQL advisory lock of the maintenance database).
_FORWARDER_LOCK_KEY = 7_345_201_914
_FORWARDER_RETRY_SECONDS = 1.0
O = dpb.IngestOutcome
# Read once: an enum attribute lookup is not free, and ingestion makes one per event.
_ACCEPTED, _DUPLICATE, _CONFLICT, _REJECTED = (O.Value(f"INGEST_OUTCOME_{name}")
                                                for name in ("ACCEPTED", "DUPLICATE", "CONFLICT", "REJECTED"))
_ASSET_PREFIX_LENGTH = len("assets/")
_OUTCOME_LABELS = {value: name.removeprefix("INGEST_OUTCOME_").lower() for name, value in O.items()}


class Ingestion:
    def __init__(self, runtime: Runtime, assets: AssetDirectory, orders: OrderDesk):
        self._db = runtime.database
        self._limits = runtime.limits
        self._assets = assets
        self._audit = AuditTrail(runtime.database, AuditRecord)
        registry = runtime.metrics.registry
        self._events = Counter("fleetops_maintenance_events_ingested", "Diagnostic events by format and result.",
                               ["format", "result"], registry=registry)
        self._batch_seconds = Histogram("fleetops_maintenance_ingest_batch_seconds",
                                        "Time to ingest one batch, from request to answer.", registry=registry)
        self._forwarder = MeterForwarder(runtime, Peer(runtime.config, "fleet", fleet_grpc.FleetServiceStub))
        self.processor = EventProcessor(runtime, assets, orders, load_catalogues(), load_registry_bundle(),
                                        after_commit=self._forwarder.wake,
                                        background=os.environ.get(BACKGROUND_PROCESSING_VARIABLE, "1") != "0")
        runtime.on_stop.append(self.processor.stop)
        runtime.on_stop.append(self._forwarder.stop)

    def ingest(self, request: dpb.IngestDiagnosticsRequest) -> dpb.IngestDiagnosticsResponse:
        started = time.perf_counter()
        if len(request.events) > MAX_EVENTS_PER_BATCH:
            raise InvalidArgument.field("events", f"at most {MAX_EVENTS_PER_BATCH} events per call, got {len(request.events)}")
        # Each event's result is made in place in the answer (a result made apart would be copied into it).
        response = dpb.IngestDiagnosticsResponse(batch_id=request.batch_id)
        add = response.results.add
        results = [add(index=index) for index in range(len(request.events))]
        kinds: list[str | None] = []
        candidates = _screen(request, results, kinds, self._limits)
        if candidates:
            with self._db.unit_of_work() as session:
                accepted = self._append(session, candidates, results, request.wait_for_processing)
                self._audit.insert(session, "IngestDiagnostics", _batch_audit(request, accepted), request.batch_id)
            if accepted and request.wait_for_processing:
                self.processor.process_assets({c.asset_id for c in accepted})
                self._report_processing(accepted, results)
            elif accepted:
                self.processor.wake()
        counts = Tally()
        for (kind, outcome), count in Tally(zip(kinds, (result.outcome for result in results), strict=True)).items():
            self._events.labels(event_format(kind) if kind else "unknown", _OUTCOME_LABELS[outcome]).inc(count)
            counts[outcome] += count
        response.accepted_count, response.duplicate_count = counts[_ACCEPTED], counts[_DUPLICATE]
        response.conflict_count, response.rejected_count = counts[_CONFLICT], counts[_REJECTED]
        self._batch_seconds.observe(time.perf_counter() - started)
        return response

    def _append(self, session: Session, candidates: list[NewEvent], results: list[dpb.IngestResult],
                awaited: bool) -> list[NewEvent]:
        """Judges consent, appends the admitted events; the ones stored now (not replays)."""
        known = self._assets.lookup(session, {c.asset_id for c in candidates}, refresh=False)
        admitted: list[NewEvent] = []
        refused = 0
        for candidate in candidates:
            ref = known.found.get(candidate.asset_id)
            if ref is None and candidate.asset_id not in known.unreachable:
                _reject(results[candidate.position], f"assets/{candidate.asset_id} does not exist in the fleet")
            elif ref is not None and not ref.data_collection_consent:
                refused += 1
                _reject(results[candidate.position], f"FAILED_PRECONDITION: {ref.customer} has not consented to data"
                                                     f" collection; the event was not stored")
            else:
                admitted.append(candidate)
        if refused == len(candidates):
            raise FailedPrecondition("the customers of these assets have not consented to data collection;"
                                     " nothing was stored", reason="NO_DATA_COLLECTION_CONSENT")
        taken = append_events(session, admitted, utc_now(), awaited)
        accepted: list[NewEvent] = []
        for candidate in admitted:
            result = results[candidate.position]
            if candidate.key not in taken:
                result.outcome = _ACCEPTED
                accepted.append(candidate)
            elif taken[candidate.key] == candidate.fingerprint:
                result.outcome = _DUPLICATE
            else:
                result.outcome = _CONFLICT
                result.reason = f"event {candidate.key[1]!r} of {candidate.key[0]!r} was ingested before with other content"
        return accepted

    def _report_processing(self, accepted: list[NewEvent], results: list[dpb.IngestResult]) -> None:
        """Puts what processing made of the caller's own events into their results."""
        by_key = {c.key: c.position for c in accepted}
        keys = list(by_key)
        with self._db.unit_of_work() as session:
            for offset in range(0, len(keys), _CHUNK):
                for source, event_id, status, reason, outcome in session.execute(
                        select(DiagnosticEventRow.source, DiagnosticEventRow.source_event_id, DiagnosticEventRow.status,
                               DiagnosticEventRow.reason, DiagnosticEventRow.outcome)
                        .where(tuple_(DiagnosticEventRow.source, DiagnosticEventRow.source_event_id)
                               .in_(keys[offset:offset + _CHUNK]))):
                    index = by_key[(source, event_id)]
                    if status in (EventStatus.REJECTED, EventStatus.DISCARDED):
                        _reject(results[index], reason)
                    elif status == EventStatus.ACKNOWLEDGED:  # processing records an awaited event's outcome
                        results[index].reason = "acknowledged; processing waits until the fleet service describes the asset"
                    else:
                        results[index].reason = reason
                        results[index].alarms.extend((outcome or {}).get("alarms", []))
                        results[index].work_orders.extend((outcome or {}).get("work_orders", []))


def _screen(request: dpb.IngestDiagnosticsRequest, results: list[dpb.IngestResult], kinds: list[str | None],
            limits: RequestLimits) -> list[NewEvent]:
    """Validates each event (the edge left the request limits of each to this: see
    ITEMS_CHECKED_BY_HANDLER), notes its payload kind in `kinds` and settles replays inside the
    batch itself."""
    candidates: list[NewEvent] = []
    first_of: dict[tuple[str, str], NewEvent] = {}
    asset_problems: dict[str, str] = {}  # a batch names each asset many times: judged once
    item_violations = limits.item_violations
    for index, message in enumerate(request.events):
        kind = payload_kind(message)
        kinds.append(kind)
        key = (message.source, message.source_event_id)
        asset = message.asset
        problem = _problem(message, kind, key, asset, item_violations(message, f"events[{index}]"), asset_problems)
        if problem:
            _reject(results[index], problem)
            continue
        payload = message.SerializeToString(deterministic=True)
        fingerprint = blake2b(payload, digest_size=16).hexdigest()
        first = first_of.get(key)
        if first is not None:
            if first.fingerprint == fingerprint:
                results[index].outcome = _DUPLICATE
            else:
                results[index].outcome = _CONFLICT
                results[index].reason = f"event {key[1]!r} of {key[0]!r} appears earlier in this batch with other content"
            continue
        first_of[key] = candidate = NewEvent(index, key, asset[_ASSET_PREFIX_LENGTH:], kind, message.observe_time,
                                             payload, fingerprint)
        candidates.append(candidate)
    return candidates


def _problem(message: dpb.DiagnosticEvent, kind: str | None, key: tuple[str, str], asset: str,
             violations: list[FieldViolation], asset_problems: dict[str, str]) -> str:
    if violations:
        return "; ".join(f"{violation.field}: {violation.description}" for violation in violations)
    if not 0 < len(key[0]) <= MAX_ID_LENGTH or not 0 < len(key[1]) <= MAX_ID_LENGTH:  # which one, and why
        for name, value in zip(("source", "source_event_id"), key, strict=True):
            if not value:
                return f"{name} is required"
            if len(value) > MAX_ID_LENGTH:
                return f"{name} is longer than {MAX_ID_LENGTH} characters"
    asset_problem = asset_problems.get(asset)
    if asset_problem is None:
        asset_problem = asset_problems[asset] = _asset_problem(asset)
    if asset_problem:
        return asset_problem
    if not message.HasField("observe_time"):
        return "observe_time is required"
    if kind is None:
        return "the event has no payload (printer_alert, j1939_message, redfish_event, ...)"
    return ""


def _asset_problem(asset: str) -> str:
    parts = asset.split("/")
    # The fleet service refuses a malformed asset name outright, which would fail the whole batch.
    if len(parts) != 2 or parts[0] != "assets" or id_violation(parts[1], "asset"):
        return f"asset must look like assets/{{asset}}, got {asset!r}"
    return ""


def _batch_audit(request: dpb.IngestDiagnosticsRequest, accepted: list[NewEvent]) -> list[tuple[str, str, str]]:
    """Ingestion is audited per batch, not per event (events are high volume, each stored once anyway);
    a batch that accepted nothing (all replays, say) changed nothing and leaves no record."""
    if not accepted:
        return []
    return [(f"diagnosticBatches/{request.batch_id}" if request.batch_id else "", "",
             f"{len(accepted)} of {len(request.events)} events accepted, for {len({c.asset_id for c in accepted})} assets")]


def _reject(result: dpb.IngestResult, reason: str) -> None:
    result.outcome, result.reason = _REJECTED, reason


class MeterForwarder:
    """Sends outbox meter readings to the fleet service in the background, oldest first; a reading
    stays in the outbox until the fleet service has answered for it."""

    def __init__(self, runtime: Runtime, fleet: Peer):
        self._db = runtime.database
        self._fleet = fleet
        self._forwarded = Counter("fleetops_maintenance_meter_readings_forwarded",
                                  "Meter readings the fleet service answered for, by its outcome.", ["outcome"],
                                  registry=runtime.metrics.registry)
        for name in fleet_meters.ReadingOutcome.keys():  # every series exists from the start, at 0, for rate()
            self._forwarded.labels(_forwarding_outcome(name))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="meter-forwarder", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Ends the thread after the batch it is sending, if any (what is not sent stays in the outbox)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=30)
            self._wake.clear()
            try:
                while not self._stop.is_set() and (sent := self.forward_once()) != 0:
                    if sent is None:  # the other replica's last batch may have been read before this one's rows
                        self._stop.wait(_FORWARDER_RETRY_SECONDS)
            except Exception:  # the next wake-up tries again; nothing is marked sent
                log.warning("forwarding meter readings to the fleet service failed", exc_info=True)

    def forward_once(self, limit: int = 5000) -> int | None:
        """Sends the oldest unsent readings; how many, or None when another replica is forwarding."""
        table = MeterOutboxRow.__table__
        with self._db.unit_of_work() as session:
            # One replica at a time, so the fleet service gets each asset's readings in the order they
            # were recorded: replicas sending batches side by side made a third of them arrive late,
            # and each late reading makes the fleet service recompute the counter states after it.
            if is_postgresql(session) and not session.execute(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _FORWARDER_LOCK_KEY}).scalar():
                return None
            pending = session.execute(unsent_readings(limit)).all()
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
            # One statement per distinct outcome (nearly always one): the ids as a list, in Core (the
            # ORM would also compare each row with every row the session holds).
            ids_by_outcome: dict[str, list[int]] = defaultdict(list)
            for row, result in zip(pending, response.results, strict=True):
                outcome = fleet_meters.ReadingOutcome.Name(result.outcome) + (f": {result.reason}" if result.reason else "")
                ids_by_outcome[outcome].append(row.id)
            outcomes = Tally(fleet_meters.ReadingOutcome.Name(result.outcome) for result in response.results)
            for outcome, ids in ids_by_outcome.items():
                session.execute(table.update().where(one_of(session, table.c.id, ids)).values(sent=True, result=outcome))
        for name, count in outcomes.items():
            self._forwarded.labels(_forwarding_outcome(name)).inc(count)
        return len(pending)


def _forwarding_outcome(name: str) -> str:
    return name.removeprefix("READING_OUTCOME_").lower()
