"""A column-wise sparse MIP (coordinate lists) that can emit MPModelProto for any column subset."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from ortools.linear_solver import linear_solver_pb2


@dataclass
class SparseModel:
    """Columns, rows and coefficients collected in blocks, then frozen into numpy arrays."""

    objective_offset: float = 0.0
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    _cost: list[np.ndarray] = field(default_factory=list)
    _upper: list[np.ndarray] = field(default_factory=list)
    _lower: list[np.ndarray] = field(default_factory=list)
    _integer: list[np.ndarray] = field(default_factory=list)
    _optional: list[np.ndarray] = field(default_factory=list)
    _entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    columns: int = 0

    def add_row(self, lower: float, upper: float) -> int:
        self.row_lower.append(lower)
        self.row_upper.append(upper)
        return len(self.row_lower) - 1

    def add_columns(
        self,
        cost: np.ndarray,
        lower: float,
        upper: float,
        integer: bool,
        optional: bool | np.ndarray = False,
    ) -> np.ndarray:
        """Adds len(cost) columns with shared bounds; returns their indices."""
        count = len(cost)
        first = self.columns
        self.columns += count
        self._cost.append(np.asarray(cost, dtype=float))
        self._lower.append(np.full(count, lower, dtype=float))
        self._upper.append(np.full(count, upper, dtype=float))
        self._integer.append(np.full(count, integer))
        self._optional.append(np.broadcast_to(np.asarray(optional, dtype=bool), (count,)).copy())
        return np.arange(first, first + count)

    def add_entries(
        self, columns: np.ndarray, rows: np.ndarray | int, coefficients: np.ndarray | float
    ) -> None:
        """Coefficients for `columns` (an array); rows and coefficients are arrays or scalars."""
        columns = np.atleast_1d(columns)
        count = len(columns)
        rows = np.full(count, rows) if np.ndim(rows) == 0 else np.asarray(rows)
        values = (
            np.full(count, coefficients, dtype=float)
            if np.ndim(coefficients) == 0
            else np.asarray(coefficients, dtype=float)
        )
        self._entries.append((columns, rows, values))

    def freeze(self) -> FrozenModel:
        columns, rows, coefficients = (
            np.concatenate([block[i] for block in self._entries]) for i in range(3)
        )
        order = np.lexsort((columns, rows))
        return FrozenModel(
            cost=np.concatenate(self._cost),
            lower=np.concatenate(self._lower),
            upper=np.concatenate(self._upper),
            integer=np.concatenate(self._integer),
            optional=np.concatenate(self._optional),
            entry_column=columns[order].astype(np.int64),
            entry_row=rows[order].astype(np.int64),
            entry_value=coefficients[order],
            row_lower=np.array(self.row_lower, dtype=float),
            row_upper=np.array(self.row_upper, dtype=float),
            objective_offset=self.objective_offset,
        )


@dataclass
class FrozenModel:
    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    optional: np.ndarray
    entry_column: np.ndarray
    entry_row: np.ndarray
    entry_value: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    objective_offset: float

    @property
    def size(self) -> int:
        return len(self.cost)

    @cached_property
    def _by_column(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.entry_column, kind="stable")
        starts = np.searchsorted(self.entry_column[order], np.arange(self.size + 1))
        return order, starts

    def column_entries(self, column: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, coefficients) of one column."""
        order, starts = self._by_column
        picked = order[starts[column] : starts[column + 1]]
        return self.entry_row[picked], self.entry_value[picked]

    def reduced_costs(self, duals: np.ndarray) -> np.ndarray:
        """c - A^T y for every column (the sign convention of OR-Tools' LP duals)."""
        priced = np.bincount(
            self.entry_column, weights=self.entry_value * duals[self.entry_row], minlength=self.size
        )
        return self.cost - priced

    def to_proto(self, selected: np.ndarray, relax: bool = False) -> linear_solver_pb2.MPModelProto:
        """The model restricted to `selected` column indices (kept in that order)."""
        position = np.full(self.size, -1, dtype=np.int64)
        position[selected] = np.arange(len(selected))
        proto = linear_solver_pb2.MPModelProto(objective_offset=self.objective_offset)
        for j in selected.tolist():
            proto.variable.add(
                lower_bound=self.lower[j],
                upper_bound=self.upper[j],
                objective_coefficient=self.cost[j],
                is_integer=bool(self.integer[j]) and not relax,
            )
        kept = position[self.entry_column] >= 0
        rows = self.entry_row[kept]
        columns = position[self.entry_column[kept]]
        values = self.entry_value[kept]
        bounds = np.searchsorted(rows, np.arange(len(self.row_lower) + 1))
        for i, (lower, upper) in enumerate(zip(self.row_lower.tolist(), self.row_upper.tolist())):
            constraint = proto.constraint.add(lower_bound=lower, upper_bound=upper)
            constraint.var_index.extend(columns[bounds[i] : bounds[i + 1]].tolist())
            constraint.coefficient.extend(values[bounds[i] : bounds[i + 1]].tolist())
        return proto
