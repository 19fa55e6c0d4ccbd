"""Invoicing persistence: SQLAlchemy 2.0 typed models on the invoicing service's own database.

Money and quantities are exact (`ScaledDecimal`): amounts and quantities to 10^-4 (the finest
currency minor unit is 10^-3, the finest meter value 10^-4), unit prices and tax rates to 10^-6.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.invoicing.domain.issuers import TaxRounding
from services.runtime.audit import AuditRecordMixin
from services.runtime.db import ScaledDecimal, UtcDateTime, new_metadata, utc_now
from services.runtime.idempotency import IdempotencyRecordMixin
from services.runtime.repository import NamedRowMixin

AMOUNT = ScaledDecimal(4)
QUANTITY = ScaledDecimal(4)
PRICE = ScaledDecimal(6)


class Base(DeclarativeBase):
    metadata = new_metadata()


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    pass


class AuditRecord(AuditRecordMixin, Base):
    pass


class IssuingEntityRow(NamedRowMixin, Base):
    __tablename__ = "issuing_entities"
    legal_name: Mapped[str] = mapped_column(String(200))
    tax_registration_number: Mapped[str] = mapped_column(String(40), default="")
    country_code: Mapped[str] = mapped_column(String(2))
    invoice_series: Mapped[str] = mapped_column(String(10))
    tax_rounding_mode: Mapped[TaxRounding] = mapped_column(
        Enum(TaxRounding, native_enum=False, length=16, name="tax_rounding"))
    tax_rates: Mapped[str] = mapped_column(Text, default="{}")  # JSON: category -> decimal rate


class PlanRow(NamedRowMixin, Base):
    __tablename__ = "plans"
    display_name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    latest_version: Mapped[int] = mapped_column(Integer, default=0)


class PlanVersionRow(Base):
    """Immutable once written: rated invoices keep pointing at the version they were rated with."""

    __tablename__ = "plan_versions"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # "{plan}/{number}"
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[date] = mapped_column(Date)
    document: Mapped[str] = mapped_column(Text)  # the PlanVersion message as proto JSON
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class ContractRow(NamedRowMixin, Base):
    __tablename__ = "contracts"
    customer: Mapped[str] = mapped_column(String(200), index=True)
    plan_version_id: Mapped[str] = mapped_column(ForeignKey("plan_versions.id"))
    issuing_entity_id: Mapped[str] = mapped_column(ForeignKey("issuing_entities.id"))
    currency: Mapped[str] = mapped_column(String(3))
    billing_anchor_day: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    purchase_order: Mapped[str] = mapped_column(String(100), default="")
    billing_site: Mapped[str] = mapped_column(String(200))
    billing_cost_centre: Mapped[str] = mapped_column(String(100))
    assets: Mapped[list[ContractAssetRow]] = relationship(order_by="ContractAssetRow.position", lazy="selectin",
                                                          cascade="all, delete-orphan")


class ContractAssetRow(Base):
    __tablename__ = "contract_assets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    asset: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(200))
    cost_centre: Mapped[str] = mapped_column(String(100))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date, nullable=True)


class BillingRunRow(NamedRowMixin, Base):
    __tablename__ = "billing_runs"
    period_start: Mapped[date] = mapped_column(Date)
    customer: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(16), default="PENDING")
    contract_count: Mapped[int] = mapped_column(Integer, default=0)
    asset_count: Mapped[int] = mapped_column(Integer, default=0)
    estimated_line_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    execute_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class InvoiceRow(NamedRowMixin, Base):
    __tablename__ = "invoices"
    billing_run_id: Mapped[str] = mapped_column(String(200), default="", index=True)
    document_type: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    number: Mapped[str] = mapped_column(String(40), default="")
    customer: Mapped[str] = mapped_column(String(200), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    issuing_entity_id: Mapped[str] = mapped_column(ForeignKey("issuing_entities.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    subtotal: Mapped[Decimal] = mapped_column(AMOUNT)
    tax_total: Mapped[Decimal] = mapped_column(AMOUNT)
    total: Mapped[Decimal] = mapped_column(AMOUNT)
    rate_totals: Mapped[str] = mapped_column(Text)  # JSON: [{rate, categories, taxable, tax}]
    contracts: Mapped[str] = mapped_column(Text)  # JSON: [{contract, plan_id, plan_version, purchase_order}]
    finalize_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    credited_invoice_id: Mapped[str] = mapped_column(String(200), default="")
    replaces_invoice_id: Mapped[str] = mapped_column(String(200), default="")
    voided_by_id: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    # "customer|currency|issuer|period start" while the invoice is a live DRAFT or FINALIZED
    # invoice, NULL once void or for a credit note: at most one live invoice per slot, so executing
    # a billing run twice (even concurrently) cannot invoice a customer twice for a period.
    live_slot: Mapped[str | None] = mapped_column(String(300), unique=True, nullable=True)


class InvoiceLineRow(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (Index("ix_invoice_lines_usage_position", "contract_id", "service_end", "asset"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    contract_id: Mapped[str] = mapped_column(String(200))
    charge_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(300), default="")
    site: Mapped[str] = mapped_column(String(200))
    cost_centre: Mapped[str] = mapped_column(String(100))
    asset: Mapped[str] = mapped_column(String(200), default="")
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal | None] = mapped_column(PRICE, nullable=True)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    tax_category: Mapped[str] = mapped_column(String(40))
    service_start: Mapped[date] = mapped_column(Date)
    service_end: Mapped[date] = mapped_column(Date)
    recurring_months: Mapped[int] = mapped_column(Integer)
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    work_order: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    # The usage trace (annex) of lines billed on meter reads; NULL otherwise.
    register: Mapped[str | None] = mapped_column(String(32), nullable=True)
    fleet_register: Mapped[str | None] = mapped_column(String(100), nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    start_value: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    start_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_value: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    end_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    measured_quantity: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    estimate_already_billed: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    allowance: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    allowance_used: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    bands: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: [[quantity, unit price], ...]


class InvoiceCounterRow(Base):
    """The last number given per issuing entity, series and year; locked by every finalization."""

    __tablename__ = "invoice_counters"
    issuing_entity_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    series: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)

