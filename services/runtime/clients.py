"""Calls from one service to another: one channel per peer, retries of UNAVAILABLE only (AIP-194),
the caller's remaining deadline, and the calling service's own identity. Calls are spread over every
address the peer's name resolves to (round robin: a headless Kubernetes Service lists each replica)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import grpc

from services.runtime import deadlines
from services.runtime.auth import AUTHORIZATION_HEADER, ROLES_HEADER, SUBJECT_HEADER
from services.runtime.config import ClientTls, ServiceConfig
from services.runtime.errors import InvalidArgument, Unavailable
from services.runtime.policy import SERVICE
from services.runtime.tokens import mint

StubT = TypeVar("StubT")
log = logging.getLogger(__name__)

_RETRY_UNAVAILABLE = json.dumps({"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": [{
    "name": [{}],
    "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s", "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"]},
}]})
# Short-lived: a leaked service token is worth little. Renewed well before it ends, so that a call
# never leaves with a token that expires on the way.
SERVICE_TOKEN_LIFETIME = timedelta(minutes=5)
_RENEW_BEFORE_SECONDS = 60.0


def open_channel(address: str, tls: ClientTls | None, options: list[tuple]) -> grpc.Channel:
    """A plaintext channel, or TLS with the given roots (and a client certificate for mutual TLS)."""
    if tls is None:
        return grpc.insecure_channel(address, options=options)
    credentials = grpc.ssl_channel_credentials(tls.root_certificates, tls.private_key, tls.certificate_chain)
    return grpc.secure_channel(address, credentials, options=options)


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return ((AUTHORIZATION_HEADER, f"Bearer {token}"),)


class PeerCredentials:
    """What a service sends to its peers, as `service` with its own name as subject: a configured
    token (FLEETOPS_SERVICE_TOKEN), else a token it mints with the HS256 secret, else the
    development headers (only a peer in development mode accepts those)."""

    def __init__(self, config: ServiceConfig):
        self._caller = config.service
        self._static = config.service_token
        self._minting = config.jwt if config.jwt and config.jwt.hs256_secret else None
        if config.jwt and not (self._static or self._minting):
            raise InvalidArgument.field("FLEETOPS_SERVICE_TOKEN", "is needed to call other services when tokens "
                                                                  "are verified with RS256 keys only")
        self._lock = threading.Lock()
        self._minted: tuple[str, float] | None = None  # token, monotonic time to renew it

    def metadata(self) -> tuple[tuple[str, str], ...]:
        if self._static:
            return bearer_metadata(self._static)
        if self._minting:
            return bearer_metadata(self._current_token())
        return ((SUBJECT_HEADER, self._caller), (ROLES_HEADER, SERVICE))

    def _current_token(self) -> str:
        with self._lock:
            if self._minted is None or time.monotonic() >= self._minted[1]:
                token = mint(self._minting, self._caller, [SERVICE], lifetime=SERVICE_TOKEN_LIFETIME)
                renew_at = time.monotonic() + SERVICE_TOKEN_LIFETIME.total_seconds() - _RENEW_BEFORE_SECONDS
                self._minted = (token, renew_at)
            return self._minted[0]


class Peer:
    """A stub to the peer service `peer` (a name in `config.peers`), called as this service."""

    def __init__(self, config: ServiceConfig, peer: str, stub_type: Callable[[grpc.Channel], StubT]):
        self.address = config.peers[peer]
        self._channel = open_channel(self.address, config.peer_tls, [("grpc.service_config", _RETRY_UNAVAILABLE),
                                                                     ("grpc.enable_retries", 1),
                                                                     ("grpc.max_receive_message_length", 64 << 20)])
        self.stub: StubT = stub_type(self._channel)
        self._credentials = PeerCredentials(config)

    def call(self, method: Callable, request, default_timeout: float = deadlines.DEFAULT_OUTGOING_TIMEOUT_SECONDS):
        """Calls `method` (a bound stub method) with the remaining deadline; a peer that cannot be
        reached is UNAVAILABLE for our caller too, so they retry rather than give up."""
        try:
            return method(request, timeout=deadlines.outgoing_timeout(default_timeout),
                          metadata=self._credentials.metadata())
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(f"the service at {self.address} did not answer; retry later") from error
            if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                log.error("the service at %s refused this service's credentials (%s: %s); check the FLEETOPS_JWT_* "
                          "settings, FLEETOPS_SERVICE_TOKEN and the policy's service role",
                          self.address, error.code().name, error.details())
            raise

    def close(self) -> None:
        self._channel.close()
