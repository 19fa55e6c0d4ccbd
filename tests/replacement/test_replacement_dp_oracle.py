"""The optimizer against an exact dynamic program on seeded random small instances."""

from __future__ import annotations

import math

from replacement_oracle import TooLarge, optimal_cost, random_problem

from services.fleet.replacement import SolveParams, solve

INSTANCES = 200
# Instances whose DP needs more transitions are skipped (by seed) to keep the suite fast.
DP_TRANSITIONS = 60_000


def test_optimizer_cost_equals_dp_on_200_random_instances() -> None:
    """200 instances with a plan compared on cost; infeasible draws must be infeasible for both."""
    checked = []
    mismatches = []
    seed = 0
    while sum(not math.isinf(cost) for _, cost in checked) < INSTANCES:
        problem = random_problem(seed)
        seed += 1
        try:
            expected = optimal_cost(problem, DP_TRANSITIONS)
        except TooLarge:
            continue
        solution = solve(problem, SolveParams(time_limit_s=20, num_workers=1))
        checked.append((problem, expected))
        if math.isinf(expected):
            if solution.status != "infeasible":
                mismatches.append((seed - 1, "infeasible", solution.status, solution.total_cost))
        elif solution.status != "optimal" or abs(solution.total_cost - expected) > 1e-6:
            mismatches.append((seed - 1, expected, solution.status, solution.total_cost))
    assert mismatches == []
    feasible = [p for p, cost in checked if not math.isinf(cost)]
    assert len(checked) > len(feasible)
    assert sum(p.budget is not None for p in feasible) >= 50
    assert sum(p.budget is None for p in feasible) >= 50
    assert max(sum(c.count for c in p.cohorts) for p in feasible) == 6
    assert max(p.periods for p in feasible) == 8
    assert max(c.age or 0 for p in feasible for c in p.cohorts) == 5
    assert any(p.crew is not None for p in feasible) and any(p.demands for p in feasible)
