"""The cohort flow MIP: integer counts of positions moving between vintages.

Per cohort, a vintage is the set of its positions holding the same asset generation: the original
assets, or model m bought in period tau (age t - tau in period t). Variables:

* `buy[c, m, tau]`: positions of cohort c that receive model m in period tau;
* `retire[v, t]`: positions of vintage v replaced in period t, for t after the vintage's start and
  no later than its maximum age allows;
* `batch[t]` (binary, only with a batch fixed cost) and `level[d, t]` (capacity of demand d).

Rows: each vintage retires at most its size (exactly, when its maximum age falls in the horizon);
in each period a cohort's retirements equal its purchases (positions are never left empty); crew,
budget, batch and demand rows per period. A feasible integer point decomposes into position paths
(`solver.decode_plan`), so per-asset exactness follows from the cohort counts.

Costs are floats (no integer scaling: the MIP solvers work on doubles). A purchase pays its price
and the operating costs of its whole remaining horizon minus its terminal value; a retirement
refunds the part after the retirement and earns the trade-in. The original vintage's own
full-horizon cost is the objective offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from ortools.linear_solver import linear_solver_pb2

from services.fleet.replacement.problem import Cohort, Problem


@dataclass
class Vintage:
    cohort: int
    model: str
    start: int
    original: bool
    size_var: int | None
    retire_vars: dict[int, int] = field(default_factory=dict)


@dataclass
class FlowModel:
    proto: linear_solver_pb2.MPModelProto
    vintages: list[Vintage]
    buy_vars: dict[tuple[int, str, int], int]


class _Builder:
    """Accumulates variables and rows; turned into an MPModelProto once."""

    def __init__(self) -> None:
        self.proto = linear_solver_pb2.MPModelProto()

    def var(self, lower: float, upper: float, cost: float, integer: bool) -> int:
        self.proto.variable.add(
            lower_bound=lower, upper_bound=upper, objective_coefficient=cost, is_integer=integer
        )
        return len(self.proto.variable) - 1

    def row(self, terms: dict[int, float], lower: float, upper: float) -> None:
        constraint = self.proto.constraint.add(lower_bound=lower, upper_bound=upper)
        constraint.var_index.extend(terms.keys())
        constraint.coefficient.extend(terms.values())


def _operating_npv_tail(problem: Problem, cohort: Cohort, vintage: Vintage) -> np.ndarray:
    """tail[k] = discounted operating cost of the vintage from period start+k to the horizon."""
    first = max(vintage.start, 0)
    ages = range(first - vintage.start, problem.periods - vintage.start)
    costs = np.array(
        [problem.operating_cost(cohort, vintage.model, age, vintage.original) for age in ages]
    )
    discounts = np.array([problem.discount(t) for t in range(first, problem.periods)])
    tail = np.append(np.cumsum((costs * discounts)[::-1])[::-1], 0.0)
    return np.concatenate([np.zeros(first - vintage.start), tail])


def _last_retirement(problem: Problem, vintage: Vintage) -> tuple[int, bool]:
    """Last period it may be replaced, and whether its maximum age forces that by the horizon."""
    max_age = problem.models[vintage.model].max_age
    if max_age is None or vintage.start + max_age > problem.periods - 1:
        return problem.periods - 1, False
    return max(vintage.start + max_age, 0), True


def build_flow_model(problem: Problem) -> FlowModel:
    builder = _Builder()
    horizon = problem.periods
    discount_end = problem.discount(horizon)
    vintages: list[Vintage] = []
    buy_vars: dict[tuple[int, str, int], int] = {}
    purchases_at: list[dict[int, float]] = [{} for _ in range(horizon)]
    capital_at: list[dict[int, float]] = [{} for _ in range(horizon)]
    capacity_change: dict[tuple[int, int], dict[int, float]] = {}
    demands_of = {name: [] for name in (c.name for c in problem.cohorts)}
    for d, demand in enumerate(problem.demands):
        for name in demand.cohorts:
            demands_of[name].append(d)
    offset = 0.0

    def add_vintage(cohort: Cohort, vintage: Vintage, size_cost: float) -> None:
        nonlocal offset
        count = cohort.count
        model = problem.models[vintage.model]
        tail = _operating_npv_tail(problem, cohort, vintage)
        terminal = discount_end * model.residual_at(horizon - vintage.start)
        if vintage.original:
            offset += count * (tail[-vintage.start] - terminal)
        else:
            vintage.size_var = builder.var(0, count, size_cost + tail[0] - terminal, True)
        last, forced = _last_retirement(problem, vintage)
        first = 0 if vintage.original else vintage.start + 1
        for t in range(first, last + 1):
            age = t - vintage.start
            trade_in = model.residual_at(age)
            cost = -tail[age] + terminal - problem.discount(t) * trade_in
            var = builder.var(0, count, cost, True)
            vintage.retire_vars[t] = var
            capital_at[t][var] = -trade_in
            for d in demands_of[cohort.name]:
                capacity_change.setdefault((d, t), {})[var] = -model.capacity
        size_terms = {var: 1.0 for var in vintage.retire_vars.values()}
        if vintage.size_var is not None:
            size_terms[vintage.size_var] = -1.0
        bound = 0.0 if vintage.size_var is not None else float(count)
        builder.row(size_terms, bound if forced else -math.inf, bound)
        vintages.append(vintage)

    for ci, cohort in enumerate(problem.cohorts):
        cohort_vintages_start = len(vintages)
        if not cohort.is_empty:
            add_vintage(cohort, Vintage(ci, cohort.model, -cohort.age, True, None), 0.0)
        for tau in range(horizon):
            for name in cohort.candidates:
                model = problem.models[name]
                price = model.price_at(tau)
                vintage = Vintage(ci, name, tau, False, None)
                add_vintage(cohort, vintage, problem.discount(tau) * price)
                buy_vars[(ci, name, tau)] = vintage.size_var
                purchases_at[tau][vintage.size_var] = 1.0
                capital_at[tau][vintage.size_var] = price
                for d in demands_of[cohort.name]:
                    capacity_change.setdefault((d, tau), {})[vintage.size_var] = model.capacity
        _add_balance_rows(builder, problem, ci, cohort, vintages[cohort_vintages_start:], buy_vars)
    _add_period_rows(builder, problem, purchases_at, capital_at)
    _add_demand_rows(builder, problem, capacity_change)
    builder.proto.objective_offset = offset
    return FlowModel(builder.proto, vintages, buy_vars)


def _add_balance_rows(
    builder: _Builder,
    problem: Problem,
    ci: int,
    cohort: Cohort,
    vintages: list[Vintage],
    buy_vars: dict[tuple[int, str, int], int],
) -> None:
    """Every position replaced in period t gets exactly one new asset (empty ones in period 0)."""
    for t in range(problem.periods):
        terms = {v.retire_vars[t]: 1.0 for v in vintages if t in v.retire_vars}
        terms.update({buy_vars[(ci, name, t)]: -1.0 for name in cohort.candidates})
        needed = -float(cohort.count) if cohort.is_empty and t == 0 else 0.0
        builder.row(terms, needed, needed)


def _add_period_rows(
    builder: _Builder,
    problem: Problem,
    purchases_at: list[dict[int, float]],
    capital_at: list[dict[int, float]],
) -> None:
    total_positions = sum(c.count for c in problem.cohorts)
    for t in range(problem.periods):
        crew = problem.crew[t] if problem.crew is not None else total_positions
        capital = dict(capital_at[t])
        if problem.batch_fixed_cost > 0:
            batch = builder.var(0, 1, problem.discount(t) * problem.batch_fixed_cost, True)
            capital[batch] = problem.batch_fixed_cost
            builder.row({**purchases_at[t], batch: -float(min(crew, total_positions))}, -math.inf, 0)
        if problem.crew is not None:
            builder.row(purchases_at[t], -math.inf, crew)
        if problem.budget is not None:
            builder.row(capital, -math.inf, problem.budget[t])


def _add_demand_rows(
    builder: _Builder, problem: Problem, capacity_change: dict[tuple[int, int], dict[int, float]]
) -> None:
    """level[d, t] = level[d, t-1] + capacity bought - capacity retired, level >= required."""
    for d, demand in enumerate(problem.demands):
        level = sum(
            problem.cohort(name).count * problem.models[problem.cohort(name).model].capacity
            for name in demand.cohorts
            if not problem.cohort(name).is_empty
        )
        previous: int | None = None
        for t in range(problem.periods):
            current = builder.var(demand.required[t], math.inf, 0.0, False)
            terms = {var: -coefficient for var, coefficient in capacity_change.get((d, t), {}).items()}
            terms[current] = 1.0
            if previous is None:
                builder.row(terms, level, level)
            else:
                terms[previous] = -1.0
                builder.row(terms, 0.0, 0.0)
            previous = current
