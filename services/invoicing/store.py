"""Invoicing persistence: SQLAlchemy 2.0 typed models on the invoicing service's own database."""

from __future__ import annotations

from sqlalchemy import Enum, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.invoicing.domain.issuers import TaxRounding
from services.runtime.db import new_metadata
from services.runtime.idempotency import IdempotencyRecordMixin
from services.runtime.repository import NamedRowMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    pass


class IssuingEntityRow(NamedRowMixin, Base):
    __tablename__ = "issuing_entities"
    legal_name: Mapped[str] = mapped_column(String(200))
    tax_registration_number: Mapped[str] = mapped_column(String(40), default="")
    country_code: Mapped[str] = mapped_column(String(2))
    invoice_series: Mapped[str] = mapped_column(String(10))
    tax_rounding_mode: Mapped[TaxRounding] = mapped_column(
        Enum(TaxRounding, native_enum=False, length=16, name="tax_rounding"))
