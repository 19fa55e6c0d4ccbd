"""Fixed recurring fees and the availability credits computed from them.

Fee cycles are whole billing periods counted from the period the contract starts in: a quarterly
fee's cycles are periods 0-2, 3-5, ... An IN_ARREARS fee is billed on the invoice of a cycle's last
period; an IN_ADVANCE fee on the invoice of the period before its cycle, and the contract's first
invoice also carries the cycle it starts in. Each fee is prorated by the days the asset (per-asset
fees) or contract (per-contract fees) is billable in the cycle over the cycle's days, using the
effective dates known when rating; a later change to an invoiced cycle is corrected with a credit
note and a new invoice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from services.invoicing.domain.context import Placement, RatingContext
from services.invoicing.domain.lines import InvoiceLine, LineKind
from services.invoicing.domain.plans import AvailabilityGuarantee, FeeBasis, FixedFee, Timing

SECONDS_PER_DAY = 86_400
_FIXED_FEE = LineKind.FIXED_FEE  # enum member look-ups are slow on the rating hot path


def fee_cycles(context: RatingContext, fee: FixedFee) -> list[tuple[date, date]]:
    """The fee cycles, as [start, end) dates, whose charge belongs on this period's invoice."""
    months = fee.frequency.months
    anchor = context.contract.billing_anchor_day
    number = context.contract.period_number(context.period)
    period = context.period
    cycles: list[tuple[date, date]] = []
    if fee.timing is Timing.IN_ARREARS:
        if (number + 1) % months == 0:
            cycles.append((period.shifted(-(months - 1), anchor).start, period.end))
        return cycles
    if number == 0:
        cycles.append((period.start, period.shifted(months - 1, anchor).end))
    if (number + 1) % months == 0:
        cycles.append((period.end, period.shifted(months, anchor).end))
    return cycles


def rate_fixed_fee(context: RatingContext, fee: FixedFee) -> list[InvoiceLine]:
    lines: list[InvoiceLine] = []
    contract = context.contract
    months = fee.frequency.months
    for start, end in fee_cycles(context, fee):
        cycle_days = (end - start).days
        if fee.basis is FeeBasis.PER_CONTRACT:
            billable = {"": Placement(contract.billing_site, contract.billing_cost_centre,
                                      contract.active_days(start, end))}
        else:
            billable = context.placements(start, end)
        priced: dict[int, tuple[Decimal, Decimal, str]] = {}  # by billable days: most assets share a few
        for asset, (site, cost_centre, days) in billable.items():
            if not days:
                continue
            terms = priced.get(days)
            if terms is None:
                terms = priced[days] = (
                    Decimal(days), context.money(fee.amount * days / cycle_days),
                    f"{days}/{cycle_days} days of {fee.amount} per {fee.frequency.name.lower()} cycle")
            quantity, amount, note = terms
            lines.append(InvoiceLine(  # by position, see InvoiceLine
                contract.contract_id, fee.charge_id, _FIXED_FEE, fee.description, site, cost_centre, quantity,
                None, amount, fee.tax_category, start, end, months, asset, False, None, "", note))
    return lines


def rate_availability(context: RatingContext, guarantee: AvailabilityGuarantee,
                      downtime_seconds: Mapping[str, int]) -> list[InvoiceLine]:
    """Credits for assets whose uptime in the period, over their covered days, fell below the target.

    The credit is `credit_share` of each named fee's monthly equivalent for the asset's covered days
    in the period (a quarterly fee counts a third), rounded half up, as a negative line taxed like the fee.
    """
    fees = [context.plan.charge(fee_id) for fee_id in guarantee.fee_charge_ids]
    lines: list[InvoiceLine] = []
    for asset, placed in context.in_period.items():
        downtime = downtime_seconds.get(asset, 0)
        if not downtime:  # full uptime never falls below a target, which is at most 1
            continue
        covered_seconds = placed.days * SECONDS_PER_DAY
        if covered_seconds - downtime >= guarantee.target_uptime * covered_seconds:
            continue
        uptime = Decimal(covered_seconds - downtime) / covered_seconds
        for fee in fees:
            # one division, so a credit that lands exactly on half a minor unit is still rounded exactly
            credit = context.money(fee.amount * placed.days * guarantee.credit_share
                                   / (context.period.days * fee.frequency.months))
            lines.append(InvoiceLine(
                contract_id=context.contract.contract_id, charge_id=guarantee.charge_id,
                kind=LineKind.AVAILABILITY_CREDIT, description=guarantee.description, site=placed.site,
                cost_centre=placed.cost_centre, quantity=Decimal(1), unit_price=None, amount=-credit,
                tax_category=fee.tax_category, service_start=context.period.start,
                service_end=context.period.end, recurring_months=1, asset=asset,
                note=(f"uptime {uptime:.4%} below target {guarantee.target_uptime:.2%}: "
                      f"{guarantee.credit_share:.2%} of {fee.charge_id}"),
            ))
    return lines
