"""Issuing entities: the legal identity and numbering series printed on invoices."""

from __future__ import annotations

import grpc
import pytest
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from fleetops.invoicing.v1 import invoicing_service_pb2_grpc as pb_grpc

from tests.runtime.test_runtime_edge import rich_error


def test_japanese_issuer_needs_a_qualified_invoice_number(invoicing):
    stub = pb_grpc.InvoicingServiceStub(invoicing.channel)
    entity = pb.IssuingEntity(legal_name="Fleetops Japan KK", country_code="JP", invoice_series="INV",
                              tax_registration_number="T123")
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateIssuingEntity(pb.CreateIssuingEntityRequest(issuing_entity_id="jp-bad", issuing_entity=entity))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value)[0][0][0] == "issuing_entity.tax_registration_number"
    entity.tax_registration_number = "T1234567890123"
    created = stub.CreateIssuingEntity(pb.CreateIssuingEntityRequest(issuing_entity_id="jp", issuing_entity=entity))
    assert created.name == "issuingEntities/jp"
    assert created.tax_rounding_mode == pb.TAX_ROUNDING_MODE_HALF_UP  # unspecified means half up
    assert stub.GetIssuingEntity(pb.GetIssuingEntityRequest(name=created.name)) == created


def test_rounding_mode_is_kept(invoicing):
    stub = pb_grpc.InvoicingServiceStub(invoicing.channel)
    entity = pb.IssuingEntity(legal_name="Fleetops GmbH", country_code="DE", invoice_series="RE",
                              tax_rounding_mode=pb.TAX_ROUNDING_MODE_TRUNCATE)
    created = stub.CreateIssuingEntity(pb.CreateIssuingEntityRequest(issuing_entity_id="de", issuing_entity=entity))
    assert created.tax_rounding_mode == pb.TAX_ROUNDING_MODE_TRUNCATE
    names = [e.name for e in stub.ListIssuingEntities(pb.ListIssuingEntitiesRequest()).issuing_entities]
    assert "issuingEntities/de" in names
