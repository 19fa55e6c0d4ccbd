"""From fleet records to a replacement problem: ages, usage rates, model economics, fitted curves.

Plain Python: the gRPC layer reads assets, readings and the request; this module turns them into
the optimizer's cohorts with `services.fleet.replacement.fleet_data` (usage rate, curve fitting,
grouping). Money is in the plan's currency as floats, the optimizer's own unit (its README says
why); the gRPC layer rounds results to the currency's minor unit.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from services.fleet.replacement.fleet_data import (AssetRecord, MaintenanceRecord, fit_maintenance_curve,
                                                   group_assets, usage_per_period)
from services.fleet.replacement.problem import AssetModel, CostCurve, Problem

DAYS_PER_MONTH = 365.2425 / 12
USAGE_SIGNIFICANT_DIGITS = 3
"""Usage rates are rounded to this many significant digits so that similar assets share a cohort
(one small network per cohort instead of per asset); the cost error is at most 0.5 % of the
usage-dependent costs."""


@dataclass(frozen=True)
class FleetAsset:
    key: str
    model_key: str
    customer_key: str
    site_key: str | None
    install_date: date | None
    consumption: tuple[tuple[datetime, Decimal], ...] = ()
    """Cumulative consumption of the usage register at each reading (a meter timeline)."""


@dataclass(frozen=True)
class ModelFacts:
    """A catalogue model and the economics the request gives for it (defaults: no cost)."""

    key: str
    list_price: Decimal | None
    expected_life_months: int = 0
    maintenance_per_period: tuple[float, ...] = (0.0,)
    maintenance_per_usage: float = 0.0
    residual_value: tuple[float, ...] | None = None
    energy_cost_per_usage: float = 0.0
    failure_rate: tuple[float, ...] = ()
    failure_cost: float = 0.0
    max_age_periods: int | None = None


@dataclass(frozen=True)
class HistoryEntry:
    asset_key: str
    period_start: date
    parts: float
    labour: float


@dataclass(frozen=True)
class ReplacementSettings:
    periods: int
    period_months: int
    as_of: date
    discount_rate: float = 0.0
    budget_per_period: float | None = None
    installations_per_period: int | None = None
    batch_cost: float = 0.0
    lead_window: int = 2
    candidates: tuple[str, ...] = ()
    """Model keys that may replace an asset; empty: the asset's own model."""


@dataclass(frozen=True)
class AssetFacts:
    """What the plan reports about each asset besides its replacements."""

    model_key: str
    age: int
    usage: float
    curve: str


def months_between(start: date, end: date) -> int:
    """Whole months from `start` to `end` (negative when `end` is earlier)."""
    return (end.year - start.year) * 12 + end.month - start.month - (1 if end.day < start.day else 0)


def age_in_periods(install_date: date | None, on: date, period_months: int) -> int:
    """Whole periods in service on `on`; an asset without an install date counts as new."""
    if install_date is None:
        return 0
    return max(0, months_between(install_date, on)) // period_months


def period_start(as_of: date, period: int, period_months: int) -> date:
    months = as_of.month - 1 + period * period_months
    year, month = as_of.year + months // 12, months % 12 + 1
    return date(year, month, min(as_of.day, 28))  # every month has a 28th


def usage_rate(consumption: Sequence[tuple[datetime, Decimal]], period_months: int) -> float:
    """Usage per period from a meter timeline, rounded to USAGE_SIGNIFICANT_DIGITS."""
    if not consumption:
        return 0.0
    first = consumption[0][0]
    seconds_per_period = period_months * DAYS_PER_MONTH * 86_400
    rate = usage_per_period([((moment - first).total_seconds() / seconds_per_period, float(value))
                             for moment, value in consumption])
    return float(f"{rate:.{USAGE_SIGNIFICANT_DIGITS}g}")


def asset_model(facts: ModelFacts, period_months: int) -> AssetModel:
    """Residual value defaults to a straight line from the list price to zero over the expected life."""
    price = float(facts.list_price or 0)
    life = math.ceil(facts.expected_life_months / period_months) if facts.expected_life_months else None
    residual = facts.residual_value
    if residual is None:
        residual = tuple(price * (1 - age / life) for age in range(life + 1)) if life else ()
    return AssetModel(
        name=facts.key, price=price,
        maintenance=CostCurve(facts.maintenance_per_period, (facts.maintenance_per_usage,)),
        residual_value=residual, max_age=facts.max_age_periods, expected_life=life,
        failure_rate=facts.failure_rate, failure_cost=facts.failure_cost,
        energy_cost_per_usage=facts.energy_cost_per_usage)


def build_problem(assets: Sequence[FleetAsset], models: Mapping[str, ModelFacts], history: Sequence[HistoryEntry],
                  settings: ReplacementSettings) -> tuple[Problem, dict[str, AssetFacts]]:
    """The problem, and per asset key the facts it was built from."""
    asset_models = {key: asset_model(facts, settings.period_months) for key, facts in models.items()}
    facts = {a.key: AssetFacts(a.model_key, age_in_periods(a.install_date, settings.as_of, settings.period_months),
                               usage_rate(a.consumption, settings.period_months), "default") for a in assets}
    curves = _fitted_curves(assets, asset_models, history, facts, settings)
    records = []
    for asset in assets:
        fact = facts[asset.key]
        curve = curves.get(asset.model_key)
        if curve is not None:
            facts[asset.key] = AssetFacts(fact.model_key, fact.age, fact.usage, "fitted")
        candidates = settings.candidates or (asset.model_key,)
        if asset.model_key in candidates:
            # The rules of thumb replace like for like with the first candidate.
            candidates = (asset.model_key, *(c for c in candidates if c != asset.model_key))
        records.append(AssetRecord(id=asset.key, model=asset.model_key, age=fact.age, usage=fact.usage,
                                   candidates=candidates, group=asset.site_key or "fleet",
                                   customer=asset.customer_key, maintenance=curve))
    periods = settings.periods
    problem = Problem(
        periods=periods, models=asset_models, cohorts=tuple(group_assets(records)),
        discount_rate=settings.discount_rate,
        budget=(settings.budget_per_period,) * periods if settings.budget_per_period is not None else None,
        crew=(settings.installations_per_period,) * periods if settings.installations_per_period else None,
        batch_fixed_cost=settings.batch_cost, lead_window=settings.lead_window)
    return problem, facts


def _fitted_curves(assets: Sequence[FleetAsset], models: Mapping[str, AssetModel], history: Sequence[HistoryEntry],
                   facts: Mapping[str, AssetFacts], settings: ReplacementSettings) -> dict[str, CostCurve]:
    """Per current model, a curve fitted on its assets' pooled history; absent where history is thin."""
    by_asset = {a.key: a for a in assets}
    records: dict[str, list[MaintenanceRecord]] = defaultdict(list)
    for entry in history:
        asset = by_asset[entry.asset_key]
        age = age_in_periods(asset.install_date, entry.period_start, settings.period_months)
        records[asset.model_key].append(MaintenanceRecord(age, facts[asset.key].usage, entry.parts, entry.labour))
    ages = max((fact.age for fact in facts.values()), default=0) + settings.periods + 1
    curves = {}
    for model_key, model_records in records.items():
        curve = fit_maintenance_curve(model_records, models[model_key].maintenance, ages)
        if curve.source == "fitted":
            curves[model_key] = curve
    return curves
