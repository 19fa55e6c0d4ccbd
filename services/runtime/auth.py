"""Caller identity: every RPC runs with an `Identity` taken from its metadata.

For now the only authenticator is the development mode, which trusts `x-fleetops-subject`,
`x-fleetops-roles` (comma-separated) and optional `x-fleetops-customer` headers. It is on by default
only with the embedded SQLite database; the security issue replaces it with verified tokens.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

from services.runtime.errors import Unauthenticated

SUBJECT_HEADER = "x-fleetops-subject"
ROLES_HEADER = "x-fleetops-roles"
CUSTOMER_HEADER = "x-fleetops-customer"

# Methods anyone may call: probes and tooling must work without credentials.
OPEN_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                 "grpc.reflection.v1.ServerReflection")


@dataclass(frozen=True)
class Identity:
    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    customer: str | None = None  # a token scoped to one customer's resources


ANONYMOUS = Identity(subject="")
_current: contextvars.ContextVar[Identity] = contextvars.ContextVar("fleetops_identity", default=ANONYMOUS)


def current_identity() -> Identity:
    return _current.get()


def bind_identity(identity: Identity) -> contextvars.Token:
    return _current.set(identity)


def unbind_identity(token: contextvars.Token) -> None:
    _current.reset(token)


class DevelopmentHeaderAuthenticator:
    """Trusts the caller's headers: only for a developer's machine and tests."""

    def authenticate(self, metadata: dict[str, str]) -> Identity:
        subject = metadata.get(SUBJECT_HEADER, "").strip()
        if not subject:
            raise Unauthenticated(f"missing caller identity: send the {SUBJECT_HEADER} header")
        roles = frozenset(r.strip() for r in metadata.get(ROLES_HEADER, "").split(",") if r.strip())
        return Identity(subject=subject, roles=roles, customer=metadata.get(CUSTOMER_HEADER) or None)


class RefuseAllAuthenticator:
    """Used when no authenticator is configured for a non-development deployment."""

    def authenticate(self, metadata: dict[str, str]) -> Identity:
        raise Unauthenticated("no authentication is configured for this deployment")
