"""What every charge's rating needs to know about one contract in one period."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from services.invoicing.domain.contracts import (
    BillingPeriod,
    Contract,
    CoveredAsset,
    overlap_days,
)
from services.invoicing.domain.lines import InvoiceLine, LineKind
from services.invoicing.domain.money import minor_unit
from services.invoicing.domain.plans import PlanVersion


class Placement(NamedTuple):
    """Where an asset's lines are grouped: its site and cost centre, and its billable days in a span."""

    site: str
    cost_centre: str
    days: int


class RatingContext:
    def __init__(self, contract: Contract, plan: PlanVersion, period: BillingPeriod):
        self.contract = contract
        self.plan = plan
        self.period = period
        self.money_quantum = minor_unit(contract.currency)
        self.active_days = contract.active_days(period.start, period.end)
        # per asset, in contract order: each interval with the dates it is billable, [from, to)
        self._spans: dict[str, list[tuple[date, date, CoveredAsset]]] = {}
        for covered in contract.assets:
            self._spans.setdefault(covered.asset, []).append((*contract.billable_span(covered), covered))
        self._placements: dict[tuple[date, date], dict[str, Placement]] = {}
        self.in_period = self.placements(period.start, period.end)

    def money(self, amount: Decimal) -> Decimal:
        """A line amount: rounded half up to the currency's minor unit."""
        return amount.quantize(self.money_quantum, rounding=ROUND_HALF_UP)

    def placements(self, start: date, end: date) -> dict[str, Placement]:
        """Assets billable on some day of [start, end), in contract order, placed by their latest interval there.

        Computed once per span (a monthly fee's cycle is the period itself); do not modify the result.
        """
        placed = self._placements.get((start, end))
        if placed is None:
            placed = self._placements[(start, end)] = self._place(start, end)
        return placed

    def _place(self, start: date, end: date) -> dict[str, Placement]:
        placed: dict[str, Placement] = {}
        for asset, spans in self._spans.items():
            days = 0
            latest: CoveredAsset | None = None
            for billable_from, billable_to, covered in spans:
                covered_days = overlap_days(billable_from, billable_to, start, end)
                if covered_days:
                    days += covered_days
                    if latest is None or covered.effective_from > latest.effective_from:
                        latest = covered
            if latest is not None:
                placed[asset] = Placement(latest.site, latest.cost_centre, days)
        return placed

    def contract_line(self, charge_id: str, kind: LineKind, description: str, amount: Decimal,
                      tax_category: str, *, quantity: Decimal = Decimal(1), unit_price: Decimal | None = None,
                      note: str = "") -> InvoiceLine:
        """A line for the contract as a whole, for the period, grouped under its billing site and cost centre."""
        return InvoiceLine(
            contract_id=self.contract.contract_id, charge_id=charge_id, kind=kind, description=description,
            site=self.contract.billing_site, cost_centre=self.contract.billing_cost_centre, quantity=quantity,
            unit_price=unit_price, amount=amount, tax_category=tax_category, service_start=self.period.start,
            service_end=self.period.end, recurring_months=1, note=note,
        )

    def prorate_to_period(self, monthly: Decimal, days: int) -> Decimal:
        """`monthly` (an amount or a quantity) for `days` of this period, unrounded."""
        return monthly * days / self.period.days
