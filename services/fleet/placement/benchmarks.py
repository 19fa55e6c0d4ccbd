"""Public facility-location benchmarks mapped onto the placement model.

Both formats (see ``shared/data/facility-location/*/README.md``) become a :class:`Problem` the
service itself solves: each facility is a one-slot position that may hold only its own device
model (capacity = the facility's capacity on the single resource ``demand``, monthly cost = its
fixed cost), each customer is a demand group, and the assignment cost c_ij is a walking distance
priced at 1 per unit for one user. No current fleet, no limits, horizon one month.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from services.fleet.placement.model import CandidatePosition, DemandGroup, DeviceModel, Problem

RESOURCE = "demand"
HOLMBERG_COST_SCALE = 1
"""Holmberg data are whole numbers written as ``49.``."""
ORLIB_COST_SCALE = 100_000
"""OR-Library costs carry 5 decimals, so grains of 1e-5 keep them exact."""


class BenchmarkFormatError(ValueError):
    """The file does not hold the tokens its format promises."""


@dataclass(frozen=True)
class Facilities:
    capacities: list[int]
    fixed_costs: list[Decimal]
    demands: list[int]
    costs: list[list[Decimal]]
    """costs[i][j]: cost of serving customer j's whole demand from facility i."""


def read_holmberg(path: Path) -> Facilities:
    """Holmberg et al. SSCFLP: ``m n``, m pairs (capacity, fixed cost), n demands, then the costs
    facility-major. Files may carry CRLF line ends and NUL padding after the last token."""
    tokens = path.read_bytes().replace(b"\0", b" ").decode("ascii").split()
    if len(tokens) < 2:
        raise BenchmarkFormatError(f"{path}: missing the m n header")
    m, n = int(tokens[0]), int(tokens[1])
    needed = 2 + 2 * m + n + m * n
    if len(tokens) < needed:
        raise BenchmarkFormatError(f"{path}: {len(tokens)} tokens, expected {needed}")
    numbers = [_whole(token) for token in tokens[2:needed]]
    pairs, demands, flat = numbers[: 2 * m], numbers[2 * m : 2 * m + n], numbers[2 * m + n :]
    return Facilities(
        capacities=pairs[0::2],
        fixed_costs=[Decimal(cost) for cost in pairs[1::2]],
        demands=demands,
        costs=[[Decimal(cost) for cost in flat[i * n : (i + 1) * n]] for i in range(m)],
    )


def read_orlib_cap(path: Path, capacity: int | None = None) -> Facilities:
    """OR-Library ``capinfo`` format: ``m n``, m pairs (capacity, fixed cost), then per customer its
    demand and its m costs (customer-major).

    ``capacity`` overrides every facility's capacity. OR-Library's capa/capb/capc files write the
    word ``capacity`` instead of a number and are solved for several capacities chosen by the
    caller; a file like that cannot be read without the override.
    """
    tokens = path.read_text(encoding="ascii").split()
    if len(tokens) < 2:
        raise BenchmarkFormatError(f"{path}: missing the m n header")
    m, n = int(tokens[0]), int(tokens[1])
    needed = 2 + 2 * m + n * (1 + m)
    if len(tokens) < needed:
        raise BenchmarkFormatError(f"{path}: {len(tokens)} tokens, expected {needed}")
    capacity_tokens = tokens[2 : 2 + 2 * m : 2]
    if capacity is None:
        if any(token.lower() == "capacity" for token in capacity_tokens):
            raise BenchmarkFormatError(f"{path}: capacities are the placeholder 'capacity'; pass --capacity N")
        capacities = [_whole(token) for token in capacity_tokens]
    else:
        capacities = [capacity] * m
    customers = tokens[2 + 2 * m : needed]
    demands = [_whole(customers[j * (m + 1)]) for j in range(n)]
    by_customer = [[Decimal(token) for token in customers[j * (m + 1) + 1 : (j + 1) * (m + 1)]] for j in range(n)]
    return Facilities(
        capacities=capacities,
        fixed_costs=[Decimal(token) for token in tokens[3 : 2 + 2 * m : 2]],
        demands=demands,
        costs=[[by_customer[j][i] for j in range(n)] for i in range(m)],
    )


def to_problem(facilities: Facilities, split_demand: bool = False) -> Problem:
    m, n = len(facilities.capacities), len(facilities.demands)
    models = tuple(
        DeviceModel(id=f"m{i + 1}", capacity={RESOURCE: facilities.capacities[i]}, monthly_cost=facilities.fixed_costs[i])
        for i in range(m)
    )
    positions = tuple(
        CandidatePosition(id=f"f{i + 1}", max_devices=1, allowed_models=frozenset({f"m{i + 1}"})) for i in range(m)
    )
    groups = tuple(DemandGroup(id=f"c{j + 1}", demand={RESOURCE: facilities.demands[j]}) for j in range(n))
    distance = {(f"c{j + 1}", f"f{i + 1}"): facilities.costs[i][j] for i in range(m) for j in range(n)}
    return Problem(
        groups=groups,
        positions=positions,
        models=models,
        walking_distance=distance,
        walking_cost_per_unit=Decimal(1),
        split_demand=split_demand,
    )


def _whole(token: str) -> int:
    value = Decimal(token)
    if value != value.to_integral_value():
        raise BenchmarkFormatError(f"expected a whole number, got {token!r}")
    return int(value)
