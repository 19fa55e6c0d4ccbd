"""Deadline propagation: a call made while serving an RPC gets what is left of the caller's deadline."""

from __future__ import annotations

import contextvars
import time

from services.runtime.errors import DomainError

import grpc

# Time kept back for our own answer after a downstream call returns.
DEFAULT_MARGIN_SECONDS = 0.05
DEFAULT_OUTGOING_TIMEOUT_SECONDS = 10.0

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("fleetops_deadline", default=None)


class DeadlineExceeded(DomainError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


def bind_deadline(time_remaining: float | None) -> contextvars.Token:
    deadline = None if time_remaining is None else time.monotonic() + time_remaining
    return _deadline.set(deadline)


def unbind_deadline(token: contextvars.Token) -> None:
    _deadline.reset(token)


def seconds_left() -> float | None:
    """Seconds until the caller's deadline, or None when the caller set none."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def outgoing_timeout(default: float = DEFAULT_OUTGOING_TIMEOUT_SECONDS,
                     margin: float = DEFAULT_MARGIN_SECONDS) -> float:
    """The timeout for a downstream call: the caller's remainder less a margin, or `default`."""
    left = seconds_left()
    if left is None:
        return default
    timeout = min(default, left - margin)
    if timeout <= 0:
        raise DeadlineExceeded("the caller's deadline passed before the work could be done")
    return timeout
