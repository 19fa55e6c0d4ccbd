"""What every charge's rating needs to know about one contract in one period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from services.invoicing.domain.contracts import BillingPeriod, Contract, CoveredAsset
from services.invoicing.domain.lines import InvoiceLine, LineKind
from services.invoicing.domain.money import minor_unit
from services.invoicing.domain.plans import PlanVersion


@dataclass(frozen=True, slots=True)
class Placement:
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
        self._intervals: dict[str, list[CoveredAsset]] = {}
        for covered in contract.assets:
            self._intervals.setdefault(covered.asset, []).append(covered)
        self.in_period = self.placements(period.start, period.end)

    def money(self, amount: Decimal) -> Decimal:
        """A line amount: rounded half up to the currency's minor unit."""
        return amount.quantize(self.money_quantum, rounding=ROUND_HALF_UP)

    def placements(self, start: date, end: date) -> dict[str, Placement]:
        """Assets billable on some day of [start, end), in contract order, placed by their latest interval there."""
        placed: dict[str, Placement] = {}
        for asset, intervals in self._intervals.items():
            days = 0
            latest: CoveredAsset | None = None
            for covered in intervals:
                covered_days = self.contract.asset_days(covered, start, end)
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
