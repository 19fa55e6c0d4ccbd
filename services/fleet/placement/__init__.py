"""Placement / right-sizing optimizer: which devices, how many, where, and who uses which."""

from services.fleet.placement.model import (
    Assignment,
    CandidatePosition,
    CostBreakdown,
    CurrentDevice,
    DemandGroup,
    DeviceModel,
    FleetChanges,
    InvalidProblemError,
    Limits,
    Params,
    Plan,
    PlannedDevice,
    Problem,
    Solver,
    Status,
)
from services.fleet.placement.solver import solve

__all__ = [
    "Assignment",
    "CandidatePosition",
    "CostBreakdown",
    "CurrentDevice",
    "DemandGroup",
    "DeviceModel",
    "FleetChanges",
    "InvalidProblemError",
    "Limits",
    "Params",
    "Plan",
    "PlannedDevice",
    "Problem",
    "Solver",
    "Status",
    "solve",
]
