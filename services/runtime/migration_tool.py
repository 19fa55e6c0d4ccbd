"""Writes a new Alembic revision for a service from the difference between its models and its migrations.

    python -m services.runtime.migration_tool fleet "add sites"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from services.runtime.db import Database, alembic_config

SERVICES_ROOT = Path(__file__).resolve().parents[1]


def migrations_dir(service: str) -> Path:
    return SERVICES_ROOT / service / "migrations"


def write_revision(service: str, message: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.db"
        database = Database(url)
        database.migrate(migrations_dir(service))
        database.dispose()
        command.revision(alembic_config(migrations_dir(service), url), message=message, autogenerate=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    write_revision(sys.argv[1], sys.argv[2])
