"""Budget, crew, demand and batch limits change plans the way a fleet manager expects."""

from __future__ import annotations

import dataclasses

import pytest

from services.fleet.replacement import SolveParams, evaluate, solve
from services.fleet.replacement.problem import AssetModel, Cohort, CostCurve, Demand, Problem

FAST = SolveParams(time_limit_s=10)


def _fleet(**changes) -> Problem:
    """Eight worn trucks that are cheaper to replace at once, with a small and a big successor."""
    old = AssetModel(
        "old",
        20000,
        CostCurve((3000, 3500, 4000, 5000, 6000, 7000)),
        (15000, 9000, 6000, 4000, 3000, 2000),
        max_age=8,
    )
    small = AssetModel(
        "small",
        10000,
        CostCurve((500, 700, 900, 1200, 1600)),
        (10000, 8000, 6500, 5200, 4200, 3400),
        capacity=1.0,
    )
    big = AssetModel(
        "big",
        16000,
        CostCurve((600, 800, 1000, 1300, 1700)),
        (16000, 13000, 10500, 8500, 6900, 5600),
        capacity=2.0,
    )
    problem = Problem(
        periods=5,
        models={m.name: m for m in (old, small, big)},
        cohorts=(Cohort("trucks", 8, "old", 5, 0.0, ("small", "big")),),
        discount_rate=0.05,
    )
    return dataclasses.replace(problem, **changes)


def _replacements_per_period(solution) -> list[int]:
    return [cost.replacements for cost in solution.evaluation.periods]


def test_without_limits_everything_is_replaced_at_once_by_the_cheap_model() -> None:
    solution = solve(_fleet(), FAST)
    assert solution.status == "optimal"
    assert _replacements_per_period(solution)[0] == 8
    assert {step.model for group in solution.plan for step in group.replacements} == {"small"}


def test_budget_spreads_replacements_and_costs_more() -> None:
    free = solve(_fleet(), FAST)
    tight = solve(_fleet(budget=(30000,) * 5), FAST)
    assert tight.status == "optimal"
    assert all(cost.capital <= 30000 + 1e-6 for cost in tight.evaluation.periods)
    assert max(_replacements_per_period(tight)) < 8
    assert tight.total_cost > free.total_cost


def test_crew_capacity_caps_installations_per_period() -> None:
    solution = solve(_fleet(crew=(3,) * 5), FAST)
    assert solution.status == "optimal"
    assert max(_replacements_per_period(solution)) <= 3


def test_growing_demand_buys_the_bigger_model() -> None:
    demand = Demand("lifting", ("trucks",), (8, 8, 10, 12, 12))
    solution = solve(_fleet(demands=(demand,)), FAST)
    assert solution.status == "optimal"
    assert all(
        cover >= need
        for cover, need in zip(solution.evaluation.coverage["lifting"], demand.required)
    )
    assert any(step.model == "big" for group in solution.plan for step in group.replacements)


def test_batch_cost_groups_replacements_into_fewer_periods() -> None:
    # Two trucks run cheaply until age 3: without a batch cost they wait for that moment.
    young_curve = CostCurve((300, 300, 300, 6000, 7000, 8000), source="fitted")
    cohorts = (
        Cohort("worn", 6, "old", 5, 0.0, ("small",)),
        Cohort("young", 2, "small", 1, 0.0, ("small",), maintenance=young_curve),
    )
    spread = solve(_fleet(cohorts=cohorts, periods=6), FAST)
    batched = solve(_fleet(cohorts=cohorts, periods=6, batch_fixed_cost=30000.0), FAST)
    busy = [sum(1 for n in _replacements_per_period(s) if n) for s in (spread, batched)]
    assert busy[1] < busy[0]
    assert sum(c.batch for c in batched.evaluation.periods) == pytest.approx(30000.0 * busy[1])


def test_impossible_limits_are_reported_infeasible() -> None:
    worn_out = _fleet(cohorts=(Cohort("trucks", 8, "old", 8, 0.0, ("small",)),), crew=(2,) * 5)
    solution = solve(worn_out, FAST)
    assert solution.status == "infeasible"
    assert solution.plan == [] and solution.total_cost is None


def test_large_model_path_gives_a_feasible_plan_and_a_valid_bound() -> None:
    problem = _fleet(
        periods=12,
        budget=(60000,) * 12,
        crew=(3,) * 12,
        demands=(Demand("lifting", ("trucks",), (8,) * 6 + (10,) * 6),),
        batch_fixed_cost=2000.0,
    )
    exact = solve(problem, FAST)
    priced = solve(problem, dataclasses.replace(FAST, full_model_columns=0))
    assert exact.status == "optimal"
    assert priced.model_size["pricing_rounds"] >= 1
    assert evaluate(problem, priced.plan).violations == []
    assert priced.best_bound <= exact.total_cost + 1e-6 <= priced.total_cost + 2e-6
    assert priced.gap == pytest.approx((priced.total_cost - priced.best_bound) / priced.total_cost)
