"""The cohort flow MIP: per cohort, a network over periods whose arcs are asset lifetimes.

Each cohort's positions flow along the periods. An arc (c, m, tau -> t) carries the positions of
cohort c that receive model m in period tau and keep it until it is replaced in period t (t = T:
kept to the horizon); an original arc (c, -> t) carries the current assets until their replacement
in period t. Arcs exist only while the maximum age allows (t - tau <= max_age), so the age limit
needs no row. Columns are integer arc flows, plus `batch[t]` (binary, only with a batch fixed cost)
and `level[d, t]` (capacity of demand d, with the requirement as lower bound).

Rows: per cohort, original arcs sum to its size and in each period the arcs ending there equal the
arcs starting there (positions are never left empty); crew, budget, batch and demand-level rows per
period. An integer flow splits into position paths (`decode.py`), so per-asset plans follow exactly
from cohort counts; this is the textbook shortest-path model of replacement, one network per
cohort, tied together by the period rows.

Costs are floats in currency units, not integer-scaled: the MIP and LP solvers work on doubles and
the plan is re-costed by `evaluate` afterwards. An arc costs the discounted purchase price, the
operating costs along it and minus the trade-in (or terminal value) at its end.

Arcs that re-replace an asset bought within the horizon before its maximum age are optional: large
models price them in (`pricing.py`) instead of listing them all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.fleet.replacement.problem import Cohort, Problem
from services.fleet.replacement.sparse import FrozenModel, SparseModel

ORIGINAL = -1


@dataclass
class FlowModel:
    """The MIP, its per-cohort network rows and, per column, the arc it stands for (cohort -1 for
    non-arc columns).

    `arc_start` is ORIGINAL for the current assets; `arc_end` = periods means kept to the horizon.
    """

    sparse: FrozenModel
    network_rows: np.ndarray
    budget_rows: list[int] | None
    crew_rows: list[int] | None
    batch_columns: list[int] | None
    level_columns: list[list[int]]
    arc_cohort: np.ndarray
    arc_model: list[str | None]
    arc_start: np.ndarray
    arc_end: np.ndarray


@dataclass
class _Rows:
    origin: list[int]
    balance: list[list[int]]
    crew: list[int] | None
    budget: list[int] | None
    batch: list[int] | None
    level: list[list[int]]
    demands_of: dict[str, list[int]]


def _rows(problem: Problem, sparse: SparseModel) -> _Rows:
    horizon = range(problem.periods)
    origin = [sparse.add_row(c.count, c.count) for c in problem.cohorts]
    balance = [[sparse.add_row(0, 0) for _ in horizon] for _ in problem.cohorts]
    crew = [sparse.add_row(-np.inf, problem.crew[t]) for t in horizon] if problem.crew else None
    budget = (
        [sparse.add_row(-np.inf, problem.budget[t]) for t in horizon] if problem.budget else None
    )
    batch = [sparse.add_row(-np.inf, 0) for _ in horizon] if problem.batch_fixed_cost > 0 else None
    level = []
    demands_of: dict[str, list[int]] = {c.name: [] for c in problem.cohorts}
    for d, demand in enumerate(problem.demands):
        base = sum(
            c.count * problem.models[c.model].capacity
            for c in problem.cohorts
            if c.name in demand.cohorts and not c.is_empty
        )
        level.append(
            [sparse.add_row(base, base) if t == 0 else sparse.add_row(0, 0) for t in horizon]
        )
        for name in demand.cohorts:
            demands_of[name].append(d)
    return _Rows(origin, balance, crew, budget, batch, level, demands_of)


class _ArcWriter:
    """Adds blocks of arcs of one cohort and model with their row entries."""

    def __init__(self, problem: Problem, sparse: SparseModel, rows: _Rows) -> None:
        self.problem = problem
        self.sparse = sparse
        self.rows = rows
        self.discounts = (1.0 + problem.discount_rate) ** -np.arange(problem.periods + 1.0)
        self.cohort: list[np.ndarray] = []
        self.model: list[str | None] = []
        self.start: list[np.ndarray] = []
        self.end: list[np.ndarray] = []

    def operating_prefix(
        self, cohort: Cohort, model: str, first_age: int, original: bool
    ) -> np.ndarray:
        """prefix[k] = nominal operating cost of ages first_age .. first_age + k - 1."""
        costs = [
            self.problem.operating_cost(cohort, model, first_age + k, original)
            for k in range(self.problem.periods)
        ]
        return np.concatenate([[0.0], np.cumsum(costs)])

    def add(
        self,
        ci: int,
        cohort: Cohort,
        model: str | None,
        start: int,
        ends: np.ndarray,
        cost: np.ndarray,
        trade_in: np.ndarray,
        optional: np.ndarray,
    ) -> None:
        rows = self.rows
        columns = self.sparse.add_columns(cost, 0, cohort.count, True, optional)
        inside = ends < self.problem.periods
        ending, ended_at = columns[inside], ends[inside]
        capacity = self.problem.models[model].capacity if model else 0.0
        original_capacity = self.problem.models[cohort.model].capacity if cohort.model else 0.0
        leaving_capacity = original_capacity if start == ORIGINAL else capacity
        self.sparse.add_entries(ending, np.array(rows.balance[ci])[ended_at], 1.0)
        if rows.budget is not None:
            self.sparse.add_entries(ending, np.array(rows.budget)[ended_at], -trade_in[inside])
        for d in rows.demands_of[cohort.name]:
            self.sparse.add_entries(ending, np.array(rows.level[d])[ended_at], leaving_capacity)
        if start == ORIGINAL:
            self.sparse.add_entries(columns, rows.origin[ci], 1.0)
        else:
            price = self.problem.models[model].price_at(start)
            starting = [(rows.balance[ci][start], -1.0)]
            starting += [(rows.level[d][start], -capacity) for d in rows.demands_of[cohort.name]]
            for period_rows, coefficient in (
                (rows.crew, 1.0),
                (rows.batch, 1.0),
                (rows.budget, price),
            ):
                if period_rows is not None:
                    starting.append((period_rows[start], coefficient))
            for row, coefficient in starting:
                self.sparse.add_entries(columns, row, coefficient)
        self.cohort.append(np.full(len(columns), ci))
        self.model.extend([model] * len(columns))
        self.start.append(np.full(len(columns), start))
        self.end.append(ends)


def build_flow_model(problem: Problem) -> FlowModel:
    sparse = SparseModel()
    rows = _rows(problem, sparse)
    writer = _ArcWriter(problem, sparse, rows)
    horizon = problem.periods
    discounts = writer.discounts
    for ci, cohort in enumerate(problem.cohorts):
        if cohort.is_empty:
            zero = np.zeros(1)
            writer.add(ci, cohort, None, ORIGINAL, np.array([0]), zero, zero, np.zeros(1, bool))
        else:
            _add_original_arcs(problem, writer, ci, cohort)
        for name in cohort.candidates:
            model = problem.models[name]
            prefix = writer.operating_prefix(cohort, name, 0, False)
            longest = horizon if model.max_age is None else model.max_age
            residual = np.array([model.residual_at(age) for age in range(horizon + 1)])
            for tau in range(horizon):
                ends = np.arange(tau + 1, min(horizon, tau + longest) + 1)
                lengths = ends - tau
                trade_in = residual[lengths]
                cost = (
                    discounts[tau] * model.price_at(tau)
                    + _discounted_sums(prefix, discounts, tau, lengths)
                    - discounts[ends] * trade_in
                )
                optional = np.ones(len(ends), bool)
                optional[-1] = False
                writer.add(ci, cohort, name, tau, ends, cost, trade_in, optional)
    batch_columns, level_columns = _add_period_columns(problem, sparse, rows)
    size = sparse.columns
    return FlowModel(
        sparse=sparse.freeze(),
        network_rows=np.array(rows.origin + [row for cohort in rows.balance for row in cohort]),
        budget_rows=rows.budget,
        crew_rows=rows.crew,
        batch_columns=batch_columns,
        level_columns=level_columns,
        arc_cohort=_padded(writer.cohort, size),
        arc_model=writer.model + [None] * (size - len(writer.model)),
        arc_start=_padded(writer.start, size),
        arc_end=_padded(writer.end, size),
    )


def _discounted_sums(
    prefix: np.ndarray, discounts: np.ndarray, start: int, lengths: np.ndarray
) -> np.ndarray:
    """Discounted operating cost of an asset bought in `start` over each of `lengths` periods."""
    per_period = np.diff(prefix)[: len(discounts) - 1 - start] * discounts[start:-1]
    return np.concatenate([[0.0], np.cumsum(per_period)])[lengths]


def _add_original_arcs(problem: Problem, writer: _ArcWriter, ci: int, cohort: Cohort) -> None:
    model = problem.models[cohort.model]
    age = cohort.age
    limit = problem.periods if model.max_age is None else max(0, model.max_age - age)
    ends = np.arange(0, min(problem.periods, limit) + 1)
    prefix = writer.operating_prefix(cohort, cohort.model, age, True)
    trade_in = np.array([model.residual_at(age + int(t)) for t in ends])
    cost = _discounted_sums(prefix, writer.discounts, 0, ends) - writer.discounts[ends] * trade_in
    writer.add(ci, cohort, cohort.model, ORIGINAL, ends, cost, trade_in, np.zeros(len(ends), bool))


def _padded(blocks: list[np.ndarray], size: int) -> np.ndarray:
    values = np.concatenate(blocks) if blocks else np.empty(0, dtype=np.int64)
    return np.concatenate([values, np.full(size - len(values), -1)]).astype(np.int64)


def _add_period_columns(
    problem: Problem, sparse: SparseModel, rows: _Rows
) -> tuple[list[int] | None, list[list[int]]]:
    """Batch and demand-level columns: (batch per period, level per demand and period)."""
    horizon = np.arange(problem.periods)
    discounts = (1.0 + problem.discount_rate) ** -horizon.astype(float)
    batch_columns = None
    if rows.batch is not None:
        total = sum(c.count for c in problem.cohorts)
        most = (
            np.minimum(np.array(problem.crew), total)
            if problem.crew
            else np.full(len(horizon), total)
        )
        batch = sparse.add_columns(discounts * problem.batch_fixed_cost, 0, 1, True)
        batch_columns = batch.tolist()
        sparse.add_entries(batch, np.array(rows.batch), -most)
        if rows.budget is not None:
            sparse.add_entries(batch, np.array(rows.budget), problem.batch_fixed_cost)
    level_columns = []
    for d, demand in enumerate(problem.demands):
        level_columns.append([])
        for t in horizon:
            level = sparse.add_columns(np.zeros(1), demand.required[t], np.inf, False)
            sparse.add_entries(level, np.array(rows.level[d][t]), 1.0)
            if t + 1 < problem.periods:
                sparse.add_entries(level, np.array(rows.level[d][t + 1]), -1.0)
            level_columns[d].append(int(level[0]))
    return batch_columns, level_columns
