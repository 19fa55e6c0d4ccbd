"""Solomon adapter, CLI and the independent feasibility check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.maintenance.scheduling.solomon import read_solomon
from services.maintenance.scheduling.solomon_check import (
    SolomonInstance,
    check_routes,
    route_distance,
)

REPO = Path(__file__).resolve().parents[2]

TINY = SolomonInstance(
    name="TINY",
    fleet_size=2,
    capacity=10,
    x=(0, 10, 0, -10),
    y=(0, 0, 10, 0),
    demand=(0, 4, 4, 4),
    ready=(0, 0, 0, 30),
    due=(100, 20, 40, 60),
    service=(0, 5, 5, 5),
)


def test_checker_accepts_a_valid_plan() -> None:
    assert check_routes(TINY, ((1, 2), (3,))) == []
    assert route_distance(TINY, (3,)) == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("routes", "problem"),
    [
        (((1, 2),), "customer 3 visited 0 times"),
        (((1, 2), (3, 1)), "customer 1 visited 2 times"),
        (((1, 2, 3),), "load 12 > capacity 10"),
        (((2, 1), (3,)), "customer 1 starts at"),
        (((1,), (2,), (3,)), "exceed the fleet"),
    ],
)
def test_checker_rejects_broken_routes(routes: tuple[tuple[int, ...], ...], problem: str) -> None:
    violations = check_routes(TINY, routes)
    assert any(problem in v for v in violations), violations


def test_cli_solves_c101_feasibly_near_best_known(shared_data: Path) -> None:
    path = shared_data / "vrptw" / "solomon" / "C101.txt"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.maintenance.scheduling",
            "solve",
            "--format",
            "solomon",
            str(path),
            "--time-limit",
            "3",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result = json.loads(completed.stdout)
    assert result["feasible"] is True
    served = sorted(c for route in result["routes"] for c in route)
    assert served == list(range(1, 101))
    assert result["vehicles"] == len(result["routes"])
    best_known = json.loads((path.parent / "bks_distance.json").read_text())["C101"]["cost"]
    assert result["distance"] <= best_known * 1.05


def test_solver_routes_pass_the_double_precision_check_on_a_tight_instance(
    shared_data: Path,
) -> None:
    from services.maintenance.scheduling.model import Objective
    from services.maintenance.scheduling.routing_core import CoreSearch
    from services.maintenance.scheduling.solomon import solve_solomon

    instance = read_solomon(shared_data / "vrptw" / "solomon" / "R101.txt")
    solution = solve_solomon(instance, Objective.DISTANCE, CoreSearch(2.0))
    assert solution.feasible, solution.violations
    assert check_routes(instance, solution.routes) == []
