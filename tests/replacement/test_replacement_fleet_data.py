"""Usage rates, maintenance-curve fitting with fallback, grouping into cohorts, sales leads."""

from __future__ import annotations

import random

import pytest

from services.fleet.replacement import SolveParams, solve
from services.fleet.replacement.fleet_data import (
    AssetRecord,
    MaintenanceRecord,
    fit_maintenance_curve,
    group_assets,
    usage_per_period,
)
from services.fleet.replacement.problem import AssetModel, CostCurve, Problem

DEFAULT = CostCurve((100.0, 120.0, 150.0), (0.5,))


def test_usage_rate_from_meter_readings_skips_a_meter_reset() -> None:
    readings = [(0, 1000.0), (1, 1150.0), (2, 1300.0), (3, 20.0), (4, 170.0)]
    assert usage_per_period(readings) == pytest.approx((150 + 150 + 0 + 150) / 4)
    assert usage_per_period([(5, 10.0)]) == 0.0


def test_fit_recovers_age_and_usage_costs_from_work_orders() -> None:
    rng = random.Random(7)
    history = []
    for _ in range(200):
        age, usage = rng.randint(0, 9), rng.uniform(50, 150)
        cost = 80 + 25 * age + 0.4 * usage + rng.gauss(0, 5)
        history.append(MaintenanceRecord(age, usage, parts=0.6 * cost, labour=0.4 * cost))
    curve = fit_maintenance_curve(history, DEFAULT, ages=12)
    assert curve.source == "fitted"
    assert curve.fixed[0] == pytest.approx(80, abs=4)
    assert curve.fixed[10] - curve.fixed[0] == pytest.approx(250, abs=10)
    assert curve.cost(4, 100) == pytest.approx(80 + 100 + 40, abs=4)


def test_thin_or_implausible_history_falls_back_to_model_defaults() -> None:
    thin = [MaintenanceRecord(a, 100, 50, 50) for a in (1, 2, 3)]
    one_age = [MaintenanceRecord(4, 100 + i, 50, 50) for i in range(30)]
    cheaper_with_age = [
        MaintenanceRecord(a, 100, 500 - 40 * a, 0) for a in range(10) for _ in range(3)
    ]
    for history in (thin, one_age, cheaper_with_age):
        assert fit_maintenance_curve(history, DEFAULT, ages=5) is DEFAULT


def test_identical_assets_become_one_cohort_with_their_ids() -> None:
    assets = [AssetRecord(f"a{i}", "m", 3, 100.0, ("m",), group="hq") for i in range(5)]
    assets += [AssetRecord("b", "m", 4, 100.0, ("m",), group="hq")]
    cohorts = group_assets(assets)
    assert sorted(c.count for c in cohorts) == [1, 5]
    five = next(c for c in cohorts if c.count == 5)
    assert five.asset_ids == ("a0", "a1", "a2", "a3", "a4") and five.name.startswith("hq/")


def test_leads_list_soon_replacements_with_customer_and_value() -> None:
    model = AssetModel("m", 1000, CostCurve((100, 400, 900, 1600)), (1000, 700, 500, 300, 200))
    assets = [AssetRecord(f"x{i}", "m", 3, 0.0, ("m",), customer="acme") for i in range(3)]
    problem = Problem(
        periods=4, models={"m": model}, cohorts=tuple(group_assets(assets)), lead_window=1
    )
    solution = solve(problem, SolveParams(time_limit_s=5))
    assert [(lead.period, lead.customer, lead.count) for lead in solution.leads] == [(0, "acme", 3)]
    assert solution.leads[0].estimated_value == pytest.approx(3000)
    assert set(solution.leads[0].asset_ids) == {"x0", "x1", "x2"}
