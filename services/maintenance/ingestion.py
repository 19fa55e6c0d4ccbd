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

import functools
import logging
import os
import threading
import time
from collections import Counter as Tally
from collections import defaultdict
from hashlib import blake2b
from operator import attrgetter, getitem

from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import meters_pb2 as fleet_meters
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from prometheus_client import Counter, Histogram
from sqlalchemy import select, text, tuple_
from sqlalchemy.orm import Session

from services.maintenance.asset_directory import AssetDirectory, Lookup
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
from services.runtime.resources import id_violation, to_timestamp
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
_UNSPECIFIED, _ACCEPTED, _DUPLICATE, _CONFLICT, _REJECTED = (
    O.Value(f"INGEST_OUTCOME_{name}") for name in ("UNSPECIFIED", "ACCEPTED", "DUPLICATE", "CONFLICT", "REJECTED"))
# What screening reads of each event (one call), and the payload kind: given to the limits' item check.
_read_screened = attrgetter("source", "source_event_id", "asset", "observe_time")
_SCREENED = ("source", "source_event_id", "asset", "observe_time", "payload")
_ASSET_PREFIX_LENGTH = len("assets/")
_OUTCOME_LABELS = {value: name.removeprefix("INGEST_OUTCOME_").lower() for name, value in O.items()}
# The outbox's `source` column (e.g. DEVICE) to the fleet service's enum.
_READING_SOURCES = {name.removeprefix("READING_SOURCE_"): value for name, value in fleet_meters.ReadingSource.items()}


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
        results = _Results(len(request.events))
        kinds, candidates = _screen(request, results, self._limits)
        if candidates:
            with self._db.unit_of_work() as session:
                accepted = self._append(session, candidates, results, request.wait_for_processing)
                self._audit.insert(session, "IngestDiagnostics", _batch_audit(request, accepted), request.batch_id)
            if accepted and request.wait_for_processing:
                self.processor.process_assets({c.asset_id for c in accepted})
                self._report_processing(accepted, results)
            elif accepted:
                self.processor.wake()
        response = results.response(request.batch_id, kinds, self._events)
        self._batch_seconds.observe(time.perf_counter() - started)
        return response

    def _append(self, session: Session, candidates: list[NewEvent], results: _Results, awaited: bool) -> list[NewEvent]:
        """Judges consent, appends the admitted events; the ones stored now (not replays)."""
        known = self._assets.lookup(session, {c.asset_id for c in candidates}, refresh=False)
        admitted = _admitted(candidates, known, results)
        return _settled(admitted, append_events(session, admitted, utc_now(), awaited), results)

    def _report_processing(self, accepted: list[NewEvent], results: _Results) -> None:
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
                        results.reject(index, reason)
                    elif status == EventStatus.ACKNOWLEDGED:  # processing records an awaited event's outcome
                        results.reasons[index] = "acknowledged; processing waits until the fleet service describes the asset"
                    else:
                        results.reasons[index] = reason
                        results.processed[index] = ((outcome or {}).get("alarms", []),
                                                    (outcome or {}).get("work_orders", []))


class _Results:
    """Each event's result, by index, until the answer is made: an outcome, and a reason, alarms and
    work orders for the few that have one. The answer's results are parsed from their serializations,
    a bare outcome's made once per index (10,000 results made in place in the answer, then set, cost
    more than all the rest of the answer)."""

    __slots__ = ("outcomes", "reasons", "processed")

    def __init__(self, count: int):
        self.outcomes = [_UNSPECIFIED] * count
        self.reasons: dict[int, str] = {}
        self.processed: dict[int, tuple[list[str], list[str]]] = {}  # index -> (alarms, work orders)

    def reject(self, index: int, reason: str) -> None:
        self.outcomes[index], self.reasons[index] = _REJECTED, reason

    def response(self, batch_id: str, kinds: list[str | None], events: Counter) -> dpb.IngestDiagnosticsResponse:
        """The answer; each event is counted in `events` by its format and outcome."""
        outcomes = self.outcomes
        serialized = [*map(getitem, map(_bare_results, outcomes), range(len(outcomes)))]
        for index in self.reasons.keys() | self.processed.keys():
            alarms, work_orders = self.processed.get(index, ((), ()))
            serialized[index] = _results_field(dpb.IngestResult(
                index=index, outcome=outcomes[index], reason=self.reasons.get(index, ""), alarms=alarms,
                work_orders=work_orders))
        response = dpb.IngestDiagnosticsResponse.FromString(b"".join(serialized))
        response.batch_id = batch_id
        counts = Tally()
        for (kind, outcome), count in Tally(zip(kinds, outcomes, strict=True)).items():
            events.labels(event_format(kind) if kind else "unknown", _OUTCOME_LABELS[outcome]).inc(count)
            counts[outcome] += count
        response.accepted_count, response.duplicate_count = counts[_ACCEPTED], counts[_DUPLICATE]
        response.conflict_count, response.rejected_count = counts[_CONFLICT], counts[_REJECTED]
        return response


def _results_field(result: dpb.IngestResult) -> bytes:
    """The serialization of an answer holding this result alone: one item of its results field."""
    return dpb.IngestDiagnosticsResponse(results=[result]).SerializeToString()


@functools.cache
def _bare_results(outcome: int) -> tuple[bytes, ...]:
    """`_results_field` of a result with this outcome and nothing else, by index."""
    return tuple(_results_field(dpb.IngestResult(index=index, outcome=outcome))
                 for index in range(MAX_EVENTS_PER_BATCH))


def _screen(request: dpb.IngestDiagnosticsRequest, results: _Results,
            limits: RequestLimits) -> tuple[list[str | None], list[NewEvent]]:
    """Validates each event (the edge left the request limits of each to this: see
    ITEMS_CHECKED_BY_HANDLER) and settles replays inside the batch itself; each event's payload kind
    (None: it has none), and the events to append.

    An event the quick checks accept (ingestion's own rules, and the request limits judged by the
    event's serialization, which is stored anyway) has no problem; only the others are judged by
    `_problem`, which says what is wrong, if anything."""
    events = request.events
    kinds = [*map(payload_kind, events)]
    candidates: list[NewEvent] = []
    first_of: dict[tuple[str, str], NewEvent] = {}
    asset_ids: dict[str, str] = {}  # asset name -> its id, "" when malformed: a batch names each asset many times
    asset_problems: dict[str, str] = {}
    item_check = limits.item_check(dpb.DiagnosticEvent.DESCRIPTOR, _SCREENED)
    item_violations = limits.item_violations
    outcomes, reasons = results.outcomes, results.reasons
    for index, message, kind in zip(range(len(events)), events, kinds, strict=True):
        source, event_id, asset, observe_time = _read_screened(message)
        payload = message.SerializeToString(deterministic=True)
        asset_id = asset_ids.get(asset)
        if asset_id is None:
            asset_id = asset_ids[asset] = "" if _asset_problem(asset) else asset[_ASSET_PREFIX_LENGTH:]
        if not (kind and asset_id and 0 < len(source) <= MAX_ID_LENGTH and 0 < len(event_id) <= MAX_ID_LENGTH
                and message.HasField("observe_time")
                and item_check(message, payload, (source, event_id, asset, observe_time, kind))):
            problem = _problem(message, kind, (source, event_id), asset, item_violations(message, f"events[{index}]"),
                               asset_problems)
            if problem:
                results.reject(index, problem)
                continue
        fingerprint = blake2b(payload, digest_size=16).hexdigest()
        key = (source, event_id)
        first = first_of.get(key)
        if first is not None:
            if first.fingerprint == fingerprint:
                outcomes[index] = _DUPLICATE
            else:
                outcomes[index] = _CONFLICT
                reasons[index] = f"event {event_id!r} of {source!r} appears earlier in this batch with other content"
            continue
        first_of[key] = candidate = NewEvent(index, key, asset_id, kind, observe_time, payload, fingerprint)
        candidates.append(candidate)
    return kinds, candidates


def _admitted(candidates: list[NewEvent], known: Lookup, results: _Results) -> list[NewEvent]:
    """The candidates whose asset the fleet describes (or cannot be asked about now) and whose
    customer consents to data collection; the others are rejected."""
    asset_ids = {c.asset_id for c in candidates}
    unknown = {a for a in asset_ids if a not in known.found and a not in known.unreachable}
    refusing = {a: ref.customer for a in asset_ids if (ref := known.found.get(a)) and not ref.data_collection_consent}
    if not unknown and not refusing:
        return candidates
    admitted: list[NewEvent] = []
    refused = 0
    for candidate in candidates:
        if candidate.asset_id in unknown:
            results.reject(candidate.position, f"assets/{candidate.asset_id} does not exist in the fleet")
        elif candidate.asset_id in refusing:
            refused += 1
            results.reject(candidate.position, f"FAILED_PRECONDITION: {refusing[candidate.asset_id]} has not consented"
                                               f" to data collection; the event was not stored")
        else:
            admitted.append(candidate)
    if refused == len(candidates):
        raise FailedPrecondition("the customers of these assets have not consented to data collection;"
                                 " nothing was stored", reason="NO_DATA_COLLECTION_CONSENT")
    return admitted


def _settled(admitted: list[NewEvent], taken: dict[tuple[str, str], str], results: _Results) -> list[NewEvent]:
    """Each appended event's outcome, by what the store held before (`taken`: the stored fingerprint
    of each key it held); the events stored now."""
    outcomes = results.outcomes
    accepted: list[NewEvent] = []
    for candidate in admitted:
        if candidate.key not in taken:
            outcomes[candidate.position] = _ACCEPTED
            accepted.append(candidate)
        elif taken[candidate.key] == candidate.fingerprint:
            outcomes[candidate.position] = _DUPLICATE
        else:
            outcomes[candidate.position] = _CONFLICT
            results.reasons[candidate.position] = (f"event {candidate.key[1]!r} of {candidate.key[0]!r} was ingested"
                                                   f" before with other content")
    return accepted


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



class MeterForwarder:
    """Sends outbox meter readings to the fleet service in the background, oldest first; a reading
    stays in the outbox until the fleet service has answered for it, and after that only if it was
    refused (with the reason)."""

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
            # Paid per reading, thousands a batch: the readings are added to the request in place (a
            # request made from a list copies each).
            request = fleet_meters.RecordMeterReadingsRequest()
            add_reading = request.readings.add
            for row in pending:
                add_reading(asset=f"assets/{row.asset_id}", register=row.register, value=row.value,
                            source=_READING_SOURCES[row.source], read_time=to_timestamp(row.read_time))
            response = self._fleet.call(self._fleet.stub.RecordMeterReadings, request, default_timeout=60)
            # A reading the fleet service holds (recorded now or before) leaves the outbox; one it
            # refused stays, marked sent, with the reason. One statement per distinct outcome (nearly
            # always one): the ids as a list, in Core (the ORM would also compare each row with every
            # row the session holds). Outcomes are named once per distinct outcome, not per reading.
            ids_by_outcome: dict[tuple[int, str], list[int]] = defaultdict(list)
            for row, result in zip(pending, response.results, strict=True):
                ids_by_outcome[(result.outcome, result.reason)].append(row.id)
            outcomes: Tally[str] = Tally()
            held: list[int] = []
            for (outcome, reason), ids in ids_by_outcome.items():
                name = fleet_meters.ReadingOutcome.Name(outcome)
                outcomes[name] += len(ids)
                if outcome in _HELD_BY_FLEET:
                    held += ids
                else:
                    session.execute(table.update().where(one_of(session, table.c.id, ids))
                                    .values(sent=True, result=name + (f": {reason}" if reason else "")))
            if held:
                session.execute(table.delete().where(one_of(session, table.c.id, held)))
        for name, count in outcomes.items():
            self._forwarded.labels(_forwarding_outcome(name)).inc(count)
        return len(pending)


_HELD_BY_FLEET = frozenset((fleet_meters.READING_OUTCOME_ACCEPTED, fleet_meters.READING_OUTCOME_DUPLICATE))


def _forwarding_outcome(name: str) -> str:
    return name.removeprefix("READING_OUTCOME_").lower()
