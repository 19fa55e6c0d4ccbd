"""Upgrading a deployment that has a backlog keeps every waiting event, and downgrading gives it back."""

from __future__ import annotations

from alembic import command
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
