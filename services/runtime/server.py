"""Server bootstrap shared by the three services.

A thread-pool `grpc.server` (not `grpc.aio`): handlers use blocking SQLAlchemy sessions and
psycopg, so a bounded pool of threads matched to the database pool gives back-pressure without
wrapping every call; CPU-heavy solves go to a process pool instead of these threads.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Gauge

from services.runtime.auth import authenticator_for
from services.runtime.config import ServerTls, ServiceConfig, load_config
from services.runtime.db import Database
from services.runtime.interceptors import EdgeInterceptor
from services.runtime.metrics import GrpcServerMetrics, MetricsEndpoint
from services.runtime.pagination import PageTokens
from services.runtime.policy import methods_without_policy
from services.runtime.request_limits import DEFAULT_LIMITS, RequestLimits
from services.runtime.workers import WorkerPool

log = logging.getLogger(__name__)
# How long a drained process may take to exit by itself before it is ended.
EXIT_WATCHDOG_SECONDS = 5.0
GC_THRESHOLDS = (50_000, 20, 20)  # CPython defaults to (700, 10, 10)


@dataclass
class Runtime:
    """What a service's wiring hands to its servicers."""

    config: ServiceConfig
    database: Database
    page_tokens: PageTokens
    metrics: GrpcServerMetrics
    workers: WorkerPool | None = None  # for services whose definition asks for solver workers
    # Called when the service stops, after in-flight RPCs and before the database closes (background threads).
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    # The edge's request limits, for handlers that check the items of a batch one by one.
    limits: RequestLimits = DEFAULT_LIMITS


@dataclass(frozen=True)
class ServiceDefinition:
    name: str  # "fleet", "maintenance", "invoicing"
    grpc_services: tuple[str, ...]  # full names, e.g. "fleetops.fleet.v1.FleetService"
    migrations_dir: Path
    register: Callable[[grpc.Server, Runtime], None]
    solver_workers: int = 0  # processes for optimizer solves; 0: no pool


def define_service(name: str, service_descriptor, add_servicer: Callable, servicer_type: Callable[[Runtime], object],
                   main_file: str, solver_workers: int = 0) -> ServiceDefinition:
    """The definition of a service with one servicer whose migrations sit beside its `main.py`."""
    return ServiceDefinition(
        name=name, grpc_services=(service_descriptor.full_name,),
        migrations_dir=Path(main_file).parent / "migrations",
        register=lambda server, runtime: add_servicer(servicer_type(runtime), server),
        solver_workers=solver_workers,
    )


class RunningService:
    def __init__(self, definition: ServiceDefinition, config: ServiceConfig):
        # Refused before anything starts: a method nobody is allowed to call, or keys that cannot verify.
        unguarded = methods_without_policy(definition.grpc_services)
        if unguarded:
            raise RuntimeError(f"no access policy for {', '.join(unguarded)}: add them to services/runtime/policy.py")
        authenticator = authenticator_for(config)
        self.definition = definition
        self.config = config
        self.database = Database(config.database_url)
        self.database.migrate(definition.migrations_dir)
        metrics = GrpcServerMetrics.create()
        limits = RequestLimits.for_database(self.database.engine)
        # Before the gRPC server exists: no gRPC thread may be running when workers start.
        self.workers = (WorkerPool(config.solver_workers or definition.solver_workers, definition.name, metrics.registry)
                        if definition.solver_workers else None)
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix=f"{definition.name}-rpc"),
            interceptors=[EdgeInterceptor(definition.name, metrics, authenticator, limits)],
            options=[("grpc.max_receive_message_length", config.max_message_bytes),
                     ("grpc.max_send_message_length", config.max_message_bytes),
                     ("grpc.keepalive_time_ms", 60_000),
                     ("grpc.http2.min_ping_interval_without_data_ms", 10_000)],
        )
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        runtime = self.runtime = Runtime(config, self.database, PageTokens(config.page_token_secret), metrics,
                                         self.workers, limits=limits)
        definition.register(self.server, runtime)
        reflection.enable_server_reflection(
            (*definition.grpc_services, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME), self.server)
        self.port = _add_port(self.server, f"{config.grpc_host}:{config.grpc_port}", config.server_tls)
        self.server.start()
        Gauge(f"fleetops_{definition.name}_db_pool_in_use", "Database connections checked out of the pool.",
              registry=metrics.registry).set_function(self.database.pool_in_use)
        Gauge(f"fleetops_{definition.name}_rpc_threads", "Threads that serve RPCs (the pool's size).",
              registry=metrics.registry).set(config.max_workers)
        self.metrics_endpoint = MetricsEndpoint(metrics.registry, config.metrics_port)
        for name in ("", *definition.grpc_services):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s serving gRPC on port %d, metrics on port %d", definition.name, self.port,
                 self.metrics_endpoint.port)

    @property
    def metrics_port(self) -> int:
        return self.metrics_endpoint.port

    def stop(self, grace: float | None = None) -> None:
        """Health goes NOT_SERVING first so load balancers stop sending; in-flight RPCs get `grace` seconds."""
        self.health.enter_graceful_shutdown()
        self.server.stop(self.config.grace_seconds if grace is None else grace).wait()
        for stop in self.runtime.on_stop:
            stop()
        self.metrics_endpoint.stop()
        if self.workers:
            self.workers.shutdown()
        self.database.dispose()


def _add_port(server: grpc.Server, address: str, tls: ServerTls | None) -> int:
    if tls is None:
        return server.add_insecure_port(address)
    credentials = grpc.ssl_server_credentials([(tls.private_key, tls.certificate_chain)],
                                              root_certificates=tls.client_ca,
                                              require_client_auth=tls.client_ca is not None)
    return server.add_secure_port(address, credentials)


def run_until_signalled(definition: ServiceDefinition) -> None:
    """The `main` of a service process: serve until SIGTERM or SIGINT, then drain and exit 0."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {definition.name} %(levelname)s %(message)s")
    service = RunningService(definition, load_config(definition.name))
    # What start-up made (modules, descriptors, catalogues) lives as long as the process: frozen out of
    # the collector's reach. A larger young generation spares batch handlers that build hundreds of
    # thousands of objects (billing runs, usage answers, ingestion batches) repeated collections.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    stop_requested = threading.Event()

    def request_stop(signum, _frame) -> None:
        log.info("%s received %s, draining", definition.name, signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # A signal may land on one of gRPC's threads; waking up regularly lets the main thread run its handler.
    while not stop_requested.wait(timeout=0.5):
        pass
    service.stop()
    log.info("%s stopped", definition.name)
    # A handler still running after the grace period (its caller gone) keeps a non-daemon pool thread,
    # and with it the process, alive at exit: after a moment the process ends anyway (its uncommitted
    # transaction dies with it). A clean exit first lets multiprocessing release what it holds.
    threading.Thread(target=_exit_after, args=(EXIT_WATCHDOG_SECONDS,), name="exit-watchdog", daemon=True).start()


def _exit_after(seconds: float) -> None:
    time.sleep(seconds)
    log.warning("still running %.0f s after draining (a handler outlived the grace period): exiting", seconds)
    logging.shutdown()
    os._exit(0)
