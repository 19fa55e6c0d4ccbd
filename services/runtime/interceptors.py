"""The edge of every service: identity, deadline, metrics and error mapping around each handler.

One interceptor wraps all four RPC shapes so that the order of concerns is the same everywhere:
authenticate, authorize (`policy.py`), run the handler, map whatever it raised onto a status, count the outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import grpc

from services.runtime import auth, deadlines, policy
from services.runtime.errors import DomainError, internal_status, to_grpc_status
from services.runtime.metrics import GrpcServerMetrics
from services.runtime.request_limits import DEFAULT_LIMITS, RequestLimits

log = logging.getLogger(__name__)

# Go's names for status codes, so the community's go-grpc-prometheus dashboards work unchanged.
GO_CODE_NAMES = {
    grpc.StatusCode.OK: "OK", grpc.StatusCode.CANCELLED: "Canceled", grpc.StatusCode.UNKNOWN: "Unknown",
    grpc.StatusCode.INVALID_ARGUMENT: "InvalidArgument", grpc.StatusCode.DEADLINE_EXCEEDED: "DeadlineExceeded",
    grpc.StatusCode.NOT_FOUND: "NotFound", grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied", grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.FAILED_PRECONDITION: "FailedPrecondition", grpc.StatusCode.ABORTED: "Aborted",
    grpc.StatusCode.OUT_OF_RANGE: "OutOfRange", grpc.StatusCode.UNIMPLEMENTED: "Unimplemented",
    grpc.StatusCode.INTERNAL: "Internal", grpc.StatusCode.UNAVAILABLE: "Unavailable",
    grpc.StatusCode.DATA_LOSS: "DataLoss", grpc.StatusCode.UNAUTHENTICATED: "Unauthenticated",
}


def _rpc_type(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


class EdgeInterceptor(grpc.ServerInterceptor):
    def __init__(self, service: str, metrics: GrpcServerMetrics, authenticator, limits: RequestLimits = DEFAULT_LIMITS):
        self._service = service
        self._metrics = metrics
        self._authenticator = authenticator
        self._limits = limits

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        full_service, method = handler_call_details.method.lstrip("/").rsplit("/", 1)
        labels = (full_service, method, _rpc_type(handler))
        needs_identity = not full_service.startswith(auth.OPEN_SERVICES)
        edge = _Edge(self, labels, needs_identity)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(edge.unary(handler.unary_unary),
                                                       handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(edge.streaming(handler.unary_stream),
                                                        handler.request_deserializer, handler.response_serializer)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(edge.unary(handler.stream_unary),
                                                        handler.request_deserializer, handler.response_serializer)
        return grpc.stream_stream_rpc_method_handler(edge.streaming(handler.stream_stream),
                                                     handler.request_deserializer, handler.response_serializer)


class _Edge:
    def __init__(self, interceptor: EdgeInterceptor, labels: tuple[str, str, str], needs_identity: bool):
        self._interceptor = interceptor
        self._labels = labels
        self._needs_identity = needs_identity

    def unary(self, behavior: Callable):
        def handle(request_or_iterator, context: grpc.ServicerContext):
            started = self._start(context)
            code = grpc.StatusCode.INTERNAL
            try:
                tokens = self._bind(context)
                try:
                    response = behavior(self._interceptor._limits.checked(request_or_iterator), context)
                finally:
                    self._unbind(tokens)
                code = context.code() or grpc.StatusCode.OK
                return response
            except Exception as error:  # every exception leaves as a status, never as UNKNOWN
                code = self._abort(error, context)
                raise
            finally:
                self._finish(started, code)

        return handle

    def streaming(self, behavior: Callable):
        def handle(request_or_iterator, context: grpc.ServicerContext) -> Iterator:
            started = self._start(context)
            code = grpc.StatusCode.INTERNAL
            try:
                tokens = self._bind(context)
                try:
                    yield from behavior(self._interceptor._limits.checked(request_or_iterator), context)
                finally:
                    self._unbind(tokens)
                code = context.code() or grpc.StatusCode.OK
            except GeneratorExit:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                code = self._abort(error, context)
                raise
            finally:
                self._finish(started, code)

        return handle

    def _start(self, context: grpc.ServicerContext) -> float:
        self._interceptor._metrics.started.labels(*self._labels).inc()
        return time.perf_counter()

    def _finish(self, started: float, code: grpc.StatusCode) -> None:
        metrics = self._interceptor._metrics
        metrics.handled.labels(*self._labels, GO_CODE_NAMES[code]).inc()
        metrics.handling_seconds.labels(*self._labels).observe(time.perf_counter() - started)

    def _bind(self, context: grpc.ServicerContext) -> tuple:
        identity = auth.ANONYMOUS
        if self._needs_identity:
            identity = self._interceptor._authenticator.authenticate(dict(context.invocation_metadata()))
            policy.authorize(identity, self._labels[0], self._labels[1])
        return auth.bind_identity(identity), deadlines.bind_deadline(context.time_remaining())

    @staticmethod
    def _unbind(tokens: tuple) -> None:
        auth.unbind_identity(tokens[0])
        deadlines.unbind_deadline(tokens[1])

    def _abort(self, error: Exception, context: grpc.ServicerContext) -> grpc.StatusCode:
        """Sets the status the caller will see and returns its code; the caller re-raises."""
        if context.code() not in (None, grpc.StatusCode.OK):  # the handler aborted by itself
            return context.code()
        if isinstance(error, DomainError):
            status = to_grpc_status(error, self._interceptor._service)
        else:
            log.exception("unhandled error in %s/%s", self._labels[0], self._labels[1])
            status = internal_status()
        try:
            context.abort_with_status(status)
        except Exception:  # abort_with_status raises to end the handler; the handler re-raises instead
            pass
        return status.code
