"""Rating: one contract, its plan version and one period's inputs in, traceable invoice lines out.

A pure function: no clock, no I/O, the same inputs always give the same lines in the same order.
Lines come in the plan's charge order, then one-offs, availability credits, the minimum-commitment
true-up and discounts (see adjustments.py for why in that order). Usage for a register no charge
prices is not billed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal

from services.invoicing.domain.adjustments import rate_discount, rate_minimum_commitment, rate_one_off
from services.invoicing.domain.context import Placement, RatingContext
from services.invoicing.domain.contracts import BillingPeriod, Contract, validate_contract
from services.invoicing.domain.fees import SECONDS_PER_DAY, rate_availability, rate_fixed_fee
from services.invoicing.domain.lines import InvoiceLine, RatedContract
from services.invoicing.domain.metered import rate_metered
from services.invoicing.domain.money import decimal_places
from services.invoicing.domain.outcomes import rate_outcome_share, rate_output
from services.invoicing.domain.plans import (
    UNIT_PRICE_DECIMALS,
    AvailabilityGuarantee,
    Discount,
    FixedFee,
    MeteredCharge,
    MinimumCommitment,
    OutcomeShare,
    OutputPrice,
    PlanVersion,
    Register,
    validate_plan_version,
)
from services.invoicing.domain.usage import OneOffItem, UsageRecord, VerifiedSaving, is_utc
from services.runtime.errors import FieldViolation, InvalidArgument


@dataclass(frozen=True)
class RatingInput:
    contract: Contract
    plan: PlanVersion
    period: BillingPeriod
    usage: Sequence[UsageRecord] = ()
    downtime_seconds: Mapping[str, int] = field(default_factory=dict)  # per asset, within the period
    one_offs: Sequence[OneOffItem] = ()
    savings: Sequence[VerifiedSaving] = ()


def rate_contract(inputs: RatingInput) -> RatedContract:
    contract, plan, period = inputs.contract, inputs.plan, inputs.period
    validate_contract(contract)
    validate_plan_version(plan)
    _check_plan_and_period(contract, plan, period)
    context = RatingContext(contract, plan, period)
    _check_inputs(context, inputs)
    by_register: dict[Register, list[UsageRecord]] = {}
    for record in sorted(inputs.usage, key=lambda record: record.asset):
        by_register.setdefault(record.register, []).append(record)
    lines: list[InvoiceLine] = []
    for charge in plan.charges:
        if isinstance(charge, FixedFee):
            lines += rate_fixed_fee(context, charge)
        elif isinstance(charge, MeteredCharge):
            lines += rate_metered(context, charge, by_register.get(charge.register, []))
        elif isinstance(charge, OutputPrice):
            lines += rate_output(context, charge, by_register.get(charge.register, []))
        elif isinstance(charge, OutcomeShare):
            lines += rate_outcome_share(context, charge, [s for s in inputs.savings if s.charge_id == charge.charge_id])
    lines += (rate_one_off(context, item) for item in inputs.one_offs)
    for guarantee in plan.charges_of(AvailabilityGuarantee):
        lines += rate_availability(context, guarantee, inputs.downtime_seconds)
    for commitment in plan.charges_of(MinimumCommitment):
        true_up = rate_minimum_commitment(context, commitment, lines)
        if true_up is not None:
            lines.append(true_up)
    undiscounted = tuple(lines)
    for discount in plan.charges_of(Discount):
        lines += rate_discount(context, discount, undiscounted)
    return RatedContract(
        contract_id=contract.contract_id, customer=contract.customer, currency=contract.currency,
        issuing_entity=contract.issuing_entity, purchase_order=contract.purchase_order, plan_id=plan.plan_id,
        plan_version=plan.version, period=period, lines=tuple(lines),
    )


def _check_plan_and_period(contract: Contract, plan: PlanVersion, period: BillingPeriod) -> None:
    violations: list[FieldViolation] = []
    if (plan.plan_id, plan.version) != (contract.plan_id, contract.plan_version):
        violations.append(FieldViolation("plan", f"the contract is on {contract.plan_id} version "
                                                 f"{contract.plan_version}, not {plan.plan_id} version {plan.version}"))
    if plan.currency != contract.currency:
        violations.append(FieldViolation("plan.currency", f"{plan.currency} differs from the contract's "
                                                          f"{contract.currency}"))
    if period != BillingPeriod.containing(period.start, contract.billing_anchor_day):
        violations.append(FieldViolation("period", "must run from one billing anchor day to the next"))
    elif contract.period_number(period) < 0:
        violations.append(FieldViolation("period", "precedes the contract's start"))
    if violations:
        raise InvalidArgument(violations)


def _check_inputs(context: RatingContext, inputs: RatingInput) -> None:
    violations: list[FieldViolation] = []

    def check(condition: bool, path: str, description: str) -> None:
        if not condition:
            violations.append(FieldViolation(path, description))

    covered = context.in_period
    if not _usage_is_valid(inputs.usage, covered):
        seen: set[tuple[str, Register]] = set()
        for index, record in enumerate(inputs.usage):
            violations += _usage_violations(f"usage[{index}]", record, covered, seen)
    for asset, seconds in inputs.downtime_seconds.items():
        placed = covered.get(asset)
        check(placed is not None and 0 <= seconds <= placed.days * SECONDS_PER_DAY,
              f"downtime_seconds[{asset}]", "must be within the asset's covered time in the period")
    for index, item in enumerate(inputs.one_offs):
        path = f"one_offs[{index}]"
        check(is_utc(item.completed_at) and context.period.start <= item.completed_at.date() < context.period.end,
              f"{path}.completed_at", "must be a UTC time within the period")
        check(_is_decimal(item.quantity), f"{path}.quantity", "must be a Decimal")
        check(_is_decimal(item.unit_price) and decimal_places(item.unit_price) <= UNIT_PRICE_DECIMALS,
              f"{path}.unit_price", f"must be a Decimal with at most {UNIT_PRICE_DECIMALS} decimals")
        check(not item.asset or item.asset in covered, f"{path}.asset", "is not covered in the period")
    shares = {charge.charge_id for charge in context.plan.charges_of(OutcomeShare)}
    for index, saving in enumerate(inputs.savings):
        path = f"savings[{index}]"
        check(saving.charge_id in shares, f"{path}.charge_id", "is not an outcome-share charge of the plan")
        check(_is_decimal(saving.baseline_amount) and _is_decimal(saving.actual_amount), path,
              "baseline_amount and actual_amount must be Decimals")
        check(not saving.asset or saving.asset in covered, f"{path}.asset", "is not covered in the period")
    if violations:
        raise InvalidArgument(violations)


def _usage_is_valid(usage: Sequence[UsageRecord], covered: Mapping[str, Placement]) -> bool:
    """A quick pass for the usual case; False means _usage_violations says what is wrong (or finds a
    Decimal subclass or a non-UTC zone at offset zero acceptable)."""
    seen: set[tuple[str, Register]] = set()
    for asset, register, start_read, end_read, quantity, already_billed in usage:
        key = (asset, register)
        if asset not in covered or key in seen:
            return False
        seen.add(key)
        quantum = register.quantum
        for value in (quantity, already_billed):
            if not (type(value) is Decimal and value.is_finite() and value >= 0 and value % quantum == 0):
                return False
        for read in (start_read, end_read):
            if not (type(read.value) is Decimal and read.value.is_finite() and read.read_time.tzinfo is UTC):
                return False
    return True


def _usage_violations(path: str, record: UsageRecord, covered: Mapping[str, Placement],
                      seen: set[tuple[str, Register]]) -> list[FieldViolation]:
    """Checked on every record of every contract, so descriptions are only built for a failure."""
    violations: list[FieldViolation] = []
    if record.asset not in covered:
        violations.append(FieldViolation(f"{path}.asset", f"{record.asset} is not covered in the period"))
    key = (record.asset, record.register)
    if key in seen:
        violations.append(FieldViolation(path, "a second record for the same asset and register"))
    seen.add(key)
    quantum = record.register.quantum
    for name, value in (("quantity", record.quantity), ("estimate_already_billed", record.estimate_already_billed)):
        if not (_is_decimal(value) and value >= 0 and value % quantum == 0):
            violations.append(FieldViolation(f"{path}.{name}", f"must be a non-negative Decimal in steps of {quantum}"))
    for name, read in (("start_read", record.start_read), ("end_read", record.end_read)):
        if not (_is_decimal(read.value) and is_utc(read.read_time)):
            violations.append(FieldViolation(f"{path}.{name}", "needs a Decimal value and a UTC read time"))
    return violations


def _is_decimal(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()
