"""From fleet records to a placement problem: locations as positions, the catalogue as models.

Plain Python: the gRPC layer reads the rows and the request, this module decides what they mean
to the optimizer (capacities from capabilities, walking distances from floor plans).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from services.fleet.placement import (CandidatePosition, CurrentDevice, DemandGroup, DeviceModel, Limits,
                                      Problem)

PRINTER_FEATURES = ("colour", "a3", "duplex", "scan", "finisher")
SERVER_RESOURCES = ("vcpu", "ram_gib", "storage_gib")
_CENTIMETRE = Decimal("0.01")


@dataclass(frozen=True)
class Spot:
    """A location of the scope: `key` is `customer/site/location`."""

    key: str
    building: str
    floor: str
    x_metres: float
    y_metres: float

    @property
    def site_key(self) -> str:
        return self.key.rsplit("/", 1)[0]


@dataclass(frozen=True)
class CatalogueModel:
    key: str
    device_class: str
    capabilities: Mapping[str, object]
    monthly_lease_cost: Decimal


@dataclass(frozen=True)
class GroupInput:
    id: str
    location_key: str
    demand: Mapping[str, int]
    needs: frozenset[str]
    users: int


@dataclass(frozen=True)
class PlacementSettings:
    devices_per_location: int = 1
    floor_change_metres: float = 0.0
    max_walking_metres: Decimal | None = None
    walking_cost_per_metre: Decimal = Decimal(0)
    install_cost: Decimal = Decimal(0)
    move_cost: Decimal = Decimal(0)
    retire_cost: Decimal = Decimal(0)
    horizon_months: int = 36
    monthly_budget: Decimal | None = None
    max_devices: int | None = None
    current_fleet: Sequence[tuple[str, str, str]] = field(default_factory=tuple)
    """(asset key, model key, location key) of today's devices."""


def capacity_and_features(device_class: str,
                          capabilities: Mapping[str, object]) -> tuple[dict[str, int], frozenset[str]]:
    """Printers: recommended monthly volume per register, and their feature flags; servers: vCPU, RAM,
    storage; forklifts: whole rated operating hours per shift."""
    if device_class == "PRINTER":
        volumes = capabilities.get("recommended_monthly_volume") or {}
        return ({code: int(amount) for code, amount in volumes.items()},
                frozenset(name for name in PRINTER_FEATURES if capabilities.get(name)))
    if device_class == "SERVER":
        return {name: int(capabilities.get(name) or 0) for name in SERVER_RESOURCES}, frozenset()
    hours = Decimal(str(capabilities.get("rated_operating_hours_per_shift") or 0))
    return {"operating_hours": int(hours)}, frozenset()


def walking_metres(group_spot: Spot, device_spot: Spot, floor_change_metres: float) -> Decimal | None:
    """Straight-line metres on one floor; another floor or building adds `floor_change_metres`, or is
    out of reach when that is 0; another site is always out of reach."""
    if group_spot.site_key != device_spot.site_key:
        return None
    flat = math.hypot(group_spot.x_metres - device_spot.x_metres, group_spot.y_metres - device_spot.y_metres)
    if (group_spot.building, group_spot.floor) != (device_spot.building, device_spot.floor):
        if floor_change_metres <= 0:
            return None
        flat += floor_change_metres
    return Decimal(repr(flat)).quantize(_CENTIMETRE)


def build_problem(groups: Sequence[GroupInput], spots: Mapping[str, Spot], models: Sequence[CatalogueModel],
                  settings: PlacementSettings) -> Problem:
    today_per_location = Counter(location for _, _, location in settings.current_fleet)
    positions = tuple(CandidatePosition(id=key, max_devices=max(settings.devices_per_location, today_per_location[key]))
                      for key in sorted(spots))
    device_models = []
    for model in models:
        capacity, features = capacity_and_features(model.device_class, model.capabilities)
        device_models.append(DeviceModel(
            id=model.key, capacity=capacity, monthly_cost=model.monthly_lease_cost, features=features,
            install_cost=settings.install_cost, move_cost=settings.move_cost, retire_cost=settings.retire_cost))
    distances = {}
    for group in groups:
        for key, spot in spots.items():
            metres = walking_metres(spots[group.location_key], spot, settings.floor_change_metres)
            if metres is not None:
                distances[(group.id, key)] = metres
    return Problem(
        groups=tuple(DemandGroup(id=g.id, demand=dict(g.demand), needs=g.needs, users=g.users) for g in groups),
        positions=positions,
        models=tuple(device_models),
        walking_distance=distances,
        current_fleet=tuple(CurrentDevice(id=asset, model_id=model, position_id=location)
                            for asset, model, location in settings.current_fleet),
        limits=Limits(max_devices=settings.max_devices, monthly_budget=settings.monthly_budget,
                      max_walking_distance=settings.max_walking_metres),
        walking_cost_per_unit=settings.walking_cost_per_metre,
        horizon_months=settings.horizon_months,
    )
