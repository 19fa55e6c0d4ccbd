"""What the fuzzer found, one focused test per class of bug, so that each stays fixed even if the
fuzzer's random choices stop reaching it."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as fleet_pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import meters_pb2 as meters_pb
from fleetops.fleet.v1 import resources_pb2 as fleet_res
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as pb_grpc
from fleetops.maintenance.v1 import resources_pb2 as res
from google.protobuf import duration_pb2
from google.type import money_pb2

from tests.fleet.fleet_factory import unique
from tests.maintenance.maintenance_factory import Devices, alert_row, stamp, when
from tests.runtime.test_runtime_edge import rich_error


def _duration(value: timedelta) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(value)
    return duration


def test_event_with_a_malformed_asset_id_is_rejected_alone(fleet, maintenance):
    """The fleet service refuses `assets/A1` outright; ingestion used to pass it on and fail the batch."""
    devices = Devices(fleet.channel, maintenance.channel)
    printer = devices.asset()
    response = devices.ingest(devices.event("assets/Not_An_Id", when(1), printer_alert=alert_row()),
                              devices.event(printer, when(1), printer_alert=alert_row()))
    assert [r.outcome for r in response.results] == [dpb.INGEST_OUTCOME_REJECTED, dpb.INGEST_OUTCOME_ACCEPTED]
    assert "assets/Not_An_Id" in response.results[0].reason


@pytest.mark.parametrize("field", ["response_target", "resolution_target"])
def test_sla_target_beyond_a_year_is_refused_not_overflowing_the_column(maintenance, field):
    """A 10,000-year target overflowed PostgreSQL's integer seconds column (INTERNAL)."""
    stub = pb_grpc.MaintenanceServiceStub(maintenance.channel)
    targets = {"response_target": timedelta(hours=4), "resolution_target": timedelta(days=2)}
    targets[field] = timedelta(days=3_652_425)
    policy_id = unique("sla")
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateSlaPolicy(pb.CreateSlaPolicyRequest(sla_policy_id=policy_id, sla_policy=res.SlaPolicy(
            **{name: _duration(value) for name, value in targets.items()})))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"sla_policy.{field}" in [name for name, _ in rich_error(caught.value)[0]]
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetSlaPolicy(pb.GetSlaPolicyRequest(name=f"slaPolicies/{policy_id}"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def _device_model(**fields) -> fleet_res.DeviceModel:
    fields.setdefault("registers", [fleet_res.MeterRegister(code="mono_impressions")])
    return fleet_res.DeviceModel(device_class=fleet_res.DEVICE_CLASS_PRINTER, maker="Ricoh", display_name="IM", **fields)


def _refused_field(call, request) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return rich_error(caught.value)[0][0][0]


@pytest.mark.parametrize("value", ["0.00001", "1e-7", "1e14", "1e999999"])
def test_counter_value_finer_or_larger_than_its_column_is_refused(fleet, value):
    """Counters are stored scaled by 10^4 in a 64-bit integer: 1e-7 and 1e999999 were INTERNAL."""
    stub = fleet_grpc.FleetServiceStub(fleet.channel)
    assert _refused_field(stub.CreateDeviceModel, fleet_pb.CreateDeviceModelRequest(
        device_model_id=unique("model"), device_model=_device_model(expected_life_counter=value))
    ) == "device_model.expected_life_counter"
    assert _refused_field(stub.RecordMeterReset, meters_pb.RecordMeterResetRequest(reset=meters_pb.MeterReset(
        asset="assets/a1", register="mono_impressions", reset_time=stamp(when(1)), value_before=value,
        value_after="0"))) == "reset.value_before"


@pytest.mark.parametrize("price", [money_pb2.Money(currency_code="JPY", units=1, nanos=1),
                                   money_pb2.Money(currency_code="JPY", units=10**17)])
def test_device_model_price_finer_or_larger_than_its_column_is_refused(fleet, price):
    """Prices are stored scaled by 10^6 in a 64-bit integer: nanos=1 and 10^17 yen were INTERNAL."""
    stub = fleet_grpc.FleetServiceStub(fleet.channel)
    model_id = unique("model")
    assert _refused_field(stub.CreateDeviceModel, fleet_pb.CreateDeviceModelRequest(
        device_model_id=model_id, device_model=_device_model(list_price=price))) == "device_model.list_price"
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetDeviceModel(fleet_pb.GetDeviceModelRequest(name=f"deviceModels/{model_id}"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
