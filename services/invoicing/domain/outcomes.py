"""Outcome-based charges: a price per delivered unit with take-or-pay, and a share of verified savings.

Take-or-pay: each device's delivered output is a line at the unit price; when the contract's
delivered total falls short of the monthly minimum (prorated by the contract's active days in the
period, rounded half up to the register's quantum or the currency's minor unit), one contract
line bills the shortfall: the missing units at the unit price, or the missing money.
Outcome share: `share` of max(0, baseline - actual), so a period without a saving bills zero, and
the zero line stays on the invoice to show that the saving was measured.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from services.invoicing.domain.context import RatingContext
from services.invoicing.domain.lines import InvoiceLine, LineKind, PriceBand, UsageTrace
from services.invoicing.domain.plans import OffTakeUnit, OutcomeShare, OutputPrice
from services.invoicing.domain.usage import UsageRecord, VerifiedSaving

ZERO = Decimal(0)
_OUTPUT = LineKind.OUTPUT  # enum member look-ups are slow on the rating hot path


def rate_output(context: RatingContext, charge: OutputPrice, records: list[UsageRecord]) -> list[InvoiceLine]:
    lines: list[InvoiceLine] = []
    contract_id, period, unit_price = context.contract.contract_id, context.period, charge.unit_price
    for record in records:
        placed = context.in_period[record.asset]
        quantity = record.billable_quantity
        trace = UsageTrace(record.register, record.start_read, record.end_read, record.quantity,
                           record.estimate_already_billed, ZERO, ZERO, (PriceBand(quantity, unit_price),))
        lines.append(InvoiceLine(  # by position, see InvoiceLine
            contract_id, charge.charge_id, _OUTPUT, charge.description, placed.site, placed.cost_centre, quantity,
            unit_price, context.money(quantity * unit_price), charge.tax_category, period.start, period.end, 1,
            record.asset, record.estimated, trace))
    shortfall = _shortfall(context, charge, lines)
    if shortfall is not None:
        lines.append(shortfall)
    return lines


def _shortfall(context: RatingContext, charge: OutputPrice, delivered: list[InvoiceLine]) -> InvoiceLine | None:
    minimum = context.prorate_to_period(charge.minimum_offtake, context.active_days)
    description = f"{charge.description}: minimum off-take shortfall"
    if charge.offtake_unit is OffTakeUnit.UNITS:
        minimum_units = minimum.quantize(charge.register.quantum, rounding=ROUND_HALF_UP)
        delivered_units = sum((line.quantity for line in delivered), ZERO)
        missing = minimum_units - delivered_units
        if missing <= 0:
            return None
        return context.contract_line(
            charge.charge_id, LineKind.TAKE_OR_PAY_SHORTFALL, description,
            context.money(missing * charge.unit_price), charge.tax_category, quantity=missing,
            unit_price=charge.unit_price, note=f"minimum {minimum_units} units, delivered {delivered_units}")
    minimum_amount = context.money(minimum)
    delivered_amount = sum((line.amount for line in delivered), ZERO)
    missing_amount = minimum_amount - delivered_amount
    if missing_amount <= 0:
        return None
    return context.contract_line(
        charge.charge_id, LineKind.TAKE_OR_PAY_SHORTFALL, description, missing_amount, charge.tax_category,
        note=f"minimum {minimum_amount} {context.contract.currency}, delivered {delivered_amount}")


def rate_outcome_share(context: RatingContext, charge: OutcomeShare,
                       savings: list[VerifiedSaving]) -> list[InvoiceLine]:
    lines: list[InvoiceLine] = []
    for measured in savings:
        line = context.contract_line(
            charge.charge_id, LineKind.OUTCOME_SHARE, charge.description,
            context.money(measured.saving * charge.share), charge.tax_category, quantity=measured.saving,
            unit_price=charge.share,
            note=(f"baseline {measured.baseline_amount}, actual {measured.actual_amount}, "
                  f"saving {measured.saving}; evidence {measured.evidence}"),
        )
        if measured.asset:
            placed = context.in_period[measured.asset]
            line = line._replace(asset=measured.asset, site=placed.site, cost_centre=placed.cost_centre)
        lines.append(line)
    return lines
