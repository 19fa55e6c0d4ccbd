"""Fleet persistence: SQLAlchemy 2.0 typed models on the fleet service's own database."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.runtime.db import new_metadata
from services.runtime.idempotency import IdempotencyRecordMixin
from services.runtime.repository import NamedRowMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    pass


class CustomerRow(NamedRowMixin, Base):
    __tablename__ = "customers"
    parent_customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    currency_code: Mapped[str] = mapped_column(String(3))
    tax_registration_number: Mapped[str] = mapped_column(String(40), default="")
    data_collection_consent: Mapped[bool] = mapped_column(Boolean, default=False)
