"""One-off charges from completed work orders, minimum-commitment true-up and discounts.

Order of application (rating.py): recurring and usage charges, one-offs, availability credits,
then the minimum-commitment true-up over the committed charges (fees, usage, output, take-or-pay,
outcome shares, before credits and discounts), then every discount on the lines before any
discount (discounts never compound). A discount is split by tax category so each part is taxed
like what it reduces: a percentage per category, rounded half up; a fixed amount (monthly,
prorated by the contract's active days, capped at what it reduces) by largest remainder.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from services.invoicing.domain.context import RatingContext
from services.invoicing.domain.lines import COMMITTED_KINDS, InvoiceLine, LineKind
from services.invoicing.domain.money import allocate_largest_remainder
from services.invoicing.domain.plans import Discount, MinimumCommitment
from services.invoicing.domain.usage import OneOffItem

ZERO = Decimal(0)


def rate_one_off(context: RatingContext, item: OneOffItem) -> InvoiceLine:
    contract = context.contract
    placed = context.in_period.get(item.asset)
    return InvoiceLine(
        contract_id=contract.contract_id, charge_id=f"work-order:{item.work_order}", kind=LineKind.ONE_OFF,
        description=item.description, site=placed.site if placed else contract.billing_site,
        cost_centre=placed.cost_centre if placed else contract.billing_cost_centre, quantity=item.quantity,
        unit_price=item.unit_price, amount=context.money(item.quantity * item.unit_price),
        tax_category=item.tax_category, service_start=context.period.start, service_end=context.period.end,
        recurring_months=0, asset=item.asset, work_order=item.work_order,
    )


def rate_minimum_commitment(context: RatingContext, commitment: MinimumCommitment,
                            lines: Sequence[InvoiceLine]) -> InvoiceLine | None:
    minimum = context.money(context.prorate_to_period(commitment.amount_per_month, context.active_days))
    committed = sum((line.amount for line in lines if line.kind in COMMITTED_KINDS), ZERO)
    if not minimum or committed >= minimum:  # no commitment outside the contract's days, whatever was corrected
        return None
    return context.contract_line(
        commitment.charge_id, LineKind.MINIMUM_COMMITMENT_TRUE_UP, commitment.description, minimum - committed,
        commitment.tax_category, note=f"minimum {minimum}, committed charges {committed}")


def rate_discount(context: RatingContext, discount: Discount, lines: Sequence[InvoiceLine]) -> list[InvoiceLine]:
    targets = frozenset(discount.applies_to)
    base: dict[str, Decimal] = {}
    for line in lines:
        if (line.charge_id in targets) if targets else (line.kind in COMMITTED_KINDS):
            base[line.tax_category] = base.get(line.tax_category, ZERO) + line.amount
    categories = sorted(category for category, amount in base.items() if amount > 0)
    if not categories:
        return []
    if discount.percent is not None:
        parts = [context.money(base[category] * discount.percent) for category in categories]
        note = f"{discount.percent:%} of "
    else:
        monthly = context.money(context.prorate_to_period(discount.amount or ZERO, context.active_days))
        total = min(monthly, sum((base[category] for category in categories), ZERO))
        parts = allocate_largest_remainder(total, [base[category] for category in categories],
                                           context.money_quantum)
        note = f"{total} of {monthly} off "
    return [
        context.contract_line(discount.charge_id, LineKind.DISCOUNT, discount.description, -part, category,
                              note=f"{note}{base[category]} ({category})")
        for category, part in zip(categories, parts, strict=True) if part
    ]
