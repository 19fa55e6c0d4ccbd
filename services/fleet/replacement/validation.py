"""Checks a Problem before solving; errors name the JSON path of the offending field."""

from __future__ import annotations

import math

from services.fleet.replacement.problem import AssetModel, Problem, ProblemError


def _require(condition: bool, field_path: str, message: str) -> None:
    if not condition:
        raise ProblemError(field_path, message)


def _finite_non_negative(values: tuple[float, ...], field_path: str) -> None:
    for i, value in enumerate(values):
        _require(math.isfinite(value) and value >= 0, f"{field_path}[{i}]", "must be a number >= 0")


def _validate_model(model: AssetModel, path: str) -> None:
    _require(math.isfinite(model.price) and model.price >= 0, f"{path}.price", "must be >= 0")
    _require(model.price_trend > -1, f"{path}.price_trend", "must be > -1")
    _require(model.capacity >= 0, f"{path}.capacity", "must be >= 0")
    _require(model.max_age is None or model.max_age >= 1, f"{path}.max_age", "must be >= 1")
    _require(
        model.expected_life is None or model.expected_life >= 1,
        f"{path}.expected_life",
        "must be >= 1",
    )
    _require(model.failure_cost >= 0, f"{path}.failure_cost", "must be >= 0")
    _require(model.energy_cost_per_usage >= 0, f"{path}.energy_cost_per_usage", "must be >= 0")
    _finite_non_negative(model.residual_value, f"{path}.residual_value")
    _finite_non_negative(model.failure_rate, f"{path}.failure_rate")
    _finite_non_negative(model.maintenance.fixed, f"{path}.maintenance.fixed")
    _finite_non_negative(model.maintenance.per_usage, f"{path}.maintenance.per_usage")


def validate(problem: Problem) -> None:
    periods = problem.periods
    _require(periods >= 1, "periods", "must be >= 1")
    _require(problem.discount_rate > -1, "discount_rate", "must be > -1")
    _require(bool(problem.models), "models", "at least one model is needed")
    for name, model in problem.models.items():
        _validate_model(model, f"models.{name}")
    names = [c.name for c in problem.cohorts]
    _require(len(set(names)) == len(names), "cohorts", "names must be unique")
    for i, cohort in enumerate(problem.cohorts):
        path = f"cohorts[{i}]"
        _require(cohort.count >= 1, f"{path}.count", "must be >= 1")
        _require(
            cohort.model is None or cohort.model in problem.models, f"{path}.model", "unknown model"
        )
        _require((cohort.age is None) == (cohort.model is None), f"{path}.age", "set with model")
        _require(cohort.age is None or cohort.age >= 0, f"{path}.age", "must be >= 0")
        _require(cohort.usage >= 0, f"{path}.usage", "must be >= 0")
        _require(bool(cohort.candidates), f"{path}.candidates", "at least one candidate")
        for name in cohort.candidates:
            _require(name in problem.models, f"{path}.candidates", f"unknown model {name}")
        _require(
            not cohort.asset_ids or len(cohort.asset_ids) == cohort.count,
            f"{path}.asset_ids",
            "must list exactly count ids",
        )
    if problem.budget is not None:
        _require(len(problem.budget) == periods, "budget", f"needs {periods} values")
    if problem.crew is not None:
        _require(len(problem.crew) == periods, "crew", f"needs {periods} values")
        _require(all(c >= 0 for c in problem.crew), "crew", "must be >= 0")
    for i, demand in enumerate(problem.demands):
        _require(
            len(demand.required) == periods, f"demands[{i}].required", f"needs {periods} values"
        )
        for name in demand.cohorts:
            _require(name in names, f"demands[{i}].cohorts", f"unknown cohort {name}")
    _require(problem.batch_fixed_cost >= 0, "batch_fixed_cost", "must be >= 0")
    _require(problem.lead_window >= 0, "lead_window", "must be >= 0")
