"""The public facility-location benchmarks through the same solve() the service runs, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.fleet.placement import Params, Status, solve
from services.fleet.placement.__main__ import main
from services.fleet.placement.benchmarks import (
    HOLMBERG_COST_SCALE,
    ORLIB_COST_SCALE,
    BenchmarkFormatError,
    read_holmberg,
    read_orlib_cap,
    to_problem,
)

HOLMBERG_PARAMS = Params(time_limit_seconds=30, num_workers=1, evaluate_today=False, cost_scale=HOLMBERG_COST_SCALE)
PARAMS = Params(time_limit_seconds=30, num_workers=1, evaluate_today=False, cost_scale=ORLIB_COST_SCALE)


@pytest.fixture(scope="module")
def holmberg(shared_data: Path) -> Path:
    return shared_data / "facility-location" / "holmberg"


@pytest.fixture(scope="module")
def orlib(shared_data: Path) -> Path:
    return shared_data / "facility-location" / "orlib-cap"


def published_optimum(holmberg: Path, instance: int) -> int:
    return int((holmberg / "os").read_text().split()[instance - 1])


def test_holmberg_reader_handles_crlf_and_nul_padding(holmberg: Path) -> None:
    # p2 has CRLF line ends and NUL padding; p1 has neither. Both are 10 x 50.
    for name in ("p1", "p2"):
        facilities = read_holmberg(holmberg / name)
        assert (len(facilities.capacities), len(facilities.demands)) == (10, 50)
        assert all(len(row) == 50 for row in facilities.costs)


@pytest.mark.parametrize("instance", [1, 14])
def test_holmberg_instances_reach_the_published_optimum(holmberg: Path, instance: int) -> None:
    problem = to_problem(read_holmberg(holmberg / f"p{instance}"))
    plan = solve(problem, HOLMBERG_PARAMS)
    assert plan.status is Status.OPTIMAL
    assert plan.objective == published_optimum(holmberg, instance)
    assert len({a.group_id for a in plan.assignments}) == len(problem.groups) == len(plan.assignments)


def test_status_is_optimal_only_when_proven(holmberg: Path) -> None:
    # p31 takes HiGHS tens of seconds to prove; one second is not enough.
    problem = to_problem(read_holmberg(holmberg / "p31"))
    plan = solve(problem, Params(time_limit_seconds=1, num_workers=1, evaluate_today=False, cost_scale=HOLMBERG_COST_SCALE))
    assert plan.status in (Status.FEASIBLE, Status.UNKNOWN)
    if plan.status is Status.FEASIBLE:
        assert plan.objective is not None and plan.objective >= published_optimum(holmberg, 31)
        assert plan.gap is not None and plan.gap > 0


def test_orlib_split_demand_reaches_the_published_optimum(orlib: Path) -> None:
    plan = solve(to_problem(read_orlib_cap(orlib / "cap41.txt"), split_demand=True), PARAMS)
    assert plan.status is Status.OPTIMAL
    assert plan.objective is not None and abs(float(plan.objective) - 1040444.375) < 1e-3


def test_orlib_single_source_is_infeasible_when_a_demand_exceeds_every_capacity(orlib: Path) -> None:
    # cap41 has customers of 5495 and 12912 units but facilities of 5000 (see the data README).
    plan = solve(to_problem(read_orlib_cap(orlib / "cap41.txt")), PARAMS)
    assert plan.status is Status.INFEASIBLE


def test_capacity_override_turns_cap41_into_cap71(orlib: Path) -> None:
    # cap41 and cap71 differ only in capacity (5000 vs 58268), so the override reproduces cap71.
    plan = solve(to_problem(read_orlib_cap(orlib / "cap41.txt", capacity=58268), split_demand=True), PARAMS)
    assert plan.objective is not None and abs(float(plan.objective) - 932615.750) < 1e-3


def test_capacity_placeholder_needs_the_override(tmp_path: Path) -> None:
    instance = tmp_path / "capa_like.txt"
    instance.write_text("2 1\ncapacity 10.\ncapacity 20.\n5\n1.5 2.5\n")
    with pytest.raises(BenchmarkFormatError, match="--capacity"):
        read_orlib_cap(instance)
    plan = solve(to_problem(read_orlib_cap(instance, capacity=4), split_demand=True), PARAMS)
    # 5 units over two facilities of 4: both open (30), 4/5 and 1/5 of the demand, cheaper one first.
    assert plan.status is Status.OPTIMAL
    assert plan.objective is not None and abs(float(plan.objective) - (30 + 0.8 * 1.5 + 0.2 * 2.5)) < 1e-6


def test_cli_prints_one_json_object(holmberg: Path, orlib: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", "--format", "holmberg", str(holmberg / "p1"), "--time-limit", "30"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "optimal"
    assert summary["objective"] == summary["bound"] == published_optimum(holmberg, 1)
    assert summary["seconds"] >= 0

    args = ["solve", "--format", "orlib-cap", str(orlib / "cap41.txt"), "--capacity", "58268", "--time-limit", "30"]
    assert main(args) == 0
    assert abs(json.loads(capsys.readouterr().out)["objective"] - 932615.750) < 1e-3
