"""Channels (plaintext or TLS), credentials (a bearer token or development headers), deadlines and the
shell-friendly rendering of gRPC errors."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import grpc
from fleetops.fleet.v1 import fleet_service_pb2_grpc
from fleetops.invoicing.v1 import invoicing_service_pb2_grpc
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.runtime.auth import ROLES_HEADER, SUBJECT_HEADER
from services.runtime.clients import bearer_metadata, open_channel
from services.runtime.config import ClientTls

DEFAULT_ADDRESSES = {"fleet": "localhost:50051", "maintenance": "localhost:50052", "invoicing": "localhost:50053"}
DEFAULT_TIMEOUT_SECONDS = 30.0
_MAX_MESSAGE_BYTES = 64 << 20


def default_address(service: str) -> str:
    return os.environ.get(f"FLEETOPS_{service.upper()}_ADDRESS", DEFAULT_ADDRESSES[service])


@dataclass
class Clients:
    """Lazily opened stubs to the three services, all called with the same identity and deadline.

    With a `token` the calls carry it as a bearer token; without, the development headers
    `subject` and `roles`, which only services in development mode accept."""

    addresses: dict[str, str]
    subject: str
    roles: str
    timeout: float
    token: str | None = None
    tls: ClientTls | None = None

    def __post_init__(self) -> None:
        self._channels: dict[str, grpc.Channel] = {}

    def _channel(self, service: str) -> grpc.Channel:
        if service not in self._channels:
            self._channels[service] = open_channel(
                self.addresses[service], self.tls, [("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                                                    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES)])
        return self._channels[service]

    @property
    def fleet(self) -> fleet_service_pb2_grpc.FleetServiceStub:
        return fleet_service_pb2_grpc.FleetServiceStub(self._channel("fleet"))

    @property
    def maintenance(self) -> maintenance_service_pb2_grpc.MaintenanceServiceStub:
        return maintenance_service_pb2_grpc.MaintenanceServiceStub(self._channel("maintenance"))

    @property
    def invoicing(self) -> invoicing_service_pb2_grpc.InvoicingServiceStub:
        return invoicing_service_pb2_grpc.InvoicingServiceStub(self._channel("invoicing"))

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        if self.token:
            return bearer_metadata(self.token)
        return ((SUBJECT_HEADER, self.subject), (ROLES_HEADER, self.roles))

    def call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        """Calls a bound stub method with the identity headers and a deadline (never without one)."""
        return method(request, timeout=timeout or self.timeout, metadata=self.metadata)

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()


def describe_rpc_error(error: grpc.RpcError) -> list[str]:
    """The status code name, the message and every field violation, one per line, for stderr."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    lines = [f"error: {code.name}: {error.details() if hasattr(error, 'details') else error}"]
    status = rpc_status.from_call(error) if hasattr(error, "trailing_metadata") else None
    for detail in status.details if status else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            lines += [f"  {violation.field}: {violation.description}" for violation in bad_request.field_violations]
            continue
        precondition = error_details_pb2.PreconditionFailure()
        if detail.Unpack(precondition):
            lines += [f"  {v.type} {v.subject}: {v.description}" for v in precondition.violations]
    if code == grpc.StatusCode.UNAVAILABLE:
        lines.append("  (is the service running? `make run` starts all three)")
    return lines


def print_rpc_error(error: grpc.RpcError) -> None:
    for line in describe_rpc_error(error):
        print(line, file=sys.stderr)
