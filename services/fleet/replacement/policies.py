"""The two rules of thumb users compare against, and sales leads from a plan.

Both baselines replace like for like with the cohort's first candidate model, ignore budget, crew
and demand (that is what the rules of thumb do), and are costed by `evaluate`, which lists any limit
they break.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.fleet.replacement.evaluate import evaluate
from services.fleet.replacement.problem import (
    AssetModel,
    Cohort,
    Evaluation,
    Lead,
    PositionPlan,
    Problem,
    Replacement,
)

END_OF_LIFE = "replace_at_end_of_expected_life"
RUN_TO_FAILURE = "run_until_it_fails_often"


def _rule_plan(
    problem: Problem, wants_replacement: Callable[[AssetModel, int], bool]
) -> list[PositionPlan]:
    plan = []
    for cohort in problem.cohorts:
        successor = cohort.candidates[0]
        model, age = cohort.model, cohort.age or 0
        steps = []
        for t in range(problem.periods):
            if (
                model is None
                or not problem.models[model].may_operate_at(age)
                or wants_replacement(problem.models[model], age)
            ):
                steps.append(Replacement(t, successor))
                model, age = successor, 0
            age += 1
        plan.append(PositionPlan(cohort.name, cohort.count, tuple(steps), cohort.asset_ids))
    return plan


def end_of_life_plan(problem: Problem) -> list[PositionPlan]:
    """Replace when the age reaches the model's expected life (its maximum age if none is set)."""

    def due(model: AssetModel, age: int) -> bool:
        return model.expected_life is not None and age >= model.expected_life

    return _rule_plan(problem, due)


def run_to_failure_plan(problem: Problem) -> list[PositionPlan]:
    """Replace once the expected failures per period reach `problem.fails_often_rate`."""

    def failing_often(model: AssetModel, age: int) -> bool:
        return model.failures_at(age) >= problem.fails_often_rate

    return _rule_plan(problem, failing_often)


def evaluate_baselines(problem: Problem) -> dict[str, Evaluation]:
    return {
        END_OF_LIFE: evaluate(problem, end_of_life_plan(problem)),
        RUN_TO_FAILURE: evaluate(problem, run_to_failure_plan(problem)),
    }


def _model_before(cohort: Cohort, group: PositionPlan, period: int) -> str | None:
    earlier = [step.model for step in group.replacements if step.period < period]
    return earlier[-1] if earlier else cohort.model


def replacement_leads(problem: Problem, plan: Sequence[PositionPlan]) -> list[Lead]:
    """Replacements within `problem.lead_window` periods, soonest first, merged per cohort."""
    merged: dict[tuple[int, str, str | None, str], Lead] = {}
    for group in plan:
        cohort = problem.cohort(group.cohort)
        for step in group.replacements:
            if step.period >= problem.lead_window:
                continue
            current = _model_before(cohort, group, step.period)
            key = (step.period, cohort.name, current, step.model)
            value = group.count * problem.models[step.model].price_at(step.period)
            known = merged.get(key)
            merged[key] = Lead(
                period=step.period,
                cohort=cohort.name,
                customer=cohort.customer,
                count=group.count + (known.count if known else 0),
                current_model=current,
                new_model=step.model,
                estimated_value=value + (known.estimated_value if known else 0.0),
                asset_ids=(known.asset_ids if known else ()) + group.asset_ids,
            )
    return sorted(
        merged.values(), key=lambda lead: (lead.period, -lead.estimated_value, lead.cohort)
    )
