"""Placeholder until helper-8 lands this module."""


class PolicyMethods:
    """Mixed into MaintenanceApi."""
