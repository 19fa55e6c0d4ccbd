"""Fleet schema migrations keep the stored rows, up and down, on both back ends."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from alembic import command
from sqlalchemy import create_engine, inspect, select

from services.fleet.store import AssetRow, CustomerRow, DeviceModelRow, MeterReadingRow
from services.runtime.db import alembic_config
from services.runtime.migration_tool import migrations_dir

INITIAL = "d4d203edb3a2"
READINGS_WITHOUT_ASSET_KEY = "8c88520323ce"
READ_AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_meter_readings_lose_their_asset_key_and_get_it_back_with_their_rows(new_database_url):
    url = new_database_url("readings-key-migration")
    config = alembic_config(migrations_dir("fleet"), url)
    command.upgrade(config, INITIAL)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(CustomerRow.__table__.insert(), dict(id="acme", legal_name="Acme", currency_code="EUR"))
        connection.execute(DeviceModelRow.__table__.insert(), dict(id="mfp", device_class="PRINTER", maker="Ricoh",
                                                                   display_name="IM C3000"))
        connection.execute(AssetRow.__table__.insert(), dict(id="p1", serial_number="S1", maker="Ricoh",
                                                             device_model_id="mfp", device_class="PRINTER",
                                                             customer_id="acme", state="ACTIVE"))
        connection.execute(MeterReadingRow.__table__.insert(), dict(
            asset_id="p1", register="total_impressions", read_time=READ_AT, value=Decimal("1234.5"), source="DEVICE",
            consumed=Decimal(0), high_water=Decimal("1234.5"), rollovers=0, resets=0))
    stored = readings(engine)
    assert asset_keys(engine) == [["asset_id"]]

    command.upgrade(config, READINGS_WITHOUT_ASSET_KEY)
    assert readings(engine) == stored
    assert asset_keys(engine) == []
    assert [key["constrained_columns"] for key in inspect(engine).get_foreign_keys("meter_latest")] == [["asset_id"]]

    command.downgrade(config, INITIAL)
    assert readings(engine) == stored
    assert asset_keys(engine) == [["asset_id"]]
    engine.dispose()


def readings(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(MeterReadingRow.__table__))]


def asset_keys(engine) -> list[list[str]]:
    """The columns of meter_readings' foreign keys (fresh inspector: the schema changed)."""
    return [key["constrained_columns"] for key in inspect(engine).get_foreign_keys("meter_readings")]
