"""kill -9 of the invoicing service while the drafts of a billing run are being finalized: the client
finalizes every draft again with the same request ids until answered, and after the restart (same
database) the numbers are gapless, nothing is half-finalized and the totals are the drafts' totals."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from functools import partial

import grpc
import pytest
from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from sqlalchemy import func, select

from services.invoicing.store import InvoiceCounterRow, InvoiceRow
from tests.faults.harness import ServiceProcess, database_session, until_answered, wait_for
from tests.invoicing.invoicing_service_builders import UNREACHABLE, Billing, fee, money, unique

pytestmark = pytest.mark.faults
DRAFTS = 120
CALLERS = 4
SERIES = "CRASH"


def _finalized_rows(database_url: str, issuer_id: str) -> int:
    with database_session(database_url) as session:
        return session.scalar(select(func.count()).select_from(InvoiceRow).where(
            InvoiceRow.issuing_entity_id == issuer_id, InvoiceRow.state == "FINALIZED"))


def test_finalizing_a_billing_run_again_after_kill_minus_9_keeps_numbers_gapless(fleet, new_database_url, tmp_path):
    database_url = new_database_url("invoicing")
    invoicing = ServiceProcess("invoicing", database_url, tmp_path, peers={"fleet": fleet.address, "maintenance": UNREACHABLE})
    try:
        billing = Billing(invoicing.channel)
        issuer = billing.issuer(series=SERIES)
        issuer_id = issuer.name.split("/", 1)[1]
        plan = billing.plan(fee("base", "10000"), fee("support", "2501"))
        group = unique("crash")
        for index in range(DRAFTS):
            billing.contract(f"customers/{group}-{index}", plan, issuer, [f"assets/{group}-{index}"])
        run = billing.run(date(2026, 5, 1))
        drafts = {name: billing.invoice(name) for name in billing.execute(run, request_id=unique("execute")).invoices}
        assert len(drafts) == DRAFTS

        failures: list[grpc.RpcError] = []
        answers: dict[str, bpb.Invoice] = {}

        def finalize(name: str) -> None:
            request = pb.FinalizeInvoiceRequest(name=name, request_id=f"finalize-{name}")
            answers[name] = until_answered(partial(billing.stub.FinalizeInvoice, request, timeout=30), failures)

        with ThreadPoolExecutor(CALLERS) as pool:
            finalizing = [pool.submit(finalize, name) for name in drafts]
            wait_for(lambda: len(answers) >= DRAFTS // 3)
            invoicing.kill()
            finalized_at_kill = _finalized_rows(database_url, issuer_id)
            invoicing.start()
            for future in finalizing:
                future.result(timeout=300)

        assert failures, "the kill interrupted no finalization: the test proved nothing"
        assert 0 < finalized_at_kill < DRAFTS
        year = answers[next(iter(answers))].finalize_time.ToDatetime().year
        assert sorted(answer.number for answer in answers.values()) == [f"{SERIES}-{year}-{n:06d}"
                                                                        for n in range(1, DRAFTS + 1)]
        for name, draft in drafts.items():
            assert answers[name].state == bpb.INVOICE_STATE_FINALIZED
            assert (money(answers[name].subtotal), money(answers[name].tax_total), money(answers[name].total)) == (
                money(draft.subtotal), money(draft.tax_total), money(draft.total))

        # Running the finalization again answers with the same invoices; executing the run again bills nobody twice.
        with ThreadPoolExecutor(CALLERS) as pool:
            again = dict(zip(drafts, pool.map(lambda name: billing.stub.FinalizeInvoice(
                pb.FinalizeInvoiceRequest(name=name, request_id=f"finalize-{name}"), timeout=30), drafts)))
        assert again == answers
        billing.execute(run, request_id=unique("execute-again"))
        assert {name: billing.invoice(name) for name in drafts} == answers

        with database_session(database_url) as session:
            rows = list(session.scalars(select(InvoiceRow).where(InvoiceRow.issuing_entity_id == issuer_id)))
            [counter] = session.scalars(select(InvoiceCounterRow).where(InvoiceCounterRow.issuing_entity_id == issuer_id))
        assert len(rows) == DRAFTS
        assert [row for row in rows if (row.state == "FINALIZED") != bool(row.number)] == []  # nothing half-finalized
        assert {(f"invoices/{row.id}", row.number, row.total) for row in rows} == {
            (name, answer.number, money(answer.total)) for name, answer in answers.items()}
        assert (counter.series, counter.last_number) == (SERIES, DRAFTS)
        assert sum((row.total for row in rows), Decimal(0)) == sum((money(d.total) for d in drafts.values()), Decimal(0))
    finally:
        invoicing.stop()
