"""What a client sees at the edge of any service: status codes, error details, identity, metrics."""

from __future__ import annotations

import urllib.request

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from fleetops.fleet.v1 import resources_pb2 as res
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def rich_error(error: grpc.RpcError) -> tuple[list, error_details_pb2.ErrorInfo | None]:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status details"
    violations, info = [], None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations += [(v.field, v.description) for v in bad_request.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
    return violations, info


def test_malformed_request_names_the_field(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateCustomer(pb.CreateCustomerRequest(
            customer_id="edge-bad-currency", customer=res.Customer(legal_name="Acme", currency_code="YEN")))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations, info = rich_error(caught.value)
    assert [field for field, _ in violations] == ["customer.currency_code"]
    assert info.reason == "INVALID_ARGUMENT" and info.domain == "fleetops.dev"


def test_malformed_name_is_invalid_argument_not_not_found(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetCustomer(pb.GetCustomerRequest(name="sites/acme"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value)[0][0][0] == "name"


def test_unknown_resource_is_not_found_with_error_info(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetCustomer(pb.GetCustomerRequest(name="customers/nobody-here"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    _, info = rich_error(caught.value)
    assert info.reason == "RESOURCE_NOT_FOUND"
    assert info.metadata["resource"] == "customers/nobody-here"


def test_call_without_identity_is_unauthenticated(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.raw_channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListCustomers(pb.ListCustomersRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "x-fleetops-subject" in caught.value.details()


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def test_metrics_count_calls_with_go_style_codes(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    with pytest.raises(grpc.RpcError):
        stub.GetCustomer(pb.GetCustomerRequest(name="customers/metrics-missing"))
    with pytest.raises(grpc.RpcError):
        stub.ListCustomers(pb.ListCustomersRequest(page_size=-1))
    text = _metrics(fleet.metrics_url)
    common = 'grpc_method="{}",grpc_service="fleetops.fleet.v1.FleetService",grpc_type="unary"'
    assert f'grpc_server_handled_total{{grpc_code="NotFound",{common.format("GetCustomer")}}}' in text
    assert f'grpc_server_handled_total{{grpc_code="InvalidArgument",{common.format("ListCustomers")}}}' in text
    assert f'grpc_server_started_total{{{common.format("GetCustomer")}}}' in text
    assert f'grpc_server_handling_seconds_count{{{common.format("GetCustomer")}}}' in text
