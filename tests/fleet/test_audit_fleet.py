"""The audit trail of fleet's mutations: who, what, when and request id, written with the change."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from fleetops.audit.v1 import audit_pb2
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from fleetops.fleet.v1 import meters_pb2 as mpb
from fleetops.fleet.v1 import resources_pb2 as res

from tests.conftest import _DefaultMetadata
from tests.fleet.fleet_factory import Fleet, at, stamp, unique


def trail(stub, resource: str) -> list[audit_pb2.AuditRecord]:
    """Every record of `resource`, paging one at a time so that paging is exercised too."""
    records, token = [], ""
    while True:
        page = stub.ListAuditRecords(audit_pb2.ListAuditRecordsRequest(resource=resource, page_size=1,
                                                                       page_token=token))
        records += page.audit_records
        token = page.next_page_token
        if not token:
            return records


@pytest.fixture()
def alice(fleet) -> pb_grpc.FleetServiceStub:
    metadata = (("x-fleetops-subject", "alice"), ("x-fleetops-roles", "admin"))
    return pb_grpc.FleetServiceStub(grpc.intercept_channel(fleet.raw_channel, _DefaultMetadata(metadata)))


def _customer(customer_id: str) -> pb.CreateCustomerRequest:
    return pb.CreateCustomerRequest(customer_id=customer_id, request_id=f"create-{customer_id}", customer=res.Customer(
        legal_name="Acme KK", currency_code="JPY", data_collection_consent=True))


def test_create_update_and_verb_record_who_what_when_and_request_id(fleet, alice):
    before = datetime.now(UTC)
    customer_id = unique("cust")
    customer = alice.CreateCustomer(_customer(customer_id))
    updated = alice.UpdateCustomer(pb.UpdateCustomerRequest(
        customer=res.Customer(name=customer.name, legal_name="Acme Holdings KK", etag=customer.etag),
        update_mask={"paths": ["legal_name"]}))
    after = datetime.now(UTC)
    created, changed = trail(alice, customer.name)
    assert (created.method, created.action, created.actor, created.request_id) == (
        "CreateCustomer", "CreateCustomer", "alice", f"create-{customer_id}")
    assert created.details == "fields: currency_code, data_collection_consent, legal_name"
    assert before <= created.time.ToDatetime(tzinfo=UTC) <= after
    assert (changed.method, changed.actor, changed.request_id) == ("UpdateCustomer", "alice", "")
    assert changed.details == "fields: legal_name" and updated.legal_name == "Acme Holdings KK"
    assert created.name != changed.name and changed.name.startswith("auditRecords/")

    fleet_client = Fleet(fleet.channel)
    asset = fleet_client.asset(customer, fleet_client.printer_model())
    alice.SuspendAsset(pb.AssetTransitionRequest(name=asset.name, request_id="suspend-1"))
    records = trail(alice, asset.name)
    assert [r.method for r in records] == ["CreateAsset", "InstallAsset", "ActivateAsset", "SuspendAsset"]
    assert [r.actor for r in records] == ["test-admin"] * 3 + ["alice"]
    assert records[-1].request_id == "suspend-1"


def test_a_replayed_request_is_audited_once(fleet, alice):
    request = _customer(unique("cust"))
    first = alice.CreateCustomer(request)
    assert alice.CreateCustomer(request) == first
    assert [r.method for r in trail(alice, first.name)] == ["CreateCustomer"]
    fleet_client = Fleet(fleet.channel)
    asset = fleet_client.asset(first, fleet_client.printer_model())
    suspend = pb.AssetTransitionRequest(name=asset.name, request_id="suspend-once")
    assert alice.SuspendAsset(suspend) == alice.SuspendAsset(suspend)
    assert [r.method for r in trail(alice, asset.name)].count("SuspendAsset") == 1


def test_a_failed_write_leaves_no_record(alice):
    customer = alice.CreateCustomer(_customer(unique("cust")))
    with pytest.raises(grpc.RpcError) as stale:
        alice.UpdateCustomer(pb.UpdateCustomerRequest(
            customer=res.Customer(name=customer.name, legal_name="Lost update", etag='"99"'),
            update_mask={"paths": ["legal_name"]}))
    assert stale.value.code() == grpc.StatusCode.ABORTED
    with pytest.raises(grpc.RpcError) as taken:
        alice.CreateCustomer(pb.CreateCustomerRequest(customer_id=customer.name.split("/")[1], customer=res.Customer(
            legal_name="Twin", currency_code="JPY")))
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
    site_id = unique("site")
    with pytest.raises(grpc.RpcError) as bad:
        alice.CreateSite(pb.CreateSiteRequest(parent=customer.name, site_id=site_id, site=res.Site(time_zone="Mars/Base")))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [r.method for r in trail(alice, customer.name)] == ["CreateCustomer"]
    assert trail(alice, f"{customer.name}/sites/{site_id}") == []


def test_meter_readings_are_audited_once_per_asset_and_batch(fleet, alice):
    fleet_client = Fleet(fleet.channel)
    model = fleet_client.printer_model()
    customer = fleet_client.customer()
    busy, quiet = fleet_client.asset(customer, model), fleet_client.asset(customer, model)
    readings = [mpb.MeterReading(asset=busy.name, register="mono_impressions", value=str(1000 * day),
                                 read_time=stamp(at(day))) for day in (1, 2, 3)]
    readings.append(mpb.MeterReading(asset=quiet.name, register="mono_impressions", value="10", read_time=stamp(at(1))))
    readings.append(mpb.MeterReading(asset=quiet.name, register="no_such_register", value="10", read_time=stamp(at(2))))
    answer = alice.RecordMeterReadings(mpb.RecordMeterReadingsRequest(readings=readings, request_id="meters-1"))
    assert (answer.accepted_count, answer.rejected_count) == (4, 1)
    [busy_record] = [r for r in trail(alice, busy.name) if r.method == "RecordMeterReadings"]
    [quiet_record] = [r for r in trail(alice, quiet.name) if r.method == "RecordMeterReadings"]
    assert busy_record.details == "3 readings accepted" and quiet_record.details == "1 readings accepted"
    assert busy_record.actor == "alice" and busy_record.request_id == "meters-1"


def test_the_trail_is_not_for_customer_scoped_callers_and_checks_its_filter(fleet, alice):
    metadata = (("x-fleetops-subject", "portal"), ("x-fleetops-roles", "viewer"), ("x-fleetops-customer", "customers/acme"))
    portal = pb_grpc.FleetServiceStub(grpc.intercept_channel(fleet.raw_channel, _DefaultMetadata(metadata)))
    with pytest.raises(grpc.RpcError) as denied:
        portal.ListAuditRecords(audit_pb2.ListAuditRecordsRequest(resource="customers/acme"))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as malformed:
        alice.ListAuditRecords(audit_pb2.ListAuditRecordsRequest(resource="acme"))
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
