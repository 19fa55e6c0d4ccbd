"""Small builders for the invoicing domain tests: a January 2026 period, EUR contracts, usage records."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from services.invoicing.domain.contracts import BillingPeriod, Contract, CoveredAsset
from services.invoicing.domain.lines import InvoiceLine, RatedContract
from services.invoicing.domain.plans import Charge, PlanVersion, Register
from services.invoicing.domain.rating import RatingInput, rate_contract
from services.invoicing.domain.usage import MeterRead, ReadKind, UsageRecord

D = Decimal
JANUARY = BillingPeriod.anchored(2026, 1, 1)  # 31 days
SECONDS_IN_JANUARY = 31 * 86_400


def plan(*charges: Charge, currency: str = "EUR", version: int = 1) -> PlanVersion:
    return PlanVersion("fleet-care", version, currency, date(2025, 1, 1), tuple(charges))


def covered(asset: str, site: str = "hq", cost_centre: str = "cc-1", start: date = date(2025, 1, 1),
            end: date | None = None) -> CoveredAsset:
    return CoveredAsset(asset, site, cost_centre, start, end)


def contract(*assets: CoveredAsset, contract_id: str = "c1", customer: str = "acme", currency: str = "EUR",
             issuing_entity: str = "de", start: date = date(2025, 1, 1), end: date | None = None,
             plan_version: int = 1) -> Contract:
    return Contract(contract_id=contract_id, customer=customer, plan_id="fleet-care", plan_version=plan_version,
                    currency=currency, issuing_entity=issuing_entity, billing_anchor_day=1, start_date=start,
                    assets=assets, billing_site="hq", billing_cost_centre="finance", purchase_order="PO-7",
                    end_date=end)


def usage(asset: str, quantity: int | str, register: Register = Register.MONO_PAGES, start_value: int = 0,
          end_kind: ReadKind = ReadKind.ACTUAL, already_billed: int | str = 0,
          period: BillingPeriod = JANUARY) -> UsageRecord:
    start = datetime(period.start.year, period.start.month, period.start.day, tzinfo=timezone.utc)
    end = datetime(period.end.year, period.end.month, period.end.day, tzinfo=timezone.utc)
    return UsageRecord(asset, register, MeterRead(D(start_value), ReadKind.ACTUAL, start),
                       MeterRead(D(start_value) + D(quantity), end_kind, end), D(quantity), D(already_billed))


def rate(contract_: Contract, plan_: PlanVersion, period: BillingPeriod = JANUARY, **inputs) -> RatedContract:
    return rate_contract(RatingInput(contract_, plan_, period, **inputs))


def lines_of(rated: RatedContract, charge_id: str) -> list[InvoiceLine]:
    return [line for line in rated.lines if line.charge_id == charge_id]


def amount_by_asset(rated: RatedContract, charge_id: str) -> dict[str, Decimal]:
    return {line.asset: line.amount for line in lines_of(rated, charge_id)}
