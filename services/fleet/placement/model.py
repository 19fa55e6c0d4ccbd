"""The placement problem and its plan: which devices, how many, where, and who uses which.

One model serves the three fleet classes:

- managed print: a demand group is a department or user cluster with monthly mono and colour
  pages and needs such as ``colour``/``a3``/``scan``; a device model is a printer;
- forklifts: a demand group is a warehouse zone with lift-hours per shift and a load weight need;
- servers: a demand group is a workload with vCPU and RAM; a position is a rack or host slot.

Units. Resource demands and capacities are integers in whatever grain the caller picks (pages per
month, tenth lift-hours, vCPU, GiB). Money is exact :class:`~decimal.Decimal` in the currency's
main unit. Monthly figures are per month; one-off figures (install, move, retire) are paid once
and weighed against ``Problem.horizon_months`` months of running cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum


class InvalidProblemError(ValueError):
    """The problem is malformed (unknown reference, negative amount, ...); ``field`` names where."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field_path = field_path


@dataclass(frozen=True)
class DemandGroup:
    """Users (or a zone, or a workload) that must be served by exactly one device."""

    id: str
    demand: Mapping[str, int]
    """Resource name -> amount per month (pages, lift-hours, vCPU...)."""
    needs: frozenset[str] = frozenset()
    """Features the serving device must have (``colour``, ``a3``, ``scan``, ``load-2500kg``...)."""
    users: int = 1
    """How many people walk to the device; weighs the walking penalty."""


@dataclass(frozen=True)
class CandidatePosition:
    """A place that can hold devices."""

    id: str
    max_devices: int = 1
    allowed_models: frozenset[str] | None = None
    """Model ids this position may hold; ``None`` means every model."""


@dataclass(frozen=True)
class DeviceModel:
    """A device type with its capacity at the target utilisation and its costs."""

    id: str
    capacity: Mapping[str, int]
    """Resource name -> usable amount per month at the target utilisation (missing = 0)."""
    monthly_cost: Decimal
    """Lease + service + energy per device and month."""
    features: frozenset[str] = frozenset()
    variable_cost: Mapping[str, Decimal] = field(default_factory=dict)
    """Resource name -> cost per unit served (cost per page, per lift-hour...)."""
    install_cost: Decimal = Decimal(0)
    """One-off cost of adding a new device of this model."""
    move_cost: Decimal = Decimal(0)
    """One-off cost of moving an existing device of this model to another position."""
    retire_cost: Decimal = Decimal(0)
    """One-off cost of removing an existing device (pickup, early lease termination)."""


@dataclass(frozen=True)
class CurrentDevice:
    """A device of today's fleet; keeping it where it is costs nothing extra."""

    id: str
    model_id: str
    position_id: str


@dataclass(frozen=True)
class Limits:
    """Optional caps on the plan."""

    max_devices: int | None = None
    monthly_budget: Decimal | None = None
    """Upper bound on the plan's monthly running cost (devices + variable + walking)."""
    max_walking_distance: Decimal | None = None
    """Hard limit between a group and its device, in the unit of ``Problem.walking_distance``."""


@dataclass(frozen=True)
class Problem:
    groups: tuple[DemandGroup, ...]
    positions: tuple[CandidatePosition, ...]
    models: tuple[DeviceModel, ...]
    walking_distance: Mapping[tuple[str, str], Decimal]
    """(group id, position id) -> distance; a missing pair means the group cannot use that position."""
    current_fleet: tuple[CurrentDevice, ...] = ()
    limits: Limits = Limits()
    walking_cost_per_unit: Decimal = Decimal(0)
    """Penalty per distance unit, per user and month (0 = distance only matters as a hard limit)."""
    horizon_months: int = 1
    """Months of running cost that one-off change costs are weighed against."""
    split_demand: bool = False
    """Allow a group's demand to be split over several devices (continuous assignment, a MIP).
    Not a product setting: it exists for the classic split-demand benchmark (OR-Library cap)."""


class Solver(str, Enum):
    CP_SAT = "cp-sat"
    HIGHS = "highs"
    SCIP = "scip"


@dataclass(frozen=True)
class Params:
    time_limit_seconds: float = 30.0
    """For the plan; pricing today's fleet afterwards may add up to a tenth of it."""
    num_workers: int = 2
    """CP-SAT search workers; HiGHS and SCIP search on one thread (MathOpt rejects a count)."""
    solver: Solver = Solver.HIGHS
    """HiGHS proved the benchmarks fastest (table in bench/placement.py); CP-SAT and SCIP remain
    available, CP-SAT only for single-source problems."""
    cost_scale: int = 100
    """The solver works in integer units of 1/cost_scale money (100 = cents). Every per-group
    assignment cost is rounded half-even to that grain before solving; the plan's costs are
    recomputed exactly from the chosen assignment."""
    relative_gap: float = 0.0
    """Stop when (objective - bound) / objective is at most this; 0 means prove optimality."""
    evaluate_today: bool = True
    """Also solve the assignment of groups to today's fleet to price today's cost."""


class Status(str, Enum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"
    """Time ran out before any plan was found."""


@dataclass(frozen=True)
class PlannedDevice:
    """A device in the plan; ``current_device_id`` is set when it is an existing device (kept or
    moved), ``moved_from`` when it changes position."""

    position_id: str
    model_id: str
    slot: int
    current_device_id: str | None = None
    moved_from: str | None = None


@dataclass(frozen=True)
class Assignment:
    group_id: str
    position_id: str
    model_id: str
    slot: int
    share: Decimal = Decimal(1)
    """Fraction of the group's demand served here (1 unless the problem allows split demand)."""


@dataclass(frozen=True)
class CostBreakdown:
    """Monthly running cost, split by cause, and the one-off change costs."""

    device_monthly: Decimal
    variable_monthly: Decimal
    walking_monthly: Decimal
    change_one_off: Decimal = Decimal(0)

    @property
    def monthly(self) -> Decimal:
        return self.device_monthly + self.variable_monthly + self.walking_monthly


@dataclass(frozen=True)
class FleetChanges:
    kept: tuple[str, ...]
    """Current device ids that stay where they are."""
    moved: tuple[tuple[str, str, str], ...]
    """(current device id, from position, to position)."""
    added: tuple[tuple[str, str], ...]
    """(model id, position id) of each new device."""
    retired: tuple[str, ...]
    """Current device ids that leave the fleet."""


@dataclass(frozen=True)
class Plan:
    status: Status
    objective: Decimal | None
    """Solver objective in money: horizon_months x monthly cost + one-off change costs."""
    bound: Decimal | None
    """Best proven lower bound on the objective; ``None`` when the solver proved none."""
    gap: float | None
    """(objective - bound) / objective; 0 when optimal."""
    seconds: float
    devices: tuple[PlannedDevice, ...] = ()
    assignments: tuple[Assignment, ...] = ()
    cost: CostBreakdown | None = None
    today: CostBreakdown | None = None
    """Today's fleet with every group on its best reachable device of today's fleet (so at most
    what today really costs: the saving is conservative); ``None`` when not evaluated or when
    today's fleet cannot serve every group within the limits."""
    changes: FleetChanges | None = None

    @property
    def monthly_saving(self) -> Decimal | None:
        if self.cost is None or self.today is None:
            return None
        return self.today.monthly - self.cost.monthly
