"""Turn the MIP's integer arc flows back into per-position replacement paths."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from services.fleet.replacement.formulation import ORIGINAL, FlowModel
from services.fleet.replacement.problem import PositionPlan, Problem, Replacement


@dataclass
class _Group:
    """`count` positions sharing `steps`, holding an asset until period `end`."""

    count: int
    end: int
    steps: list[Replacement] = field(default_factory=list)


def _take(groups: list[_Group], count: int) -> list[_Group]:
    """Remove `count` positions from `groups`, splitting one if needed."""
    taken: list[_Group] = []
    for group in groups:
        if count == 0:
            break
        moved = min(group.count, count)
        if moved:
            taken.append(_Group(moved, group.end, list(group.steps)))
            group.count -= moved
            count -= moved
    if count:
        raise RuntimeError("solution starts more assets than positions are freed")
    return taken


def _merged(cohort: str, groups: list[_Group], asset_ids: tuple[str, ...]) -> list[PositionPlan]:
    """One entry per distinct path, asset ids handed out in order."""
    counts: dict[tuple[Replacement, ...], int] = {}
    for group in groups:
        path = tuple(group.steps)
        counts[path] = counts.get(path, 0) + group.count
    plan = []
    first = 0
    for path, count in counts.items():
        ids = asset_ids[first : first + count] if asset_ids else ()
        plan.append(PositionPlan(cohort, count, path, ids))
        first += count
    return plan


def decode_plan(problem: Problem, flow: FlowModel, values: np.ndarray) -> list[PositionPlan]:
    """Follow each cohort's positions period by period along the arcs with positive flow."""
    arcs: dict[tuple[int, int], list[tuple[str | None, int, int]]] = {}
    for column in np.flatnonzero((values > 0) & (flow.arc_cohort >= 0)).tolist():
        key = (int(flow.arc_cohort[column]), int(flow.arc_start[column]))
        arcs.setdefault(key, []).append(
            (flow.arc_model[column], int(flow.arc_end[column]), int(values[column]))
        )
    plan: list[PositionPlan] = []
    for ci, cohort in enumerate(problem.cohorts):
        groups = [_Group(count, end) for _, end, count in arcs.get((ci, ORIGINAL), [])]
        for t in range(problem.periods):
            freed = [group for group in groups if group.end == t]
            groups = [group for group in groups if group.end != t]
            for model, end, count in arcs.get((ci, t), []):
                for group in _take(freed, count):
                    group.steps.append(Replacement(t, model))
                    group.end = end
                    groups.append(group)
            if any(group.count for group in freed):
                raise RuntimeError("solution frees positions it does not refill")
        plan += _merged(cohort.name, groups, cohort.asset_ids)
    return plan
