"""Long-running solves as pollable resources (AIP-151 style) with a blocking form under a deadline.

The caller stores the resource in state RUNNING, then `start`s the solve in the worker pool with
a `record` step that writes the outcome in its own unit of work when the solve ends. The blocking
form `wait`s for that write for as long as the caller's deadline allows; after that the caller
polls the resource with Get.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from services.runtime import deadlines
from services.runtime.db import Database
from services.runtime.errors import FailedPrecondition
from services.runtime.workers import WorkerPool

log = logging.getLogger(__name__)
# Seconds kept back from the caller's deadline to answer with the resource as it stands.
ANSWER_MARGIN_SECONDS = 0.5


class SolveJobs:
    def __init__(self, database: Database, workers: WorkerPool | None):
        self._database = database
        self._workers = workers
        self._recorders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="solve-results")

    def start(self, solve: Callable[..., Any], args: tuple,
              record: Callable[[Session, Any, BaseException | None], None]) -> Future:
        """Submits `solve(*args)`; when it ends, `record(session, result, error)` runs in a new unit of
        work. The returned future completes once the outcome is stored."""
        if self._workers is None:
            raise FailedPrecondition("this service was started without solver workers")
        stored: Future = Future()

        def store(finished: Future) -> None:
            error = finished.exception()
            try:
                with self._database.unit_of_work() as session:
                    record(session, None if error else finished.result(), error)
                stored.set_result(None)
            except BaseException as failure:  # noqa: BLE001 - the waiter must learn of it, and the log too
                log.exception("could not store a solve's outcome")
                stored.set_exception(failure)

        self._workers.submit(solve, *args).add_done_callback(lambda f: self._recorders.submit(store, f))
        return stored

    @staticmethod
    def wait(stored: Future, longest: float) -> bool:
        """Waits for the outcome while the caller's deadline allows (at most `longest` seconds)."""
        left = deadlines.seconds_left()
        budget = longest if left is None else min(longest, left - ANSWER_MARGIN_SECONDS)
        if budget <= 0:
            return stored.done()
        done = threading.Event()
        stored.add_done_callback(lambda _: done.set())
        return done.wait(budget)
