"""CLI: `python -m services.fleet.replacement solve FILE` prints the solution as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.fleet.replacement.jsonio import problem_from_json, solution_to_json
from services.fleet.replacement.problem import ProblemError, SolveParams
from services.fleet.replacement.solver import solve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.fleet.replacement")
    commands = parser.add_subparsers(dest="command", required=True)
    solve_command = commands.add_parser("solve", help="solve a problem JSON file")
    solve_command.add_argument("file", type=Path)
    solve_command.add_argument("--time-limit", type=float, default=10.0, help="seconds")
    solve_command.add_argument("--workers", type=int, default=1)
    solve_command.add_argument("--gap", type=float, default=0.0, help="relative MIP gap to stop at")
    args = parser.parse_args(argv)
    try:
        problem = problem_from_json(json.loads(args.file.read_text()))
        params = SolveParams(
            time_limit_s=args.time_limit, num_workers=args.workers, relative_gap=args.gap
        )
        solution = solve(problem, params)
    except (OSError, json.JSONDecodeError, ProblemError) as error:
        print(json.dumps({"status": "invalid", "error": str(error)}), file=sys.stderr)
        return 2
    print(json.dumps(solution_to_json(solution), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
