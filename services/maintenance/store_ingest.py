"""Persistence of the ingestion path: received events, assets as the fleet describes them, device
state the decoders need between events, alarms, supply history and meter readings to forward."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.maintenance.store import Base
from services.runtime.db import UtcDateTime, utc_now


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
    """Every accepted event once: (source, source_event_id) makes replays harmless."""

    __tablename__ = "diagnostic_events"
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    source_event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32))
    asset_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    observe_time: Mapped[datetime] = mapped_column(UtcDateTime)
    receive_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


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
    """Meter readings waiting to be sent to the fleet service (written with the event, sent after)."""

    __tablename__ = "meter_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(String(200))
    register: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(40))
    read_time: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(12))
    sent: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    result: Mapped[str] = mapped_column(String(500), default="")
