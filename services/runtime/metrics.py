"""Prometheus metrics: the go-grpc-prometheus RED set per server, and the /metrics endpoint.

Each server gets its own registry, so several services in one process (tests) never share counters
and each `/metrics` port shows only its own service.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

_LABELS = ("grpc_service", "grpc_method", "grpc_type")


@dataclass
class GrpcServerMetrics:
    registry: CollectorRegistry
    started: Counter
    handled: Counter
    handling_seconds: Histogram

    @classmethod
    def create(cls) -> GrpcServerMetrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            started=Counter("grpc_server_started_total", "RPCs started on the server.", _LABELS, registry=registry),
            handled=Counter("grpc_server_handled_total", "RPCs completed on the server, regardless of success.",
                            (*_LABELS, "grpc_code"), registry=registry),
            handling_seconds=Histogram("grpc_server_handling_seconds",
                                       "Response latency of RPCs handled by the server.", _LABELS, registry=registry),
        )


class MetricsEndpoint:
    """`/metrics` over HTTP on its own port (0 picks a free one)."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str = "0.0.0.0"):
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.port: int = self._server.server_port

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
