"""Maintenance persistence: SQLAlchemy 2.0 typed models on the maintenance service's own database."""

from __future__ import annotations

from sqlalchemy import JSON, Float, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.runtime.audit import AuditRecordMixin
from services.runtime.db import new_metadata
from services.runtime.idempotency import IdempotencyRecordMixin
from services.runtime.repository import NamedRowMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    pass


class AuditRecord(AuditRecordMixin, Base):
    pass


class TechnicianRow(NamedRowMixin, Base):
    __tablename__ = "technicians"
    display_name: Mapped[str] = mapped_column(String(120))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    home_latitude: Mapped[float | None] = mapped_column(Float)
    home_longitude: Mapped[float | None] = mapped_column(Float)
    territory: Mapped[str] = mapped_column(String(63), default="", index=True)
    time_zone: Mapped[str] = mapped_column(String(64))
