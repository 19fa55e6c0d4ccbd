"""Service configuration from environment variables, with safe defaults for a developer machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.runtime.errors import InvalidArgument

REPO_ROOT = Path(__file__).resolve().parents[2]

# Default ports per service: gRPC 50051.., metrics 9101..
DEFAULT_PORTS = {"fleet": (50051, 9101), "maintenance": (50052, 9102), "invoicing": (50053, 9103)}
# Only for a developer's embedded database; a real deployment sets FLEETOPS_PAGE_TOKEN_SECRET.
_DEVELOPMENT_TOKEN_SECRET = "fleetops-development-page-token-secret"


@dataclass(frozen=True)
class ServiceConfig:
    service: str
    grpc_host: str
    grpc_port: int
    metrics_port: int
    database_url: str
    grace_seconds: float
    max_workers: int
    development_auth: bool
    page_token_secret: bytes
    # Addresses of the other services this one calls, by service name ("fleet": "localhost:50051").
    peers: dict[str, str]
    # Solver processes (0: the service's own default).
    solver_workers: int

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidArgument.field(name, f"must be an integer, got {raw!r}") from None


def _env_flag(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def default_sqlite_url(service: str) -> str:
    return f"sqlite:///{REPO_ROOT / 'var' / f'{service}.db'}"


def load_config(service: str, **overrides) -> ServiceConfig:
    """Reads `<SERVICE>_DATABASE_URL`, `<SERVICE>_GRPC_PORT`, `<SERVICE>_METRICS_PORT` and FLEETOPS_* settings.

    Other services are reached at `FLEETOPS_<SERVICE>_ADDRESS` (default localhost and their default port).

    Development header authentication is on by default only with the embedded SQLite database;
    `FLEETOPS_DEV_AUTH=1` turns it on explicitly elsewhere (tests against PostgreSQL).
    """
    prefix = service.upper()
    grpc_port, metrics_port = DEFAULT_PORTS[service]
    database_url = os.environ.get(f"{prefix}_DATABASE_URL") or default_sqlite_url(service)
    development_auth = _env_flag("FLEETOPS_DEV_AUTH")
    if development_auth is None:
        development_auth = database_url.startswith("sqlite")
    secret = os.environ.get("FLEETOPS_PAGE_TOKEN_SECRET", _DEVELOPMENT_TOKEN_SECRET)
    peers = {name: os.environ.get(f"FLEETOPS_{name.upper()}_ADDRESS", f"localhost:{ports[0]}")
             for name, ports in DEFAULT_PORTS.items() if name != service}
    values = dict(
        service=service,
        peers=peers,
        grpc_host=os.environ.get("FLEETOPS_GRPC_HOST", "[::]"),
        grpc_port=_env_int(f"{prefix}_GRPC_PORT", grpc_port),
        metrics_port=_env_int(f"{prefix}_METRICS_PORT", metrics_port),
        database_url=database_url,
        grace_seconds=float(_env_int("FLEETOPS_GRACE_SECONDS", 10)),
        max_workers=_env_int("FLEETOPS_MAX_WORKERS", 16),
        solver_workers=_env_int(f"{prefix}_SOLVER_WORKERS", 0),
        development_auth=development_auth,
        page_token_secret=secret.encode(),
    )
    values.update(overrides)
    return ServiceConfig(**values)
