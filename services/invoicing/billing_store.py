"""Set-based reads and writes of a billing run: contract terms, usage positions, drafts, numbers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType

import grpc
from fleetops.invoicing.v1 import plans_pb2 as ppb
from google.protobuf import json_format
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from services.invoicing.billing_engine import ContractTerms, Position, PositionKey, RatedRun
from services.invoicing.domain.contracts import BillingPeriod, Contract, CoveredAsset
from services.invoicing.domain.invoices import DocumentType, InvoiceState, TaxPolicy, japan_tax_policy
from services.invoicing.domain.plans import Register
from services.invoicing.invoice_codec import LINE_COLUMNS, invoice_row_values, line_row_values, live_slot
from services.invoicing.plan_codec import RatablePlan, plan_from_proto
from services.invoicing.store import (
    ContractAssetRow,
    ContractRow,
    InvoiceCounterRow,
    InvoiceLineRow,
    InvoiceRow,
    IssuingEntityRow,
    PlanVersionRow,
)
from services.runtime.db import bulk_insert
from services.runtime.errors import DomainError


class ConcurrentChange(DomainError):
    code = grpc.StatusCode.ABORTED
    default_reason = "CONCURRENT_CHANGE"


@dataclass
class RunInputs:
    terms: list[ContractTerms]
    policies: dict[str, TaxPolicy]
    positions: dict[PositionKey, Position]
    replaced: dict[str, str]  # live slot -> id of the void invoice a new draft replaces


def tax_policy(row: IssuingEntityRow) -> TaxPolicy:
    rates = json.loads(row.tax_rates or "{}")
    if not rates:
        return japan_tax_policy(row.tax_rounding_mode)
    return TaxPolicy(MappingProxyType({category: Decimal(rate) for category, rate in rates.items()}),
                     row.tax_rounding_mode)


def load_plan(row: PlanVersionRow) -> RatablePlan:
    message = json_format.Parse(row.document, ppb.PlanVersion())
    return plan_from_proto(row.plan_id, row.number, row.currency, message)


def contract_from_rows(row: ContractRow, assets: Sequence) -> Contract:
    plan_id, version = row.plan_version_id.rsplit("/", 1)
    return Contract(
        contract_id=row.id, customer=row.customer, plan_id=plan_id, plan_version=int(version),
        currency=row.currency, issuing_entity=row.issuing_entity_id, billing_anchor_day=row.billing_anchor_day,
        start_date=row.start_date, end_date=row.end_date, purchase_order=row.purchase_order,
        billing_site=row.billing_site, billing_cost_centre=row.billing_cost_centre,
        assets=tuple(CoveredAsset(a.asset, a.site, a.cost_centre, a.effective_from, a.effective_to) for a in assets),
    )


def load_run_inputs(session: Session, period_start: date, customer: str) -> RunInputs:
    """The contracts billed for the period starting on `period_start`, skipping customers already invoiced."""
    query = select(ContractRow).options(lazyload(ContractRow.assets)).order_by(ContractRow.id)
    if customer:
        query = query.where(ContractRow.customer == customer)
    live = set(session.scalars(select(InvoiceRow.live_slot).where(
        InvoiceRow.period_start == period_start, InvoiceRow.live_slot.is_not(None))))
    chosen: list[ContractRow] = []
    for row in session.scalars(query):
        period = BillingPeriod.containing(period_start, row.billing_anchor_day)
        if (period.start == period_start and row.start_date < period.end
                and (row.end_date is None or row.end_date > period.start)
                and live_slot(row.customer, row.currency, row.issuing_entity_id, period_start) not in live):
            chosen.append(row)
    ids = [row.id for row in chosen]
    assets: dict[str, list] = {}
    for asset in _in_chunks(session, select(ContractAssetRow.contract_id, ContractAssetRow.asset,
                                            ContractAssetRow.site, ContractAssetRow.cost_centre,
                                            ContractAssetRow.effective_from, ContractAssetRow.effective_to)
                            .order_by(ContractAssetRow.contract_id, ContractAssetRow.position),
                            ContractAssetRow.contract_id, ids):
        assets.setdefault(asset.contract_id, []).append(asset)
    plans = {row.id: load_plan(row) for row in session.scalars(
        select(PlanVersionRow).where(PlanVersionRow.id.in_({row.plan_version_id for row in chosen})))}
    policies = {row.id: tax_policy(row) for row in session.scalars(
        select(IssuingEntityRow).where(IssuingEntityRow.id.in_({row.issuing_entity_id for row in chosen})))}
    terms = [ContractTerms(contract_from_rows(row, assets.get(row.id, ())), plans[row.plan_version_id])
             for row in chosen]
    positions = {}
    for line in _in_chunks(session, select(InvoiceLineRow.contract_id, InvoiceLineRow.asset, InvoiceLineRow.register,
                                           InvoiceLineRow.window_start, InvoiceLineRow.measured_quantity)
                           .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
                           .where(InvoiceRow.live_slot.is_not(None), InvoiceLineRow.service_end == period_start,
                                  InvoiceLineRow.end_kind == "ESTIMATED"),
                           InvoiceLineRow.contract_id, ids):
        positions[(line.contract_id, line.asset, Register(line.register))] = Position(line.window_start,
                                                                                      line.measured_quantity)
    replaced = {live_slot(row.customer, row.currency, row.issuing_entity_id, period_start): row.id
                for row in session.execute(select(InvoiceRow.id, InvoiceRow.customer, InvoiceRow.currency,
                                                  InvoiceRow.issuing_entity_id)
                                           .where(InvoiceRow.period_start == period_start,
                                                  InvoiceRow.document_type == DocumentType.INVOICE.value,
                                                  InvoiceRow.state == InvoiceState.VOID.value)
                                           .order_by(InvoiceRow.create_time))}
    return RunInputs(terms, policies, positions, replaced)


def _in_chunks(session: Session, query, column, values: list[str], size: int = 1000):
    """`query` restricted to `column IN values`, a chunk at a time (SQLite caps bound parameters)."""
    for start in range(0, len(values), size):
        yield from session.execute(query.where(column.in_(values[start:start + size])))


def write_drafts(session: Session, run: RatedRun, billing_run_id: str, replaced: dict[str, str]) -> list[str]:
    """Inserts the drafts and their lines set-based; a slot taken meanwhile is ABORTED (nothing written)."""
    invoices, lines = [], []
    for invoice in run.invoices:
        invoice_id = f"inv-{uuid.uuid4().hex[:20]}"
        values = invoice_row_values(invoice, invoice_id, billing_run_id)
        values["replaces_invoice_id"] = replaced.get(values["live_slot"], "")
        invoices.append(values)
        lines += line_row_values(invoice_id, invoice.lines, run.windows)
    if not invoices:
        return []
    try:
        bulk_insert(session, InvoiceRow.__table__, list(invoices[0]), [tuple(values.values()) for values in invoices])
        bulk_insert(session, InvoiceLineRow.__table__, LINE_COLUMNS, lines)
    except IntegrityError as error:
        raise ConcurrentChange("another execution invoiced some of these customers for the period meanwhile; "
                               "execute again to bill the rest") from error
    return [values["id"] for values in invoices]


def next_number(session: Session, issuing_entity_id: str, series: str, year: int) -> int:
    """The next number of a series, counted on a row locked until the transaction ends.

    Two finalizations of the same series queue on the row lock (PostgreSQL) or on the database's
    single writer (SQLite); a transaction that rolls back takes its number back with it.
    """
    key = dict(issuing_entity_id=issuing_entity_id, series=series, year=year)
    query = select(InvoiceCounterRow).filter_by(**key).with_for_update()
    counter = session.scalars(query).one_or_none()
    if counter is None:
        try:
            with session.begin_nested():  # a concurrent first finalization may insert the row first
                session.execute(insert(InvoiceCounterRow).values(**key, last_number=0))
        except IntegrityError:
            pass
        counter = session.scalars(query.execution_options(populate_existing=True)).one()
    counter.last_number += 1
    session.flush()
    return counter.last_number
