"""Upgrading a deployment that has a backlog keeps every waiting event, and downgrading gives it back."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from sqlalchemy import create_engine, text

from services.runtime.db import alembic_config
from services.runtime.migration_tool import migrations_dir

BEFORE_QUEUE = "8ac8442ff101"
QUEUE = "a4cc265a50ab"
COLUMNS = ("source, source_event_id, fingerprint, asset_id, kind, observe_time, receive_time, position, payload,"
           " awaited, status, reason")


def test_events_waiting_before_the_queue_are_queued_with_their_payload_and_back(new_database_url):
    url = new_database_url("queue-migration")
    config = alembic_config(migrations_dir("maintenance"), url)
    command.upgrade(config, BEFORE_QUEUE)
    engine = create_engine(url)
    store(engine, ("waiting", "pending"), ("done", "processed"), ("bad", "rejected"))
    command.upgrade(config, QUEUE)
    with engine.connect() as connection:
        queued = connection.execute(text("SELECT source_event_id, asset_id, payload FROM pending_events")).all()
        statuses = dict(connection.execute(text("SELECT source_event_id, status FROM diagnostic_events")).all())
    assert [(event_id, asset, bytes(payload)) for event_id, asset, payload in queued] == [
        ("waiting", "printer-1", b"waiting")]
    assert statuses == {"waiting": "acknowledged", "done": "processed", "bad": "rejected"}
    store(engine, ("later", "acknowledged"))  # acknowledged and processed after the upgrade: not queued
    command.downgrade(config, BEFORE_QUEUE)
    with engine.connect() as connection:
        statuses = dict(connection.execute(text("SELECT source_event_id, status FROM diagnostic_events")).all())
    assert statuses == {"waiting": "pending", "done": "processed", "bad": "rejected", "later": "processed"}
    engine.dispose()


def store(engine, *events: tuple[str, str]) -> None:
    """Event rows as the schema of the moment stores them: (source_event_id, status) each."""
    with engine.begin() as connection:
        for event_id, status in events:
            connection.execute(text(f"INSERT INTO diagnostic_events ({COLUMNS}) VALUES (:source, :event_id, 'f',"
                                    " 'printer-1', 'printer_alert', :at, :at, 0, :payload, false, :status, '')"),
                               dict(source="collector", event_id=event_id, at="2026-03-01 12:00:00+00:00",
                                    payload=event_id.encode(), status=status))


ENTRIES = "3ee17ae74764"
QUEUED = ("source, source_event_id, asset_id, kind, observe_time, receive_time, position, awaited, payload")


def test_waiting_events_become_an_entry_per_acknowledgement_and_asset_and_back(new_database_url):
    url = new_database_url("entries-migration")
    config = alembic_config(migrations_dir("maintenance"), url)
    command.upgrade(config, QUEUE)
    engine = create_engine(url)
    first, second = "2026-03-01 12:00:00+00:00", "2026-03-01 12:05:00+00:00"
    # printer-1: two events of one acknowledgement (listed against their positions) and one of an
    # awaited later one; printer-2: one event of the first; one event already processed.
    waiting = [("b", "printer-1", first, 1, False), ("a", "printer-1", first, 0, False),
               ("c", "printer-1", second, 0, True), ("d", "printer-2", first, 2, False)]
    with engine.begin() as connection:
        for event_id, asset, received, position, awaited in [*waiting, ("done", "printer-1", first, 3, False)]:
            connection.execute(text(f"INSERT INTO diagnostic_events ({COLUMNS}) VALUES (:source, :event_id, 'f', :asset,"
                                    " 'printer_alert', :at, :received, :position, :payload, :awaited, 'acknowledged', '')"),
                               dict(source="collector", event_id=event_id, asset=asset, at="2026-03-01 11:00:00+00:00",
                                    received=received, position=position, payload=_payload(event_id, asset),
                                    awaited=awaited))
        for event_id, *_ in waiting:
            connection.execute(text(f"INSERT INTO pending_events ({QUEUED}) SELECT {QUEUED} FROM diagnostic_events"
                                    " WHERE source_event_id = :event_id"), dict(event_id=event_id))
        before = _queued(connection)
    command.upgrade(config, ENTRIES)
    with engine.connect() as connection:
        entries = connection.execute(text("SELECT asset_id, awaited, event_count, events FROM event_queue"
                                          " ORDER BY asset_id, receive_time")).all()
    assert [(asset, bool(awaited), count, [(e.source_event_id, e) for e in dpb.IngestDiagnosticsRequest.FromString(events).events])
            for asset, awaited, count, events in entries] == [
        ("printer-1", False, 2, [("a", _event("a", "printer-1")), ("b", _event("b", "printer-1"))]),
        ("printer-1", True, 1, [("c", _event("c", "printer-1"))]),
        ("printer-2", False, 1, [("d", _event("d", "printer-2"))])]
    command.downgrade(config, QUEUE)
    with engine.connect() as connection:
        assert _queued(connection) == before
    engine.dispose()


def _event(event_id: str, asset: str) -> dpb.DiagnosticEvent:
    event = dpb.DiagnosticEvent(source="collector", source_event_id=event_id, asset=f"assets/{asset}",
                                printer_alert=dpb.SnmpRow(columns={"prtAlertCode": "8"}))
    event.observe_time.FromDatetime(datetime(2026, 3, 1, 11, tzinfo=UTC))
    return event


def _payload(event_id: str, asset: str) -> bytes:
    return _event(event_id, asset).SerializeToString(deterministic=True)


def _queued(connection) -> list[tuple]:
    """The per-event queue as it stands: every column of every row but its id."""
    return sorted((*row[:-1], bytes(row[-1])) for row in connection.execute(text(f"SELECT {QUEUED} FROM pending_events")))


PAYLOADS_QUEUED_ONLY = "037c093b84e7"


def test_payloads_leave_the_event_rows_and_come_back_from_the_queue(new_database_url):
    url = new_database_url("payload-migration")
    config = alembic_config(migrations_dir("maintenance"), url)
    command.upgrade(config, ENTRIES)
    engine = create_engine(url)
    with engine.begin() as connection:
        for event_id in ("waiting", "done"):
            connection.execute(text(f"INSERT INTO diagnostic_events ({COLUMNS}) VALUES (:source, :event_id, 'f',"
                                    " 'printer-1', 'printer_alert', :at, :at, 0, :payload, false, 'acknowledged', '')"),
                               dict(source="collector", event_id=event_id, at="2026-03-01 12:00:00+00:00",
                                    payload=_payload(event_id, "printer-1")))
        waiting = dpb.IngestDiagnosticsRequest(events=[_event("waiting", "printer-1")])
        connection.execute(text("INSERT INTO event_queue (asset_id, receive_time, awaited, event_count, events)"
                                " VALUES ('printer-1', :at, false, 1, :events)"),
                           dict(at="2026-03-01 12:00:00+00:00", events=waiting.SerializeToString(deterministic=True)))
    command.upgrade(config, PAYLOADS_QUEUED_ONLY)
    with engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM diagnostic_events")).keys()
    assert "payload" not in columns
    command.downgrade(config, ENTRIES)
    with engine.connect() as connection:
        payloads = {event_id: bytes(payload) for event_id, payload in connection.execute(
            text("SELECT source_event_id, payload FROM diagnostic_events"))}
    assert payloads == {"waiting": _payload("waiting", "printer-1"), "done": b""}
    engine.dispose()
