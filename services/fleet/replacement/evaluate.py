"""The one cost function: simulate a plan period by period, add up cash flows, list violations.

The optimizer's reported cost, the baseline policies and the tests all go through `evaluate`, so a
plan's figures never depend on how the plan was found.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from services.fleet.replacement.problem import (
    Evaluation,
    PeriodCost,
    PositionPlan,
    Problem,
)

_TOLERANCE = 1e-6


def _exceeds(value: float, limit: float) -> bool:
    return value > limit + _TOLERANCE * max(1.0, abs(limit))


def evaluate(problem: Problem, plan: Sequence[PositionPlan]) -> Evaluation:
    periods = [PeriodCost(t) for t in range(problem.periods)]
    capacity: dict[str, list[float]] = defaultdict(lambda: [0.0] * problem.periods)
    positions: dict[str, int] = defaultdict(int)
    violations: list[str] = []
    terminal_value = 0.0
    for group in plan:
        cohort = problem.cohort(group.cohort)
        positions[cohort.name] += group.count
        replaced_at = {step.period: step.model for step in group.replacements}
        if len(replaced_at) != len(group.replacements):
            violations.append(f"{cohort.name}: two replacements in one period")
        model, age, original = cohort.model, cohort.age or 0, True
        count = group.count
        for t, cost in enumerate(periods):
            new_model = replaced_at.get(t)
            if new_model is not None:
                if new_model not in cohort.candidates:
                    violations.append(f"{cohort.name}: {new_model} is not a candidate")
                if model is not None:
                    cost.trade_ins += count * problem.models[model].residual_at(age)
                cost.purchases += count * problem.models[new_model].price_at(t)
                cost.replacements += count
                model, age, original = new_model, 0, False
            if model is None:
                violations.append(f"{cohort.name}: empty position in period {t}")
                break
            if not problem.models[model].may_operate_at(age):
                violations.append(f"{cohort.name}: {model} operated at age {age} in period {t}")
            maintenance, failure, energy = problem.operating_breakdown(cohort, model, age, original)
            cost.maintenance += count * maintenance
            cost.failure += count * failure
            cost.energy += count * energy
            capacity[cohort.name][t] += count * problem.models[model].capacity
            age += 1
        else:
            terminal_value += count * problem.models[model].residual_at(age)
    for cohort in problem.cohorts:
        if positions[cohort.name] != cohort.count:
            violations.append(
                f"{cohort.name}: plan covers {positions[cohort.name]} of {cohort.count} positions"
            )
    coverage = {
        demand.name: [
            sum(capacity[name][t] for name in demand.cohorts) for t in range(problem.periods)
        ]
        for demand in problem.demands
    }
    _check_period_limits(problem, periods, coverage, violations)
    net_present_cost = sum(problem.discount(c.period) * c.net for c in periods)
    net_present_cost -= problem.discount(problem.periods) * terminal_value
    return Evaluation(net_present_cost, periods, terminal_value, violations, coverage)


def _check_period_limits(
    problem: Problem,
    periods: list[PeriodCost],
    coverage: dict[str, list[float]],
    violations: list[str],
) -> None:
    """Batch costs are added here, then budget, crew and demand are checked."""
    for cost in periods:
        t = cost.period
        if cost.replacements:
            cost.batch = problem.batch_fixed_cost
        if problem.budget is not None and _exceeds(cost.capital, problem.budget[t]):
            violations.append(
                f"period {t}: capital {cost.capital:.2f} over budget {problem.budget[t]}"
            )
        if problem.crew is not None and cost.replacements > problem.crew[t]:
            violations.append(
                f"period {t}: {cost.replacements} installations over crew {problem.crew[t]}"
            )
        for demand in problem.demands:
            covered = coverage[demand.name][t]
            if _exceeds(demand.required[t], covered):
                violations.append(
                    f"period {t}: demand {demand.name} needs {demand.required[t]}, has {covered}"
                )
