"""The device model catalogue: classes, capabilities, costs, expected life, meter registers."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal

from services.fleet.domain.meters import RegisterRules
from services.runtime.errors import FieldViolation, InvalidArgument

_REGISTER_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class DeviceClass(enum.Enum):
    PRINTER = "PRINTER"
    FORKLIFT = "FORKLIFT"
    SERVER = "SERVER"


@dataclass(frozen=True)
class RegisterSpec:
    code: str
    rollover_at: Decimal | None
    backward_jitter_tolerance: Decimal

    @property
    def rules(self) -> RegisterRules:
        return RegisterRules(self.rollover_at, self.backward_jitter_tolerance)


@dataclass
class DeviceModelDetails:
    device_class: DeviceClass | None
    maker: str
    display_name: str
    capability_class: DeviceClass | None  # which capability block was given
    registers: list[RegisterSpec]
    expected_life_months: int
    expected_life_register: str
    money_currencies: set[str]


def validate_device_model(details: DeviceModelDetails, fields: set[str], prefix: str = "device_model.") -> None:
    violations: list[FieldViolation] = []
    if "device_class" in fields and details.device_class is None:
        violations.append(FieldViolation(prefix + "device_class", "is required: PRINTER, FORKLIFT or SERVER"))
    for name in ("maker", "display_name"):
        if name in fields and not getattr(details, name).strip():
            violations.append(FieldViolation(prefix + name, "is required"))
    if (details.capability_class is not None and details.device_class is not None
            and details.capability_class is not details.device_class):
        violations.append(FieldViolation(prefix + details.capability_class.value.lower(),
                                         f"capabilities of a {details.capability_class.value} given for a"
                                         f" {details.device_class.value} model"))
    if "registers" in fields:
        codes = [r.code for r in details.registers]
        for index, register in enumerate(details.registers):
            if not _REGISTER_CODE.match(register.code):
                violations.append(FieldViolation(f"{prefix}registers[{index}].code",
                                                 "must be a lowercase code such as mono_impressions"))
            elif codes.index(register.code) != index:
                violations.append(FieldViolation(f"{prefix}registers[{index}].code", "is listed twice"))
            if register.rollover_at is not None and register.rollover_at <= 0:
                violations.append(FieldViolation(f"{prefix}registers[{index}].rollover_at", "must be positive"))
    if "expected_life_months" in fields and details.expected_life_months < 0:
        violations.append(FieldViolation(prefix + "expected_life_months", "must not be negative"))
    if ("expected_life_register" in fields and details.expected_life_register
            and details.expected_life_register not in {r.code for r in details.registers}):
        violations.append(FieldViolation(prefix + "expected_life_register", "must be one of the model's registers"))
    if len(details.money_currencies) > 1:
        violations.append(FieldViolation(prefix + "monthly_lease_cost", "must be in the list price's currency"))
    if violations:
        raise InvalidArgument(violations)
