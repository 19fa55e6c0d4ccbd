"""Readings the fleet service refused stay in the meter outbox, and finding the unsent ones does not read them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from services.maintenance.store_ingest import MeterOutboxRow, unsent_readings
from services.runtime.db import Database, bulk_insert
from services.runtime.migration_tool import migrations_dir

READ_TIME = datetime(2026, 3, 1, tzinfo=UTC)


def test_unsent_readings_are_found_oldest_first_through_their_own_index(new_database_url):
    database = Database(new_database_url("meter-outbox"))
    database.migrate(migrations_dir("maintenance"))
    sent = [("printer-1", "total_impressions", str(value), READ_TIME, "DEVICE", True, "READING_OUTCOME_REJECTED: stale")
            for value in range(5_000)]
    waiting = [("printer-2", "total_impressions", str(value), READ_TIME, "DEVICE", False, "") for value in (7, 8)]
    with database.unit_of_work() as session:
        bulk_insert(session, MeterOutboxRow.__table__,
                    ["asset_id", "register", "value", "read_time", "source", "sent", "result"], sent + waiting + sent)
    query = unsent_readings(limit=100)
    with database.unit_of_work() as session:
        assert [(row.asset_id, row.value) for row in session.execute(query)] == [("printer-2", "7"), ("printer-2", "8")]
        dialect = session.get_bind().dialect
        explain = "EXPLAIN QUERY PLAN" if dialect.name == "sqlite" else "EXPLAIN"
        plan = " ".join(str(row) for row in session.execute(text(
            f"{explain} {query.compile(dialect=dialect, compile_kwargs={'literal_binds': True})}")))
    # A scan of the table would read the 10,000 refused readings to find the two (and ever more of
    # them as a deployment runs).
    assert "ix_meter_outbox_unsent" in plan
    database.dispose()
