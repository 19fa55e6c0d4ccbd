"""Plans are versioned (a new version never changes issued invoices); contracts consolidate into one
invoice per customer, currency and issuing entity, grouped by site and cost centre."""

from __future__ import annotations

from datetime import date

import grpc
import pytest
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from fleetops.invoicing.v1 import plans_pb2 as ppb
from google.protobuf import field_mask_pb2

from tests.invoicing.invoicing_service_builders import day, fee, money, unique
from tests.runtime.test_runtime_edge import rich_error


def test_a_new_plan_version_applies_to_later_periods_only(billing):
    issuer = billing.issuer()
    first = billing.plan(fee("base", "10000"))
    customer = f"customers/{unique('cust')}"
    contract = billing.contract(customer, first, issuer, ["assets/v-1"])
    march = billing.finalize(billing.execute(billing.run(date(2026, 3, 1), customer)).invoices[0])

    plan_name = first.name.rsplit("/versions/", 1)[0]
    second = billing.stub.CreatePlanVersion(pb.CreatePlanVersionRequest(parent=plan_name, plan_version=ppb.PlanVersion(
        effective_from=day(date(2026, 4, 1)), charges=[fee("base", "12000")])))
    assert second.name == f"{plan_name}/versions/2"
    contract.plan_version = second.name
    billing.stub.UpdateContract(pb.UpdateContractRequest(
        contract=contract, update_mask=field_mask_pb2.FieldMask(paths=["plan_version"])))
    april = billing.invoice(billing.execute(billing.run(date(2026, 4, 1), customer)).invoices[0])

    assert money(billing.invoice(march.name).subtotal) == 10000 and money(april.subtotal) == 12000
    assert [c.plan_version for c in billing.invoice(march.name).contracts] == [first.name]
    assert [c.plan_version for c in april.contracts] == [second.name]
    assert billing.stub.GetPlanVersion(pb.GetPlanVersionRequest(name=first.name)).charges[0].fixed_fee.amount == "10000"


def test_contracts_of_a_customer_consolidate_per_issuer_with_lines_grouped_by_site(billing):
    japan, other = billing.issuer(), billing.issuer(series="EU")
    plan = billing.plan(fee("base", "1000"))
    customer = f"customers/{unique('cust')}"
    billing.contract(customer, plan, japan, ["assets/s-1", "assets/s-2"], site="customers/c/sites/osaka")
    billing.contract(customer, plan, japan, ["assets/s-3"], site="customers/c/sites/tokyo")
    billing.contract(customer, plan, other, ["assets/s-4"], site="customers/c/sites/tokyo")
    run = billing.execute(billing.run(date(2026, 3, 1), customer))
    invoices = {billing.invoice(name).issuing_entity: billing.invoice(name) for name in run.invoices}
    assert set(invoices) == {japan.name, other.name}
    consolidated = invoices[japan.name]
    assert len(consolidated.contracts) == 2
    assert [(g.site, g.cost_centre, len(g.lines), money(g.subtotal)) for g in consolidated.groups] == [
        ("customers/c/sites/osaka", "CC-1", 2, 2000), ("customers/c/sites/tokyo", "CC-1", 1, 1000)]
    assert money(consolidated.total) == 3300 and money(invoices[other.name].total) == 1100


def test_a_contract_must_use_its_plans_currency_and_cover_each_asset_once(billing):
    issuer = billing.issuer()
    plan = billing.plan(fee("base", "10"), currency="EUR")
    with pytest.raises(grpc.RpcError) as caught:
        billing.contract(f"customers/{unique('cust')}", plan, issuer, ["assets/e-1"], currency="JPY")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value)[0][0][0] == "contract.currency_code"
    with pytest.raises(grpc.RpcError) as caught:
        billing.contract(f"customers/{unique('cust')}", plan, issuer, ["assets/e-1", "assets/e-1"], currency="EUR")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value)[0][0][0] == "contract.assets[1]"


def test_a_plan_version_names_the_bad_charge_field(billing):
    plan = billing.stub.CreatePlan(pb.CreatePlanRequest(plan_id=unique("plan"), plan=ppb.Plan(
        display_name="Broken", currency_code="JPY")))
    with pytest.raises(grpc.RpcError) as caught:
        billing.stub.CreatePlanVersion(pb.CreatePlanVersionRequest(parent=plan.name, plan_version=ppb.PlanVersion(
            effective_from=day(date(2026, 1, 1)), charges=[fee("base", "ten")])))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value)[0][0][0] == "plan_version.charges[0].fixed_fee.amount"
    versions = billing.stub.ListPlanVersions(pb.ListPlanVersionsRequest(parent=plan.name)).plan_versions
    assert not versions
