"""CLI: ``python -m services.fleet.placement solve --format holmberg|orlib-cap FILE --time-limit S``.

Prints one JSON object: status, objective, bound, gap, seconds, open facilities.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from services.fleet.placement.benchmarks import (
    HOLMBERG_COST_SCALE,
    ORLIB_COST_SCALE,
    BenchmarkFormatError,
    read_holmberg,
    read_orlib_cap,
    to_problem,
)
from services.fleet.placement.model import Params, Plan, Solver
from services.fleet.placement.solver import solve

DEFAULT_SOLVER = {"holmberg": Solver.HIGHS, "orlib-cap": Solver.HIGHS}
"""Chosen by measurement: see the table in bench/placement.py's docstring."""


def solve_file(fmt: str, path: Path, params: Params, capacity: int | None = None) -> Plan:
    if fmt == "holmberg":
        problem = to_problem(read_holmberg(path))
        params = replace(params, cost_scale=HOLMBERG_COST_SCALE)
    else:
        problem = to_problem(read_orlib_cap(path, capacity), split_demand=True)
        params = replace(params, cost_scale=ORLIB_COST_SCALE)
    return solve(problem, params)


def plan_summary(plan: Plan) -> dict[str, object]:
    return {
        "status": plan.status.value,
        "objective": float(plan.objective) if plan.objective is not None else None,
        "bound": float(plan.bound) if plan.bound is not None else None,
        "gap": plan.gap,
        "seconds": round(plan.seconds, 3),
        "open_facilities": sorted({device.position_id for device in plan.devices}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.fleet.placement")
    commands = parser.add_subparsers(dest="command", required=True)
    solve_cmd = commands.add_parser("solve", help="solve a benchmark instance and print a JSON summary")
    solve_cmd.add_argument("--format", required=True, choices=sorted(DEFAULT_SOLVER))
    solve_cmd.add_argument("file", type=Path)
    solve_cmd.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
    solve_cmd.add_argument("--workers", type=int, default=2, help="CP-SAT search workers (default 2)")
    solve_cmd.add_argument("--solver", choices=[s.value for s in Solver], help="default: highs")
    solve_cmd.add_argument(
        "--capacity", type=int, help="orlib-cap: override every facility's capacity (capa/capb/capc style)"
    )
    args = parser.parse_args(argv)

    if args.capacity is not None and args.format != "orlib-cap":
        parser.error("--capacity applies to --format orlib-cap only")
    solver = Solver(args.solver) if args.solver else DEFAULT_SOLVER[args.format]
    params = Params(time_limit_seconds=args.time_limit, num_workers=args.workers, solver=solver, evaluate_today=False)
    try:
        plan = solve_file(args.format, args.file, params, args.capacity)
    except (OSError, BenchmarkFormatError, ValueError) as error:
        print(json.dumps({"error": str(error)}), file=sys.stderr)
        return 2
    print(json.dumps(plan_summary(plan)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
