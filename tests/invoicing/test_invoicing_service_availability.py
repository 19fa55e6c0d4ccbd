"""Availability credits from the real maintenance service's downtime; without maintenance a run
fails loudly instead of billing without the credits."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from fleetops.invoicing.v1 import plans_pb2 as ppb
from fleetops.maintenance.v1 import maintenance_service_pb2 as mspb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as maintenance_grpc
from fleetops.maintenance.v1 import resources_pb2 as mres

from tests.fleet.fleet_factory import Fleet
from tests.invoicing.invoicing_service_builders import Billing, fee, money, unique

# Any downtime at all misses a 100 % target, so the test holds whenever in the month it runs.
GUARANTEE = ppb.Charge(charge_id="sla", description="Availability 100 %", availability=ppb.AvailabilityGuarantee(
    target_uptime="1", credit_share="0.10", fee_charge_ids=["base"]))


def _this_month():
    today = datetime.now(UTC).date()
    return today.replace(day=1)


def test_open_downtime_earns_the_availability_credit(invoicing, fleet, maintenance):
    billing = Billing(invoicing.channel)
    fleet_api = Fleet(fleet.channel)
    customer = fleet_api.customer()
    model = fleet_api.printer_model()
    down, up = fleet_api.asset(customer, model), fleet_api.asset(customer, model)
    plan = billing.plan(fee("base", "10000"), GUARANTEE,
                        work_order_pricing=ppb.WorkOrderPricing(labour_price_per_hour="8000"))
    billing.contract(customer.name, plan, billing.issuer(), [down.name, up.name], site=down.site)
    # A corrective order opened now keeps `down` down from now to the end of the period.
    maintenance_grpc.MaintenanceServiceStub(maintenance.channel).CreateWorkOrder(mspb.CreateWorkOrderRequest(
        work_order=mres.WorkOrder(asset=down.name, kind=mres.WORK_ORDER_KIND_CORRECTIVE, reason="jammed fuser")))

    run = billing.execute(billing.run(_this_month(), customer.name))
    invoice = billing.invoice(run.invoices[0])
    credits = [line for group in invoice.groups for line in group.lines if line.kind == "AVAILABILITY_CREDIT"]
    # 10 % of the asset's 10,000 fee for a fully covered period; the other asset earns nothing.
    assert [(line.asset, money(line.amount)) for line in credits] == [(down.name, -1000)]
    assert money(invoice.subtotal) == 19000 and money(invoice.total) == 20900


def test_a_run_fails_clearly_when_maintenance_cannot_be_reached(billing):
    customer = f"customers/{unique('cust')}"
    billing.contract(customer, billing.plan(fee("base", "10000"), GUARANTEE), billing.issuer(), ["assets/x-1"])
    run = billing.run(_this_month(), customer)
    with pytest.raises(grpc.RpcError) as caught:
        billing.execute(run)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "maintenance" in caught.value.details() and "nothing was billed" in caught.value.details()
    failed = billing.stub.GetBillingRun(pb.GetBillingRunRequest(name=run.name))
    assert failed.state == bpb.BILLING_RUN_STATE_FAILED and not failed.invoices
    assert not billing.stub.ListInvoices(pb.ListInvoicesRequest(customer=customer)).invoices
