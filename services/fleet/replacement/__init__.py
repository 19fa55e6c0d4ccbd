"""Replacement-timing optimizer: when to replace each asset, and by which model.

`solve(problem, params)` is pure (no gRPC, no SQL); the CLI `python -m services.fleet.replacement
solve FILE` and the fleet service are thin front ends. The JSON problem format and the cost rules
are documented in README.md beside this file; `example_problem.json` is a complete example.
"""

from services.fleet.replacement.evaluate import evaluate
from services.fleet.replacement.jsonio import problem_from_json, solution_to_json
from services.fleet.replacement.problem import Problem, ProblemError, Solution, SolveParams
from services.fleet.replacement.solver import solve

__all__ = [
    "Problem",
    "ProblemError",
    "Solution",
    "SolveParams",
    "evaluate",
    "problem_from_json",
    "solution_to_json",
    "solve",
]
