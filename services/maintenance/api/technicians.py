"""Technicians: the standard methods."""

from __future__ import annotations

from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import resources_pb2 as res
from google.type import latlng_pb2
from sqlalchemy.orm import Session

from services.maintenance.domain.technicians import TechnicianDetails, validate_details
from services.maintenance.store import TechnicianRow
from services.runtime.crud import Collection
from services.runtime.resources import NamePattern, etag_for, to_timestamp
from services.runtime.scoping import internal

TECHNICIANS = "technicians"


def technician_to_proto(row: TechnicianRow) -> res.Technician:
    home = (latlng_pb2.LatLng(latitude=row.home_latitude, longitude=row.home_longitude)
            if row.home_latitude is not None else None)
    return res.Technician(
        name=f"{TECHNICIANS}/{row.id}", display_name=row.display_name, skills=row.skills, home_base=home,
        territory=row.territory, time_zone=row.time_zone, create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time), etag=etag_for(row.version),
    )


def write_technician(session: Session, row: TechnicianRow, message: res.Technician, fields: set[str]) -> None:
    has_home = message.HasField("home_base")
    details = TechnicianDetails(
        display_name=message.display_name, skills=list(message.skills),
        home_latitude=message.home_base.latitude if has_home else None,
        home_longitude=message.home_base.longitude if has_home else None,
        territory=message.territory, time_zone=message.time_zone,
    )
    validate_details(details, fields)
    if "home_base" in fields:
        row.home_latitude, row.home_longitude = details.home_latitude, details.home_longitude
    for field in fields - {"home_base"}:
        setattr(row, field, getattr(details, field))


TECHNICIAN_COLLECTION = Collection(
    pattern=NamePattern("technicians/{technician}"), row_type=TechnicianRow, message_type=res.Technician, message_field="technician",
    writable=("display_name", "skills", "home_base", "territory", "time_zone"),
    to_message=technician_to_proto, write=write_technician,
    scope=internal("technicians"),  # the provider's staff, serving every customer
)


class TechnicianMethods:
    """Technicians (mixed into MaintenanceApi)."""

    def GetTechnician(self, request: pb.GetTechnicianRequest, context) -> res.Technician:
        return self._standard.get(TECHNICIAN_COLLECTION, request.name)

    def ListTechnicians(self, request: pb.ListTechniciansRequest, context) -> pb.ListTechniciansResponse:
        technicians, token = self._standard.list(TECHNICIAN_COLLECTION, request, territory=request.territory)
        return pb.ListTechniciansResponse(technicians=technicians, next_page_token=token)

    def CreateTechnician(self, request: pb.CreateTechnicianRequest, context) -> res.Technician:
        return self._standard.create(TECHNICIAN_COLLECTION, "CreateTechnician", request, request.technician_id,
                                     "technician_id")

    def UpdateTechnician(self, request: pb.UpdateTechnicianRequest, context) -> res.Technician:
        return self._standard.update(TECHNICIAN_COLLECTION, "UpdateTechnician", request)
