"""Models and migrations agree on both back ends, and the proto lint catches style violations."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from alembic import command

from services.runtime.config import REPO_ROOT
from services.runtime.db import Database, alembic_config
from services.runtime.migration_tool import migrations_dir


@pytest.mark.parametrize("service", ["fleet", "maintenance", "invoicing"])
def test_models_and_migrations_agree(new_database_url, service):
    url = new_database_url(f"check-{service}")
    database = Database(url)
    try:
        database.migrate(migrations_dir(service))
        command.check(alembic_config(migrations_dir(service), url))  # raises when autogenerate finds a diff
    finally:
        database.dispose()


def lint(root) -> str:
    """Runs the lint in its own process: protoc's bundled protobuf library clashes with OR-Tools' in one process."""
    run = subprocess.run([sys.executable, str(REPO_ROOT / "protos" / "build.py"), "lint", str(root)],
                         capture_output=True, text=True, timeout=120)
    return run.stderr if run.returncode else ""


def test_shipped_protos_pass_the_lint():
    assert lint(REPO_ROOT / "protos") == ""


def test_lint_reports_each_kind_of_violation(tmp_path):
    folder = tmp_path / "fleetops" / "demo" / "v1"
    folder.mkdir(parents=True)
    (folder / "demo.proto").write_text(textwrap.dedent("""
        syntax = "proto3";
        package fleetops.other.v1;
        enum Colour { RED = 0; COLOUR_BLUE = 1; }
        message ListThingsRequest { int32 page_size = 1; }
        message ListThingsResponse { repeated string things = 1; }
        message CreateThingRequest { string thing_id = 1; }
        message Thing { string name = 1; }
        service Demo {
          rpc ListThings(ListThingsRequest) returns (ListThingsResponse);
          rpc CreateThing(CreateThingRequest) returns (Thing);
        }
    """))
    problems = lint(tmp_path)
    assert "must match its folder 'fleetops.demo.v1'" in problems
    assert "COLOUR_UNSPECIFIED = 0" in problems
    assert "RED must start with COLOUR_" in problems
    assert "ListThings: request lacks page_token" in problems
    assert "ListThings: response lacks next_page_token" in problems
    assert "CreateThing: request lacks request_id" in problems
