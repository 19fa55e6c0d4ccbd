"""Fleet persistence: SQLAlchemy 2.0 typed models on the fleet service's own database."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.runtime.audit import AuditRecordMixin
from services.runtime.db import ScaledDecimal, UtcDateTime, new_metadata, utc_now
from services.runtime.idempotency import IdempotencyRecordMixin
from services.runtime.repository import NamedRowMixin

# Meter values keep 4 decimal places (operating hours to 0.36 s); money keeps 6 (unit prices).
METER_SCALE = 4
MONEY_SCALE = 6


class Base(DeclarativeBase):
    metadata = new_metadata()


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    pass


class AuditRecord(AuditRecordMixin, Base):
    pass


class CustomerRow(NamedRowMixin, Base):
    __tablename__ = "customers"
    parent_customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    currency_code: Mapped[str] = mapped_column(String(3))
    tax_registration_number: Mapped[str] = mapped_column(String(40), default="")
    data_collection_consent: Mapped[bool] = mapped_column(Boolean, default=False)


class SiteRow(NamedRowMixin, Base):
    """`id` is `customer/site`."""

    __tablename__ = "sites"
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    time_zone: Mapped[str] = mapped_column(String(64))
    # [[weekday 1-7, "HH:MM", "HH:MM"], ...]
    opening_hours: Mapped[list] = mapped_column(JSON, default=list)
    service_territory: Mapped[str] = mapped_column(String(63), default="", index=True)
    cost_centres: Mapped[list] = mapped_column(JSON, default=list)


class LocationRow(NamedRowMixin, Base):
    """`id` is `customer/site/location`."""

    __tablename__ = "locations"
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    building: Mapped[str] = mapped_column(String(100), default="")
    floor: Mapped[str] = mapped_column(String(30), default="")
    zone: Mapped[str] = mapped_column(String(100), default="")
    x_metres: Mapped[float] = mapped_column(Float, default=0.0)
    y_metres: Mapped[float] = mapped_column(Float, default=0.0)


class DeviceModelRow(NamedRowMixin, Base):
    __tablename__ = "device_models"
    device_class: Mapped[str] = mapped_column(String(16), index=True)
    maker: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(200))
    capabilities: Mapped[dict] = mapped_column(JSON, default=dict)
    list_price: Mapped[Decimal | None] = mapped_column(ScaledDecimal(MONEY_SCALE))
    monthly_lease_cost: Mapped[Decimal | None] = mapped_column(ScaledDecimal(MONEY_SCALE))
    currency_code: Mapped[str] = mapped_column(String(3), default="")
    expected_life_months: Mapped[int] = mapped_column(Integer, default=0)
    expected_life_register: Mapped[str] = mapped_column(String(40), default="")
    expected_life_counter: Mapped[Decimal | None] = mapped_column(ScaledDecimal(METER_SCALE))
    # [{"code": ..., "rollover_at": "10000000" | "", "backward_jitter_tolerance": "0.5" | ""}, ...]
    registers: Mapped[list] = mapped_column(JSON, default=list)


class AssetRow(NamedRowMixin, Base):
    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("maker", "serial_number"),)
    serial_number: Mapped[str] = mapped_column(String(100))
    maker: Mapped[str] = mapped_column(String(100))
    device_model_id: Mapped[str] = mapped_column(ForeignKey("device_models.id"), index=True)
    device_class: Mapped[str] = mapped_column(String(16), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    state: Mapped[str] = mapped_column(String(16), index=True)
    acquisition_mode: Mapped[str] = mapped_column(String(24), default="")
    owner_party: Mapped[str] = mapped_column(String(200), default="")
    install_date: Mapped[date | None] = mapped_column(Date)
    contract: Mapped[str] = mapped_column(String(200), default="")
    third_party: Mapped[bool] = mapped_column(Boolean, default=False)
    retrofitted_sensor: Mapped[bool] = mapped_column(Boolean, default=False)


class AssetMoveRow(Base):
    __tablename__ = "asset_moves"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    from_site_id: Mapped[str | None] = mapped_column(String(200))
    from_location_id: Mapped[str | None] = mapped_column(String(200))
    to_site_id: Mapped[str | None] = mapped_column(String(200))
    to_location_id: Mapped[str | None] = mapped_column(String(200))
    moved_by: Mapped[str] = mapped_column(String(200))
    move_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    reason: Mapped[str] = mapped_column(String(500), default="")


class CounterStateColumns:
    """The register's `CounterState` after a reading: usage since the first reading (continuous across
    rollovers, resets and jitter), the high-water mark, rollovers and resets passed. With it stored,
    a period's usage is the difference of two boundary readings found by key, not a walk."""

    consumed: Mapped[Decimal] = mapped_column(ScaledDecimal(METER_SCALE))
    high_water: Mapped[Decimal] = mapped_column(ScaledDecimal(METER_SCALE))
    rollovers: Mapped[int] = mapped_column(Integer)
    resets: Mapped[int] = mapped_column(Integer)


class MeterReadingRow(CounterStateColumns, Base):
    """No foreign key to assets: PostgreSQL checks one per inserted row (about 10 µs each, most of the
    cost of appending a reading), and each reading's asset is held by its pair's `MeterLatestRow`,
    written in the same transaction, whose key does reference the asset."""

    __tablename__ = "meter_readings"
    asset_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    register: Mapped[str] = mapped_column(String(40), primary_key=True)
    read_time: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    value: Mapped[Decimal] = mapped_column(ScaledDecimal(METER_SCALE))
    source: Mapped[str] = mapped_column(String(12))
    record_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class MeterLatestRow(CounterStateColumns, Base):
    """The latest reading per asset and register and the state after it, kept beside the readings so
    that judging and accumulating a new reading are key lookups, not a search of the asset's history."""

    __tablename__ = "meter_latest"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    register: Mapped[str] = mapped_column(String(40), primary_key=True)
    read_time: Mapped[datetime] = mapped_column(UtcDateTime)
    value: Mapped[Decimal] = mapped_column(ScaledDecimal(METER_SCALE))


class MeterResetRow(Base):
    __tablename__ = "meter_resets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    register: Mapped[str] = mapped_column(String(40))
    reset_time: Mapped[datetime] = mapped_column(UtcDateTime)
    value_before: Mapped[Decimal] = mapped_column(ScaledDecimal(METER_SCALE))
    value_after: Mapped[Decimal] = mapped_column(ScaledDecimal(METER_SCALE))
    reason: Mapped[str] = mapped_column(String(500), default="")
