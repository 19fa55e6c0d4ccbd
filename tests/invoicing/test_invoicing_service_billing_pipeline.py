"""A billing run is rated, fetched and written a chunk of customers at a time; it is still one
transaction. Here every customer is a chunk of its own, so a handful of customers runs every stage
of the pipeline several times, with the real fleet service answering for usage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from fleetops.invoicing.v1 import plans_pb2 as ppb

from tests.fleet.fleet_factory import Fleet
from tests.invoicing.invoicing_service_builders import (
    UNREACHABLE,
    Billing,
    fee,
    money,
    pages,
    unique,
)

MARCH = date(2026, 3, 1)


@pytest.fixture()
def chunked(service_factory, fleet) -> Billing:
    """Invoicing on a database of its own (a run over every customer bills only this test's), one
    asset per chunk, with the real fleet service and an unreachable maintenance service."""
    from services.invoicing.main import DEFINITION
    service = service_factory(DEFINITION, peers={"fleet": fleet.address, "maintenance": UNREACHABLE},
                              billing_chunk_assets=1)
    return Billing(service.channel)


def _daily_reads(start_value: int, per_day: int) -> list[tuple[datetime, str]]:
    first = datetime(2026, 3, 1, tzinfo=UTC)
    return [(first + timedelta(days=n), str(start_value + per_day * n)) for n in range(32)]  # 1 Mar .. 1 Apr


def _invoices_of(billing: Billing, customer: str) -> list[bpb.Invoice]:
    return list(billing.stub.ListInvoices(pb.ListInvoicesRequest(customer=customer)).invoices)


def test_a_run_of_many_chunks_bills_each_customer_once_as_previewed(chunked, fleet):
    fleet_api = Fleet(fleet.channel)
    model = fleet_api.printer_model()
    issuer = chunked.issuer()
    metered, flat = chunked.plan(pages("mono", "2")), chunked.plan(fee("base", "10000"))
    expected = {}
    for index in range(3):  # 100 + 10 x index pages a day for the 31 days of March, at 2 JPY
        customer = fleet_api.customer()
        printer = fleet_api.asset(customer, model)
        fleet_api.read(printer, *_daily_reads(1000, 100 + 10 * index))
        chunked.contract(customer.name, metered, issuer, [printer.name], site=printer.site)
        expected[customer.name] = 2 * 31 * (100 + 10 * index)
    for _ in range(2):
        customer = f"customers/{unique('flat')}"
        chunked.contract(customer, flat, issuer, [f"assets/{unique('a')}"])
        expected[customer] = 10000
    run = chunked.run(MARCH)
    previewed = chunked.stub.PreviewBillingRun(pb.PreviewBillingRunRequest(name=run.name)).invoices

    executed = chunked.execute(run)

    drafts = [chunked.invoice(name) for name in executed.invoices]
    assert {draft.customer: money(draft.subtotal) for draft in drafts} == expected
    assert {p.customer: (money(p.subtotal), money(p.total)) for p in previewed} == {
        d.customer: (money(d.subtotal), money(d.total)) for d in drafts}
    assert (executed.state, executed.contract_count, executed.asset_count) == (bpb.BILLING_RUN_STATE_SUCCEEDED, 5, 5)
    assert [len(draft.annex) for draft in sorted(drafts, key=lambda d: d.customer) if draft.annex] == [1, 1, 1]
    # Executed again (another request): nothing new, the same drafts.
    again = chunked.execute(run, request_id=unique("again"))
    assert sorted(again.invoices) == sorted(executed.invoices)
    assert all(len(_invoices_of(chunked, customer)) == 1 for customer in expected)


def test_a_failure_in_a_late_chunk_leaves_none_of_the_earlier_chunks_drafts(chunked):
    issuer = chunked.issuer()
    flat = chunked.plan(fee("base", "10000"))
    guaranteed = chunked.plan(fee("base", "10000"), ppb.Charge(
        charge_id="sla", availability=ppb.AvailabilityGuarantee(target_uptime="0.99", credit_share="0.1",
                                                                fee_charge_ids=["base"])))
    group = unique("cust")
    # Customers are chunked in name order: the four flat ones are rated and written before the last
    # one's downtime is asked of the unreachable maintenance service.
    customers = [f"customers/{group}-{letter}" for letter in "abcdz"]
    for customer in customers[:-1]:
        chunked.contract(customer, flat, issuer, [f"assets/{unique('a')}"])
    chunked.contract(customers[-1], guaranteed, issuer, [f"assets/{unique('a')}"])
    run = chunked.run(MARCH)

    with pytest.raises(grpc.RpcError) as caught:
        chunked.execute(run)

    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and "maintenance" in caught.value.details()
    failed = chunked.stub.GetBillingRun(pb.GetBillingRunRequest(name=run.name))
    assert failed.state == bpb.BILLING_RUN_STATE_FAILED and not failed.invoices
    assert [customer for customer in customers if _invoices_of(chunked, customer)] == []
