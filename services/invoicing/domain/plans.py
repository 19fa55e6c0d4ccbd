"""Plans: what a contract charges, as immutable, numbered versions made of charges.

A contract points at one plan version; a new version is a new object, so invoices already rated
against an older version never change. Every amount and price is a Decimal in the plan's currency;
unit prices carry at most six decimals, fees at most the currency's minor unit.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from services.invoicing.domain.money import decimal_places
from services.runtime.currencies import MINOR_UNITS
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound

UNIT_PRICE_DECIMALS = 6
SHARE_DECIMALS = 6


class Register(enum.Enum):
    """A meter a charge is priced on; `quantum` is the smallest quantity billed on it."""

    MONO_PAGES = "MONO_PAGES"
    COLOUR_PAGES = "COLOUR_PAGES"
    OPERATING_HOURS = "OPERATING_HOURS"
    COMPUTE_HOURS = "COMPUTE_HOURS"
    ENERGY_KWH = "ENERGY_KWH"
    COMPRESSED_AIR_M3 = "COMPRESSED_AIR_M3"
    PICKS = "PICKS"

    # Members are singletons compared by identity; Enum's own __hash__ (of the name, in Python code)
    # ran for every usage record grouped or checked by register.
    __hash__ = object.__hash__

    @property
    def quantum(self) -> Decimal:
        return _REGISTER_QUANTA[self]


# Pages and picks are counted; hours to the hundredth, energy and air to the thousandth.
_REGISTER_QUANTA: dict[Register, Decimal] = {
    Register.MONO_PAGES: Decimal(1), Register.COLOUR_PAGES: Decimal(1), Register.PICKS: Decimal(1),
    Register.OPERATING_HOURS: Decimal("0.01"), Register.COMPUTE_HOURS: Decimal("0.01"),
    Register.ENERGY_KWH: Decimal("0.001"), Register.COMPRESSED_AIR_M3: Decimal("0.001"),
}


class Frequency(enum.Enum):
    MONTHLY = 1
    QUARTERLY = 3
    YEARLY = 12

    @property
    def months(self) -> int:
        return self.value


class Timing(enum.Enum):
    IN_ADVANCE = "IN_ADVANCE"
    IN_ARREARS = "IN_ARREARS"


class FeeBasis(enum.Enum):
    PER_ASSET = "PER_ASSET"
    PER_CONTRACT = "PER_CONTRACT"


class TierMode(enum.Enum):
    GRADUATED = "GRADUATED"  # each band of the quantity at its own tier's price
    VOLUME = "VOLUME"  # the whole quantity at the price of the tier it reaches


class AllowanceScope(enum.Enum):
    PER_DEVICE = "PER_DEVICE"
    POOLED = "POOLED"  # the devices of a contract share the sum of their allowances


class OffTakeUnit(enum.Enum):
    UNITS = "UNITS"
    MONEY = "MONEY"


@dataclass(frozen=True, slots=True)
class Tier:
    """Billed quantities up to and including `up_to` (None: no upper bound) cost `unit_price` each."""

    up_to: Decimal | None
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class FixedFee:
    charge_id: str
    description: str
    amount: Decimal
    frequency: Frequency = Frequency.MONTHLY
    timing: Timing = Timing.IN_ARREARS
    basis: FeeBasis = FeeBasis.PER_ASSET
    tax_category: str = "STANDARD"


@dataclass(frozen=True, slots=True)
class MeteredCharge:
    """Usage of one register beyond the monthly allowance, priced through tiers."""

    charge_id: str
    description: str
    register: Register
    tiers: tuple[Tier, ...]
    mode: TierMode = TierMode.GRADUATED
    allowance: Decimal = Decimal(0)  # per device and month, prorated by covered days
    allowance_scope: AllowanceScope = AllowanceScope.PER_DEVICE
    tax_category: str = "STANDARD"


@dataclass(frozen=True, slots=True)
class OutcomeShare:
    """`share` of a verified saving against a baseline; nothing when there is no saving."""

    charge_id: str
    description: str
    share: Decimal
    tax_category: str = "STANDARD"


@dataclass(frozen=True, slots=True)
class OutputPrice:
    """A price per unit of delivered output with a monthly take-or-pay minimum per contract."""

    charge_id: str
    description: str
    register: Register
    unit_price: Decimal
    minimum_offtake: Decimal = Decimal(0)  # units or money per month, prorated by active days
    offtake_unit: OffTakeUnit = OffTakeUnit.UNITS
    tax_category: str = "STANDARD"


@dataclass(frozen=True, slots=True)
class AvailabilityGuarantee:
    """Below `target_uptime` in a period an asset earns a credit of `credit_share` of its fees."""

    charge_id: str
    description: str
    target_uptime: Decimal
    credit_share: Decimal
    fee_charge_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MinimumCommitment:
    """The contract pays at least `amount_per_month` (prorated) of recurring charges; the rest is trued up."""

    charge_id: str
    description: str
    amount_per_month: Decimal
    tax_category: str = "STANDARD"


@dataclass(frozen=True, slots=True)
class Discount:
    """A percentage of, or a fixed amount off, the charges in `applies_to` (empty: all recurring charges)."""

    charge_id: str
    description: str
    percent: Decimal | None = None  # 0.15 is 15 %
    amount: Decimal | None = None  # per month, capped at the discounted charges
    applies_to: tuple[str, ...] = ()


Charge = FixedFee | MeteredCharge | OutcomeShare | OutputPrice | AvailabilityGuarantee | MinimumCommitment | Discount


@dataclass(frozen=True, slots=True)
class PlanVersion:
    plan_id: str
    version: int
    currency: str
    effective_from: date
    charges: tuple[Charge, ...]

    def charge(self, charge_id: str) -> Charge:
        for charge in self.charges:
            if charge.charge_id == charge_id:
                return charge
        raise NotFound(f"plans/{self.plan_id}/versions/{self.version}/charges/{charge_id}")

    def charges_of(self, kind: type) -> Iterator:
        return (charge for charge in self.charges if isinstance(charge, kind))


@dataclass(frozen=True, slots=True)
class Plan:
    """A named plan and its versions, oldest first. Versions are only ever appended."""

    plan_id: str
    name: str
    versions: tuple[PlanVersion, ...] = field(default=())

    def version(self, number: int) -> PlanVersion:
        for version in self.versions:
            if version.version == number:
                return version
        raise NotFound(f"plans/{self.plan_id}/versions/{number}")

    def with_new_version(self, charges: tuple[Charge, ...], effective_from: date,
                         currency: str | None = None) -> Plan:
        latest = self.versions[-1] if self.versions else None
        if latest is not None and effective_from < latest.effective_from:
            raise InvalidArgument.field("effective_from", f"must not precede version {latest.version}'s "
                                                          f"{latest.effective_from}")
        resolved_currency = currency or (latest.currency if latest else "")
        new = PlanVersion(self.plan_id, (latest.version if latest else 0) + 1, resolved_currency,
                          effective_from, charges)
        validate_plan_version(new)
        return Plan(self.plan_id, self.name, self.versions + (new,))


def validate_plan_version(plan: PlanVersion) -> None:
    """Raises InvalidArgument listing every problem, each under its field path."""
    problems = _Problems()
    if not plan.plan_id.strip():
        problems.add("plan_version.plan_id", "is required")
    if plan.version < 1:
        problems.add("plan_version.version", "must be 1 or more")
    if plan.currency not in MINOR_UNITS:
        problems.add("plan_version.currency", f"{plan.currency!r} is not a supported ISO 4217 currency")
    if not plan.charges:
        problems.add("plan_version.charges", "a plan needs at least one charge")
    money_places = MINOR_UNITS.get(plan.currency, 0)
    seen: set[str] = set()
    for index, charge in enumerate(plan.charges):
        path = f"plan_version.charges[{index}]"
        if not charge.charge_id.strip():
            problems.add(f"{path}.charge_id", "is required")
        elif charge.charge_id in seen:
            problems.add(f"{path}.charge_id", f"{charge.charge_id!r} is used twice")
        seen.add(charge.charge_id)
        _validate_charge(charge, path, plan, money_places, problems)
    priced_registers = [charge.register for charge in plan.charges if isinstance(charge, MeteredCharge | OutputPrice)]
    for register in sorted({r for r in priced_registers if priced_registers.count(r) > 1}, key=lambda r: r.value):
        problems.add("plan_version.charges", f"{register.value} is priced by more than one charge")
    if sum(1 for _ in plan.charges_of(MinimumCommitment)) > 1:
        problems.add("plan_version.charges", "at most one minimum commitment")
    problems.raise_if_any()


def _validate_charge(charge: Charge, path: str, plan: PlanVersion, money_places: int, problems: _Problems) -> None:
    if isinstance(charge, FixedFee):
        problems.decimal(f"{path}.amount", charge.amount, minimum=Decimal(0), places=money_places)
    elif isinstance(charge, MeteredCharge):
        _validate_tiers(charge.tiers, f"{path}.tiers", problems)
        problems.decimal(f"{path}.allowance", charge.allowance, minimum=Decimal(0),
                         places=decimal_places(charge.register.quantum))
    elif isinstance(charge, OutcomeShare):
        problems.decimal(f"{path}.share", charge.share, minimum=Decimal(0), maximum=Decimal(1),
                         places=SHARE_DECIMALS)
    elif isinstance(charge, OutputPrice):
        problems.decimal(f"{path}.unit_price", charge.unit_price, minimum=Decimal(0), places=UNIT_PRICE_DECIMALS)
        minimum_places = money_places if charge.offtake_unit is OffTakeUnit.MONEY else decimal_places(
            charge.register.quantum)
        problems.decimal(f"{path}.minimum_offtake", charge.minimum_offtake, minimum=Decimal(0), places=minimum_places)
    elif isinstance(charge, AvailabilityGuarantee):
        problems.decimal(f"{path}.target_uptime", charge.target_uptime, minimum=Decimal(0), maximum=Decimal(1),
                         places=SHARE_DECIMALS)
        problems.decimal(f"{path}.credit_share", charge.credit_share, minimum=Decimal(0), maximum=Decimal(1),
                         places=SHARE_DECIMALS)
        if not charge.fee_charge_ids:
            problems.add(f"{path}.fee_charge_ids", "name at least one per-asset fixed fee")
        for fee_index, fee_id in enumerate(charge.fee_charge_ids):
            fee = next((c for c in plan.charges if c.charge_id == fee_id), None)
            if not (isinstance(fee, FixedFee) and fee.basis is FeeBasis.PER_ASSET):
                problems.add(f"{path}.fee_charge_ids[{fee_index}]", f"{fee_id!r} is not a per-asset fixed fee")
    elif isinstance(charge, MinimumCommitment):
        problems.decimal(f"{path}.amount_per_month", charge.amount_per_month, minimum=Decimal(0),
                         places=money_places)
    elif isinstance(charge, Discount):
        _validate_discount(charge, path, plan, money_places, problems)


def _validate_tiers(tiers: tuple[Tier, ...], path: str, problems: _Problems) -> None:
    if not tiers:
        problems.add(path, "a metered charge needs at least one tier")
        return
    previous = Decimal(0)
    for index, tier in enumerate(tiers):
        problems.decimal(f"{path}[{index}].unit_price", tier.unit_price, minimum=Decimal(0),
                         places=UNIT_PRICE_DECIMALS)
        last = index == len(tiers) - 1
        if tier.up_to is None:
            if not last:
                problems.add(f"{path}[{index}].up_to", "only the last tier may be open-ended")
        elif last:
            problems.add(f"{path}[{index}].up_to", "the last tier must be open-ended (no up_to)")
        elif not isinstance(tier.up_to, Decimal) or tier.up_to <= previous:
            problems.add(f"{path}[{index}].up_to", "must be a Decimal above the previous tier's bound")
        else:
            previous = tier.up_to


def _validate_discount(discount: Discount, path: str, plan: PlanVersion, money_places: int,
                       problems: _Problems) -> None:
    if (discount.percent is None) == (discount.amount is None):
        problems.add(path, "set exactly one of percent and amount")
    if discount.percent is not None:
        problems.decimal(f"{path}.percent", discount.percent, minimum=Decimal(0), maximum=Decimal(1),
                         places=SHARE_DECIMALS)
    if discount.amount is not None:
        problems.decimal(f"{path}.amount", discount.amount, minimum=Decimal(0), places=money_places)
    discountable = {c.charge_id for c in plan.charges
                    if isinstance(c, FixedFee | MeteredCharge | OutcomeShare | OutputPrice | MinimumCommitment)}
    for index, target in enumerate(discount.applies_to):
        if target not in discountable:
            problems.add(f"{path}.applies_to[{index}]", f"{target!r} is not a discountable charge of this plan")


class _Problems:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def add(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def decimal(self, path: str, value: object, *, minimum: Decimal, places: int,
                maximum: Decimal | None = None) -> None:
        if not isinstance(value, Decimal) or not value.is_finite():
            self.add(path, "must be a finite Decimal (never a float)")
        elif value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.add(path, f"must be {bound}")
        elif decimal_places(value) > places:
            self.add(path, f"carries at most {places} decimals")

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)
