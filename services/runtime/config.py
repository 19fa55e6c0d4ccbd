"""Service configuration from environment variables, with safe defaults for a developer machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.runtime.errors import InvalidArgument

REPO_ROOT = Path(__file__).resolve().parents[2]

# Default ports per service: gRPC 50051.., metrics 9101..
DEFAULT_PORTS = {"fleet": (50051, 9101), "maintenance": (50052, 9102), "invoicing": (50053, 9103)}
DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
DEFAULT_BILLING_CHUNK_ASSETS = 4000  # assets an invoicing billing run rates per pipeline step: a few full GetUsage batches
# Only for a developer's embedded database; a real deployment sets FLEETOPS_PAGE_TOKEN_SECRET.
_DEVELOPMENT_TOKEN_SECRET = "fleetops-development-page-token-secret"


# HMAC keys shorter than the hash (RFC 7518 section 3.2) make HS256 tokens guessable offline.
MIN_HS256_SECRET_BYTES = 32


@dataclass(frozen=True)
class JwtSettings:
    """How bearer tokens are verified: each algorithm only with its own keys, never one for the other."""

    issuer: str
    audience: str
    hs256_secret: bytes | None = None
    rs256_public_keys: tuple[bytes, ...] = ()  # PEM; several while keys rotate
    leeway_seconds: int = 30  # clock skew allowed on exp and nbf


@dataclass(frozen=True)
class ServerTls:
    """The server's certificate; with `client_ca`, callers must present a certificate it signed (mutual TLS)."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None


@dataclass(frozen=True)
class ClientTls:
    """How a client (a peer service, fleetctl) dials TLS servers: trusted roots and, for mTLS, its certificate."""

    root_certificates: bytes
    certificate_chain: bytes | None = None
    private_key: bytes | None = None


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
    # Largest gRPC message received or sent; a bigger one is RESOURCE_EXHAUSTED (gRPC enforces it).
    max_message_bytes: int
    # Assets a billing run rates per pipeline chunk (invoicing; see billing_engine.rate_run).
    billing_chunk_assets: int = DEFAULT_BILLING_CHUNK_ASSETS
    jwt: JwtSettings | None = None
    # A bearer token this service sends to its peers when it cannot mint one (RS256-only deployments).
    service_token: str | None = None
    server_tls: ServerTls | None = None
    peer_tls: ClientTls | None = None

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
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise InvalidArgument.field(name, f"must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")


def _env_text(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def _read_file(variable: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InvalidArgument.field(variable, f"cannot read {path}: {error.strerror}") from None


def _env_file(name: str) -> bytes | None:
    path = _env_text(name)
    return _read_file(name, path) if path else None


def jwt_settings_from_env() -> JwtSettings | None:
    """FLEETOPS_JWT_HS256_SECRET and/or FLEETOPS_JWT_RS256_PUBLIC_KEY_FILE (comma-separated PEM files),
    with FLEETOPS_JWT_ISSUER and FLEETOPS_JWT_AUDIENCE (both required once a key is set)."""
    secret = _env_text("FLEETOPS_JWT_HS256_SECRET")
    key_files = [path.strip() for path in (_env_text("FLEETOPS_JWT_RS256_PUBLIC_KEY_FILE") or "").split(",") if path.strip()]
    if not secret and not key_files:
        return None
    if secret and len(secret.encode()) < MIN_HS256_SECRET_BYTES:
        raise InvalidArgument.field("FLEETOPS_JWT_HS256_SECRET", f"must be at least {MIN_HS256_SECRET_BYTES} bytes")
    for name in ("FLEETOPS_JWT_ISSUER", "FLEETOPS_JWT_AUDIENCE"):
        if not _env_text(name):
            raise InvalidArgument.field(name, "must be set when JWT keys are configured")
    return JwtSettings(
        issuer=_env_text("FLEETOPS_JWT_ISSUER"), audience=_env_text("FLEETOPS_JWT_AUDIENCE"),
        hs256_secret=secret.encode() if secret else None,
        rs256_public_keys=tuple(_read_file("FLEETOPS_JWT_RS256_PUBLIC_KEY_FILE", path) for path in key_files),
        leeway_seconds=_env_int("FLEETOPS_JWT_LEEWAY_SECONDS", 30))


def server_tls_from_env() -> ServerTls | None:
    """FLEETOPS_TLS_CERT_FILE + FLEETOPS_TLS_KEY_FILE; FLEETOPS_TLS_CLIENT_CA_FILE makes client certificates required."""
    certificate, key = _env_file("FLEETOPS_TLS_CERT_FILE"), _env_file("FLEETOPS_TLS_KEY_FILE")
    client_ca = _env_file("FLEETOPS_TLS_CLIENT_CA_FILE")
    if not certificate and not key:
        if client_ca:
            raise InvalidArgument.field("FLEETOPS_TLS_CLIENT_CA_FILE", "needs FLEETOPS_TLS_CERT_FILE and FLEETOPS_TLS_KEY_FILE")
        return None
    if not (certificate and key):
        raise InvalidArgument.field("FLEETOPS_TLS_KEY_FILE" if certificate else "FLEETOPS_TLS_CERT_FILE",
                                    "TLS needs both the certificate and its private key")
    return ServerTls(certificate, key, client_ca)


def client_tls_from_env() -> ClientTls | None:
    """FLEETOPS_TLS_CA_FILE (roots that sign the servers' certificates) turns TLS on for outgoing calls;
    FLEETOPS_TLS_CLIENT_CERT_FILE + FLEETOPS_TLS_CLIENT_KEY_FILE are presented to servers that require mTLS."""
    roots = _env_file("FLEETOPS_TLS_CA_FILE")
    certificate, key = _env_file("FLEETOPS_TLS_CLIENT_CERT_FILE"), _env_file("FLEETOPS_TLS_CLIENT_KEY_FILE")
    if bool(certificate) != bool(key):
        raise InvalidArgument.field("FLEETOPS_TLS_CLIENT_KEY_FILE" if certificate else "FLEETOPS_TLS_CLIENT_CERT_FILE",
                                    "a client certificate needs its private key and the other way round")
    if not roots:
        if certificate:
            raise InvalidArgument.field("FLEETOPS_TLS_CA_FILE", "is needed with a client certificate")
        return None
    return ClientTls(roots, certificate, key)


def default_sqlite_url(service: str) -> str:
    return f"sqlite:///{REPO_ROOT / 'var' / f'{service}.db'}"


def load_config(service: str, **overrides) -> ServiceConfig:
    """Reads `<SERVICE>_DATABASE_URL`, `<SERVICE>_GRPC_PORT`, `<SERVICE>_METRICS_PORT` and FLEETOPS_* settings.

    Other services are reached at `FLEETOPS_<SERVICE>_ADDRESS` (default localhost and their default port).

    Development header authentication is on by default only with the embedded SQLite database and
    no JWT keys; `FLEETOPS_DEV_AUTH=1` turns it on explicitly elsewhere (tests against PostgreSQL),
    `FLEETOPS_DEV_AUTH=0` turns it off. Security settings: `jwt_settings_from_env`,
    `server_tls_from_env`, `client_tls_from_env` and FLEETOPS_SERVICE_TOKEN.
    """
    prefix = service.upper()
    grpc_port, metrics_port = DEFAULT_PORTS[service]
    database_url = os.environ.get(f"{prefix}_DATABASE_URL") or default_sqlite_url(service)
    jwt = jwt_settings_from_env()
    development_auth = _env_flag("FLEETOPS_DEV_AUTH")
    if development_auth is None:
        development_auth = database_url.startswith("sqlite") and jwt is None
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
        billing_chunk_assets=_env_int(f"{prefix}_BILLING_CHUNK_ASSETS", DEFAULT_BILLING_CHUNK_ASSETS),
        max_message_bytes=_env_int("FLEETOPS_MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES),
        development_auth=development_auth,
        page_token_secret=secret.encode(),
        jwt=jwt,
        service_token=_env_text("FLEETOPS_SERVICE_TOKEN"),
        server_tls=server_tls_from_env(),
        peer_tls=client_tls_from_env(),
    )
    values.update(overrides)
    return ServiceConfig(**values)
