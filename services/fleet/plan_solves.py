"""The functions the fleet service submits to its solver worker pool.

Module-level and light on imports (the optimizers only), so a spawned worker imports little. Any
failure comes back as a plain RuntimeError: the optimizers' own errors carry constructor
arguments that do not survive unpickling in the parent, which would break the pool.
"""

from __future__ import annotations

from services.fleet import placement, replacement


def solve_placement(problem: placement.Problem, params: placement.Params) -> placement.Plan:
    try:
        return placement.solve(problem, params)
    except Exception as error:  # noqa: BLE001 - see the module docstring
        raise RuntimeError(f"{type(error).__name__}: {error}") from None


def solve_replacement(problem: replacement.Problem, params: replacement.SolveParams) -> replacement.Solution:
    try:
        return replacement.solve(problem, params)
    except Exception as error:  # noqa: BLE001 - see the module docstring
        raise RuntimeError(f"{type(error).__name__}: {error}") from None
