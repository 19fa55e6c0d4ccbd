"""Billing runs are idempotent; finalization numbers are gapless and unique under concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import grpc
import pytest
from fleetops.audit.v1 import audit_pb2
from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb

from tests.invoicing.invoicing_service_builders import fee, money, unique

DRAFTS = 24


def _customers_with_contracts(billing, issuer, count: int) -> str:
    """`count` customers on one fee-only plan (no usage, so no other service is asked)."""
    plan = billing.plan(fee("base", "10000"), fee("site", "3000", basis=2))  # 2 = FEE_BASIS_PER_CONTRACT
    group = unique("group")
    for index in range(count):
        billing.contract(f"customers/{group}-{index}", plan, issuer, [f"assets/{group}-{index}-a"])
    return group


def test_concurrent_finalization_numbers_every_draft_once_without_gaps(billing):
    issuer = billing.issuer(series="GAP")
    group = _customers_with_contracts(billing, issuer, DRAFTS)
    # One run per customer of this test: a period-wide run would also bill other tests' contracts.
    runs = [billing.execute(billing.run(date(2026, 5, 1), customer=f"customers/{group}-{index}"))
            for index in range(DRAFTS)]
    mine = [name for run in runs for name in run.invoices]
    assert len(mine) == DRAFTS
    assert {billing.invoice(name).issuing_entity for name in mine} == {issuer.name}

    with ThreadPoolExecutor(max_workers=8) as pool:
        finalized = list(pool.map(billing.finalize, mine))

    numbers = sorted(invoice.number for invoice in finalized)
    assert numbers == [f"GAP-{finalized[0].finalize_time.ToDatetime().year}-{n:06d}" for n in range(1, DRAFTS + 1)]
    assert {invoice.state for invoice in finalized} == {bpb.INVOICE_STATE_FINALIZED}


def test_a_finalized_invoice_cannot_be_finalized_again_and_keeps_its_number(billing):
    issuer = billing.issuer(series="ONCE")
    group = _customers_with_contracts(billing, issuer, 1)
    run = billing.execute(billing.run(date(2026, 5, 1), customer=f"customers/{group}-0"))
    first = billing.finalize(run.invoices[0])
    with pytest.raises(grpc.RpcError) as caught:
        billing.finalize(run.invoices[0])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert billing.invoice(run.invoices[0]).number == first.number
    assert first.number.endswith("-000001")


def test_re_executing_a_run_or_running_the_period_again_creates_nothing_new(billing):
    issuer = billing.issuer()
    group = _customers_with_contracts(billing, issuer, 3)
    customer = f"customers/{group}-1"
    run = billing.run(date(2026, 6, 1), customer=customer)
    preview = billing.stub.PreviewBillingRun(pb.PreviewBillingRunRequest(name=run.name))
    assert [money(invoice.total) for invoice in preview.invoices] == [14300]  # (10,000 + 3,000) x 1.10
    assert not billing.stub.ListInvoices(pb.ListInvoicesRequest(customer=customer)).invoices  # no side effects

    executed = billing.execute(run)
    again = billing.execute(run)
    other = billing.execute(billing.run(date(2026, 6, 1), customer=customer))

    assert len(executed.invoices) == 1 and list(again.invoices) == list(executed.invoices)
    assert not other.invoices and other.state == bpb.BILLING_RUN_STATE_SUCCEEDED
    listed = billing.stub.ListInvoices(pb.ListInvoicesRequest(customer=customer)).invoices
    assert [invoice.name for invoice in listed] == list(executed.invoices)
    assert not billing.stub.PreviewBillingRun(pb.PreviewBillingRunRequest(name=run.name)).invoices


def test_replaying_an_execution_with_its_request_id_returns_the_first_answer(billing):
    issuer = billing.issuer()
    group = _customers_with_contracts(billing, issuer, 1)
    run = billing.run(date(2026, 7, 1), customer=f"customers/{group}-0")
    first = billing.execute(run, request_id="exec-1")
    replay = billing.execute(run, request_id="exec-1")
    assert replay == first


def test_finalization_is_audited_with_actor_and_request_id(billing):
    issuer = billing.issuer()
    group = _customers_with_contracts(billing, issuer, 1)
    run = billing.execute(billing.run(date(2026, 5, 1), customer=f"customers/{group}-0"))
    billing.finalize(run.invoices[0], request_id="fin-42")
    records = billing.stub.ListAuditRecords(audit_pb2.ListAuditRecordsRequest(resource=run.invoices[0])).audit_records
    assert [r.action for r in records] == ["ExecuteBillingRun", "FinalizeInvoice"]
    assert records[1].actor == "test-admin" and records[1].request_id == "fin-42"
    assert records[1].details.startswith("number INV-")
