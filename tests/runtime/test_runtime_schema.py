"""Models and migrations agree on both back ends, and the proto lint catches style violations."""

from __future__ import annotations

import textwrap

import pytest
from alembic import command

from protos.build import PROTO_ROOT, lint
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


def test_shipped_protos_pass_the_lint():
    assert lint(PROTO_ROOT) == []


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
    problems = "\n".join(lint(tmp_path))
    assert "must match its folder 'fleetops.demo.v1'" in problems
    assert "COLOUR_UNSPECIFIED = 0" in problems
    assert "RED must start with COLOUR_" in problems
    assert "ListThings: request lacks page_token" in problems
    assert "ListThings: response lacks next_page_token" in problems
    assert "CreateThing: request lacks request_id" in problems
