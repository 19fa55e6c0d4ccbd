"""Domain exceptions and their one mapping onto gRPC status codes (AIP-193).

Domain code raises these; only the edge (`interceptors.py`) turns them into a `google.rpc.Status`
with `BadRequest` / `ErrorInfo` details. Anything else becomes INTERNAL with a generic message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

ERROR_DOMAIN = "fleetops.dev"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every error a caller is meant to see. `reason` is an UPPER_SNAKE ErrorInfo reason."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Iterable[FieldViolation], *, reason: str | None = None):
        self.violations = list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(f"invalid request: {summary}", reason=reason)

    @classmethod
    def field(cls, field_path: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field_path, description)])


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "RESOURCE_NOT_FOUND"

    def __init__(self, resource_name: str):
        super().__init__(f"{resource_name} not found", metadata={"resource": resource_name})


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class EtagMismatch(DomainError):
    code = grpc.StatusCode.ABORTED
    default_reason = "ETAG_MISMATCH"

    def __init__(self, resource_name: str):
        super().__init__(
            f"{resource_name} was changed by someone else; read it again and retry with its new etag",
            metadata={"resource": resource_name},
        )


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "DEPENDENCY_UNAVAILABLE"


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class _Status(grpc.Status):  # grpc.Status is an abstract marker class with these three attributes
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple):
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def to_grpc_status(error: DomainError, service: str) -> grpc.Status:
    details: list[any_pb2.Any] = []
    if isinstance(error, InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        details.append(_pack(bad_request))
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)
    info.metadata["service"] = service
    details.append(_pack(info))
    return _rich_status(error.code, error.message, details)


def internal_status() -> grpc.Status:
    return _rich_status(grpc.StatusCode.INTERNAL, "internal error; the details are in the service log", [])


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _rich_status(code: grpc.StatusCode, message: str, details: list[any_pb2.Any]) -> grpc.Status:
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    trailing = (("grpc-status-details-bin", status.SerializeToString()),)
    return _Status(code, message, trailing)
