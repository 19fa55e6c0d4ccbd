"""Builds issuers, plans, contracts and billing runs through the public API, with unique ids so
tests can share a server; `billing_service` starts invoicing wired to the real fleet service."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import contracts_pb2 as cpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from fleetops.invoicing.v1 import invoicing_service_pb2_grpc as pb_grpc
from fleetops.invoicing.v1 import plans_pb2 as ppb
from google.type import date_pb2

UNREACHABLE = "localhost:1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def day(value: date) -> date_pb2.Date:
    return date_pb2.Date(year=value.year, month=value.month, day=value.day)


def fee(charge_id: str, amount: str, **options) -> ppb.Charge:
    return ppb.Charge(charge_id=charge_id, description=f"Fee {charge_id}",
                      fixed_fee=ppb.FixedFee(amount=amount, **options))


def pages(charge_id: str, price: str, allowance: str = "0", fleet_register: str = "mono_impressions") -> ppb.Charge:
    return ppb.Charge(charge_id=charge_id, description="Mono pages", metered=ppb.MeteredCharge(
        register=ppb.REGISTER_MONO_PAGES, fleet_register=fleet_register, tiers=[ppb.Tier(unit_price=price)],
        allowance=allowance))


class Billing:
    def __init__(self, channel):
        self.stub = pb_grpc.InvoicingServiceStub(channel)

    def issuer(self, series: str = "INV") -> pb.IssuingEntity:
        entity = pb.IssuingEntity(legal_name="Fleetops Japan KK", country_code="JP", invoice_series=series,
                                  tax_registration_number="T1234567890123")
        return self.stub.CreateIssuingEntity(pb.CreateIssuingEntityRequest(issuing_entity_id=unique("issuer"),
                                                                            issuing_entity=entity))

    def plan(self, *charges: ppb.Charge, currency: str = "JPY", **version_fields) -> ppb.PlanVersion:
        plan = self.stub.CreatePlan(pb.CreatePlanRequest(plan_id=unique("plan"), plan=ppb.Plan(
            display_name="Managed print", currency_code=currency)))
        return self.stub.CreatePlanVersion(pb.CreatePlanVersionRequest(parent=plan.name, plan_version=ppb.PlanVersion(
            effective_from=day(date(2026, 1, 1)), charges=list(charges), **version_fields)))

    def contract(self, customer: str, plan: ppb.PlanVersion, issuer: pb.IssuingEntity, assets: list[str],
                 site: str = "customers/c/sites/hq", anchor: int = 1, start: date = date(2026, 1, 1),
                 currency: str = "JPY") -> cpb.Contract:
        covered = [cpb.CoveredAsset(asset=asset, site=site, cost_centre="CC-1", effective_from=day(start))
                   for asset in assets]
        return self.stub.CreateContract(pb.CreateContractRequest(contract_id=unique("contract"), contract=cpb.Contract(
            customer=customer, plan_version=plan.name, issuing_entity=issuer.name, currency_code=currency,
            billing_anchor_day=anchor, start_date=day(start), purchase_order="PO-7", billing_site=site,
            billing_cost_centre="CC-1", assets=covered)))

    def run(self, period_start: date, customer: str = "") -> bpb.BillingRun:
        return self.stub.CreateBillingRun(pb.CreateBillingRunRequest(
            billing_run_id=unique("run"), billing_run=bpb.BillingRun(period_start=day(period_start), customer=customer)))

    def execute(self, run: bpb.BillingRun, request_id: str = "") -> bpb.BillingRun:
        return self.stub.ExecuteBillingRun(pb.ExecuteBillingRunRequest(name=run.name, request_id=request_id))

    def invoice(self, name: str) -> bpb.Invoice:
        return self.stub.GetInvoice(pb.GetInvoiceRequest(name=name))

    def finalize(self, name: str, request_id: str = "") -> bpb.Invoice:
        return self.stub.FinalizeInvoice(pb.FinalizeInvoiceRequest(name=name, request_id=request_id))


def money(value) -> Decimal:
    """A google.type.Money as an exact Decimal."""
    return Decimal(value.units) + Decimal(value.nanos) / Decimal(10**9)
