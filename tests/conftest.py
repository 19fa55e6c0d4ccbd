"""Fixtures shared by the whole suite: shared data, databases on both back ends, running services.

Every service fixture starts the real server on `[::]:0` against a fresh database and yields a
client; persistence tests run once on SQLite and once on PostgreSQL (skipped when PostgreSQL is not
reachable, except under CI=true, where `.ci/run` guarantees it and its absence is a failure).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import sqlalchemy

from services.runtime.config import load_config
from services.runtime.server import RunningService, ServiceDefinition
from services.runtime.shared_data import shared_data_dir

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get("FLEETOPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
DEVELOPER_METADATA = (("x-fleetops-subject", "test-admin"), ("x-fleetops-roles", "admin"))


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public data folder; skips outside CI when absent, fails in CI (CI=true)."""
    path = shared_data_dir()
    if not path.is_dir():
        _skip_or_fail(f"shared data not found at {path} (set FLEETOPS_SHARED_DATA)")
    return path


def _postgres_reachable() -> str | None:
    engine = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except sqlalchemy.exc.OperationalError as error:
        return str(error.orig).strip().splitlines()[0]
    finally:
        engine.dispose()


class PostgresDatabases:
    """Creates throw-away databases on the test server and drops them at the end of the session."""

    def __init__(self) -> None:
        self._engine = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self._created: list[str] = []

    def create(self, label: str) -> str:
        name = f"fleetops_test_{label}_{uuid.uuid4().hex[:10]}"
        with self._engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return sqlalchemy.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self._engine.connect() as connection:
            for name in self._created:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request) -> str:
    if request.param == "postgresql":
        problem = _postgres_reachable()
        if problem:
            _skip_or_fail(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {problem}")
    return request.param


@pytest.fixture(scope="session")
def new_database_url(backend, tmp_path_factory) -> Iterator:
    """A factory: `new_database_url("fleet")` gives a fresh, empty database on the current back end."""
    if backend == "sqlite":
        folder = tmp_path_factory.mktemp("sqlite")
        yield lambda label: f"sqlite:///{folder / f'{label}-{uuid.uuid4().hex[:8]}.db'}"
        return
    databases = PostgresDatabases()
    yield databases.create
    databases.drop_all()


class _DefaultMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                       grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Sends the development identity headers unless a call brings its own."""

    def __init__(self, metadata):
        self._metadata = tuple(metadata)

    def _with_metadata(self, details):
        if details.metadata is not None:
            return details
        return _Details(details.method, details.timeout, self._metadata, details.credentials,
                        getattr(details, "wait_for_ready", None), getattr(details, "compression", None))

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_metadata(details), request)

    intercept_unary_stream = intercept_unary_unary

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._with_metadata(details), request_iterator)

    intercept_stream_stream = intercept_stream_unary


@dataclass
class _Details(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: tuple | None
    credentials: object
    wait_for_ready: bool | None
    compression: object


@dataclass
class ServiceUnderTest:
    service: RunningService
    channel: grpc.Channel  # sends the developer identity by default
    raw_channel: grpc.Channel  # sends no metadata at all
    database_url: str

    @property
    def address(self) -> str:
        return f"localhost:{self.service.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://localhost:{self.service.metrics_port}/metrics"


def start_service(definition: ServiceDefinition, database_url: str, **overrides) -> ServiceUnderTest:
    config = load_config(definition.name, **{"grpc_port": 0, "metrics_port": 0, "database_url": database_url,
                                             "development_auth": True, **overrides})
    service = RunningService(definition, config)
    raw = grpc.insecure_channel(f"localhost:{service.port}")
    channel = grpc.intercept_channel(raw, _DefaultMetadata(DEVELOPER_METADATA))
    return ServiceUnderTest(service, channel, raw, database_url)


def stop_service(handle: ServiceUnderTest) -> None:
    handle.raw_channel.close()
    handle.service.stop(grace=1)


@pytest.fixture(scope="session")
def service_factory(new_database_url) -> Iterator:
    """Starts services on the current back end, each on a fresh database; stops them at session end."""
    started: list[ServiceUnderTest] = []

    def start(definition: ServiceDefinition, **overrides) -> ServiceUnderTest:
        handle = start_service(definition, new_database_url(definition.name), **overrides)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        stop_service(handle)


@pytest.fixture(scope="session")
def fleet(service_factory) -> ServiceUnderTest:
    from services.fleet.main import DEFINITION
    return service_factory(DEFINITION)


@pytest.fixture(scope="session")
def maintenance(service_factory, fleet) -> ServiceUnderTest:
    from services.maintenance.main import DEFINITION
    return service_factory(DEFINITION, peers={"fleet": fleet.address, "invoicing": "localhost:1"})


@pytest.fixture(scope="session")
def invoicing(service_factory, fleet, maintenance) -> ServiceUnderTest:
    from services.invoicing.main import DEFINITION
    return service_factory(DEFINITION, peers={"fleet": fleet.address, "maintenance": maintenance.address})


@pytest.fixture(scope="session")
def suite(fleet, maintenance, invoicing) -> dict[str, ServiceUnderTest]:
    """All three services on the same back end, for cross-service tests."""
    return {"fleet": fleet, "maintenance": maintenance, "invoicing": invoicing}
