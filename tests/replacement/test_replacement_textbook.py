"""The textbook single-machine case, the CLI and the JSON format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.fleet.replacement import (
    ProblemError,
    SolveParams,
    evaluate,
    problem_from_json,
    solution_to_json,
    solve,
)
from services.fleet.replacement.__main__ import main
from services.fleet.replacement.policies import END_OF_LIFE, RUN_TO_FAILURE
from services.fleet.replacement.problem import PositionPlan, Replacement

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "services" / "fleet" / "replacement" / "example_problem.json"

# Winston, Operations Research, equipment replacement: a tester must be bought now and kept at
# most three years; net cost over five years, trading in at the horizon.
TEXTBOOK = {
    "periods": 5,
    "models": [
        {
            "name": "tester",
            "price": 1000,
            "max_age": 3,
            "maintenance": {"fixed": [60, 80, 120]},
            "residual_value": [1000, 800, 600, 500],
        }
    ],
    "cohorts": [{"name": "shop", "count": 1, "model": None, "age": None, "candidates": ["tester"]}],
}


def test_textbook_single_machine_costs_1280() -> None:
    solution = solve(problem_from_json(TEXTBOOK), SolveParams(time_limit_s=5))
    assert solution.status == "optimal"
    assert solution.total_cost == pytest.approx(1280, abs=1e-9)
    periods = [step.period for step in solution.plan[0].replacements]
    assert periods[0] == 0 and all(b - a <= 3 for a, b in zip(periods, periods[1:] + [5]))


def test_keeping_longer_than_max_age_is_reported_as_violation() -> None:
    problem = problem_from_json(TEXTBOOK)
    solution = solve(problem, SolveParams(time_limit_s=5))
    bought_once = [PositionPlan("shop", 1, (Replacement(0, "tester"),))]
    assert any("age 3" in v for v in evaluate(problem, bought_once).violations)
    assert evaluate(problem, solution.plan).violations == []


def test_baselines_use_the_same_costs_and_are_not_cheaper_than_optimum() -> None:
    problem = problem_from_json(json.loads(EXAMPLE.read_text()))
    solution = solve(problem, SolveParams(time_limit_s=10))
    assert solution.status == "optimal"
    for name in (END_OF_LIFE, RUN_TO_FAILURE):
        baseline = solution.baselines[name]
        assert baseline.violations or baseline.net_present_cost >= solution.total_cost - 1e-6


def test_cli_prints_status_cost_plan_and_seconds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "textbook.json"
    path.write_text(json.dumps(TEXTBOOK))
    assert main(["solve", str(path), "--time-limit", "5"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["status"] == "optimal"
    assert output["total_cost"] == pytest.approx(1280)
    assert output["plan"][0]["replacements"][0] == {"period": 0, "model": "tester"}
    assert output["seconds"] >= 0
    assert set(output["baselines"]) == {END_OF_LIFE, RUN_TO_FAILURE}


def test_cli_runs_the_documented_example_as_a_module() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.fleet.replacement",
            "solve",
            str(EXAMPLE),
            "--time-limit",
            "10",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output = json.loads(result.stdout)
    assert output["status"] == "optimal"
    planned_ids = {asset for group in output["plan"] for asset in group["asset_ids"]}
    assert {"FL-0001", "FL-0101", "FL-0103"} <= planned_ids
    assert len(output["cost_per_period"]) == 6
    assert all(lead["period"] < 2 for lead in output["leads"]) and output["leads"]


def test_cli_rejects_bad_input_naming_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = json.loads(json.dumps(TEXTBOOK))
    broken["cohorts"][0]["candidates"] = ["no-such-model"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    assert main(["solve", str(path)]) == 2
    error = json.loads(capsys.readouterr().err)
    assert error["status"] == "invalid" and "cohorts[0].candidates" in error["error"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("periods"), "periods"),
        (lambda d: d["models"][0].update(residual_value="cheap"), "models[0].residual_value"),
        (lambda d: d.update(budget=[1, 2]), "budget"),
        (lambda d: d["cohorts"][0].update(age=2), "cohorts[0].age"),
    ],
)
def test_invalid_problems_name_the_field(change, field: str) -> None:
    data = json.loads(json.dumps(TEXTBOOK))
    change(data)
    with pytest.raises(ProblemError) as raised:
        solve(problem_from_json(data))
    assert raised.value.field == field


def test_solution_json_round_trips_through_json() -> None:
    solution = solve(problem_from_json(TEXTBOOK), SolveParams(time_limit_s=5))
    assert json.loads(json.dumps(solution_to_json(solution)))["total_cost"] == pytest.approx(1280)
