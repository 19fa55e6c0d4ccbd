"""Exact dynamic program over the assets' states, and the seeded random small instances.

The DP knows nothing of arcs, flows or the MIP: its state is the (model, age) of every asset
(assets of one cohort are interchangeable, so a state is the multiset of (cohort, model, age)),
and it re-derives every cost from the raw tables, so it checks both the optimizer and the shared
cost function.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

from services.fleet.replacement.problem import (
    AssetModel,
    Cohort,
    CostCurve,
    Demand,
    Problem,
)

# (cohort index, model or "" while empty, age, still the original asset)
AssetState = tuple[int, str, int, bool]
State = tuple[tuple[AssetState, int], ...]


def _at(table: tuple[float, ...], age: int) -> float:
    return table[min(age, len(table) - 1)] if table else 0.0


def _running_cost(problem: Problem, asset: AssetState) -> float:
    cohort_index, model_name, age, original = asset
    cohort = problem.cohorts[cohort_index]
    model = problem.models[model_name]
    curve = cohort.maintenance if original and cohort.maintenance is not None else model.maintenance
    return (
        _at(curve.fixed, age)
        + cohort.usage * _at(curve.per_usage, age)
        + _at(model.failure_rate, age) * model.failure_cost
        + cohort.usage * model.energy_cost_per_usage
    )


class TooLarge(Exception):
    """The instance needs more DP transitions than the caller allowed."""


def _splits(count: int, options: int) -> list[tuple[int, ...]]:
    """Ways to split `count` identical assets into (kept, bought of each candidate...)."""
    splits = []
    for bars in itertools.combinations(range(count + options - 1), options - 1):
        edges = (-1, *bars, count + options - 1)
        splits.append(tuple(edges[i + 1] - edges[i] - 1 for i in range(options)))
    return splits


def _may_keep(problem: Problem, asset: AssetState) -> bool:
    _, model_name, age, _ = asset
    if not model_name:
        return False
    max_age = problem.models[model_name].max_age
    return max_age is None or age < max_age


def _entry_moves(problem: Problem, asset: AssetState, count: int, t: int) -> list[tuple]:
    """What each split of `count` assets in state `asset` does in period t:
    (installed, capital, running cost, next states, capacity per demand)."""
    cohort_index, model_name, age, _ = asset
    cohort = problem.cohorts[cohort_index]
    moves = []
    for keep, *bought in _splits(count, len(cohort.candidates) + 1):
        if keep and not _may_keep(problem, asset):
            continue
        operating = [(asset, keep)] if keep else []
        installed = 0
        capital = 0.0
        for name, number in zip(cohort.candidates, bought):
            if number:
                model = problem.models[name]
                installed += number
                capital += number * model.price * (1 + model.price_trend) ** t
                if model_name:
                    capital -= number * _at(problem.models[model_name].residual_value, age)
                operating.append(((cohort_index, name, 0, False), number))
        running = sum(n * _running_cost(problem, a) for a, n in operating)
        following = tuple(((a[0], a[1], a[2] + 1, a[3]), n) for a, n in operating)
        capacity = tuple(
            (
                sum(n * problem.models[a[1]].capacity for a, n in operating)
                if cohort.name in demand.cohorts
                else 0
            )
            for demand in problem.demands
        )
        moves.append((installed, capital, running, following, capacity))
    return moves


def optimal_cost(problem: Problem, max_transitions: int = 10**12) -> float:
    """Minimum net present cost over all plans, `math.inf` when no plan meets the limits.

    Raises TooLarge past `max_transitions` state transitions.
    """
    start: Counter[AssetState] = Counter()
    for i, cohort in enumerate(problem.cohorts):
        start[(i, cohort.model or "", cohort.age or 0, True)] += cohort.count
    layer: dict[State, float] = {tuple(sorted(start.items())): 0.0}
    transitions = 0
    for t in range(problem.periods):
        following: dict[State, float] = {}
        cache: dict[tuple[AssetState, int], list[tuple]] = {}
        discount = problem.discount(t)
        for state, value in layer.items():
            per_entry = []
            for entry in state:
                if entry not in cache:
                    cache[entry] = _entry_moves(problem, entry[0], entry[1], t)
                per_entry.append(cache[entry])
            for combination in itertools.product(*per_entry):
                transitions += 1
                if transitions > max_transitions:
                    raise TooLarge
                cost = _period_cost(problem, combination, t)
                if cost is None:
                    continue
                merged: Counter[AssetState] = Counter()
                for move in combination:
                    for asset, number in move[3]:
                        merged[asset] += number
                key = tuple(sorted(merged.items()))
                total = value + discount * cost
                if total < following.get(key, math.inf):
                    following[key] = total
        layer = following
    best = math.inf
    end = problem.discount(problem.periods)
    for state, value in layer.items():
        terminal = sum(n * _at(problem.models[a[1]].residual_value, a[2]) for a, n in state)
        best = min(best, value - end * terminal)
    return best


def _period_cost(problem: Problem, combination: tuple, t: int) -> float | None:
    """The period's nominal cost, or None when a limit is broken."""
    installed = sum(move[0] for move in combination)
    capital = sum(move[1] for move in combination)
    if installed:
        capital += problem.batch_fixed_cost
    if problem.crew is not None and installed > problem.crew[t]:
        return None
    if problem.budget is not None and capital > problem.budget[t] + 1e-9:
        return None
    for d, demand in enumerate(problem.demands):
        if sum(move[4][d] for move in combination) < demand.required[t] - 1e-9:
            return None
    return capital + sum(move[2] for move in combination)


def random_problem(seed: int) -> Problem:
    """A small instance: horizon <= 8, ages <= 5, up to 6 assets, limits drawn at random."""
    rng = random.Random(seed)
    periods = rng.randint(2, 8)
    models = {}
    for k in range(rng.randint(1, 3)):
        price = rng.randint(5, 20) * 100
        upkeep = [rng.randint(2, 8) * 10]
        for _ in range(5):
            upkeep.append(upkeep[-1] + rng.randint(0, 6) * 10)
        residual = [price]
        for _ in range(6):
            residual.append(max(0, residual[-1] - rng.randint(1, 4) * price // 10))
        models[f"m{k}"] = AssetModel(
            name=f"m{k}",
            price=price,
            maintenance=CostCurve(tuple(upkeep), tuple(rng.randint(0, 3) * 5 for _ in range(3))),
            residual_value=tuple(residual),
            capacity=rng.randint(1, 3),
            price_trend=rng.choice([0.0, 0.0, 0.03]),
            max_age=rng.choice([None, 2, 3, 4, 5]),
            expected_life=rng.randint(2, 5),
            failure_rate=tuple(round(0.1 * a * rng.random(), 2) for a in range(6)),
            failure_cost=rng.choice([0, 50, 200]),
            energy_cost_per_usage=rng.choice([0, 1, 4]),
        )
    names = sorted(models)
    assets = rng.randint(1, 6)
    kinds = rng.randint(1, assets)
    sizes = Counter(rng.randrange(kinds) for _ in range(assets))
    cohorts = []
    for kind, count in sorted(sizes.items()):
        empty = rng.random() < 0.1
        model = None if empty else rng.choice(names)
        fitted = None
        if not empty and rng.random() < 0.3:
            fitted = CostCurve(tuple(rng.randint(3, 15) * 10 for _ in range(6)), (), "fitted")
        candidates = tuple(
            rng.sample(names, 1 if assets > 4 else rng.randint(1, min(2, len(names))))
        )
        cohorts.append(
            Cohort(
                name=f"c{kind}",
                count=count,
                model=model,
                age=None if empty else rng.randint(0, 5),
                usage=rng.randint(0, 3),
                candidates=candidates,
                maintenance=fitted,
            )
        )
    budget = None
    if rng.random() < 0.5:
        budget = tuple(rng.randint(2, 2 * assets + 2) * 500 for _ in range(periods))
    crew = tuple(rng.randint(1, assets) for _ in range(periods)) if rng.random() < 0.4 else None
    demands = ()
    if rng.random() < 0.3:
        members = tuple(c.name for c in cohorts if rng.random() < 0.7) or (cohorts[0].name,)
        need = sum(c.count for c in cohorts if c.name in members)
        demands = (
            Demand("d", members, tuple(rng.randint(0, 3 * need // 2) for _ in range(periods))),
        )
    return Problem(
        periods=periods,
        models=models,
        cohorts=tuple(cohorts),
        discount_rate=rng.choice([0.0, 0.05]),
        budget=budget,
        crew=crew,
        demands=demands,
        batch_fixed_cost=rng.choice([0, 0, 150]),
    )
