"""Solomon VRPTW (C1, R1, RC1) through the technician-scheduling routing core.

Prints, per instance, distance and vehicles against the best-known solution and the gap, then the
mean, median and worst gap; writes the same to bench/results/scheduling_solomon.json.
Distance objective compares with bks_distance.json, vehicles objective with bks.json (see the
data folder's README). Feasibility is the independent double-precision check, not the solver's word.

    python bench/scheduling_solomon.py [--time-limit 30] [--objective distance] [--only R1,RC101]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.maintenance.scheduling.model import Objective
from services.maintenance.scheduling.routing_core import CoreSearch
from services.maintenance.scheduling.solomon import read_solomon, solve_solomon
from services.runtime.shared_data import shared_data_dir

RESULTS = Path(__file__).resolve().parent / "results" / "scheduling_solomon.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per instance")
    parser.add_argument("--objective", choices=[o.value for o in Objective], default="distance")
    parser.add_argument("--only", default="", help="comma-separated name prefixes, e.g. R1,RC101")
    args = parser.parse_args()
    objective = Objective(args.objective)
    folder = shared_data_dir() / "vrptw" / "solomon"
    bks_file = "bks_distance.json" if objective is Objective.DISTANCE else "bks.json"
    best_known = json.loads((folder / bks_file).read_text())
    prefixes = [p for p in args.only.split(",") if p]
    files = sorted(
        f
        for f in folder.glob("*.txt")
        if not prefixes or any(f.stem.startswith(p) for p in prefixes)
    )
    rows = []
    print(
        f"{'instance':9} {'feasible':8} {'vehicles':>8} {'bks veh':>7} {'distance':>10} "
        f"{'bks':>10} {'gap %':>7} {'seconds':>7}"
    )
    for path in files:
        instance = read_solomon(path)
        solution = solve_solomon(instance, objective, CoreSearch(args.time_limit))
        bks = best_known[instance.name]
        gap = 100 * (solution.distance / bks["cost"] - 1)
        rows.append(
            {
                "instance": instance.name,
                "feasible": solution.feasible,
                "vehicles": solution.vehicles,
                "bks_vehicles": bks["vehicles"],
                "distance": round(solution.distance, 4),
                "bks_distance": bks["cost"],
                "gap_percent": round(gap, 3),
                "seconds": round(solution.seconds, 2),
            }
        )
        print(
            f"{instance.name:9} {solution.feasible!s:8} {solution.vehicles:>8} "
            f"{bks['vehicles']:>7} {solution.distance:>10.2f} {bks['cost']:>10.2f} "
            f"{gap:>7.2f} {solution.seconds:>7.1f}",
            flush=True,
        )
    gaps = [r["gap_percent"] for r in rows]
    summary = {
        "objective": objective.value,
        "time_limit_seconds": args.time_limit,
        "instances": len(rows),
        "all_feasible": all(r["feasible"] for r in rows),
        "mean_gap_percent": round(statistics.fmean(gaps), 3),
        "median_gap_percent": round(statistics.median(gaps), 3),
        "worst_gap_percent": max(gaps),
        "vehicles_over_bks": sum(max(0, r["vehicles"] - r["bks_vehicles"]) for r in rows),
    }
    print(json.dumps(summary))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": summary, "instances": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
