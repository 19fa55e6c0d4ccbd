"""Limits on what a request may carry: message size, batch sizes, string lengths, enum values,
timestamps and page sizes. Each refusal names the field, and nothing is written."""

from __future__ import annotations

import math

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from fleetops.fleet.v1 import meters_pb2 as mpb
from fleetops.fleet.v1 import resources_pb2 as res
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import scheduling_pb2 as spb
from google.protobuf import descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.duration_pb2 import Duration
from google.type import latlng_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.fleet.domain.meters import MAX_READINGS_PER_BATCH
from services.maintenance.ingestion import MAX_EVENTS_PER_BATCH
from services.runtime.errors import InvalidArgument
from services.runtime.pagination import MAX_PAGE_SIZE
from services.runtime.request_limits import DEFAULT_LIMITS, RequestLimits
from tests.conftest import start_service, stop_service
from tests.fleet.fleet_factory import unique
from tests.fuzz.message_strategies import field_names, requests
from tests.runtime.test_runtime_edge import rich_error


def _refusal(call, request) -> tuple[grpc.StatusCode, list[str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request)
    code = caught.value.code()
    return code, [field for field, _ in rich_error(caught.value)[0]] if code == grpc.StatusCode.INVALID_ARGUMENT else []


def _customer(legal_name: str = "Acme KK", **fields) -> res.Customer:
    return res.Customer(legal_name=legal_name, currency_code="JPY", **fields)


def _not_created(stub, customer_id: str) -> bool:
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetCustomer(pb.GetCustomerRequest(name=f"customers/{customer_id}"))
    return caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_message_over_the_configured_size_is_resource_exhausted(new_database_url):
    from services.fleet.main import DEFINITION
    small = start_service(DEFINITION, new_database_url("fleet"), max_message_bytes=64 * 1024)
    try:
        stub = pb_grpc.FleetServiceStub(small.channel)
        customer_id = unique("big")
        code, _ = _refusal(stub.CreateCustomer, pb.CreateCustomerRequest(
            customer_id=customer_id, customer=_customer(tax_registration_number="x" * (100 * 1024))))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _not_created(stub, customer_id)
        # A request just under the limit is served as usual.
        assert stub.CreateCustomer(pb.CreateCustomerRequest(customer_id=customer_id, customer=_customer())).name
    finally:
        stop_service(small)


@pytest.mark.parametrize(("field", "limit"), [("legal_name", 200), ("tax_registration_number", 40)])
def test_string_longer_than_its_column_is_refused_naming_the_field(fleet, field, limit):
    """The limit is the column's: PostgreSQL would refuse a longer value (and SQLite keep it)."""
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    customer_id = unique("long")
    fields = {"legal_name": "Acme KK", field: "x" * (limit + 1)}
    code, fields_named = _refusal(stub.CreateCustomer, pb.CreateCustomerRequest(
        customer_id=customer_id, customer=res.Customer(currency_code="JPY", **fields)))
    assert (code, fields_named) == (grpc.StatusCode.INVALID_ARGUMENT, [f"customer.{field}"])
    assert _not_created(stub, customer_id)
    fields[field] = "x" * limit  # exactly at the limit is fine
    assert stub.CreateCustomer(pb.CreateCustomerRequest(customer_id=customer_id, customer=res.Customer(
        currency_code="JPY", **fields))).name == f"customers/{customer_id}"


def test_free_text_is_bounded_by_its_column_too(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    customer = stub.CreateCustomer(pb.CreateCustomerRequest(customer_id=unique("addr"), customer=_customer()))
    site = res.Site(display_name="HQ", time_zone="Asia/Tokyo", address="x" * 500)
    assert stub.CreateSite(pb.CreateSiteRequest(parent=customer.name, site_id=unique("site"), site=site)).address
    site.address += "x"
    code, fields_named = _refusal(stub.CreateSite, pb.CreateSiteRequest(parent=customer.name, site_id=unique("site"),
                                                                        site=site))
    assert (code, fields_named) == (grpc.StatusCode.INVALID_ARGUMENT, ["site.address"])


def test_nul_character_is_refused_before_it_reaches_the_database(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    customer_id = unique("nul")
    code, fields_named = _refusal(stub.CreateCustomer, pb.CreateCustomerRequest(
        customer_id=customer_id, customer=_customer("Acme\x00KK")))
    assert (code, fields_named) == (grpc.StatusCode.INVALID_ARGUMENT, ["customer.legal_name"])
    assert _not_created(stub, customer_id)


def test_enum_value_the_api_does_not_define_is_refused(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    code, fields_named = _refusal(stub.ListAssets, pb.ListAssetsRequest(device_class=99))
    assert (code, fields_named) == (grpc.StatusCode.INVALID_ARGUMENT, ["device_class"])


def test_timestamp_outside_its_documented_range_is_refused(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    beyond_9999 = timestamp_pb2.Timestamp(seconds=253_402_300_800)
    request = mpb.RecordMeterReadingsRequest(readings=[
        mpb.MeterReading(asset="assets/a1", register="mono_impressions", value="1"),
        mpb.MeterReading(asset="assets/a1", register="mono_impressions", value="2", read_time=beyond_9999)])
    code, fields_named = _refusal(stub.RecordMeterReadings, request)
    assert (code, fields_named) == (grpc.StatusCode.INVALID_ARGUMENT, ["readings[1].read_time"])


def test_many_violations_are_reported_up_to_a_bound(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    code, fields_named = _refusal(stub.BatchGetAssets, pb.BatchGetAssetsRequest(names=["x" * 2000] * 100))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields_named == [f"names[{i}]" for i in range(20)]


def _event(index: int) -> dpb.DiagnosticEvent:
    return dpb.DiagnosticEvent(source="limits", source_event_id=str(index), asset="assets/a1", redfish_event="{}")


_SERVICE_NAMES = {"fleet": "fleetops.fleet.v1.FleetService", "maintenance": "fleetops.maintenance.v1.MaintenanceService"}


def _rpc(handle, method: MethodDescriptor):
    """A callable for any method of the service, and its request class."""
    request_class = message_factory.GetMessageClass(method.input_type)
    call = handle.channel.unary_unary(
        f"/{method.containing_service.full_name}/{method.name}", request_serializer=request_class.SerializeToString,
        response_deserializer=message_factory.GetMessageClass(method.output_type).FromString)
    return call, request_class


@pytest.mark.parametrize(("service", "method", "field", "cap", "item"), [
    ("fleet", "BatchGetAssets", "names", 1000, lambda i: f"assets/a{i}"),
    ("fleet", "GetUsage", "assets", 1000, lambda i: f"assets/a{i}"),
    ("fleet", "RecordMeterReadings", "readings", MAX_READINGS_PER_BATCH,
     lambda i: mpb.MeterReading(asset="assets/a1", register="r", value=str(i))),
    ("maintenance", "ListDowntimeIntervals", "assets", 1000, lambda i: f"assets/a{i}"),
    ("maintenance", "IngestDiagnostics", "events", MAX_EVENTS_PER_BATCH, _event),
])
def test_batch_over_its_cap_is_refused_naming_the_field(suite, service, method, field, cap, item):
    descriptor = descriptor_pool.Default().FindServiceByName(_SERVICE_NAMES[service]).methods_by_name[method]
    call, request_class = _rpc(suite[service], descriptor)
    request = request_class()
    getattr(request, field).extend([item(i) for i in range(cap + 1)])
    code, fields_named = _refusal(call, request)
    assert (code, fields_named) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


def _list_methods_with_page_size() -> list:
    from services.fleet.main import DEFINITION as FLEET
    from services.invoicing.main import DEFINITION as INVOICING
    from services.maintenance.main import DEFINITION as MAINTENANCE
    params = []
    for service, definition in (("fleet", FLEET), ("maintenance", MAINTENANCE), ("invoicing", INVOICING)):
        for full_name in definition.grpc_services:
            for method in descriptor_pool.Default().FindServiceByName(full_name).methods:
                if "page_size" in method.input_type.fields_by_name:
                    params.append(pytest.param(service, method, id=f"{service}-{method.name}"))
    return params


@pytest.mark.parametrize(("service", "method"), _list_methods_with_page_size())
def test_every_list_refuses_a_negative_page_size(suite, service, method):
    call, request_class = _rpc(suite[service], method)
    code, fields_named = _refusal(call, request_class(page_size=-1))
    assert (code, fields_named) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_size"])


def test_page_size_above_the_maximum_is_lowered_to_it(fleet):
    stub = pb_grpc.FleetServiceStub(fleet.channel)
    parent = stub.CreateCustomer(pb.CreateCustomerRequest(customer_id=unique("group"), customer=_customer()))
    for _ in range(3):
        stub.CreateCustomer(pb.CreateCustomerRequest(customer_id=unique("member"),
                                                     customer=_customer(parent_customer=parent.name)))
    listed = stub.ListCustomers(pb.ListCustomersRequest(parent_customer=parent.name, page_size=MAX_PAGE_SIZE * 10))
    assert len(listed.customers) == 3 and listed.next_page_token == ""


def _diagnostic_event(**fields) -> dpb.DiagnosticEvent:
    return dpb.DiagnosticEvent(**{"source": "s", "source_event_id": "e1", "asset": "assets/a1",
                                  "observe_time": timestamp_pb2.Timestamp(seconds=1), **fields})


_LIMITS = RequestLimits(string_chars={}, column_chars={"legal_name": 200, "value": 40})
_TOO_FAR = timestamp_pb2.Timestamp(seconds=253_402_300_800)
# Each request breaks one limit, at its own depth, and names that field; its `clean` twin breaks none.
_BROKEN = [
    (pb.CreateCustomerRequest(customer=_customer("x" * 201)), "customer.legal_name"),
    (pb.CreateCustomerRequest(customer=_customer("Acme\x00")), "customer.legal_name"),
    (pb.CreateSiteRequest(site=res.Site(position=latlng_pb2.LatLng(latitude=math.nan))), "site.position.latitude"),
    (pb.ListAssetsRequest(device_class=99), "device_class"),
    (pb.ListAssetsRequest(page_size=-1), "page_size"),
    (pb.BatchGetAssetsRequest(names=["assets/a1", "assets/a\x00"]), "names[1]"),
    (mpb.RecordMeterReadingsRequest(readings=[mpb.MeterReading(read_time=_TOO_FAR)]), "readings[0].read_time"),
    (spb.CreateScheduleRequest(time_limit=Duration(seconds=1, nanos=-1)), "time_limit"),
    (_diagnostic_event(printer_alert=dpb.SnmpRow(columns={"k" * 1025: "1"})), "printer_alert.columns['kkkkk"),
    (_diagnostic_event(printer_alert=dpb.SnmpRow(columns={"a": "x" * 1025})), "printer_alert.columns['a']"),
    (_diagnostic_event(printer_alert_walk=dpb.PrinterAlertWalk(rows=[dpb.SnmpRow(), dpb.SnmpRow(columns={"a": "\x00"})])),
     "printer_alert_walk.rows[1].columns['a']"),
    (_diagnostic_event(j1939_frames=dpb.J1939Frames(candump_lines=["ok", "\x00"])), "j1939_frames.candump_lines[1]"),
    (_diagnostic_event(j1939_message=dpb.J1939Message(data=b"x" * (64 * 1024 + 1))), "j1939_message.data"),
    (_diagnostic_event(observe_time=_TOO_FAR), "observe_time"),
]


@pytest.mark.parametrize(("request_", "field"), _BROKEN)
def test_the_quick_acceptance_refuses_what_the_walk_names(request_, field):
    assert not _LIMITS._accepts(request_)
    [violation] = _LIMITS._violations(request_, "")
    assert violation.field.startswith(field)
    clean = type(request_)()  # the same request without the broken value
    assert _LIMITS._accepts(clean) and list(_LIMITS._violations(clean, "")) == []


def test_items_the_handler_checks_are_left_to_it_but_counted_at_the_edge():
    bad_event = _diagnostic_event(redfish_event="{\x00}")
    request = dpb.IngestDiagnosticsRequest(events=[_diagnostic_event(redfish_event="{}"), bad_event])
    _LIMITS.check(request)  # the edge leaves the items to ingestion
    assert [(v.field, v.description) for v in _LIMITS.item_violations(bad_event, "events[1]")] == [
        ("events[1].redfish_event", "must not contain NUL characters")]
    assert _LIMITS.item_violations(request.events[0], "events[0]") == []
    request.events.extend([bad_event] * MAX_EVENTS_PER_BATCH)
    with pytest.raises(InvalidArgument):
        _LIMITS.check(request)


def _every_request_type() -> list:
    from services.fleet.main import DEFINITION as FLEET
    from services.invoicing.main import DEFINITION as INVOICING
    from services.maintenance.main import DEFINITION as MAINTENANCE
    return [method.input_type for definition in (FLEET, MAINTENANCE, INVOICING) for full_name in definition.grpc_services
            for method in descriptor_pool.Default().FindServiceByName(full_name).methods]


_REQUEST_TYPES = _every_request_type()


@settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_quick_acceptance_agrees_with_the_walk_on_fuzzed_requests(data):
    descriptor = data.draw(st.sampled_from(_REQUEST_TYPES))
    request = data.draw(requests(descriptor, ["assets/a1"], field_names([descriptor]), "Fuzz"))
    assert _LIMITS._accepts(request) == (list(_LIMITS._violations(request, "")) == [])


def _message_types() -> list:
    """Every message type a request holds, at any depth (map entries aside), requests included."""
    found: dict[str, object] = {}
    pending = list(_REQUEST_TYPES)
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name in found or descriptor.GetOptions().map_entry:
            continue
        found[descriptor.full_name] = descriptor
        pending.extend(f.message_type for f in descriptor.fields if f.message_type is not None)
        pending.extend(f.message_type.fields_by_name["value"].message_type for f in descriptor.fields
                       if f.message_type is not None and f.message_type.GetOptions().map_entry
                       and f.message_type.fields_by_name["value"].message_type is not None)
    return [found[name] for name in sorted(found)]


_MESSAGE_TYPES = _message_types()


@settings(max_examples=500, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_item_check_never_accepts_what_the_walk_refuses(data):
    """By its serialization (and the values a caller has read, given or not) the quick check may
    send a clean item to the walk, but never vouch for one the walk refuses."""
    descriptor = data.draw(st.sampled_from(_MESSAGE_TYPES))
    item = data.draw(requests(descriptor, ["assets/a1"], field_names([descriptor]), "Fuzz"))
    given_names = tuple(data.draw(st.permutations(
        [f.name for f in descriptor.fields if f.containing_oneof is None] + [o.name for o in descriptor.oneofs])))
    given_names = given_names[:data.draw(st.integers(0, len(given_names)))]
    values = tuple(item.WhichOneof(name) if name in descriptor.oneofs_by_name else getattr(item, name)
                   for name in given_names)
    clean = list(_LIMITS._violations(item, "")) == []
    for serialized in (item.SerializeToString(), item.SerializeToString(deterministic=True)):
        assert clean or not _LIMITS.item_check(descriptor)(item, serialized)
        assert clean or not _LIMITS.item_check(descriptor, given_names)(item, serialized, values)


_EVENT_FIELDS = ("source", "source_event_id", "asset", "observe_time", "payload")
# As a maintenance replica has them: Redfish documents up to 64 KiB, event ids as long as their columns.
_EVENT_LIMITS = RequestLimits(string_chars=DEFAULT_LIMITS.string_chars, column_chars={"source": 200, "source_event_id": 200})


def _event_values(event: dpb.DiagnosticEvent) -> tuple:
    return event.source, event.source_event_id, event.asset, event.observe_time, event.WhichOneof("payload")


@pytest.mark.parametrize("event", [request_ for request_, _ in _BROKEN if isinstance(request_, dpb.DiagnosticEvent)] + [
    _diagnostic_event(source="s" * 1025), _diagnostic_event(asset="assets/\x00"),
    _diagnostic_event(redfish_event="x" * (64 * 1024 + 1)), _diagnostic_event(redfish_event="é" * (64 * 1024 + 1)),
    _diagnostic_event(observe_time=timestamp_pb2.Timestamp(seconds=1, nanos=-1)),
    _diagnostic_event(printer_alert_walk=dpb.PrinterAlertWalk(rows=[dpb.SnmpRow(columns={"a": "\x00"})] * 2))])
def test_the_item_check_refuses_each_broken_event(event):
    assert list(_LIMITS._violations(event, ""))
    serialized = event.SerializeToString(deterministic=True)
    assert not _LIMITS.item_check(dpb.DiagnosticEvent.DESCRIPTOR)(event, serialized)
    assert not _LIMITS.item_check(dpb.DiagnosticEvent.DESCRIPTOR, _EVENT_FIELDS)(event, serialized, _event_values(event))


@pytest.mark.parametrize("event", [
    _diagnostic_event(printer_alert=dpb.SnmpRow(columns={"prtAlertCode": "808", "prtAlertIndex": "1"})),
    _diagnostic_event(printer_alert_walk=dpb.PrinterAlertWalk(rows=[dpb.SnmpRow(columns={"prtAlertCode": "8"})] * 3)),
    _diagnostic_event(j1939_message=dpb.J1939Message(pgn=65226, data=bytes.fromhex("40FF5B000301FFFF"))),
    _diagnostic_event(j1939_frames=dpb.J1939Frames(candump_lines=["(1.5) can0 18FECA00#40FF5B000301FFFF"])),
    _diagnostic_event(redfish_event='{"Events": [{"EventId": "1"}]}')])
def test_the_item_check_vouches_for_events_as_devices_send_them(event):
    """The quick path serves the common event: the walk is for the few that break a limit."""
    serialized = event.SerializeToString(deterministic=True)
    assert _EVENT_LIMITS.item_check(dpb.DiagnosticEvent.DESCRIPTOR, _EVENT_FIELDS)(event, serialized, _event_values(event))


@pytest.mark.parametrize("event", [
    # More bytes than the limit's characters, or zero bytes that are no NUL character: the values are read.
    _diagnostic_event(redfish_event="x" * (64 * 1024)), _diagnostic_event(redfish_event="é" * (40 * 1024)),
    _diagnostic_event(printer_alert=dpb.SnmpRow(columns={"a": "", "": "b"})),
    _diagnostic_event(j1939_message=dpb.J1939Message(data=b"\x00" * (64 * 1024))),
    _diagnostic_event(printer_alert_walk=dpb.PrinterAlertWalk(rows=[dpb.SnmpRow(columns={"k": "v" * 1000})] * 3))])
def test_an_item_at_its_limits_is_accepted_by_its_values(event):
    assert list(_EVENT_LIMITS._violations(event, "")) == []
    serialized = event.SerializeToString(deterministic=True)
    assert _EVENT_LIMITS.item_check(dpb.DiagnosticEvent.DESCRIPTOR, _EVENT_FIELDS)(event, serialized, _event_values(event))


def test_the_item_check_names_only_fields_and_oneofs_of_its_type():
    with pytest.raises(ValueError, match="no field or oneof"):
        _LIMITS.item_check(dpb.DiagnosticEvent.DESCRIPTOR, ("source", "payload_kind"))


# (message type, repeated field of messages): the edge checks their items field by field across all of them
# (unless their handler checks them).
_REPEATED_MESSAGE_FIELDS = [(descriptor, f) for descriptor in _MESSAGE_TYPES for f in descriptor.fields
                            if f.is_repeated and f.message_type is not None and not f.message_type.GetOptions().map_entry
                            and f.full_name not in _LIMITS.items_checked_by_handler]


@settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_check_of_many_items_agrees_with_the_walk_of_each(data):
    """A batch of items, clean or broken anywhere, is accepted exactly when no item breaks a limit."""
    descriptor, repeated = data.draw(st.sampled_from(_REPEATED_MESSAGE_FIELDS))
    items = data.draw(st.lists(requests(repeated.message_type, ["assets/a1"], field_names([repeated.message_type]),
                                        "Fuzz"), max_size=8))
    holder = message_factory.GetMessageClass(descriptor)()
    getattr(holder, repeated.name).extend(items)
    clean = all(list(_LIMITS._violations(item, "")) == [] for item in items)
    assert _LIMITS._accepts(holder) == clean
    assert (list(_LIMITS._violations(holder, "")) == []) == clean
