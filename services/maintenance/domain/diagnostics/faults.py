"""The normalized fault every device class is mapped to, and the catalogue rule that produces it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Severity(IntEnum):
    """Ordered so that a higher value is a higher work priority."""

    INFO = 0
    WARNING = 1
    MAJOR = 2
    CRITICAL = 3

    @classmethod
    def from_name(cls, name: str) -> Severity:
        return cls[name.upper()]


class Action(StrEnum):
    DISPATCH = "dispatch"
    SHIP_CONSUMABLE = "ship_consumable"
    NONE = "none"


@dataclass(frozen=True)
class FaultRule:
    """What a catalogue says about one kind of fault; `severity` set here overrides the device's."""

    category: str
    action: Action
    skill: str | None
    expected_duration_minutes: int
    likely_parts: tuple[str, ...]
    severity: Severity | None = None


@dataclass(frozen=True)
class NormalizedFault:
    """One alarm in device-independent terms.

    `fault_key` names the kind of fault (the same for every asset); `condition_id` names this
    condition on this asset, so that a later removal, clearing DTC or Redfish ClearingLogic can
    find the alarm it ends.
    """

    asset: str
    fault_key: str
    condition_id: str
    severity: Severity
    category: str
    action: Action
    skill: str | None
    expected_duration_minutes: int
    likely_parts: tuple[str, ...]
    description: str

    @property
    def needs_technician(self) -> bool:
        return self.action is Action.DISPATCH
