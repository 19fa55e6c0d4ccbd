"""Consumables: days-to-empty forecast from supply levels and replenishment without duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.maintenance.domain.alarms import AlarmKey
from services.maintenance.domain.consumables import (
    CreateShipment,
    ForecastSettings,
    LevelReading,
    Shipment,
    forecast_days_to_empty,
    replenishment,
    shipments_for_alarm,
)
from services.maintenance.domain.work_order_rules import NoAction, ShipConsumable
from services.runtime.errors import InvalidArgument

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
PRINTER = "assets/printer-1"
CYAN, BLACK = "printer-supply:1.2", "printer-supply:1.1"


def daily(levels: list[float], end: datetime = NOW) -> list[LevelReading]:
    """One reading a day, the last at `end`."""
    return [LevelReading(end - timedelta(days=len(levels) - 1 - i), level) for i, level in enumerate(levels)]


def test_steady_use_forecasts_the_day_the_cartridge_runs_out() -> None:
    forecast = forecast_days_to_empty(daily([50, 48, 46, 44, 42, 40]), NOW)
    assert forecast.percent_per_day == pytest.approx(2.0)
    assert forecast.days_to_empty == pytest.approx(20.0)
    assert forecast.empty_at == NOW + timedelta(days=20) and forecast.points_used == 6


def test_a_refill_starts_the_history_again() -> None:
    before_refill = [30, 20, 10, 4]  # steep use, then a new cartridge at 100
    after_refill = [100, 99, 98, 97]
    forecast = forecast_days_to_empty(daily(before_refill + after_refill), NOW)
    assert forecast.points_used == 4 and forecast.days_to_empty == pytest.approx(97.0)


def test_small_rises_are_sensor_noise_and_stay_in_the_fit() -> None:
    forecast = forecast_days_to_empty(daily([60, 57, 58, 54, 55, 51]), NOW)
    assert forecast.points_used == 6 and forecast.percent_per_day == pytest.approx(11 / 7)
    assert forecast.days_to_empty == pytest.approx(33.03, abs=0.01)  # from the fitted 51.9 %, not the last 51


def test_old_readings_outside_the_window_are_ignored() -> None:
    history = daily([90, 80, 70], end=NOW - timedelta(days=40)) + daily([50, 49.5, 49], end=NOW)
    forecast = forecast_days_to_empty(history, NOW, ForecastSettings(window=timedelta(days=30)))
    assert forecast.points_used == 3 and forecast.days_to_empty == pytest.approx(98.0)


@pytest.mark.parametrize("levels", [[50, 49], [40, 40, 40, 40], [40, 41, 42]])
def test_no_forecast_from_too_few_points_or_a_level_that_does_not_fall(levels: list[float]) -> None:
    forecast = forecast_days_to_empty(daily(levels), NOW)
    assert forecast.days_to_empty is None and forecast.empty_at is None


def test_readings_are_validated() -> None:
    with pytest.raises(InvalidArgument):
        forecast_days_to_empty([LevelReading(NOW, 120.0)], NOW)
    with pytest.raises(InvalidArgument):
        forecast_days_to_empty([LevelReading(datetime(2025, 3, 1), 50.0)], NOW)


def test_ship_before_empty_when_forecast_is_inside_lead_time_plus_safety() -> None:
    soon = forecast_days_to_empty(daily([20, 18, 16, 14, 12, 10]), NOW)  # 5 days left
    later = forecast_days_to_empty(daily([50, 48, 46, 44, 42, 40]), NOW)  # 20 days left
    shipped = replenishment(PRINTER, "toner-cartridge", CYAN, soon, lead_time_days=3, safety_days=3, open_shipments=[])
    assert isinstance(shipped, CreateShipment) and shipped.supply == CYAN
    assert isinstance(replenishment(PRINTER, "toner-cartridge", CYAN, later, 3, 3, []), NoAction)


def test_no_second_shipment_while_one_for_the_same_supply_is_open() -> None:
    soon = forecast_days_to_empty(daily([20, 18, 16, 14, 12, 10]), NOW)
    cyan_open = Shipment(PRINTER, "toner-cartridge", CYAN)
    assert isinstance(replenishment(PRINTER, "toner-cartridge", CYAN, soon, 3, 3, [cyan_open]), NoAction)
    other_colour = replenishment(PRINTER, "toner-cartridge", BLACK, soon, 3, 3, [cyan_open])
    assert isinstance(other_colour, CreateShipment)
    unknown_supply = Shipment(PRINTER, "toner-cartridge", None)
    assert isinstance(replenishment(PRINTER, "toner-cartridge", BLACK, soon, 3, 3, [unknown_supply]), NoAction)
    other_printer = Shipment("assets/printer-2", "toner-cartridge", CYAN)
    assert isinstance(replenishment(PRINTER, "toner-cartridge", CYAN, soon, 3, 3, [other_printer]), CreateShipment)


def test_negative_lead_time_is_invalid() -> None:
    soon = forecast_days_to_empty(daily([20, 18, 16]), NOW)
    with pytest.raises(InvalidArgument):
        replenishment(PRINTER, "toner-cartridge", CYAN, soon, -1, 3, [])


def test_a_low_toner_alarm_ships_once_per_supply_not_already_on_its_way() -> None:
    ship = ShipConsumable(PRINTER, ("toner-cartridge",), frozenset({CYAN, BLACK, "printer-alert:1.7"}),
                          AlarmKey(PRINTER, "printer/supply/toner", NOW))
    supply_of = {CYAN: CYAN, BLACK: BLACK}  # the alert row names no cartridge
    created = shipments_for_alarm(ship, supply_of, [Shipment(PRINTER, "toner-cartridge", BLACK)])
    assert [(s.part, s.supply) for s in created] == [("toner-cartridge", CYAN)]
    assert shipments_for_alarm(ship, supply_of, [Shipment(PRINTER, "toner-cartridge", None)]) == []
    only_alert = ShipConsumable(PRINTER, ("toner-cartridge",), frozenset({"printer-alert:1.7"}), ship.alarm)
    assert [s.supply for s in shipments_for_alarm(only_alert, {}, [])] == [None]
