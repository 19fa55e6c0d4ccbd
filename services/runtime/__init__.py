"""Shared runtime of the fleetops services: server bootstrap, errors, metrics, persistence helpers."""
