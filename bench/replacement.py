"""Replacement-timing benchmark: 10,000 assets in 40 cohorts over 60 monthly periods.

Synthetic fleets (forklifts, multifunction printers, servers) with budget, crew, demand and batch
limits, one instance per seed. Prints a table and writes bench/results/replacement.json.

    .venv/bin/python bench/replacement.py [--seeds 3] [--time-limit 10] [--workers 1]

Target (issue): optimal or <= 0.1 % gap within 10 s per instance.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from services.fleet.replacement.policies import END_OF_LIFE, RUN_TO_FAILURE
from services.fleet.replacement.problem import (
    AssetModel,
    Cohort,
    CostCurve,
    Demand,
    Problem,
    SolveParams,
)
from services.fleet.replacement.solver import solve

PERIODS = 60
COHORTS = 40
ASSETS = 10_000
MAX_TABLE_AGE = 180


def _model(
    name: str,
    price: float,
    *,
    base: float,
    growth: float,
    per_usage: float,
    failure_start: float,
    failure_growth: float,
    failure_cost: float,
    energy: float,
    capacity: float,
    max_age: int,
    life: int,
    monthly_value_loss: float,
) -> AssetModel:
    ages = range(MAX_TABLE_AGE + 1)
    return AssetModel(
        name=name,
        price=price,
        maintenance=CostCurve(
            tuple(round(base + growth * a + 0.01 * growth * a * a, 2) for a in ages),
            tuple(round(per_usage * (1 + a / 60), 4) for a in ages),
        ),
        residual_value=tuple(round(price * 0.85 * (1 - monthly_value_loss) ** a, 2) for a in ages),
        capacity=capacity,
        price_trend=0.001,
        max_age=max_age,
        expected_life=life,
        failure_rate=tuple(round(failure_start + failure_growth * a, 4) for a in ages),
        failure_cost=failure_cost,
        energy_cost_per_usage=energy,
    )


FAMILIES = {
    "forklift": {
        "usage": (80, 170),
        "existing": ["FL-25-2012", "FL-25-2016"],
        "candidates": ["FL-25-E", "FL-30-LI"],
        "models": [
            _model(
                "FL-25-2012",
                26000,
                base=90,
                growth=1.6,
                per_usage=0.9,
                failure_start=0.03,
                failure_growth=0.003,
                failure_cost=900,
                energy=1.1,
                capacity=1.0,
                max_age=144,
                life=96,
                monthly_value_loss=0.018,
            ),
            _model(
                "FL-25-2016",
                28000,
                base=80,
                growth=1.4,
                per_usage=0.8,
                failure_start=0.02,
                failure_growth=0.0025,
                failure_cost=900,
                energy=1.0,
                capacity=1.0,
                max_age=144,
                life=96,
                monthly_value_loss=0.017,
            ),
            _model(
                "FL-25-E",
                30000,
                base=60,
                growth=1.2,
                per_usage=0.6,
                failure_start=0.01,
                failure_growth=0.002,
                failure_cost=900,
                energy=0.8,
                capacity=1.0,
                max_age=144,
                life=96,
                monthly_value_loss=0.016,
            ),
            _model(
                "FL-30-LI",
                37000,
                base=55,
                growth=1.0,
                per_usage=0.55,
                failure_start=0.01,
                failure_growth=0.0018,
                failure_cost=900,
                energy=0.45,
                capacity=1.25,
                max_age=144,
                life=108,
                monthly_value_loss=0.015,
            ),
        ],
    },
    "printer": {
        "usage": (40, 300),  # hundreds of pages per month
        "existing": ["MFP-C300", "MFP-C400"],
        "candidates": ["MFP-C450", "MFP-C650"],
        "models": [
            _model(
                "MFP-C300",
                5200,
                base=18,
                growth=0.5,
                per_usage=0.35,
                failure_start=0.04,
                failure_growth=0.004,
                failure_cost=160,
                energy=0.03,
                capacity=1.0,
                max_age=96,
                life=60,
                monthly_value_loss=0.03,
            ),
            _model(
                "MFP-C400",
                6100,
                base=16,
                growth=0.45,
                per_usage=0.3,
                failure_start=0.03,
                failure_growth=0.0035,
                failure_cost=160,
                energy=0.03,
                capacity=1.0,
                max_age=96,
                life=60,
                monthly_value_loss=0.03,
            ),
            _model(
                "MFP-C450",
                6400,
                base=14,
                growth=0.4,
                per_usage=0.25,
                failure_start=0.02,
                failure_growth=0.003,
                failure_cost=160,
                energy=0.02,
                capacity=1.0,
                max_age=96,
                life=60,
                monthly_value_loss=0.028,
            ),
            _model(
                "MFP-C650",
                8900,
                base=15,
                growth=0.35,
                per_usage=0.2,
                failure_start=0.02,
                failure_growth=0.0025,
                failure_cost=160,
                energy=0.02,
                capacity=1.6,
                max_age=96,
                life=72,
                monthly_value_loss=0.026,
            ),
        ],
    },
    "server": {
        "usage": (300, 900),  # kWh per month
        "existing": ["SRV-G8", "SRV-G9"],
        "candidates": ["SRV-G11", "SRV-G12"],
        "models": [
            _model(
                "SRV-G8",
                9000,
                base=35,
                growth=0.9,
                per_usage=0.01,
                failure_start=0.01,
                failure_growth=0.0015,
                failure_cost=1500,
                energy=0.24,
                capacity=1.0,
                max_age=96,
                life=60,
                monthly_value_loss=0.035,
            ),
            _model(
                "SRV-G9",
                10000,
                base=30,
                growth=0.8,
                per_usage=0.01,
                failure_start=0.01,
                failure_growth=0.0012,
                failure_cost=1500,
                energy=0.2,
                capacity=1.2,
                max_age=96,
                life=60,
                monthly_value_loss=0.035,
            ),
            _model(
                "SRV-G11",
                12000,
                base=25,
                growth=0.7,
                per_usage=0.008,
                failure_start=0.005,
                failure_growth=0.001,
                failure_cost=1500,
                energy=0.13,
                capacity=1.8,
                max_age=96,
                life=60,
                monthly_value_loss=0.033,
            ),
            _model(
                "SRV-G12",
                15500,
                base=25,
                growth=0.6,
                per_usage=0.008,
                failure_start=0.005,
                failure_growth=0.0008,
                failure_cost=1500,
                energy=0.1,
                capacity=2.6,
                max_age=96,
                life=72,
                monthly_value_loss=0.03,
            ),
        ],
    },
}


def bench_problem(seed: int) -> Problem:
    rng = random.Random(seed)
    models = {m.name: m for family in FAMILIES.values() for m in family["models"]}
    weights = [rng.uniform(0.5, 1.5) for _ in range(COHORTS)]
    counts = [max(1, int(ASSETS * w / sum(weights))) for w in weights]
    counts[0] += ASSETS - sum(counts)
    families = list(FAMILIES)
    cohorts = []
    for i, count in enumerate(counts):
        family = FAMILIES[families[i % len(families)]]
        model = rng.choice(family["existing"])
        cohorts.append(
            Cohort(
                name=f"{families[i % len(families)]}-{i:02d}",
                count=count,
                model=model,
                age=rng.randint(0, models[model].max_age - 13),
                usage=float(rng.randint(*family["usage"])),
                candidates=tuple(family["candidates"]),
                customer=f"customer-{i % 7}",
            )
        )
    demands = []
    for name in families:
        members = tuple(c.name for c in cohorts if c.name.startswith(name))
        base = sum(c.count * models[c.model].capacity for c in cohorts if c.name in members)
        growth = rng.uniform(0.001, 0.004)
        demands.append(
            Demand(name, members, tuple(round(base * (1 + growth) ** t, 1) for t in range(PERIODS)))
        )
    fleet_value = sum(c.count * models[c.candidates[0]].price for c in cohorts)
    return Problem(
        periods=PERIODS,
        models=models,
        cohorts=tuple(cohorts),
        discount_rate=round(1.08 ** (1 / 12) - 1, 6),
        budget=tuple(round(fleet_value * rng.uniform(0.018, 0.026), -3) for _ in range(PERIODS)),
        crew=tuple(rng.randint(200, 320) for _ in range(PERIODS)),
        demands=tuple(demands),
        batch_fixed_cost=2500.0,
        fails_often_rate=0.25,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--gap", type=float, default=0.0)
    parser.add_argument("--solver", default="SCIP")
    args = parser.parse_args()
    rows = []
    header = f"{'seed':>4} {'status':>9} {'vars':>7} {'npc':>14} {'bound':>14} {'gap%':>7} {'sec':>6} {'eol%':>6} {'rtf%':>6}"
    print(header)
    for seed in range(args.seeds):
        problem = bench_problem(seed)
        params = SolveParams(
            time_limit_s=args.time_limit,
            num_workers=args.workers,
            relative_gap=args.gap,
            solver=args.solver,
        )
        solution = solve(problem, params)
        row = {
            "seed": seed,
            "status": solution.status,
            "variables": solution.model_size["variables"],
            "variables_full_model": solution.model_size["variables_full_model"],
            "pricing_rounds": solution.model_size["pricing_rounds"],
            "constraints": solution.model_size["constraints"],
            "net_present_cost": solution.total_cost,
            "best_bound": solution.best_bound,
            "gap": solution.gap,
            "seconds": round(solution.seconds, 3),
            "replacements": sum(p.count * len(p.replacements) for p in solution.plan),
        }
        for key, name in (("end_of_life", END_OF_LIFE), ("run_to_failure", RUN_TO_FAILURE)):
            baseline = solution.baselines[name]
            row[f"{key}_cost"] = baseline.net_present_cost
            row[f"{key}_violations"] = len(baseline.violations)
            if solution.total_cost is not None:
                row[f"{key}_saving"] = 1 - solution.total_cost / baseline.net_present_cost
        rows.append(row)
        gap = f"{100 * row['gap']:.4f}" if row["gap"] is not None else "-"
        npc = f"{row['net_present_cost']:.0f}" if row["net_present_cost"] is not None else "-"
        bound = f"{row['best_bound']:.0f}" if row["best_bound"] is not None else "-"
        eol = f"{100 * row.get('end_of_life_saving', 0):.1f}"
        rtf = f"{100 * row.get('run_to_failure_saving', 0):.1f}"
        print(
            f"{seed:>4} {row['status']:>9} {row['variables']:>7} {npc:>14} {bound:>14} {gap:>7} {row['seconds']:>6.2f} {eol:>6} {rtf:>6}"
        )
    seconds = [r["seconds"] for r in rows]
    gaps = [r["gap"] for r in rows if r["gap"] is not None]
    summary = {
        "instances": len(rows),
        "seconds_mean": statistics.mean(seconds),
        "seconds_median": statistics.median(seconds),
        "seconds_worst": max(seconds),
        "gap_worst": max(gaps) if gaps else None,
        "target_met": all(
            r["status"] in ("optimal", "feasible") and r["gap"] <= 1e-3 and r["seconds"] <= 10
            for r in rows
        ),
    }
    print(json.dumps(summary, indent=2))
    out = Path(__file__).resolve().parent / "results" / "replacement.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"summary": summary, "instances": rows, "args": vars(args)}, indent=2)
    )


if __name__ == "__main__":
    main()
