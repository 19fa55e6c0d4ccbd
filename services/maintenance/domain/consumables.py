"""Consumables: forecast when a supply runs empty and ship its replacement before it does.

Forecast: the supply's level history (percent remaining; for a waste receptacle, the space left)
after the last refill, where a refill is a rise of more than `refill_jump_percent` between two
readings (smaller rises are sensor noise and stay in the fit). A least-squares line through the
readings of the last `window` gives the consumption rate and the moment the line reaches zero.
No forecast without `min_points` readings spanning some time, or when the line does not fall.

Replenishment: ship when the forecast days-to-empty is below lead time plus safety days, unless
a shipment for that supply is still open. A shipment is identified by asset, part and supply (the
supply's device condition, e.g. one colour's cartridge); a request or shipment that does not know
its supply (an alert that named only the part) conflicts with any of the same asset and part.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.maintenance.domain.utc import as_utc
from services.maintenance.domain.work_order_rules import NoAction, ShipConsumable
from services.runtime.errors import InvalidArgument

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class LevelReading:
    at: datetime
    percent: float


@dataclass(frozen=True)
class ForecastSettings:
    window: timedelta = timedelta(days=30)
    min_points: int = 3
    refill_jump_percent: float = 10.0

    def __post_init__(self) -> None:
        if self.min_points < 2:
            raise InvalidArgument.field("forecast.min_points", "must be at least 2")
        if self.window <= timedelta(0):
            raise InvalidArgument.field("forecast.window", "must be positive")


@dataclass(frozen=True)
class Forecast:
    days_to_empty: float | None  # None: no forecast (too few points, or not being used up)
    empty_at: datetime | None
    percent_per_day: float | None  # consumption, positive when the level falls
    points_used: int


@dataclass(frozen=True)
class Shipment:
    """An open replenishment shipment (ordered, not yet delivered)."""

    asset: str
    part: str
    supply: str | None  # None: not known which of the asset's supplies of this part


@dataclass(frozen=True)
class CreateShipment:
    asset: str
    part: str
    supply: str | None
    reason: str


def forecast_days_to_empty(
    history: Sequence[LevelReading], now: datetime, settings: ForecastSettings = ForecastSettings()
) -> Forecast:
    now = as_utc(now, "now")
    readings = sorted((_checked(reading, index) for index, reading in enumerate(history)), key=lambda r: r.at)
    readings = [reading for reading in readings if reading.at <= now]
    since_refill = _since_last_refill(readings, settings.refill_jump_percent)
    recent = [reading for reading in since_refill if reading.at >= now - settings.window]
    if len(recent) < settings.min_points or recent[0].at == recent[-1].at:
        return Forecast(None, None, None, len(recent))
    origin = recent[0].at
    xs = [(reading.at - origin).total_seconds() / _SECONDS_PER_DAY for reading in recent]
    ys = [reading.percent for reading in recent]
    slope, intercept = _least_squares(xs, ys)
    if slope >= 0:
        return Forecast(None, None, -slope, len(recent))
    empty_at = origin + timedelta(days=-intercept / slope)
    days_to_empty = max(0.0, (empty_at - now).total_seconds() / _SECONDS_PER_DAY)
    return Forecast(days_to_empty, empty_at, -slope, len(recent))


def replenishment(
    asset: str,
    part: str,
    supply: str | None,
    forecast: Forecast,
    lead_time_days: float,
    safety_days: float,
    open_shipments: Iterable[Shipment],
) -> CreateShipment | NoAction:
    if lead_time_days < 0 or safety_days < 0:
        raise InvalidArgument.field("lead_time_days" if lead_time_days < 0 else "safety_days", "must not be negative")
    if forecast.days_to_empty is None:
        return NoAction("no forecast: too few readings, or the supply is not being used up")
    horizon = lead_time_days + safety_days
    if forecast.days_to_empty >= horizon:
        return NoAction(f"{forecast.days_to_empty:.1f} days left, ships at {horizon:g}")
    if _covered(asset, part, supply, open_shipments):
        return NoAction("a shipment for this supply is already open")
    why = f"empty in {forecast.days_to_empty:.1f} days; lead time {lead_time_days:g} + safety {safety_days:g}"
    return CreateShipment(asset, part, supply, why)


def shipments_for_alarm(
    ship: ShipConsumable, supply_of: dict[str, str], open_shipments: Iterable[Shipment]
) -> list[CreateShipment]:
    """Shipments for a consumable alarm. `supply_of` maps those of the alarm's device conditions
    that name one supply (a supply-level reading's condition) to that supply; other conditions
    (alert rows) ship by part alone."""
    if not ship.parts:
        return []
    part = ship.parts[0]  # the catalogue lists the replacement first, then what else may help
    open_shipments = list(open_shipments)
    created: list[CreateShipment] = []
    for supply in sorted({supply_of.get(condition) for condition in ship.supplies}, key=lambda s: (s is None, s or "")):
        if not _covered(ship.asset, part, supply, open_shipments + _as_open(created)):
            created.append(CreateShipment(ship.asset, part, supply, f"alarm {ship.alarm.fault_key}"))
    return created


def _covered(asset: str, part: str, supply: str | None, open_shipments: Iterable[Shipment]) -> bool:
    return any(
        shipment.asset == asset and shipment.part == part
        and (supply is None or shipment.supply is None or shipment.supply == supply)
        for shipment in open_shipments
    )


def _as_open(created: list[CreateShipment]) -> list[Shipment]:
    return [Shipment(c.asset, c.part, c.supply) for c in created]


def _checked(reading: LevelReading, index: int) -> LevelReading:
    if not 0 <= reading.percent <= 100:
        raise InvalidArgument.field(f"history[{index}].percent", "must be between 0 and 100")
    return LevelReading(as_utc(reading.at, f"history[{index}].at"), reading.percent)


def _since_last_refill(readings: list[LevelReading], jump: float) -> list[LevelReading]:
    start = 0
    for index in range(1, len(readings)):
        if readings[index].percent - readings[index - 1].percent > jump:
            start = index
    return readings[start:]


def _least_squares(xs: list[float], ys: list[float]) -> tuple[float, float]:
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return slope, mean_y - slope * mean_x
