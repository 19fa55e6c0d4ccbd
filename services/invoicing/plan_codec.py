"""Plan versions between their proto form (what callers send and what is stored) and the domain.

Decimals travel as strings; a malformed one is INVALID_ARGUMENT naming its field. Beyond the
domain's charges, a version knows which fleet register each priced register is read from and how
completed work orders are priced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from fleetops.invoicing.v1 import plans_pb2 as ppb

from services.invoicing.domain.plans import (
    AllowanceScope,
    AvailabilityGuarantee,
    Charge,
    Discount,
    FeeBasis,
    FixedFee,
    Frequency,
    MeteredCharge,
    MinimumCommitment,
    OutputPrice,
    PlanVersion,
    Register,
    Tier,
    TierMode,
    Timing,
    validate_plan_version,
)
from services.runtime.errors import InvalidArgument

_FREQUENCY = {ppb.FREQUENCY_UNSPECIFIED: Frequency.MONTHLY, ppb.FREQUENCY_MONTHLY: Frequency.MONTHLY,
              ppb.FREQUENCY_QUARTERLY: Frequency.QUARTERLY, ppb.FREQUENCY_YEARLY: Frequency.YEARLY}
_TIMING = {ppb.FEE_TIMING_UNSPECIFIED: Timing.IN_ARREARS, ppb.FEE_TIMING_IN_ARREARS: Timing.IN_ARREARS,
           ppb.FEE_TIMING_IN_ADVANCE: Timing.IN_ADVANCE}
_BASIS = {ppb.FEE_BASIS_UNSPECIFIED: FeeBasis.PER_ASSET, ppb.FEE_BASIS_PER_ASSET: FeeBasis.PER_ASSET,
          ppb.FEE_BASIS_PER_CONTRACT: FeeBasis.PER_CONTRACT}
_MODE = {ppb.TIER_MODE_UNSPECIFIED: TierMode.GRADUATED, ppb.TIER_MODE_GRADUATED: TierMode.GRADUATED,
         ppb.TIER_MODE_VOLUME: TierMode.VOLUME}
_SCOPE = {ppb.ALLOWANCE_SCOPE_UNSPECIFIED: AllowanceScope.PER_DEVICE,
          ppb.ALLOWANCE_SCOPE_PER_DEVICE: AllowanceScope.PER_DEVICE, ppb.ALLOWANCE_SCOPE_POOLED: AllowanceScope.POOLED}
REGISTER_FROM_PROTO = {value: Register[ppb.Register.Name(value)[len("REGISTER_"):]]
                       for value in ppb.Register.values() if value != ppb.REGISTER_UNSPECIFIED}
REGISTER_TO_PROTO = {register: value for value, register in REGISTER_FROM_PROTO.items()}


def parse_decimal(text: str, path: str, *, required: bool = True) -> Decimal | None:
    if not text:
        if required:
            raise InvalidArgument.field(path, "is required (a decimal string such as \"12.50\")")
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidArgument.field(path, f"must be a decimal number, got {text!r}") from None
    if not value.is_finite():
        raise InvalidArgument.field(path, "must be finite")
    return value


def plain(value: Decimal) -> str:
    """A decimal as people write it: `1.50` stays `1.50`, `1E+1` becomes `10`."""
    return format(value, "f")


@dataclass(frozen=True)
class WorkOrderPricing:
    labour_price_per_hour: Decimal | None = None
    part_prices: dict[str, Decimal] = field(default_factory=dict)

    @property
    def bills_anything(self) -> bool:
        return self.labour_price_per_hour is not None or bool(self.part_prices)


@dataclass(frozen=True)
class RatablePlan:
    """A stored plan version: the domain's charges plus where its usage comes from."""

    version: PlanVersion
    fleet_registers: dict[Register, str]  # billing register -> fleet register code
    work_orders: WorkOrderPricing

    @property
    def has_availability_guarantee(self) -> bool:
        return any(isinstance(charge, AvailabilityGuarantee) for charge in self.version.charges)


def plan_from_proto(plan_id: str, number: int, currency: str, message: ppb.PlanVersion) -> RatablePlan:
    if not message.HasField("effective_from"):
        raise InvalidArgument.field("plan_version.effective_from", "is required")
    effective_from = date(message.effective_from.year, message.effective_from.month, message.effective_from.day)
    charges: list[Charge] = []
    registers: dict[Register, str] = {}
    for index, charge in enumerate(message.charges):
        path = f"plan_version.charges[{index}]"
        charges.append(_charge_from_proto(charge, path, registers))
    pricing = message.work_order_pricing
    work_orders = WorkOrderPricing(
        parse_decimal(pricing.labour_price_per_hour, "plan_version.work_order_pricing.labour_price_per_hour",
                      required=False),
        {part: parse_decimal(price, f"plan_version.work_order_pricing.part_prices[{part}]")
         for part, price in sorted(pricing.part_prices.items())})
    version = PlanVersion(plan_id, number, currency, effective_from, tuple(charges))
    validate_plan_version(version)
    return RatablePlan(version, registers, work_orders)


def _charge_from_proto(charge: ppb.Charge, path: str, registers: dict[Register, str]) -> Charge:
    common = dict(charge_id=charge.charge_id, description=charge.description or charge.charge_id)
    tax = charge.tax_category or "STANDARD"
    kind = charge.WhichOneof("kind")
    if kind == "fixed_fee":
        fee = charge.fixed_fee
        return FixedFee(**common, amount=parse_decimal(fee.amount, f"{path}.fixed_fee.amount"),
                        frequency=_FREQUENCY[fee.frequency], timing=_TIMING[fee.timing], basis=_BASIS[fee.basis],
                        tax_category=tax)
    if kind == "metered":
        metered = charge.metered
        register = _register(metered.register, metered.fleet_register, f"{path}.metered", registers)
        tiers = tuple(Tier(parse_decimal(t.up_to, f"{path}.metered.tiers[{i}].up_to", required=False),
                           parse_decimal(t.unit_price, f"{path}.metered.tiers[{i}].unit_price"))
                      for i, t in enumerate(metered.tiers))
        return MeteredCharge(**common, register=register, tiers=tiers, mode=_MODE[metered.mode],
                             allowance=parse_decimal(metered.allowance or "0", f"{path}.metered.allowance"),
                             allowance_scope=_SCOPE[metered.allowance_scope], tax_category=tax)
    if kind == "output":
        output = charge.output
        register = _register(output.register, output.fleet_register, f"{path}.output", registers)
        return OutputPrice(**common, register=register,
                           unit_price=parse_decimal(output.unit_price, f"{path}.output.unit_price"),
                           minimum_offtake=parse_decimal(output.minimum_offtake_units or "0",
                                                         f"{path}.output.minimum_offtake_units"),
                           tax_category=tax)
    if kind == "availability":
        guarantee = charge.availability
        return AvailabilityGuarantee(
            **common, target_uptime=parse_decimal(guarantee.target_uptime, f"{path}.availability.target_uptime"),
            credit_share=parse_decimal(guarantee.credit_share, f"{path}.availability.credit_share"),
            fee_charge_ids=tuple(guarantee.fee_charge_ids))
    if kind == "minimum_commitment":
        return MinimumCommitment(**common, amount_per_month=parse_decimal(
            charge.minimum_commitment.amount_per_month, f"{path}.minimum_commitment.amount_per_month"),
            tax_category=tax)
    if kind == "discount":
        discount = charge.discount
        return Discount(**common, percent=parse_decimal(discount.percent, f"{path}.discount.percent", required=False),
                        amount=parse_decimal(discount.amount, f"{path}.discount.amount", required=False),
                        applies_to=tuple(discount.applies_to))
    raise InvalidArgument.field(path, "set one of fixed_fee, metered, output, availability, minimum_commitment, "
                                      "discount")


def _register(value: int, fleet_register: str, path: str, registers: dict[Register, str]) -> Register:
    if value not in REGISTER_FROM_PROTO:
        raise InvalidArgument.field(f"{path}.register", "is required")
    if not fleet_register:
        raise InvalidArgument.field(f"{path}.fleet_register", "is required, e.g. \"mono_impressions\"")
    register = REGISTER_FROM_PROTO[value]
    registers[register] = fleet_register
    return register
