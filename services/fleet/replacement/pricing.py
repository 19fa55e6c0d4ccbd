"""Column generation for models too large to list every arc.

The restricted LP starts with the mandatory arcs (original assets, and each purchase kept as long
as allowed). Its duals on the period rows (crew, budget, batch, demand levels) turn every cohort's
network into a shortest-path problem over all arcs. That gives

* a Lagrangian lower bound on the full model, valid for any duals: each cohort's size times its
  shortest-path cost, plus the period rows' dual terms and the batch and level columns' minima;
* the entering arcs: those on a cohort's shortest path, and those whose reduced cost against the
  restricted network's distance labels is negative.

When no cohort's shortest path uses an arc outside the restricted LP, the bound equals the full LP
optimum. The MIP then runs over the arcs generated (price-and-branch) and its gap is measured
against the best bound found here, so the reported gap is a true one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from services.fleet.replacement.formulation import ORIGINAL, FlowModel
from services.fleet.replacement.sparse import FrozenModel

_ENTERING_PER_ROUND = 4000
_TOLERANCE = 1e-7


@dataclass
class PricedColumns:
    selected: np.ndarray
    lower_bound: float
    rounds: int
    converged: bool


class _Networks:
    """The arcs grouped per (cohort, start), for shortest paths over the periods."""

    def __init__(self, flow: FlowModel, periods: int) -> None:
        arcs = np.flatnonzero(flow.arc_cohort >= 0)
        arcs = arcs[np.lexsort((flow.arc_start[arcs], flow.arc_cohort[arcs]))]
        self.periods = periods
        self.arcs = arcs
        self.starts_of = flow.arc_start
        self.ends = flow.arc_end[arcs]
        keys = np.stack([flow.arc_cohort[arcs], flow.arc_start[arcs]], axis=1)
        cuts = np.flatnonzero(np.any(np.diff(keys, axis=0) != 0, axis=1)) + 1
        bounds = np.concatenate([[0], cuts, [len(arcs)]])
        self.groups: dict[int, list[tuple[int, slice]]] = {}
        for first, last in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            cohort, start = keys[first].tolist()
            self.groups.setdefault(cohort, []).append((start, slice(first, last)))

    def shortest(
        self, cohort: int, costs: np.ndarray, allowed: np.ndarray
    ) -> tuple[np.ndarray, list[int]]:
        """Distance labels of periods 0..T and the arcs of one shortest path to the horizon."""
        distance = np.full(self.periods + 1, np.inf)
        best_arc = np.full(self.periods + 1, -1)
        for start, block in self.groups[cohort]:
            origin = 0.0 if start == ORIGINAL else distance[start]
            if not np.isfinite(origin):
                continue
            arcs = self.arcs[block]
            usable = allowed[arcs]
            arcs, ends = arcs[usable], self.ends[block][usable]
            if len(arcs) == 0:
                continue
            reach = origin + costs[arcs]
            order = np.lexsort((reach, ends))
            first = np.concatenate([[True], ends[order][1:] != ends[order][:-1]])
            ends, reach, arcs = ends[order][first], reach[order][first], arcs[order][first]
            better = reach < distance[ends]
            distance[ends[better]] = reach[better]
            best_arc[ends[better]] = arcs[better]
        path = []
        node = self.periods
        while best_arc[node] >= 0 and len(path) <= self.periods + 1:
            arc = int(best_arc[node])
            path.append(arc)
            node = int(self.starts_of[arc])
            if node == ORIGINAL:
                break
        return distance, path


def _row_terms(duals: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Sum over rows of min over the row's range of dual * activity (tiny wrong-sign duals drop)."""
    bound = np.where(duals > 0, lower, upper)
    terms = np.where(np.abs(duals) <= _TOLERANCE, 0.0, duals * bound)
    return float(np.sum(terms))


class RestrictedLP:
    """The LP relaxation over a growing subset of columns (GLOP, warm-started between solves)."""

    def __init__(self, model: FrozenModel, selected: np.ndarray, num_workers: int) -> None:
        self.model = model
        self.selected = selected.tolist()
        self.active = np.zeros(model.size, bool)
        self.active[selected] = True
        self.solver = pywraplp.Solver.CreateSolver("GLOP")
        self.solver.SetNumThreads(num_workers)
        error = self.solver.LoadModelFromProto(model.to_proto(selected, relax=True))
        if error:
            raise RuntimeError(f"restricted LP rejected: {error}")
        self.constraints = self.solver.constraints()
        self.variables = self.solver.variables()

    def solve(self, deadline: float) -> bool:
        self.solver.SetTimeLimit(max(1, int(1000 * (deadline - time.perf_counter()))))
        return self.solver.Solve() == pywraplp.Solver.OPTIMAL

    def objective(self) -> float:
        return self.solver.Objective().Value()

    def duals(self) -> np.ndarray:
        return np.array([c.dual_value() for c in self.constraints])

    def values(self) -> np.ndarray:
        """Values of all model columns (0 for columns not in the LP)."""
        values = np.zeros(self.model.size)
        values[self.selected] = [v.solution_value() for v in self.variables]
        return values

    def add(self, columns: list[int]) -> None:
        model = self.model
        objective = self.solver.Objective()
        for column in columns:
            variable = self.solver.NumVar(model.lower[column], model.upper[column], "")
            objective.SetCoefficient(variable, model.cost[column])
            for row, value in zip(*(a.tolist() for a in model.column_entries(column))):
                self.constraints[row].SetCoefficient(variable, value)
            self.selected.append(column)
            self.variables.append(variable)
        self.active[columns] = True

    def set_row_upper(self, row: int, upper: float) -> None:
        self.constraints[row].SetUb(upper)

    def set_column_lower(self, column: int, lower: float) -> None:
        self.variables[self.selected.index(column)].SetLb(lower)


def price_columns(
    flow: FlowModel, counts: np.ndarray, periods: int, deadline: float, num_workers: int
) -> tuple[RestrictedLP, PricedColumns] | None:
    """Generate arcs until none improves a shortest path or the deadline; None if the LP fails."""
    model = flow.sparse
    networks = _Networks(flow, periods)
    lp = RestrictedLP(model, np.flatnonzero(~model.optional), num_workers)
    side_rows = np.ones(len(model.row_lower), bool)
    side_rows[flow.network_rows] = False
    other_columns = flow.arc_cohort < 0
    everything = np.ones(model.size, bool)
    best_bound = -np.inf
    rounds = 0
    while True:
        if not lp.solve(deadline):
            return None
        rounds += 1
        duals = lp.duals()
        duals[flow.network_rows] = 0.0
        reduced = model.reduced_costs(duals)
        bound = model.objective_offset + _row_terms(
            duals[side_rows], model.row_lower[side_rows], model.row_upper[side_rows]
        )
        bound += _column_terms(
            model.lower[other_columns], model.upper[other_columns], reduced[other_columns]
        )
        entering: dict[int, float] = {}
        for cohort in range(len(counts)):
            full, path = networks.shortest(cohort, reduced, everything)
            bound += counts[cohort] * full[-1]
            restricted, _ = networks.shortest(cohort, reduced, lp.active)
            if full[-1] < restricted[-1] - _TOLERANCE * (1 + abs(full[-1])):
                entering.update({arc: -np.inf for arc in path if not lp.active[arc]})
                _improving_arcs(networks, cohort, reduced, restricted, lp.active, entering)
        best_bound = max(best_bound, bound)
        if not entering or time.perf_counter() >= deadline:
            priced = PricedColumns(np.array(lp.selected), best_bound, rounds, not entering)
            return lp, priced
        lp.add(sorted(entering, key=entering.get)[:_ENTERING_PER_ROUND])


def _column_terms(lower: np.ndarray, upper: np.ndarray, reduced: np.ndarray) -> float:
    """Min of reduced * x over each non-arc column's bounds (tiny reduced costs count as 0)."""
    reduced = np.where(np.abs(reduced) <= _TOLERANCE, 0.0, reduced)
    at = np.where(reduced >= 0, lower, upper)
    return float(np.sum(np.where(reduced == 0, 0.0, reduced * at)))


def _improving_arcs(
    networks: _Networks,
    cohort: int,
    reduced: np.ndarray,
    labels: np.ndarray,
    active: np.ndarray,
    entering: dict[int, float],
) -> None:
    """Inactive arcs that shorten a restricted distance label."""
    for start, block in networks.groups[cohort]:
        if start == ORIGINAL or not np.isfinite(labels[start]):
            continue
        arcs = networks.arcs[block]
        slack = labels[start] + reduced[arcs] - labels[networks.ends[block]]
        better = (slack < -_TOLERANCE) & ~active[arcs]
        entering.update(zip(arcs[better].tolist(), slack[better].tolist()))
