"""Where the project's own diagnostics data files are: services/maintenance/catalogues/."""

from __future__ import annotations

from pathlib import Path

CATALOGUE_DIR = Path(__file__).resolve().parents[2] / "catalogues"
REDFISH_REGISTRY_BUNDLE = CATALOGUE_DIR / "redfish-registries.json"
