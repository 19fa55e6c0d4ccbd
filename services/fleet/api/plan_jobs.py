"""What placement and replacement plans share: the job flow, request parameters and output values.

A plan is created RUNNING in one unit of work (idempotent on request_id), its solve is submitted to
the worker pool, and the outcome is written in a new unit of work when the solve ends. With
`wait` the call blocks until then, or until the caller's deadline is near.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, TypeVar

from fleetops.fleet.v1 import placement_pb2 as ppb
from google.protobuf import duration_pb2
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from google.type import money_pb2
from sqlalchemy.orm import Session

from services.fleet.store_plans import PlanRowMixin
from services.runtime.crud import Collection, StandardMethods
from services.runtime.currencies import MINOR_UNITS
from services.runtime.errors import InvalidArgument
from services.runtime.jobs import SolveJobs
from services.runtime.proto_values import duration_or, money_from_proto, money_to_proto
from services.runtime.repository import NamedRows
from services.runtime.resources import NamePattern, etag_for, to_timestamp

log = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT = timedelta(seconds=10)
MAX_TIME_LIMIT = timedelta(seconds=300)
# The blocking form waits for the solve's time limit plus this, for model building and storing.
WAIT_SLACK_SECONDS = 15.0
FAILED_SOLVE = "the solve failed; the details are in the service log"

RUNNING, SUCCEEDED, FAILED = "RUNNING", "SUCCEEDED", "FAILED"
STATE_TO_PROTO = {RUNNING: ppb.PLAN_STATE_RUNNING, SUCCEEDED: ppb.PLAN_STATE_SUCCEEDED, FAILED: ppb.PLAN_STATE_FAILED}

RowT = TypeVar("RowT", bound=PlanRowMixin)
# (state, output JSON, error) from a solver's result.
Outcome = tuple[str, dict, str]


def new_plan_id() -> str:
    return f"p{uuid.uuid4().hex[:16]}"


def time_limit(value: duration_pb2.Duration, field: str = "time_limit") -> timedelta:
    limit = duration_or(value, DEFAULT_TIME_LIMIT, field)
    if limit > MAX_TIME_LIMIT:
        raise InvalidArgument.field(field, f"must be at most {MAX_TIME_LIMIT.total_seconds():.0f} s")
    return limit


def decimal_field(text: str, field: str, default: Decimal, *, low: Decimal | None = Decimal(0),
                  high: Decimal | None = None) -> Decimal:
    if text == "":
        return default
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidArgument.field(field, f"must be a decimal number, got {text!r}") from None
    if not value.is_finite() or (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidArgument.field(field, f"must be a finite decimal {bounds}")
    return value


def money_field(money: money_pb2.Money, field: str, currency: str, *, required: bool = False) -> Decimal | None:
    """An amount in the plan's currency; None when unset and not required."""
    if not money.currency_code and not money.units and not money.nanos:
        if required:
            raise InvalidArgument.field(field, "is required")
        return None
    amount, code = money_from_proto(money, field)
    if code != currency:
        raise InvalidArgument.field(f"{field}.currency_code", f"must be the plan's currency {currency}")
    if amount < 0:
        raise InvalidArgument.field(field, "must not be negative")
    return amount


def money(amount: Decimal | float | None, currency: str) -> money_pb2.Money | None:
    """Exact amounts as they are; solver floats rounded half-even to the currency's minor unit."""
    if amount is None:
        return None
    if isinstance(amount, float):
        amount = Decimal(repr(amount)).quantize(Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2)), ROUND_HALF_EVEN)
    return money_to_proto(amount, currency)


def decimal_text(value: Decimal | float | None) -> str:
    if value is None:
        return ""
    exact = Decimal(repr(value)) if isinstance(value, float) else value
    return format(exact.normalize(), "f") if exact else "0"


def solver_report(status: int, objective: Decimal | float | None, bound: Decimal | float | None,
                  gap: float | None, seconds: float) -> ppb.SolverReport:
    return ppb.SolverReport(status=status, objective=decimal_text(objective), best_bound=decimal_text(bound),
                            gap=decimal_text(round(gap, 9) if gap is not None else None),
                            solve_time=duration_pb2.Duration(seconds=int(seconds), nanos=int(seconds % 1 * 1e9)))


def output_json(plan: Message) -> dict:
    return MessageToDict(plan, preserving_proto_field_name=True)


def plan_message(row: PlanRowMixin, pattern: NamePattern, message: Message) -> Message:
    """The stored output merged into `message` (which holds the scope fields), with the row's stamps."""
    ParseDict(row.output, message, ignore_unknown_fields=True)  # plans stored before a field was dropped
    message.name = pattern.name_of(row.id)
    message.state = STATE_TO_PROTO[row.state]
    message.error = row.error
    message.create_time.CopyFrom(to_timestamp(row.create_time))
    message.update_time.CopyFrom(to_timestamp(row.update_time))
    message.etag = etag_for(row.version)
    return message


def written_by_verbs_only(*_args) -> None:
    """A plan collection's `write`: plans have no Create/Update, only their solve and apply verbs."""
    raise AssertionError("plans are written by their verbs only")


class PlanJobs:
    """The job flow of one kind of plan."""

    def __init__(self, standard: StandardMethods, solve_jobs: SolveJobs, collection: Collection):
        self._standard = standard
        self._database = standard.database
        self._message_type = collection.message_type
        self._solve_jobs = solve_jobs
        self._collection = collection
        self._pattern = collection.pattern
        self._to_message = collection.to_message

    def submit(self, method: str, request: Message, new_row: Callable[[], RowT], solve: Callable[..., Any],
               args: tuple, outcome: Callable[[Any], Outcome], limit: timedelta) -> Message:
        """Stores the plan RUNNING, starts `solve(*args)` (a module-level function of picklable values),
        and answers with the plan (solved when `request.wait` and the deadline allow)."""
        created: list[str] = []

        def create(session: Session) -> Message:
            row = new_row()
            row.state = RUNNING
            session.add(row)
            session.flush()
            created.append(row.id)
            return self._to_message(row)

        plan = self._standard.run(method, request, self._message_type, create)
        key = self._pattern.key(plan.name)
        if created:
            stored = self._start(key, solve, args, outcome)
            if request.wait:
                SolveJobs.wait(stored, limit.total_seconds() + WAIT_SLACK_SECONDS)
        return self.get(key)

    def get(self, key: str) -> Message:
        with self._database.unit_of_work() as session:
            return self._to_message(self.rows(session).get(key))

    def _start(self, key: str, solve: Callable[..., Any], args: tuple, outcome: Callable[[Any], Outcome]) -> Future:
        def record(session: Session, result: Any, error: BaseException | None) -> None:
            row = self.rows(session).get(key, for_update=True)
            try:
                if error is not None:
                    raise error
                row.state, output, row.error = outcome(result)
                row.output = {**row.output, **output}
            except Exception:
                log.exception("solve of %s failed", self._pattern.name_of(key))
                row.state, row.error = FAILED, FAILED_SOLVE
            row.touch()

        try:
            return self._solve_jobs.start(solve, args, record)
        except BaseException:
            # Nothing will ever finish this plan: say so instead of leaving it RUNNING.
            with self._database.unit_of_work() as session:
                row = self.rows(session).get(key, for_update=True)
                row.state, row.error = FAILED, "the solve could not be started"
                row.touch()
            raise

    def rows(self, session: Session) -> NamedRows:
        return self._collection.rows(session)
