"""Assets: lifecycle states changed only through verbs, and the rules for moving them."""

from __future__ import annotations

import enum

from services.runtime.errors import FailedPrecondition


class AssetState(enum.Enum):
    ORDERED = "ORDERED"
    INSTALLED = "INSTALLED"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    RETIRED = "RETIRED"


class AcquisitionMode(enum.Enum):
    SALE = "SALE"
    LEASE = "LEASE"
    MAINTENANCE_LEASE = "MAINTENANCE_LEASE"
    RENTAL = "RENTAL"
    USED = "USED"
    FINANCE_LEASE = "FINANCE_LEASE"


class Lifecycle(enum.Enum):
    """Each verb and the states it may start from."""

    INSTALL = ({AssetState.ORDERED}, AssetState.INSTALLED)
    ACTIVATE = ({AssetState.INSTALLED, AssetState.SUSPENDED}, AssetState.ACTIVE)
    SUSPEND = ({AssetState.ACTIVE}, AssetState.SUSPENDED)
    RETIRE = ({AssetState.INSTALLED, AssetState.ACTIVE, AssetState.SUSPENDED}, AssetState.RETIRED)

    def apply(self, asset_name: str, current: AssetState) -> AssetState:
        allowed, target = self.value
        if current not in allowed:
            raise FailedPrecondition(
                f"cannot {self.name.lower()} {asset_name}: it is {current.value}, and {self.name.lower()}"
                f" needs {' or '.join(sorted(s.value for s in allowed))}",
                reason="ILLEGAL_ASSET_TRANSITION",
                metadata={"resource": asset_name, "state": current.value, "verb": self.name})
        return target


MOVABLE_STATES = {AssetState.INSTALLED, AssetState.ACTIVE, AssetState.SUSPENDED}


def ensure_movable(asset_name: str, state: AssetState) -> None:
    if state not in MOVABLE_STATES:
        raise FailedPrecondition(f"cannot move {asset_name}: it is {state.value}; install it first"
                                 if state is AssetState.ORDERED else f"cannot move {asset_name}: it is retired",
                                 reason="ASSET_NOT_MOVABLE", metadata={"resource": asset_name})
