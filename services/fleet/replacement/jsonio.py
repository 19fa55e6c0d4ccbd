"""The documented JSON problem format (README.md) to dataclasses, and a Solution to JSON."""

from __future__ import annotations

from typing import Any

from services.fleet.replacement.fleet_data import AssetRecord, group_assets
from services.fleet.replacement.problem import (
    AssetModel,
    Cohort,
    CostCurve,
    Demand,
    Evaluation,
    Problem,
    ProblemError,
    Solution,
)


def _get(data: dict[str, Any], key: str, path: str, default: Any = ...) -> Any:
    if key in data:
        return data[key]
    if default is ...:
        raise ProblemError(f"{path}.{key}".lstrip("."), "is required")
    return default


def _numbers(values: Any, path: str, kind: type = float) -> tuple:
    if not isinstance(values, list) or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) for v in values
    ):
        raise ProblemError(path, "must be a list of numbers")
    return tuple(kind(v) for v in values)


def _curve(data: Any, path: str) -> CostCurve:
    if not isinstance(data, dict):
        raise ProblemError(path, "must be an object with fixed and per_usage lists")
    return CostCurve(
        fixed=_numbers(_get(data, "fixed", path), f"{path}.fixed"),
        per_usage=_numbers(data.get("per_usage", []), f"{path}.per_usage"),
        source=str(data.get("source", "default")),
    )


def _optional_int(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProblemError(path, "must be an integer or null")
    return value


def _model(data: dict[str, Any], path: str) -> AssetModel:
    return AssetModel(
        name=str(_get(data, "name", path)),
        price=float(_get(data, "price", path)),
        maintenance=_curve(_get(data, "maintenance", path), f"{path}.maintenance"),
        residual_value=_numbers(_get(data, "residual_value", path), f"{path}.residual_value"),
        capacity=float(data.get("capacity", 1.0)),
        price_trend=float(data.get("price_trend", 0.0)),
        max_age=_optional_int(data.get("max_age"), f"{path}.max_age"),
        expected_life=_optional_int(data.get("expected_life"), f"{path}.expected_life"),
        failure_rate=_numbers(data.get("failure_rate", []), f"{path}.failure_rate"),
        failure_cost=float(data.get("failure_cost", 0.0)),
        energy_cost_per_usage=float(data.get("energy_cost_per_usage", 0.0)),
    )


def _cohort(data: dict[str, Any], path: str) -> Cohort:
    ids = tuple(str(i) for i in data.get("asset_ids", []))
    curve = data.get("maintenance")
    return Cohort(
        name=str(_get(data, "name", path)),
        count=int(data.get("count", len(ids))),
        model=data.get("model"),
        age=_optional_int(data.get("age"), f"{path}.age"),
        usage=float(data.get("usage", 0.0)),
        candidates=tuple(_get(data, "candidates", path)),
        maintenance=_curve(curve, f"{path}.maintenance") if curve is not None else None,
        customer=str(data.get("customer", "")),
        asset_ids=ids,
    )


def _asset(data: dict[str, Any], path: str) -> AssetRecord:
    curve = data.get("maintenance")
    return AssetRecord(
        id=str(_get(data, "id", path)),
        model=data.get("model"),
        age=_optional_int(data.get("age"), f"{path}.age"),
        usage=float(data.get("usage", 0.0)),
        candidates=tuple(_get(data, "candidates", path)),
        group=str(data.get("group", "fleet")),
        customer=str(data.get("customer", "")),
        maintenance=_curve(curve, f"{path}.maintenance") if curve is not None else None,
    )


def _demand(data: dict[str, Any], path: str, cohorts: list[Cohort]) -> Demand:
    members: list[str] = []
    for name in _get(data, "cohorts", path):
        named = [c.name for c in cohorts if c.name == name or c.name.startswith(f"{name}/")]
        if not named:
            raise ProblemError(f"{path}.cohorts", f"unknown cohort or group {name}")
        members += named
    return Demand(
        name=str(_get(data, "name", path)),
        cohorts=tuple(dict.fromkeys(members)),
        required=_numbers(_get(data, "required", path), f"{path}.required"),
    )


def problem_from_json(data: dict[str, Any]) -> Problem:
    """Parses the documented format; raises ProblemError naming the field at fault."""
    if not isinstance(data, dict):
        raise ProblemError("", "the problem must be a JSON object")
    try:
        models = [_model(m, f"models[{i}]") for i, m in enumerate(_get(data, "models", ""))]
        cohorts = [_cohort(c, f"cohorts[{i}]") for i, c in enumerate(data.get("cohorts", []))]
        cohorts += group_assets(
            _asset(a, f"assets[{i}]") for i, a in enumerate(data.get("assets", []))
        )
        demands = [
            _demand(d, f"demands[{i}]", cohorts) for i, d in enumerate(data.get("demands", []))
        ]
        budget = data.get("budget")
        crew = data.get("crew")
        return Problem(
            periods=int(_get(data, "periods", "")),
            models={m.name: m for m in models},
            cohorts=tuple(cohorts),
            discount_rate=float(data.get("discount_rate", 0.0)),
            budget=_numbers(budget, "budget") if budget is not None else None,
            crew=_numbers(crew, "crew", int) if crew is not None else None,
            demands=tuple(demands),
            batch_fixed_cost=float(data.get("batch_fixed_cost", 0.0)),
            fails_often_rate=float(data.get("fails_often_rate", 1.0)),
            lead_window=int(data.get("lead_window", 12)),
        )
    except ProblemError:
        raise
    except (TypeError, ValueError, AttributeError) as error:
        raise ProblemError("", f"malformed problem: {error}") from error


def _evaluation_json(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "net_present_cost": evaluation.net_present_cost,
        "terminal_value": evaluation.terminal_value,
        "violations": evaluation.violations,
    }


def solution_to_json(solution: Solution) -> dict[str, Any]:
    evaluation = solution.evaluation
    baselines = {}
    for name, baseline in solution.baselines.items():
        entry = _evaluation_json(baseline)
        if solution.total_cost is not None:
            entry["optimizer_saving"] = baseline.net_present_cost - solution.total_cost
        baselines[name] = entry
    return {
        "status": solution.status,
        "total_cost": solution.total_cost,
        "best_bound": solution.best_bound,
        "gap": solution.gap,
        "seconds": solution.seconds,
        "plan": [
            {
                "cohort": group.cohort,
                "count": group.count,
                "asset_ids": list(group.asset_ids),
                "replacements": [
                    {"period": r.period, "model": r.model} for r in group.replacements
                ],
            }
            for group in solution.plan
        ],
        "cost_per_period": [
            {
                "period": c.period,
                "purchases": c.purchases,
                "trade_ins": c.trade_ins,
                "batch": c.batch,
                "maintenance": c.maintenance,
                "failure": c.failure,
                "energy": c.energy,
                "net": c.net,
                "replacements": c.replacements,
            }
            for c in (evaluation.periods if evaluation else [])
        ],
        "terminal_value": evaluation.terminal_value if evaluation else None,
        "baselines": baselines,
        "leads": [
            {
                "period": lead.period,
                "cohort": lead.cohort,
                "customer": lead.customer,
                "count": lead.count,
                "current_model": lead.current_model,
                "new_model": lead.new_model,
                "estimated_value": lead.estimated_value,
                "asset_ids": list(lead.asset_ids),
            }
            for lead in solution.leads
        ],
        "model_size": solution.model_size,
    }
