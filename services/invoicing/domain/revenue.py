"""Revenue KPIs: monthly recurring revenue, its movements between two periods, and ARPU.

MRR of a period counts only recurring lines (fees, usage, output, outcome shares, their credits,
true-ups and discounts; never one-off work-order charges) of finalized invoices whose service
span overlaps the period, each spread evenly over the months it pays for (a quarterly fee counts
a third). Credit notes and void invoices do not count: a corrected invoice counts through its
replacement. Sums stay exact and are rounded half up to the minor unit once per customer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.invoicing.domain.contracts import BillingPeriod
from services.invoicing.domain.invoices import DocumentType, Invoice, InvoiceState
from services.invoicing.domain.money import round_to_minor

ZERO = Decimal(0)


def mrr_by_customer(invoices: Iterable[Invoice], period: BillingPeriod, currency: str) -> dict[str, Decimal]:
    # Summed per customer and cycle length first, so each customer's MRR takes at most three divisions.
    by_cycle: dict[str, dict[int, Decimal]] = {}
    for invoice in invoices:
        if (invoice.document_type is not DocumentType.INVOICE or invoice.state is not InvoiceState.FINALIZED
                or invoice.currency != currency):
            continue
        for line in invoice.lines:
            if line.recurring and line.service_start < period.end and line.service_end > period.start:
                cycles = by_cycle.setdefault(invoice.customer, {})
                cycles[line.recurring_months] = cycles.get(line.recurring_months, ZERO) + line.amount
    return {customer: round_to_minor(sum((amount / months for months, amount in cycles.items()), ZERO), currency)
            for customer, cycles in sorted(by_cycle.items())}


class Movement(enum.Enum):
    NEW = "NEW"
    EXPANSION = "EXPANSION"
    CONTRACTION = "CONTRACTION"
    CHURN = "CHURN"
    FLAT = "FLAT"


@dataclass(frozen=True, slots=True)
class MrrMovements:
    """How MRR moved from one period to the next; every amount is non-negative.

    previous + new + expansion - contraction - churn == current, exactly.
    """

    previous: Decimal
    current: Decimal
    new: Decimal
    expansion: Decimal
    contraction: Decimal
    churn: Decimal
    by_customer: Mapping[str, Movement]


def mrr_movements(previous: Mapping[str, Decimal], current: Mapping[str, Decimal]) -> MrrMovements:
    """A customer with MRR only now is new, only before is churned; otherwise it expanded, contracted or stayed flat."""
    amounts = {movement: ZERO for movement in Movement}
    by_customer: dict[str, Movement] = {}
    for customer in sorted(set(previous) | set(current)):
        before, after = previous.get(customer, ZERO), current.get(customer, ZERO)
        if before <= 0 < after:
            movement = Movement.NEW
        elif after <= 0 < before:
            movement = Movement.CHURN
        elif after > before:
            movement = Movement.EXPANSION
        elif after < before:
            movement = Movement.CONTRACTION
        else:
            movement = Movement.FLAT
        amounts[movement] += abs(after - before)
        by_customer[customer] = movement
    return MrrMovements(
        previous=sum(previous.values(), ZERO), current=sum(current.values(), ZERO), new=amounts[Movement.NEW],
        expansion=amounts[Movement.EXPANSION], contraction=amounts[Movement.CONTRACTION],
        churn=amounts[Movement.CHURN], by_customer=by_customer,
    )


def arpu(mrr: Mapping[str, Decimal], currency: str) -> Decimal:
    """Average MRR per paying customer (MRR above zero), rounded half up; zero without paying customers."""
    paying = [amount for amount in mrr.values() if amount > 0]
    if not paying:
        return round_to_minor(ZERO, currency)
    return round_to_minor(sum(paying, ZERO) / len(paying), currency)
