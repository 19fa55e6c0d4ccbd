"""Calls from one service to another: one channel per peer, retries of UNAVAILABLE only (AIP-194),
the caller's remaining deadline, and the calling service's own identity. Calls are spread over every
address the peer's name resolves to (round robin: a headless Kubernetes Service lists each replica)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import grpc

from services.runtime import deadlines
from services.runtime.errors import Unavailable

StubT = TypeVar("StubT")

_RETRY_UNAVAILABLE = json.dumps({"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": [{
    "name": [{}],
    "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s", "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"]},
}]})


class Peer:
    """A stub to another fleetops service, called as `service_name` with the `service` role."""

    def __init__(self, address: str, stub_type: Callable[[grpc.Channel], StubT], caller: str):
        self._channel = grpc.insecure_channel(address, options=[("grpc.service_config", _RETRY_UNAVAILABLE),
                                                                ("grpc.enable_retries", 1),
                                                                ("grpc.max_receive_message_length", 64 << 20)])
        self.stub: StubT = stub_type(self._channel)
        self._metadata = (("x-fleetops-subject", caller), ("x-fleetops-roles", "service"))
        self.address = address

    def call(self, method: Callable, request, default_timeout: float = deadlines.DEFAULT_OUTGOING_TIMEOUT_SECONDS):
        """Calls `method` (a bound stub method) with the remaining deadline; a peer that cannot be
        reached is UNAVAILABLE for our caller too, so they retry rather than give up."""
        try:
            return method(request, timeout=deadlines.outgoing_timeout(default_timeout), metadata=self._metadata)
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(f"the service at {self.address} did not answer; retry later") from error
            raise

    def close(self) -> None:
        self._channel.close()
