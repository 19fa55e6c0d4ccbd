"""The request limits of a batch's items, which the edge checks field by field across all items at once:
an item breaking a limit, first in the batch or late in it, is refused as one checked alone, naming
its index and field; a batch at the limits is served."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import meters_pb2 as mpb
from fleetops.fleet.v1 import resources_pb2 as res
from fleetops.invoicing.v1 import invoicing_service_pb2 as ipb
from fleetops.invoicing.v1 import invoicing_service_pb2_grpc as ipb_grpc
from fleetops.invoicing.v1 import plans_pb2 as ppb
from google.protobuf import timestamp_pb2
from google.type import dayofweek_pb2, timeofday_pb2

from tests.fleet.fleet_factory import Fleet, at, stamp, unique
from tests.runtime.test_runtime_edge import rich_error

_BATCH = 5_000
_LATE = _BATCH - 1
_FIRST_SECOND, _LAST_SECOND = -62_135_596_800, 253_402_300_799  # Timestamp's documented range
_OUT_OF_RANGE = "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z"
_NUL = "must not contain NUL characters"


def _readings(printer: res.Asset) -> mpb.RecordMeterReadingsRequest:
    """A printer's counter read hourly, rising: every reading is accepted."""
    return mpb.RecordMeterReadingsRequest(readings=[
        mpb.MeterReading(asset=printer.name, register="mono_impressions", value=str(1000 + hour),
                         read_time=stamp(at(1) + timedelta(hours=hour)), source=mpb.READING_SOURCE_DEVICE)
        for hour in range(_BATCH)])


def _refused(call, request) -> tuple[grpc.StatusCode, list[tuple[str, str]]]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request)
    return caught.value.code(), rich_error(caught.value)[0]


# A reading's field, a value breaking its limit, and what the refusal says of it.
_BROKEN_READINGS = [
    ("asset", "assets/" + "x" * 1025, "must be at most 1024 characters, got 1032"),
    ("asset", "assets/a\x00", _NUL),
    ("register", "r" * 41, "must be at most 40 characters, got 41"),  # the column's length
    ("value", "1\x00", _NUL),
    ("value", "1" * 1025, "must be at most 1024 characters, got 1025"),
    ("source", 99, "99 is not a value of ReadingSource"),
    ("read_time", timestamp_pb2.Timestamp(seconds=_LAST_SECOND + 1), _OUT_OF_RANGE),
    ("read_time", timestamp_pb2.Timestamp(seconds=_FIRST_SECOND - 1), _OUT_OF_RANGE),
    ("read_time", timestamp_pb2.Timestamp(seconds=1, nanos=-1), _OUT_OF_RANGE),
    ("read_time", timestamp_pb2.Timestamp(seconds=1, nanos=1_000_000_000), _OUT_OF_RANGE),
]


@pytest.fixture(scope="module")
def printer(fleet) -> res.Asset:
    return Fleet(fleet.channel).printer()


@pytest.mark.parametrize("index", [0, _LATE], ids=["first", "late"])
@pytest.mark.parametrize(("field", "value", "description"), _BROKEN_READINGS,
                         ids=[f"{field}-{number}" for number, (field, _, _) in enumerate(_BROKEN_READINGS)])
def test_a_reading_breaking_a_limit_is_refused_naming_its_index_and_field(fleet, printer, index, field, value,
                                                                          description):
    stub = Fleet(fleet.channel).stub
    request = _readings(printer)
    if field == "read_time":
        request.readings[index].read_time.CopyFrom(value)
    else:
        setattr(request.readings[index], field, value)
    code, violations = _refused(stub.RecordMeterReadings, request)
    assert (code, violations) == (grpc.StatusCode.INVALID_ARGUMENT, [(f"readings[{index}].{field}", description)])
    listed = stub.ListMeterReadings(mpb.ListMeterReadingsRequest(asset=printer.name, page_size=1))
    assert list(listed.readings) == []  # nothing of the batch was stored


def test_every_broken_reading_of_a_batch_is_named_in_order(fleet, printer):
    request = _readings(printer)
    request.readings[0].source = 99
    request.readings[_LATE - 1].register = "\x00"
    request.readings[_LATE].read_time.nanos = -1
    request.request_id = "x" * 129
    code, violations = _refused(Fleet(fleet.channel).stub.RecordMeterReadings, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in violations] == [
        "readings[0].source", f"readings[{_LATE - 1}].register", f"readings[{_LATE}].read_time", "request_id"]


def test_a_batch_at_the_limits_is_served(fleet):
    """Readings at the ends of Timestamp's range, the longest register and value the limits take, and a
    reading without a time: the edge lets them through and the handler judges each."""
    f = Fleet(fleet.channel)
    request = _readings(f.printer())
    request.readings[0].read_time.CopyFrom(timestamp_pb2.Timestamp(seconds=_FIRST_SECOND))
    request.readings[1].register = "r" * 40
    request.readings[2].ClearField("read_time")
    request.readings[_LATE - 1].value = "1" * 1024
    request.readings[_LATE].read_time.CopyFrom(timestamp_pb2.Timestamp(seconds=_LAST_SECOND, nanos=999_999_999))
    answer = f.stub.RecordMeterReadings(request)
    rejected = [(result.index, result.field) for result in answer.results
                if result.outcome == mpb.READING_OUTCOME_REJECTED]
    # The handler's own rules: a register the model lacks, a time required, a counter's largest value.
    assert rejected == [(1, "readings[1].register"), (2, "readings[2].read_time"),
                        (_LATE - 1, f"readings[{_LATE - 1}].value")]
    assert answer.accepted_count == _BATCH - 3


def _opening_hours(days: int) -> list[res.OpeningHours]:
    return [res.OpeningHours(day=dayofweek_pb2.MONDAY + day % 7, open=timeofday_pb2.TimeOfDay(hours=9),
                             close=timeofday_pb2.TimeOfDay(hours=18)) for day in range(days)]


@pytest.mark.parametrize("index", [0, 6], ids=["first", "late"])
def test_a_nested_item_breaking_a_limit_is_refused_naming_its_path(fleet, index):
    """The items of a repeated field inside a request's message are checked the same way."""
    f = Fleet(fleet.channel)
    customer = f.customer()
    site = res.Site(display_name="Head office", time_zone="Asia/Tokyo", opening_hours=_opening_hours(7))
    site.opening_hours[index].day = 8
    code, violations = _refused(f.stub.CreateSite, pb.CreateSiteRequest(
        parent=customer.name, site_id=unique("site"), site=site))
    assert (code, violations) == (grpc.StatusCode.INVALID_ARGUMENT,
                                  [(f"site.opening_hours[{index}].day", "8 is not a value of DayOfWeek")])
    site.opening_hours[index].day = dayofweek_pb2.SUNDAY
    created = f.stub.CreateSite(pb.CreateSiteRequest(parent=customer.name, site_id=unique("site"), site=site))
    assert list(created.opening_hours) == list(site.opening_hours)



def _metered_charges(count: int) -> list[ppb.Charge]:
    return [ppb.Charge(charge_id=f"copies-{number}", metered=ppb.MeteredCharge(
        fleet_register="mono_impressions", tiers=[ppb.Tier(up_to="1000", unit_price="1.5"), ppb.Tier(unit_price="1")]))
        for number in range(count)]


@pytest.mark.parametrize("index", [0, 9], ids=["first", "late"])
def test_an_item_of_an_item_breaking_a_limit_is_refused_naming_its_path(invoicing, index):
    """Repeated fields in a batch's items: every item's items are checked, all together."""
    stub = ipb_grpc.InvoicingServiceStub(invoicing.channel)
    version = ppb.PlanVersion(charges=_metered_charges(10))
    version.charges[index].metered.tiers[1].unit_price = "1\x00"
    code, violations = _refused(stub.CreatePlanVersion, ipb.CreatePlanVersionRequest(
        parent=f"plans/{unique('plan')}", plan_version=version))
    assert (code, violations) == (grpc.StatusCode.INVALID_ARGUMENT,
                                  [(f"plan_version.charges[{index}].metered.tiers[1].unit_price", _NUL)])
