"""A process pool for CPU-heavy work (optimizer solves), created before the gRPC server.

gRPC's threads and fork() do not mix, so workers are started with "spawn" and warmed up at
creation: a solve never waits for a worker to boot, and the server's threads keep answering
while workers solve. Saturation is exported as USE gauges.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.runtime.errors import ResourceExhausted


def _warm_up() -> None:
    """Runs in each worker at start: imports the solvers once."""
    import ortools.math_opt.python.mathopt  # noqa: F401
    import ortools.sat.python.cp_model  # noqa: F401


class WorkerPool:
    def __init__(self, workers: int, service: str, registry: CollectorRegistry, max_queued: int = 64):
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_warm_up)
        for future in [self._executor.submit(int) for _ in range(workers)]:
            future.result()
        self.workers = workers
        self._max_queued = max_queued
        self._lock = threading.Lock()
        self._in_flight = 0
        self._busy = Gauge(f"fleetops_{service}_worker_pool_busy", "Solves submitted and not finished.",
                           registry=registry)
        Gauge(f"fleetops_{service}_worker_pool_size", "Worker processes for solves.",
              registry=registry).set(workers)
        self._solves = Counter(f"fleetops_{service}_solves", "Solves finished in the worker pool, by solver and outcome.",
                               ["solver", "outcome"], registry=registry)
        self._solve_seconds = Histogram(f"fleetops_{service}_solve_seconds", "Time from submitting a solve to its end.",
                                        ["solver"], registry=registry,
                                        buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600))

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        """Runs `function(*args)` in a worker; RESOURCE_EXHAUSTED when too much is already waiting."""
        with self._lock:
            if self._in_flight >= self.workers + self._max_queued:
                raise ResourceExhausted(f"{self._in_flight} solves are running or queued; retry later")
            self._in_flight += 1
            self._busy.set(self._in_flight)
        submitted = time.perf_counter()
        future = self._executor.submit(function, *args)
        future.add_done_callback(lambda done: self._finished(done, function.__name__, submitted))
        return future

    def _finished(self, future: Future, solver: str, submitted: float) -> None:
        with self._lock:
            self._in_flight -= 1
            self._busy.set(self._in_flight)
        outcome = "cancelled" if future.cancelled() else "failed" if future.exception() else "completed"
        self._solves.labels(solver, outcome).inc()
        self._solve_seconds.labels(solver).observe(time.perf_counter() - submitted)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
