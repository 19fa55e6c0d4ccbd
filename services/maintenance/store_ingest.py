"""Persistence of the ingestion path: received events, assets as the fleet describes them, device
state the decoders need between events, alarms, supply history and meter readings to forward."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from operator import attrgetter

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, LargeBinary, Select, String, select, text, tuple_
from sqlalchemy.orm import Mapped, Session, mapped_column

from services.maintenance.store import Base
from services.runtime.db import UtcDateTime, bulk_insert, driver_connection, insert_new, is_postgresql, one_of, utc_now
from services.runtime.resources import from_timestamp


class EventStatus(StrEnum):
    """What `diagnostic_events.status` holds. An event waits for processing while an entry of
    `event_queue` holds it, whatever its status says."""

    # As appended; processing with nothing to record leaves it so: processed once off the queue.
    ACKNOWLEDGED = "acknowledged"
    PROCESSED = "processed"  # with something recorded: a decoder's note, an awaiting caller's outcome
    REJECTED = "rejected"  # the processor found it malformed, or its asset is not in the fleet
    DISCARDED = "discarded"  # its customer turned out not to consent to data collection


class AssetRefRow(Base):
    """What maintenance knows of a fleet asset; also the row locked to serialize decisions per asset."""

    __tablename__ = "asset_refs"
    asset_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    site: Mapped[str] = mapped_column(String(400), default="")
    device_model: Mapped[str] = mapped_column(String(200), default="")
    device_class: Mapped[str] = mapped_column(String(16), default="")
    data_collection_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # [[ISO weekday, "HH:MM", "HH:MM"], ...]; empty: always open
    opening_hours: Mapped[list] = mapped_column(JSON, default=list)
    # The site's position and service territory, for technician scheduling; None/"": not known.
    site_latitude: Mapped[float | None] = mapped_column(Float)
    site_longitude: Mapped[float | None] = mapped_column(Float)
    service_territory: Mapped[str] = mapped_column(String(63), default="", index=True)
    fetched_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class DiagnosticEventRow(Base):
    """Every accepted event once: (source, source_event_id) makes replays harmless.

    Written when the event is acknowledged (`acknowledged`), together with the `event_queue` entry
    that holds it. Its payload is in that entry alone: the fingerprint is what tells a replay from a
    conflict, and nothing reads a processed event's payload again (a copy here, hundreds of bytes an
    event, was the largest part of what acknowledging wrote). The processor decodes it later and, in the same
    transaction as the alarms and orders it caused, deletes that entry; it rewrites this row only
    when there is something to record: a rejection or discard, a decoder's note, or the outcome an
    awaiting caller reads (such an event always leaves `acknowledged`). A plain event is processed
    exactly when it is `acknowledged` and no longer queued, and has no `process_time`.
    """

    __tablename__ = "diagnostic_events"
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    source_event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32))
    asset_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    observe_time: Mapped[datetime] = mapped_column(UtcDateTime)
    receive_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    # Its index in the request that brought it: events observed at the same instant keep their order.
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Its caller waits for the outcome: processing records `outcome` (other events skip that write).
    awaited: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=EventStatus.ACKNOWLEDGED)
    reason: Mapped[str] = mapped_column(String(2000), default="")
    # {"alarms": [...], "work_orders": [...]} the event touched; None when it touched none.
    outcome: Mapped[dict | None] = mapped_column(JSON)
    process_time: Mapped[datetime | None] = mapped_column(UtcDateTime)


class QueueEntryRow(Base):
    """Acknowledged events waiting for processing: one entry per acknowledging transaction and asset,
    holding that asset's events of the transaction. The processor finds, decodes and orders events
    from here alone, and deletes an entry once its events are processed (a delete only marks it gone,
    where marking each event's own row processed rewrote it whole and added a primary key entry per
    event). An entry for several events costs one row, one index entry and one delete."""

    __tablename__ = "event_queue"
    # Rows of a few kilobytes stay whole in the table: PostgreSQL would otherwise compress every row
    # past 2 kB at append and decompress it at processing.
    __table_args__ = (Index("ix_event_queue_asset_id", "asset_id"), {"postgresql_with": {"toast_tuple_target": 8160}})
    # Deletes name entries by this number.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(String(200))
    receive_time: Mapped[datetime] = mapped_column(UtcDateTime)
    awaited: Mapped[bool] = mapped_column(Boolean)
    event_count: Mapped[int] = mapped_column(Integer)
    # The events, as received, in the order of the request that brought them: the serialization of an
    # IngestDiagnosticsRequest holding just them (`queued_events` writes it; one parse reads them all).
    # The only copy of their payloads (see DiagnosticEventRow).
    events: Mapped[bytes] = mapped_column(LargeBinary)


class DeviceStateRow(Base):
    """Decoder state carried between events: a printer's active alert rows, a forklift's active DTCs."""

    __tablename__ = "device_states"
    asset_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    state: Mapped[dict] = mapped_column(JSON, default=dict)


class AlarmRow(Base):
    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_asset_fault", "asset_id", "fault_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(String(200))
    fault_key: Mapped[str] = mapped_column(String(200))
    family: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # The whole domain Alarm (fault, conditions, flapping history) as JSON: rules read it back as is.
    body: Mapped[dict] = mapped_column(JSON)
    work_order_id: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)


class SupplyReadingRow(Base):
    __tablename__ = "supply_readings"
    asset_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    supply: Mapped[str] = mapped_column(String(40), primary_key=True)
    observe_time: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    level_percent: Mapped[float] = mapped_column()


class MeterOutboxRow(Base):
    """Meter readings waiting to be sent to the fleet service (written with the event, sent after).
    A reading the fleet service recorded leaves; one it refused stays, marked sent, with its answer
    in `result`. Only the unsent ones are indexed, so finding them does not get slower as refused
    ones pile up (an index of `sent` itself was passed over for a scan of the whole table)."""

    __tablename__ = "meter_outbox"
    __table_args__ = (Index("ix_meter_outbox_unsent", "id", postgresql_where=text("NOT sent"),
                            sqlite_where=text("sent = 0")),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(String(200))
    register: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(40))
    read_time: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(12))
    sent: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[str] = mapped_column(String(500), default="")


def unsent_readings(limit: int) -> Select:
    """The oldest meter readings not sent to the fleet service yet, at most `limit` (read through
    ix_meter_outbox_unsent: the sent ones are never looked at)."""
    table = MeterOutboxRow.__table__
    return (select(table.c.id, table.c.asset_id, table.c.register, table.c.value, table.c.read_time, table.c.source)
            .where(~table.c.sent).order_by(table.c.id).limit(limit))


@dataclass(slots=True)
class NewEvent:
    """An event to append: the first of its (source, source_event_id) in its request."""

    position: int  # its index in the request
    key: tuple[str, str]  # (source, source_event_id)
    asset_id: str
    kind: str
    observe_time: Timestamp
    payload: bytes  # the DiagnosticEvent's deterministic serialization
    fingerprint: str


_CHUNK = 1000


def append_events(session: Session, events: list[NewEvent], receive_time: datetime,
                  awaited: bool) -> dict[tuple[str, str], str]:
    """Stores the events (keys and positions unique) whose (source, source_event_id) is not taken yet
    and queues them, an entry per asset; answers the stored fingerprint of every key that was taken.
    A concurrent transaction appending the same key makes this one wait for it, and every caller
    appends in key order, so two of them never wait on each other in a cycle."""
    by_key = sorted(events, key=lambda event: event.key)
    if is_postgresql(session):
        taken = _append_copied(session, by_key, receive_time, awaited)
    else:
        table = DiagnosticEventRow.__table__
        inserted: set[tuple] = set()
        for offset in range(0, len(by_key), _CHUNK):
            inserted |= insert_new(session, table, [dict(
                source=e.key[0], source_event_id=e.key[1], fingerprint=e.fingerprint, asset_id=e.asset_id, kind=e.kind,
                observe_time=from_timestamp(e.observe_time), receive_time=receive_time, position=e.position,
                awaited=awaited, status=EventStatus.ACKNOWLEDGED, reason="")
                for e in by_key[offset:offset + _CHUNK]], ["source", "source_event_id"])
        taken = {e.key: None for e in by_key if e.key not in inserted}
    # Queued only as inserted just now: a replay never queues its event a second time.
    bulk_insert(session, QueueEntryRow.__table__, _ENTRY_COLUMNS, [
        (asset_id, receive_time, awaited, count, payload)
        for asset_id, (count, payload) in queued_events(e for e in events if e.key not in taken).items()])
    unsettled = [key for key, fingerprint in taken.items() if fingerprint is None]
    if unsettled:
        taken.update(_fingerprints(session, unsettled))
    return taken


_ENTRY_COLUMNS = ["asset_id", "receive_time", "awaited", "event_count", "events"]


def queued_events(events: Iterable[NewEvent]) -> dict[str, tuple[int, bytes]]:
    """Per asset, how many of these events are its and their queue entry's `events`: the serialization
    of an IngestDiagnosticsRequest whose repeated field 1 holds the payloads (each tagged and
    length-prefixed, as protobuf writes such a field) in the order of their positions."""
    parts_of: dict[str, list[bytes]] = {}
    for event in sorted(events, key=_position):  # nearly always in order already: a pass over them
        payload = event.payload
        size = len(payload)
        parts = parts_of.get(event.asset_id)
        if parts is None:
            parts = parts_of[event.asset_id] = []
        parts += (_EVENT_HEADERS[size] if size < _HEADED_SIZES else event_header(size), payload)
    return {asset_id: (len(parts) >> 1, b"".join(parts)) for asset_id, parts in parts_of.items()}


def event_header(size: int) -> bytes:
    """What precedes an event of `size` bytes in an IngestDiagnosticsRequest: field 1's tag (number 1,
    length-delimited) and the size as a base-128 varint, low group first."""
    header = bytearray(b"\x0a")
    while size > 0x7F:
        header.append(size & 0x7F | 0x80)
        size >>= 7
    header.append(size)
    return bytes(header)


# The headers of every payload size below 16 kB, made once (an event is rarely larger).
_HEADED_SIZES = 1 << 14
_EVENT_HEADERS = [event_header(size) for size in range(_HEADED_SIZES)]
_position = attrgetter("position")


def _fingerprints(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The stored fingerprints of these keys (on PostgreSQL a join with the keys as arrays, which uses
    the primary key; a long row-value IN list scans the table)."""
    if is_postgresql(session):
        return {(s, i): f for s, i, f in session.execute(text(
            "SELECT e.source, e.source_event_id, e.fingerprint FROM diagnostic_events AS e"
            " JOIN unnest(CAST(:sources AS text[]), CAST(:event_ids AS text[])) AS k(source, source_event_id)"
            " ON e.source = k.source AND e.source_event_id = k.source_event_id"),
            dict(sources=[k[0] for k in keys], event_ids=[k[1] for k in keys]))}
    found: dict[tuple[str, str], str] = {}
    for offset in range(0, len(keys), _CHUNK):
        found.update({(s, i): f for s, i, f in session.execute(
            select(DiagnosticEventRow.source, DiagnosticEventRow.source_event_id, DiagnosticEventRow.fingerprint)
            .where(tuple_(DiagnosticEventRow.source, DiagnosticEventRow.source_event_id)
                   .in_(keys[offset:offset + _CHUNK])))})
    return found


def dequeue(session: Session, entry_ids: list[int]) -> None:
    """Deletes these entries of `event_queue`: their events are processed."""
    table = QueueEntryRow.__table__
    session.execute(table.delete().where(one_of(session, table.c.id, entry_ids)))


_STAGING = "diagnostic_event_staging"
# One statement: insert what is new; for the rest, the fingerprint stored before this
# statement began (NULL when a concurrent transaction committed the key meanwhile: read again after).
# The fingerprints are read by primary key, replay by replay: a join would let the planner scan the
# table. The inserted rows are told apart by their position in the request (an integer to hash,
# where the key was two texts to sort and merge).
_APPEND_STAGED = f"""
WITH inserted AS (
    INSERT INTO diagnostic_events (source, source_event_id, fingerprint, asset_id, kind, observe_time, receive_time,
                                   position, awaited, status, reason)
    SELECT source, source_event_id, fingerprint, asset_id, kind,
           to_timestamp(observe_seconds) + (observe_nanos / 1000) * interval '1 microsecond', %(receive_time)s,
           position, %(awaited)s, '{EventStatus.ACKNOWLEDGED}', ''
    FROM {_STAGING} ORDER BY source, source_event_id
    ON CONFLICT (source, source_event_id) DO NOTHING
    RETURNING position)
SELECT s.source, s.source_event_id,
       (SELECT e.fingerprint FROM diagnostic_events e WHERE e.source = s.source AND e.source_event_id = s.source_event_id)
FROM {_STAGING} s LEFT JOIN inserted i ON i.position = s.position
WHERE i.position IS NULL"""
_STAGING_COLUMNS = {"source": "text", "source_event_id": "text", "fingerprint": "text", "asset_id": "text",
                    "kind": "text", "observe_seconds": "int8", "observe_nanos": "int4", "position": "int4"}


def _append_copied(session: Session, events: list[NewEvent], receive_time: datetime,
                   awaited: bool) -> dict[tuple[str, str], str | None]:
    """PostgreSQL: binary COPY into a session-local staging table, then one INSERT ... SELECT."""
    with driver_connection(session) as connection, connection.cursor() as cursor:
        columns = ", ".join(f"{name} {kind}" for name, kind in _STAGING_COLUMNS.items())
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} ({columns}) ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY {_STAGING} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(_STAGING_COLUMNS.values()))
            write_row = copy.write_row
            for e in events:
                write_row((e.key[0], e.key[1], e.fingerprint, e.asset_id, e.kind, e.observe_time.seconds,
                           e.observe_time.nanos, e.position))
        cursor.execute(_APPEND_STAGED, {"receive_time": receive_time, "awaited": awaited})
        return {(source, event_id): fingerprint for source, event_id, fingerprint in cursor.fetchall()}
