"""Billing runs: a period's billing as a resource that is previewed, then executed (idempotently).

An execution is one transaction: it locks the run, reads which customers are still uninvoiced,
and writes their drafts chunk by chunk while the next chunks' usage is asked of the other
services (see billing_engine.rate_run). The transaction is therefore open across those remote
calls (each bounded by the caller's deadline): it holds the run's row and the live slots of the
drafts written so far: an execution of the same run waits for it, then finds nobody left to bill;
one of another run covering the same customers waits, then fails ABORTED rather than billing twice.
On SQLite (a single writer) other writes queue behind a running execution.
"""

from __future__ import annotations

import logging
import time

from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from services.invoicing.api.common import required_date
from services.invoicing.billing_engine import rate_run
from services.invoicing.billing_store import load_run_inputs, write_drafts
from services.invoicing.invoice_codec import invoice_to_proto
from services.invoicing.store import BillingRunRow, InvoiceRow
from services.runtime.audit import note_change, note_changes
from services.runtime.crud import Collection
from services.runtime.db import utc_now
from services.runtime.errors import DomainError
from services.runtime.proto_values import date_to_proto
from services.runtime.repository import NamedRows
from services.runtime.resources import NamePattern, etag_for, parse_name, to_timestamp
from services.runtime.scoping import CustomerOwned

log = logging.getLogger(__name__)
BILLING_RUNS = NamePattern("billingRuns/{billing_run}")


def billing_run_to_proto(row: BillingRunRow) -> bpb.BillingRun:
    message = bpb.BillingRun(
        name=BILLING_RUNS.name_of(row.id), period_start=date_to_proto(row.period_start), customer=row.customer,
        state=bpb.BillingRunState.Value(f"BILLING_RUN_STATE_{row.state}"),
        contract_count=row.contract_count, asset_count=row.asset_count,
        estimated_line_count=row.estimated_line_count, error=row.error,
        create_time=to_timestamp(row.create_time), update_time=to_timestamp(row.update_time),
        etag=etag_for(row.version))
    if row.execute_time is not None:
        message.execute_time.CopyFrom(to_timestamp(row.execute_time))
    message.invoices.extend(f"invoices/{invoice_id}" for invoice_id in _invoices_of(row))
    return message


def _invoices_of(row: BillingRunRow) -> list[str]:
    session = object_session(row)
    return list(session.scalars(select(InvoiceRow.id).where(InvoiceRow.billing_run_id == row.id)
                                .order_by(InvoiceRow.id))) if session is not None else []


def write_billing_run(session: Session, row: BillingRunRow, message: bpb.BillingRun, fields: set[str]) -> None:
    row.period_start = required_date(message.period_start, "billing_run.period_start",
                                     message.HasField("period_start"))
    if message.customer:
        parse_name(message.customer, "customers", "billing_run.customer")
    row.customer = message.customer
    row.state = "PENDING"


BILLING_RUN_COLLECTION = Collection(
    pattern=BILLING_RUNS, row_type=BillingRunRow, message_type=bpb.BillingRun, message_field="billing_run",
    writable=("period_start", "customer"), to_message=billing_run_to_proto,
    write=write_billing_run,
    # A run over every customer (no customer) is the provider's: a scoped caller neither sees nor starts one.
    scope=CustomerOwned("customer", as_name=True),
)


class BillingRunMethods:
    def GetBillingRun(self, request: pb.GetBillingRunRequest, context) -> bpb.BillingRun:
        return self._standard.get(BILLING_RUN_COLLECTION, request.name)

    def ListBillingRuns(self, request: pb.ListBillingRunsRequest, context) -> pb.ListBillingRunsResponse:
        runs, token = self._standard.list(BILLING_RUN_COLLECTION, request)
        return pb.ListBillingRunsResponse(billing_runs=runs, next_page_token=token)

    def CreateBillingRun(self, request: pb.CreateBillingRunRequest, context) -> bpb.BillingRun:
        return self._standard.create(BILLING_RUN_COLLECTION, "CreateBillingRun", request, request.billing_run_id,
                                     "billing_run_id")

    def PreviewBillingRun(self, request: pb.PreviewBillingRunRequest, context) -> pb.PreviewBillingRunResponse:
        run_id = BILLING_RUNS.key(request.name)
        self._standard.get(BILLING_RUN_COLLECTION, request.name)
        with self._db.unit_of_work() as session:
            row = NamedRows(session, BillingRunRow, BILLING_RUNS).get(run_id)
            inputs = load_run_inputs(session, row.period_start, row.customer)
        rated = rate_run(inputs.terms, row.period_start, inputs.policies, inputs.positions, self._fleet,
                         self._maintenance, self._chunk_assets)
        return pb.PreviewBillingRunResponse(invoices=[invoice_to_proto(invoice) for invoice in rated.invoices])

    def ExecuteBillingRun(self, request: pb.ExecuteBillingRunRequest, context) -> bpb.BillingRun:
        run_id = BILLING_RUNS.key(request.name)
        # Out of scope or missing: refused before a failure could be recorded on the run.
        self._standard.get(BILLING_RUN_COLLECTION, request.name)
        phases: dict[str, float] = {}

        def execute(session: Session) -> bpb.BillingRun:
            # The run's row stays locked to the end: an execution of the same run waits, then bills nobody twice.
            row = BILLING_RUN_COLLECTION.rows(session).get(run_id, for_update=True)
            started = time.perf_counter()
            inputs = load_run_inputs(session, row.period_start, row.customer)
            phases["inputs"] = time.perf_counter() - started
            created: list[str] = []
            # The drafts are written chunk by chunk while later chunks are fetched and rated, all in this
            # one transaction: a failure anywhere rolls every chunk back.
            rated = rate_run(inputs.terms, row.period_start, inputs.policies, inputs.positions, self._fleet,
                             self._maintenance, self._chunk_assets,
                             write=lambda chunk: created.extend(write_drafts(session, chunk, run_id, inputs.replaced)))
            phases.update(rated.phase_seconds)
            row.state, row.error, row.execute_time = "SUCCEEDED", "", utc_now()
            row.contract_count, row.asset_count = rated.contract_count, rated.asset_count
            row.estimated_line_count = rated.estimated_line_count
            row.touch()
            note_changes(session, [(f"invoices/{invoice_id}", "ExecuteBillingRun", f"draft from {request.name}")
                                  for invoice_id in created])
            note_change(session, request.name, "ExecuteBillingRun", f"{len(created)} draft invoices created")
            session.flush()
            return billing_run_to_proto(row)

        try:
            answer = self._standard.run("ExecuteBillingRun", request, bpb.BillingRun, execute)
        except DomainError as error:
            self._record_failure(run_id, error)
            raise
        for phase, seconds in phases.items():
            self._metrics.billing_run_phase_seconds.labels(phase).observe(seconds)
        self._metrics.billing_runs.labels("succeeded").inc()
        return answer

    def _record_failure(self, run_id: str, error: DomainError) -> None:
        self._metrics.billing_runs.labels("failed").inc()
        try:
            with self._db.unit_of_work() as session:
                row = NamedRows(session, BillingRunRow, BILLING_RUNS).get(run_id, for_update=True)
                if row.state == "SUCCEEDED":  # an earlier execution's drafts stand; this one changed nothing
                    return
                row.state, row.error = "FAILED", error.message
                row.touch()
                # The failure is a change of its own (state FAILED), written outside the failed unit of work.
                self._standard.audit.insert(session, "ExecuteBillingRun", [
                    (BILLING_RUNS.name_of(run_id), "ExecuteBillingRun", f"failed: {error.message}")])
        except DomainError:
            log.warning("could not record the failure of billing run %s", run_id, exc_info=True)
