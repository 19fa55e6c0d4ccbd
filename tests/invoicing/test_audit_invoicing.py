"""The audit trail of invoicing's standard methods (finalization and credit notes are covered with
their own tests): one record per change, none for a replay or a refused write."""

from __future__ import annotations

from datetime import date

import grpc
import pytest
from fleetops.audit.v1 import audit_pb2
from fleetops.invoicing.v1 import contracts_pb2 as cpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb

from tests.invoicing.invoicing_service_builders import day, fee, unique


def trail(billing, resource: str) -> list[audit_pb2.AuditRecord]:
    return list(billing.stub.ListAuditRecords(audit_pb2.ListAuditRecordsRequest(resource=resource)).audit_records)


def test_contract_changes_are_audited_once_each(billing):
    issuer, plan = billing.issuer(), billing.plan(fee("base", "500"))
    request = pb.CreateContractRequest(contract_id=unique("contract"), request_id=unique("req"), contract=cpb.Contract(
        customer=f"customers/{unique('cust')}", plan_version=plan.name, issuing_entity=issuer.name,
        currency_code="JPY", billing_anchor_day=1, start_date=day(date(2026, 1, 1)), billing_site="customers/c/sites/hq",
        billing_cost_centre="CC-1"))
    contract = billing.stub.CreateContract(request)
    assert billing.stub.CreateContract(request) == contract
    billing.stub.UpdateContract(pb.UpdateContractRequest(
        contract=cpb.Contract(name=contract.name, purchase_order="PO-9"), update_mask={"paths": ["purchase_order"]}))
    with pytest.raises(grpc.RpcError) as stale:
        billing.stub.UpdateContract(pb.UpdateContractRequest(
            contract=cpb.Contract(name=contract.name, purchase_order="PO-10", etag='"1"'),
            update_mask={"paths": ["purchase_order"]}))
    assert stale.value.code() == grpc.StatusCode.ABORTED
    created, updated = trail(billing, contract.name)
    assert (created.method, created.actor, created.request_id) == ("CreateContract", "test-admin", request.request_id)
    assert (updated.method, updated.details) == ("UpdateContract", "fields: purchase_order")
    assert billing.stub.GetContract(pb.GetContractRequest(name=contract.name)).purchase_order == "PO-9"
