"""Rated invoice lines: every amount with the contract, charge, asset, reads and rate behind it.

Lines, their usage traces and price bands are immutable NamedTuples rather than frozen dataclasses:
a billing run builds one line (and one trace) per asset and charge, and a frozen dataclass's
`__init__` sets each field through `object.__setattr__`, which made building them the largest
single cost of rating 100,000 assets. Change one with `line._replace(...)`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from services.invoicing.domain.contracts import BillingPeriod
from services.invoicing.domain.plans import Register
from services.invoicing.domain.usage import MeterRead


class LineKind(enum.Enum):
    FIXED_FEE = "FIXED_FEE"
    USAGE = "USAGE"
    OUTPUT = "OUTPUT"
    TAKE_OR_PAY_SHORTFALL = "TAKE_OR_PAY_SHORTFALL"
    OUTCOME_SHARE = "OUTCOME_SHARE"
    ONE_OFF = "ONE_OFF"
    AVAILABILITY_CREDIT = "AVAILABILITY_CREDIT"
    MINIMUM_COMMITMENT_TRUE_UP = "MINIMUM_COMMITMENT_TRUE_UP"
    DISCOUNT = "DISCOUNT"

    # Members are singletons compared by identity; Enum's own __hash__ (of the name, in Python code)
    # ran for every line looked up in COMMITTED_KINDS.
    __hash__ = object.__hash__


# What a minimum commitment counts and a discount without `applies_to` reduces.
COMMITTED_KINDS = frozenset({LineKind.FIXED_FEE, LineKind.USAGE, LineKind.OUTPUT,
                             LineKind.TAKE_OR_PAY_SHORTFALL, LineKind.OUTCOME_SHARE})


class PriceBand(NamedTuple):
    quantity: Decimal
    unit_price: Decimal


class UsageTrace(NamedTuple):
    """The annex row behind a usage or output line."""

    register: Register
    start_read: MeterRead
    end_read: MeterRead
    measured_quantity: Decimal  # from start_read to end_read
    estimate_already_billed: Decimal
    allowance: Decimal  # the device's prorated allowance (its contribution when pooled)
    allowance_used: Decimal
    bands: tuple[PriceBand, ...]  # the rate: one band, or one per graduated tier reached


class InvoiceLine(NamedTuple):
    """One rated amount, already rounded to the currency's minor unit (half up), never re-rounded.

    The per-asset builders on the rating hot path pass fields by position, in this order: with
    eighteen fields, keywords made a line cost four times as much to build.
    """

    contract_id: str
    charge_id: str
    kind: LineKind
    description: str
    site: str
    cost_centre: str
    quantity: Decimal
    unit_price: Decimal | None  # None when the rate is banded (see usage.bands) or a computed amount
    amount: Decimal
    tax_category: str
    service_start: date
    service_end: date  # exclusive
    recurring_months: int  # months of service the amount pays for; 0 for one-off charges
    asset: str = ""
    estimated: bool = False
    usage: UsageTrace | None = None
    work_order: str = ""
    note: str = ""

    @property
    def recurring(self) -> bool:
        return self.recurring_months > 0

    def negated(self) -> InvoiceLine:
        return self._replace(quantity=-self.quantity, amount=-self.amount)


@dataclass(frozen=True, slots=True)
class RatedContract:
    contract_id: str
    customer: str
    currency: str
    issuing_entity: str
    purchase_order: str
    plan_id: str
    plan_version: int
    period: BillingPeriod
    lines: tuple[InvoiceLine, ...]

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))
