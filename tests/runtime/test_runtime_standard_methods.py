"""Paging, idempotent retries and optimistic concurrency, as every List/Create/Update offers them."""

from __future__ import annotations

import concurrent.futures
import uuid

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from fleetops.fleet.v1 import resources_pb2 as res
from google.protobuf import field_mask_pb2

from tests.runtime.test_runtime_edge import rich_error


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _create(stub, customer_id: str, parent: str = "", request_id: str = "", legal_name: str = "Acme KK"):
    return stub.CreateCustomer(pb.CreateCustomerRequest(
        customer_id=customer_id, request_id=request_id,
        customer=res.Customer(legal_name=legal_name, currency_code="JPY", parent_customer=parent)))


def test_pages_cover_every_item_once_in_order(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    group = _create(stub, _unique("group"))
    children = sorted(_create(stub, _unique("child"), parent=group.name).name for _ in range(5))
    seen, token, pages = [], "", 0
    while True:
        response = stub.ListCustomers(pb.ListCustomersRequest(parent_customer=group.name, page_size=2,
                                                              page_token=token))
        seen += [c.name for c in response.customers]
        pages += 1
        token = response.next_page_token
        if not token:
            break
    assert seen == children
    assert pages == 3


def test_page_token_is_tamper_proof_and_bound_to_its_filter(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    group = _create(stub, _unique("group"))
    for _ in range(3):
        _create(stub, _unique("child"), parent=group.name)
    token = stub.ListCustomers(pb.ListCustomersRequest(parent_customer=group.name, page_size=1)).next_page_token
    assert token
    for bad_request in (pb.ListCustomersRequest(parent_customer=group.name, page_token=token[:-2] + "xx"),
                        pb.ListCustomersRequest(page_token=token)):
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListCustomers(bad_request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert rich_error(caught.value)[0][0][0] == "page_token"


def test_negative_page_size_is_refused(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListCustomers(pb.ListCustomersRequest(page_size=-5))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value)[0][0][0] == "page_size"


def test_retry_with_same_request_id_returns_the_first_answer(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    customer_id, request_id = _unique("retry"), str(uuid.uuid4())
    first = _create(stub, customer_id, request_id=request_id)
    again = _create(stub, customer_id, request_id=request_id)
    assert again == first
    with pytest.raises(grpc.RpcError) as caught:
        _create(stub, customer_id)  # without request_id it is a second creation
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_request_id_reused_for_other_content_is_refused(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    request_id = str(uuid.uuid4())
    _create(stub, _unique("first"), request_id=request_id)
    with pytest.raises(grpc.RpcError) as caught:
        _create(stub, _unique("second"), request_id=request_id)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert rich_error(caught.value)[1].reason == "REQUEST_ID_REUSED"


def test_concurrent_retries_create_one_customer(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    customer_id, request_id = _unique("burst"), str(uuid.uuid4())
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _create(stub, customer_id, request_id=request_id), range(8)))
    assert all(answer == answers[0] for answer in answers)
    assert stub.GetCustomer(pb.GetCustomerRequest(name=answers[0].name)) == answers[0]


def test_stale_etag_is_aborted_and_fresh_one_updates(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    created = _create(stub, _unique("etag"))
    renamed = res.Customer(name=created.name, legal_name="Acme Holdings KK", etag=created.etag)
    mask = field_mask_pb2.FieldMask(paths=["legal_name"])
    updated = stub.UpdateCustomer(pb.UpdateCustomerRequest(customer=renamed, update_mask=mask))
    assert updated.legal_name == "Acme Holdings KK" and updated.currency_code == "JPY"
    assert updated.etag != created.etag
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateCustomer(pb.UpdateCustomerRequest(customer=renamed, update_mask=mask))
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert stub.GetCustomer(pb.GetCustomerRequest(name=created.name)).legal_name == "Acme Holdings KK"


def test_update_mask_with_unknown_field_is_refused(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    created = _create(stub, _unique("mask"))
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateCustomer(pb.UpdateCustomerRequest(customer=created,
                                                     update_mask=field_mask_pb2.FieldMask(paths=["create_time"])))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value)[0][0][0] == "update_mask"


def test_failed_write_leaves_nothing_behind(fleet):
    """A create refused for a missing parent stores nothing under the requested id."""
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    customer_id = _unique("orphan")
    with pytest.raises(grpc.RpcError) as caught:
        _create(stub, customer_id, parent="customers/does-not-exist")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value)[0][0][0] == "customer.parent_customer"
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetCustomer(pb.GetCustomerRequest(name=f"customers/{customer_id}"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_parent_cycle_is_refused(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    top = _create(stub, _unique("top"))
    child = _create(stub, _unique("sub"), parent=top.name)
    cyclic = res.Customer(name=top.name, parent_customer=child.name)
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateCustomer(pb.UpdateCustomerRequest(customer=cyclic,
                                                     update_mask=field_mask_pb2.FieldMask(paths=["parent_customer"])))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
