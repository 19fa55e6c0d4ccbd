"""Technicians as the mobile backend and dispatchers see them."""

from __future__ import annotations

import grpc
import pytest
from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as pb_grpc
from fleetops.maintenance.v1 import resources_pb2 as res
from google.protobuf import field_mask_pb2
from google.type import latlng_pb2

from tests.runtime.test_runtime_edge import rich_error


def _technician(**overrides) -> res.Technician:
    fields = dict(display_name="Aiko Sato", skills=["printer-colour", "printer-finisher"],
                  home_base=latlng_pb2.LatLng(latitude=35.68, longitude=139.76), territory="tokyo-east",
                  time_zone="Asia/Tokyo")
    fields.update(overrides)
    return res.Technician(**fields)


def test_create_then_list_by_territory(maintenance):
    stub = pb_grpc.MaintenanceServiceStub(maintenance.channel)
    created = stub.CreateTechnician(pb.CreateTechnicianRequest(technician_id="aiko", technician=_technician()))
    stub.CreateTechnician(pb.CreateTechnicianRequest(technician_id="ben",
                                                     technician=_technician(display_name="Ben", territory="osaka")))
    assert created.name == "technicians/aiko" and list(created.skills) == ["printer-colour", "printer-finisher"]
    assert created.home_base.latitude == pytest.approx(35.68)
    listed = stub.ListTechnicians(pb.ListTechniciansRequest(territory="tokyo-east")).technicians
    assert [t.name for t in listed] == ["technicians/aiko"]


def test_bad_time_zone_and_skill_are_named(maintenance):
    stub = pb_grpc.MaintenanceServiceStub(maintenance.channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateTechnician(pb.CreateTechnicianRequest(
            technician_id="carl", technician=_technician(time_zone="Tokyo/Japan", skills=["ok-skill", "Bad Skill"])))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = sorted(field for field, _ in rich_error(caught.value)[0])
    assert fields == ["technician.skills[1]", "technician.time_zone"]


def test_update_changes_only_masked_fields(maintenance):
    stub = pb_grpc.MaintenanceServiceStub(maintenance.channel)
    created = stub.CreateTechnician(pb.CreateTechnicianRequest(technician_id="dana", technician=_technician()))
    change = res.Technician(name=created.name, skills=["forklift-hydraulics"], etag=created.etag)
    updated = stub.UpdateTechnician(pb.UpdateTechnicianRequest(
        technician=change, update_mask=field_mask_pb2.FieldMask(paths=["skills"])))
    assert list(updated.skills) == ["forklift-hydraulics"]
    assert updated.time_zone == "Asia/Tokyo" and updated.territory == "tokyo-east"
