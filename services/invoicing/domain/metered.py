"""Metered charges: allowance, then tiers, per device or pooled across a contract's devices.

- The allowance is monthly per device, prorated by the device's covered days in the period and
  rounded half up to the register's quantum (a whole page, a hundredth of an hour, ...).
- Tiers price what exceeds the allowance. Tier bounds are inclusive: with tiers (up to 1000 at a,
  then b), GRADUATED bills units 1-1000 at a and the rest at b; VOLUME bills every unit at the
  price of the tier the whole quantity reaches (1000 units all at a, 1001 units all at b).
- POOLED: the devices reporting the register share the sum of their allowances; the overage is
  priced through the tiers once for the contract, then allocated back to the devices in
  proportion to their usage by largest remainder (quantity to the register's quantum, amount to
  the currency's minor unit), so device lines, and hence cost-centre subtotals, add up exactly.
- A negative billable quantity (an estimate higher than the actual read that followed it) uses no
  allowance and is credited at the first tier's price.
- Each line amount is rounded half up to the currency's minor unit once, after summing its bands.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from services.invoicing.domain.context import Placement, RatingContext
from services.invoicing.domain.lines import InvoiceLine, LineKind, PriceBand, UsageTrace
from services.invoicing.domain.money import allocate_largest_remainder
from services.invoicing.domain.plans import AllowanceScope, MeteredCharge, Tier, TierMode
from services.invoicing.domain.usage import UsageRecord

ZERO = Decimal(0)
_USAGE = LineKind.USAGE  # enum member look-ups are slow on the rating hot path


def price_bands(quantity: Decimal, tiers: tuple[Tier, ...], mode: TierMode) -> tuple[PriceBand, ...]:
    """The quantity split into (quantity, unit price) bands; a single band for VOLUME or a non-positive quantity."""
    if quantity <= 0:
        return (PriceBand(quantity, tiers[0].unit_price),)
    if mode is TierMode.VOLUME:
        reached = next(tier for tier in tiers if tier.up_to is None or quantity <= tier.up_to)
        return (PriceBand(quantity, reached.unit_price),)
    bands: list[PriceBand] = []
    lower = ZERO
    for tier in tiers:
        if tier.up_to is None or quantity <= tier.up_to:
            bands.append(PriceBand(quantity - lower, tier.unit_price))
            break
        bands.append(PriceBand(tier.up_to - lower, tier.unit_price))
        lower = tier.up_to
    return tuple(bands)


def bands_amount(bands: tuple[PriceBand, ...]) -> Decimal:
    amount = ZERO
    for quantity, unit_price in bands:
        amount += quantity * unit_price
    return amount


def prorated_allowance(context: RatingContext, charge: MeteredCharge, days: int) -> Decimal:
    if not charge.allowance:
        return ZERO
    return context.prorate_to_period(charge.allowance, days).quantize(charge.register.quantum,
                                                                       rounding=ROUND_HALF_UP)


class _Allowances(dict[int, Decimal]):
    """A charge's prorated allowance by covered days, computed once per distinct number of days."""

    def __init__(self, context: RatingContext, charge: MeteredCharge):
        super().__init__()
        self.context, self.charge = context, charge

    def __missing__(self, days: int) -> Decimal:
        allowance = self[days] = prorated_allowance(self.context, self.charge, days)
        return allowance


def rate_metered(context: RatingContext, charge: MeteredCharge, records: list[UsageRecord]) -> list[InvoiceLine]:
    if charge.allowance_scope is AllowanceScope.POOLED:
        return _rate_pooled(context, charge, records)
    allowances = _Allowances(context, charge)
    in_period, money, tiers, mode = context.in_period, context.money, charge.tiers, charge.mode
    lines: list[InvoiceLine] = []
    for record in records:
        placed = in_period[record.asset]
        allowance = allowances[placed.days]
        billable = record.billable_quantity
        used = min(billable, allowance) if billable > 0 else ZERO
        bands = price_bands(billable - used, tiers, mode)
        lines.append(_usage_line(context, charge, record, placed, allowance, used, bands, money(bands_amount(bands))))
    return lines


def _rate_pooled(context: RatingContext, charge: MeteredCharge, records: list[UsageRecord]) -> list[InvoiceLine]:
    allowance_of = _Allowances(context, charge)
    placements = [context.in_period[record.asset] for record in records]
    allowances = [allowance_of[placed.days] for placed in placements]
    billables = [record.billable_quantity for record in records]
    consumers = [index for index, billable in enumerate(billables) if billable > 0]
    pool = sum(allowances, ZERO)
    overage = max(ZERO, sum((billables[index] for index in consumers), ZERO) - pool)
    pool_bands = price_bands(overage, charge.tiers, charge.mode)
    device_overage = [ZERO] * len(records)
    device_amount = [ZERO] * len(records)
    if overage > 0:
        weights = [billables[index] for index in consumers]
        shares = allocate_largest_remainder(overage, weights, charge.register.quantum)
        amounts = allocate_largest_remainder(context.money(bands_amount(pool_bands)), shares,
                                             context.money_quantum)
        for index, share, amount in zip(consumers, shares, amounts, strict=True):
            device_overage[index] = share
            device_amount[index] = amount
    lines: list[InvoiceLine] = []
    for index, record in enumerate(records):
        billable = billables[index]
        if billable < 0:
            bands = price_bands(billable, charge.tiers, charge.mode)
            used, amount = ZERO, context.money(bands_amount(bands))
        else:
            bands, used, amount = pool_bands, billable - device_overage[index], device_amount[index]
        lines.append(_usage_line(context, charge, record, placements[index], allowances[index], used, bands, amount))
    return lines


def _usage_line(context: RatingContext, charge: MeteredCharge, record: UsageRecord, placed: Placement,
                allowance: Decimal, used: Decimal, bands: tuple[PriceBand, ...], amount: Decimal) -> InvoiceLine:
    period = context.period
    return InvoiceLine(  # by position, see InvoiceLine
        context.contract.contract_id, charge.charge_id, _USAGE, charge.description, placed.site, placed.cost_centre,
        record.billable_quantity, bands[0].unit_price if len(bands) == 1 else None, amount, charge.tax_category,
        period.start, period.end, 1, record.asset, record.estimated,
        UsageTrace(record.register, record.start_read, record.end_read, record.quantity,
                   record.estimate_already_billed, allowance, used, bands))
