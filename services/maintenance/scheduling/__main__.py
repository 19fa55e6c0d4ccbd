"""CLI: `python -m services.maintenance.scheduling solve --format solomon FILE --time-limit S`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from services.maintenance.scheduling.model import Objective
from services.maintenance.scheduling.routing_core import CoreSearch
from services.maintenance.scheduling.solomon import read_solomon, solve_solomon


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.maintenance.scheduling")
    commands = parser.add_subparsers(dest="command", required=True)
    solve = commands.add_parser("solve", help="solve one instance and print a JSON result")
    solve.add_argument("file", type=Path)
    solve.add_argument("--format", choices=["solomon"], required=True)
    solve.add_argument("--time-limit", type=float, required=True, help="seconds")
    solve.add_argument(
        "--objective", choices=[o.value for o in Objective], default=Objective.DISTANCE.value
    )
    args = parser.parse_args(argv)
    if args.time_limit <= 0:
        parser.error("--time-limit must be positive")
    instance = read_solomon(args.file)
    solution = solve_solomon(instance, Objective(args.objective), CoreSearch(args.time_limit))
    json.dump(
        {
            "instance": solution.instance,
            "objective": args.objective,
            "status": solution.status.value,
            "distance": solution.distance,
            "vehicles": solution.vehicles,
            "feasible": solution.feasible,
            "violations": list(solution.violations),
            "seconds": round(solution.seconds, 3),
            "routes": [list(route) for route in solution.routes],
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0 if solution.feasible else 1


if __name__ == "__main__":
    sys.exit(main())
