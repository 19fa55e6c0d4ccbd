"""Ingestion: device events in, acknowledged once they are durably stored, nothing lost and nothing twice.

A batch is validated event by event (a malformed one is rejected with its index and reason, the rest
go on), replays are settled by (source, source_event_id) and the event's fingerprint, events of
customers without data-collection consent are refused, and the accepted events are appended as
`pending` in one transaction (on PostgreSQL through COPY). The answer goes out after that commit;
decoding, alarms and work orders happen in `processing.EventProcessor`, in the background, or before
the answer when the caller sets `wait_for_processing`.

Consent is checked against what this service knows of the asset (asked from the fleet service the
first time). When the fleet service cannot be reached, events of assets it never described are
accepted and wait; processing discards them if their customer turns out not to consent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import Counter as Tally

from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import meters_pb2 as fleet_meters
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from prometheus_client import Counter, Histogram
from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from services.maintenance.asset_directory import AssetDirectory
from services.maintenance.decoding import event_format, payload_kind
from services.maintenance.domain.diagnostics import load_catalogues, load_registry_bundle
from services.maintenance.orders import OrderDesk
from services.maintenance.processing import EventProcessor
from services.maintenance.store import AuditRecord
from services.maintenance.store_ingest import DiagnosticEventRow, EventStatus, MeterOutboxRow, NewEvent, append_events
from services.runtime.audit import AuditTrail
from services.runtime.clients import Peer
from services.runtime.db import utc_now
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.resources import id_violation
from services.runtime.server import Runtime

log = logging.getLogger(__name__)

# "0" makes a replica only acknowledge (and process for callers that wait): other replicas, or a
# dedicated worker replica, process the backlog.
BACKGROUND_PROCESSING_VARIABLE = "MAINTENANCE_BACKGROUND_PROCESSING"
MAX_EVENTS_PER_BATCH = 10_000
MAX_ID_LENGTH = 200
_CHUNK = 1000
O = dpb.IngestOutcome
# Read once: an enum attribute lookup is not free, and ingestion makes one per event.
_ACCEPTED, _DUPLICATE, _CONFLICT, _REJECTED = (O.Value(f"INGEST_OUTCOME_{name}")
                                                for name in ("ACCEPTED", "DUPLICATE", "CONFLICT", "REJECTED"))
_OUTCOME_LABELS = {value: name.removeprefix("INGEST_OUTCOME_").lower() for name, value in O.items()}


class Ingestion:
    def __init__(self, runtime: Runtime, assets: AssetDirectory, orders: OrderDesk):
        self._db = runtime.database
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

    def ingest(self, request: dpb.IngestDiagnosticsRequest) -> dpb.IngestDiagnosticsResponse:
        started = time.perf_counter()
        if len(request.events) > MAX_EVENTS_PER_BATCH:
            raise InvalidArgument.field("events", f"at most {MAX_EVENTS_PER_BATCH} events per call, got {len(request.events)}")
        results: list[dpb.IngestResult | None] = [None] * len(request.events)
        candidates = _screen(request, results)
        if candidates:
            with self._db.unit_of_work() as session:
                accepted = self._append(session, candidates, results, request.wait_for_processing)
                self._audit.insert(session, "IngestDiagnostics", _batch_audit(request, accepted), request.batch_id)
            if accepted and request.wait_for_processing:
                self.processor.process_assets({c.asset_id for c in accepted})
                self._report_processing(accepted, results)
            elif accepted:
                self.processor.wake()
        counts = Tally(result.outcome for result in results)
        for (device_format, outcome), count in Tally(
                (_format_of(event), _OUTCOME_LABELS[result.outcome])
                for event, result in zip(request.events, results, strict=True)).items():
            self._events.labels(device_format, outcome).inc(count)
        self._batch_seconds.observe(time.perf_counter() - started)
        return dpb.IngestDiagnosticsResponse(
            results=results, accepted_count=counts[_ACCEPTED],
            duplicate_count=counts[_DUPLICATE], conflict_count=counts[_CONFLICT],
            rejected_count=counts[_REJECTED], batch_id=request.batch_id)

    def _append(self, session: Session, candidates: list[NewEvent], results: list[dpb.IngestResult | None],
                awaited: bool) -> list[NewEvent]:
        """Judges consent, appends the admitted events; the ones stored now (not replays)."""
        known = self._assets.lookup(session, {c.asset_id for c in candidates}, refresh=False)
        admitted: list[NewEvent] = []
        refused = 0
        for candidate in candidates:
            ref = known.found.get(candidate.asset_id)
            if ref is None and candidate.asset_id not in known.unreachable:
                results[candidate.position] = _rejected(candidate.position, f"assets/{candidate.asset_id} does not exist"
                                                                      f" in the fleet")
            elif ref is not None and not ref.data_collection_consent:
                refused += 1
                results[candidate.position] = _rejected(candidate.position, f"FAILED_PRECONDITION: {ref.customer} has not"
                                                                      f" consented to data collection; the event was"
                                                                      f" not stored")
            else:
                admitted.append(candidate)
        if refused == len(candidates):
            raise FailedPrecondition("the customers of these assets have not consented to data collection;"
                                     " nothing was stored", reason="NO_DATA_COLLECTION_CONSENT")
        taken = append_events(session, admitted, utc_now(), awaited)
        accepted: list[NewEvent] = []
        for candidate in admitted:
            index = candidate.position
            if candidate.key not in taken:
                results[index] = dpb.IngestResult(index=index, outcome=_ACCEPTED)
                accepted.append(candidate)
            elif taken[candidate.key] == candidate.fingerprint:
                results[index] = dpb.IngestResult(index=index, outcome=_DUPLICATE)
            else:
                results[index] = dpb.IngestResult(
                    index=index, outcome=_CONFLICT,
                    reason=f"event {candidate.key[1]!r} of {candidate.key[0]!r} was ingested before with other content")
        return accepted

    def _report_processing(self, accepted: list[NewEvent], results: list[dpb.IngestResult | None]) -> None:
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
                        results[index] = _rejected(index, reason)
                    elif status == EventStatus.PENDING:
                        results[index].reason = "acknowledged; processing waits until the fleet service describes the asset"
                    else:
                        results[index].reason = reason
                        results[index].alarms.extend((outcome or {}).get("alarms", []))
                        results[index].work_orders.extend((outcome or {}).get("work_orders", []))


def _screen(request: dpb.IngestDiagnosticsRequest, results: list[dpb.IngestResult | None]) -> list[NewEvent]:
    """Validates each event and settles replays inside the batch itself."""
    candidates: list[NewEvent] = []
    first_of: dict[tuple[str, str], NewEvent] = {}
    for index, message in enumerate(request.events):
        kind = payload_kind(message)
        problem = _problem(message, kind)
        if problem:
            results[index] = _rejected(index, problem)
            continue
        payload = message.SerializeToString(deterministic=True)
        fingerprint = hashlib.blake2b(payload, digest_size=16).hexdigest()
        key = (message.source, message.source_event_id)
        first = first_of.get(key)
        if first is not None:
            same = first.fingerprint == fingerprint
            results[index] = dpb.IngestResult(
                index=index, outcome=_DUPLICATE if same else _CONFLICT,
                reason="" if same else f"event {key[1]!r} of {key[0]!r} appears earlier in this batch with other content")
            continue
        first_of[key] = candidate = NewEvent(index, key, message.asset[len("assets/"):], kind, message.observe_time,
                                             payload, fingerprint)
        candidates.append(candidate)
    return candidates


def _problem(message: dpb.DiagnosticEvent, kind: str | None) -> str:
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
    if kind is None:
        return "the event has no payload (printer_alert, j1939_message, redfish_event, ...)"
    return ""


def _format_of(event: dpb.DiagnosticEvent) -> str:
    kind = payload_kind(event)
    return event_format(kind) if kind else "unknown"


def _batch_audit(request: dpb.IngestDiagnosticsRequest, accepted: list[NewEvent]) -> list[tuple[str, str, str]]:
    """Ingestion is audited per batch, not per event (events are high volume, each stored once anyway);
    a batch that accepted nothing (all replays, say) changed nothing and leaves no record."""
    if not accepted:
        return []
    return [(f"diagnosticBatches/{request.batch_id}" if request.batch_id else "", "",
             f"{len(accepted)} of {len(request.events)} events accepted, for {len({c.asset_id for c in accepted})} assets")]


def _rejected(index: int, reason: str) -> dpb.IngestResult:
    return dpb.IngestResult(index=index, outcome=_REJECTED, reason=reason)


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
