"""Caller identity: every RPC runs with an `Identity` taken from its metadata.

Two authenticators, chosen from the configuration by `authenticator_for`:
- bearer JWTs (`authorization: Bearer <token>`), HS256 and/or RS256, with issuer, audience, expiry and
  not-before checked; claims `sub`, `roles` (a list) and an optional `customer` scope;
- the development mode, which trusts `x-fleetops-subject`, `x-fleetops-roles` (comma-separated) and
  optional `x-fleetops-customer` headers: on by default only with the embedded SQLite database.
With both, a call that brings a bearer token is judged by its token alone.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field
from typing import Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from services.runtime.config import JwtSettings, ServiceConfig
from services.runtime.errors import InvalidArgument, Unauthenticated

log = logging.getLogger(__name__)

SUBJECT_HEADER = "x-fleetops-subject"
ROLES_HEADER = "x-fleetops-roles"
CUSTOMER_HEADER = "x-fleetops-customer"
AUTHORIZATION_HEADER = "authorization"
ROLES_CLAIM = "roles"
CUSTOMER_CLAIM = "customer"
MIN_RSA_KEY_BITS = 2048

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


class Authenticator(Protocol):
    def authenticate(self, metadata: dict[str, str]) -> Identity: ...


class DevelopmentHeaderAuthenticator:
    """Trusts the caller's headers: only for a developer's machine and tests."""

    def authenticate(self, metadata: dict[str, str]) -> Identity:
        subject = metadata.get(SUBJECT_HEADER, "").strip()
        if not subject:
            raise Unauthenticated(f"missing caller identity: send the {SUBJECT_HEADER} header or a bearer token")
        roles = frozenset(r.strip() for r in metadata.get(ROLES_HEADER, "").split(",") if r.strip())
        return Identity(subject=subject, roles=roles, customer=metadata.get(CUSTOMER_HEADER) or None)


class RefuseAllAuthenticator:
    """Used when no authenticator is configured for a non-development deployment."""

    def authenticate(self, metadata: dict[str, str]) -> Identity:
        raise Unauthenticated("no authentication is configured for this deployment")


class BearerTokenAuthenticator:
    """Verifies `authorization: Bearer <JWT>`.

    The token's header names its algorithm, and that algorithm is only ever checked against the keys
    configured for it: an HS256 token is never verified with an RSA public key taken as an HMAC
    secret (algorithm confusion), and `none` or any other algorithm is refused outright.
    """

    def __init__(self, settings: JwtSettings):
        self._settings = settings
        self._keys: dict[str, list] = {}
        if settings.hs256_secret:
            self._keys["HS256"] = [settings.hs256_secret]
        if settings.rs256_public_keys:
            self._keys["RS256"] = [_rsa_public_key(pem) for pem in settings.rs256_public_keys]
        if not self._keys:
            raise InvalidArgument.field("FLEETOPS_JWT_HS256_SECRET", "JWT authentication needs a key")

    def authenticate(self, metadata: dict[str, str]) -> Identity:
        return identity_from_claims(self.verify(bearer_token(metadata)))

    def verify(self, token: str) -> dict:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a well-formed JWT") from None
        keys = self._keys.get(algorithm) if isinstance(algorithm, str) else None
        if not keys:
            raise Unauthenticated(f"bearer tokens signed with {repr(algorithm)[:40]} are not accepted; "
                                  f"accepted: {', '.join(sorted(self._keys))}")
        for key in keys:
            try:
                return jwt.decode(token, key, algorithms=[algorithm], issuer=self._settings.issuer,
                                  audience=self._settings.audience, leeway=self._settings.leeway_seconds,
                                  options={"require": ["exp", "iss", "aud", "sub"]})
            except jwt.InvalidSignatureError:
                continue  # another configured key of this algorithm may have signed it (rotation)
            except jwt.PyJWTError as error:
                raise Unauthenticated(_explain(error)) from None
        raise Unauthenticated("the bearer token's signature does not match any configured key")


def _explain(error: jwt.PyJWTError) -> str:
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the bearer token has expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "the bearer token is not valid yet (nbf)"
    if isinstance(error, jwt.InvalidIssuerError):
        return "the bearer token was issued by an issuer this service does not trust"
    if isinstance(error, jwt.InvalidAudienceError):
        return "the bearer token is meant for another audience"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the bearer token lacks the {error.claim!r} claim"
    return f"the bearer token is invalid: {error}"


def bearer_token(metadata: dict[str, str]) -> str:
    header = metadata.get(AUTHORIZATION_HEADER, "").strip()
    if not header:
        raise Unauthenticated("missing credentials: send 'authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the authorization header must be 'Bearer <token>'")
    return token.strip()


def identity_from_claims(claims: dict) -> Identity:
    if not claims["sub"].strip():
        raise Unauthenticated("the bearer token's 'sub' claim is empty")
    roles = claims.get(ROLES_CLAIM, [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthenticated(f"the bearer token's {ROLES_CLAIM!r} claim must be a list of role names")
    customer = claims.get(CUSTOMER_CLAIM)
    if customer is not None and (not isinstance(customer, str) or not customer):
        raise Unauthenticated(f"the bearer token's {CUSTOMER_CLAIM!r} claim must be a customer name")
    return Identity(subject=claims["sub"], roles=frozenset(roles), customer=customer)


class BearerThenHeaderAuthenticator:
    """Bearer tokens where a caller sends one, development headers otherwise."""

    def __init__(self, bearer: BearerTokenAuthenticator, headers: DevelopmentHeaderAuthenticator):
        self._bearer = bearer
        self._headers = headers

    def authenticate(self, metadata: dict[str, str]) -> Identity:
        if AUTHORIZATION_HEADER in metadata:
            return self._bearer.authenticate(metadata)
        return self._headers.authenticate(metadata)


def _rsa_public_key(pem: bytes) -> RSAPublicKey:
    try:
        key = load_pem_public_key(pem)
    except ValueError:
        raise InvalidArgument.field("FLEETOPS_JWT_RS256_PUBLIC_KEY_FILE", "is not a PEM public key") from None
    if not isinstance(key, RSAPublicKey) or key.key_size < MIN_RSA_KEY_BITS:
        raise InvalidArgument.field("FLEETOPS_JWT_RS256_PUBLIC_KEY_FILE",
                                    f"must be an RSA public key of at least {MIN_RSA_KEY_BITS} bits")
    return key


def authenticator_for(config: ServiceConfig) -> Authenticator:
    if config.development_auth and not config.uses_embedded_database:
        log.warning("%s trusts development identity headers with a non-embedded database (FLEETOPS_DEV_AUTH=1)",
                    config.service)
    if config.jwt and config.development_auth:
        return BearerThenHeaderAuthenticator(BearerTokenAuthenticator(config.jwt), DevelopmentHeaderAuthenticator())
    if config.jwt:
        return BearerTokenAuthenticator(config.jwt)
    if config.development_auth:
        return DevelopmentHeaderAuthenticator()
    log.warning("%s has neither JWT keys nor development headers configured: every call will be refused",
                config.service)
    return RefuseAllAuthenticator()
