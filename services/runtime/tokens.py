"""Minting HS256 bearer tokens: what a service sends to its peers, and a developer's token.

    FLEETOPS_JWT_HS256_SECRET=... FLEETOPS_JWT_ISSUER=... FLEETOPS_JWT_AUDIENCE=... \\
        python -m services.runtime.tokens --subject alice --roles dispatcher [--customer customers/acme]

prints a token for `fleetctl --token` or `grpcurl -H 'authorization: Bearer ...'`. RS256 tokens come
from an identity provider holding the private key; the services only ever hold public keys.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import jwt

from services.runtime.auth import CUSTOMER_CLAIM, ROLES_CLAIM
from services.runtime.config import JwtSettings, jwt_settings_from_env
from services.runtime.errors import InvalidArgument


def mint(settings: JwtSettings, subject: str, roles: Iterable[str], *, lifetime: timedelta,
         customer: str | None = None, now: datetime | None = None) -> str:
    if not settings.hs256_secret:
        raise InvalidArgument.field("FLEETOPS_JWT_HS256_SECRET", "minting a token needs the HS256 secret")
    issued = now or datetime.now(UTC)
    claims = {"iss": settings.issuer, "aud": settings.audience, "sub": subject, ROLES_CLAIM: sorted(set(roles)),
              "iat": issued, "nbf": issued, "exp": issued + lifetime}
    if customer:
        claims[CUSTOMER_CLAIM] = customer
    return jwt.encode(claims, settings.hs256_secret, algorithm="HS256")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.runtime.tokens",
                                     description="Print an HS256 bearer token signed with FLEETOPS_JWT_HS256_SECRET.")
    parser.add_argument("--subject", required=True, help="who the caller is (the technician id for technicians)")
    parser.add_argument("--roles", required=True, help="comma-separated: admin, service, dispatcher, technician, "
                                                       "billing, viewer")
    parser.add_argument("--customer", help="scope the token to one customer, customers/{customer}")
    parser.add_argument("--lifetime", type=int, default=3600, metavar="SECONDS", help="default %(default)s")
    args = parser.parse_args(argv)
    try:
        settings = jwt_settings_from_env()
        if settings is None:
            raise InvalidArgument.field("FLEETOPS_JWT_HS256_SECRET", "is not set")
        roles = [role.strip() for role in args.roles.split(",") if role.strip()]
        print(mint(settings, args.subject, roles, lifetime=timedelta(seconds=args.lifetime), customer=args.customer))
    except InvalidArgument as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
