"""Plans and their immutable versions (`plans/{plan}/versions/{version}`)."""

from __future__ import annotations

from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from fleetops.invoicing.v1 import plans_pb2 as ppb
from google.protobuf import json_format
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.invoicing.api.common import parse_plan_version
from services.invoicing.plan_codec import plan_from_proto
from services.invoicing.store import PlanRow, PlanVersionRow
from services.runtime.audit import note_change
from services.runtime.crud import Collection
from services.runtime.currencies import is_known_currency
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.resources import NamePattern, etag_for, to_timestamp
from services.runtime.scoping import shared

PLANS = NamePattern("plans/{plan}")


def plan_to_proto(row: PlanRow) -> ppb.Plan:
    return ppb.Plan(name=PLANS.name_of(row.id), display_name=row.display_name, currency_code=row.currency,
                    latest_version=row.latest_version, create_time=to_timestamp(row.create_time),
                    update_time=to_timestamp(row.update_time), etag=etag_for(row.version))


def write_plan(session: Session, row: PlanRow, message: ppb.Plan, fields: set[str]) -> None:
    if "display_name" in fields:
        if not message.display_name.strip():
            raise InvalidArgument.field("plan.display_name", "is required")
        row.display_name = message.display_name
    if "currency_code" in fields:
        if row.latest_version and message.currency_code != row.currency:
            raise InvalidArgument.field("plan.currency_code", "cannot change once the plan has versions")
        if not is_known_currency(message.currency_code):
            raise InvalidArgument.field("plan.currency_code", "must be an ISO 4217 code such as JPY")
        row.currency = message.currency_code


PLAN_COLLECTION = Collection(
    pattern=PLANS, row_type=PlanRow, message_type=ppb.Plan, message_field="plan",
    writable=("display_name", "currency_code"), to_message=plan_to_proto,
    write=write_plan,
    scope=shared("the plan catalogue"),  # a customer reads the plan versions its contracts name
)


def version_to_proto(row: PlanVersionRow) -> ppb.PlanVersion:
    message = json_format.Parse(row.document, ppb.PlanVersion())
    message.name = f"plans/{row.plan_id}/versions/{row.number}"
    message.version = row.number
    message.create_time.CopyFrom(to_timestamp(row.create_time))
    return message


class PlanMethods:
    def GetPlan(self, request: pb.GetPlanRequest, context) -> ppb.Plan:
        return self._standard.get(PLAN_COLLECTION, request.name)

    def ListPlans(self, request: pb.ListPlansRequest, context) -> pb.ListPlansResponse:
        plans, token = self._standard.list(PLAN_COLLECTION, request)
        return pb.ListPlansResponse(plans=plans, next_page_token=token)

    def CreatePlan(self, request: pb.CreatePlanRequest, context) -> ppb.Plan:
        return self._standard.create(PLAN_COLLECTION, "CreatePlan", request, request.plan_id, "plan_id")

    def CreatePlanVersion(self, request: pb.CreatePlanVersionRequest, context) -> ppb.PlanVersion:
        plan_id = PLANS.key(request.parent, "parent")

        def create(session: Session) -> ppb.PlanVersion:
            plan = PLAN_COLLECTION.rows(session).get(plan_id, for_update=True)
            number = plan.latest_version + 1
            ratable = plan_from_proto(plan_id, number, plan.currency, request.plan_version)
            if plan.latest_version:
                previous = session.get(PlanVersionRow, f"{plan_id}/{plan.latest_version}")
                if ratable.version.effective_from < previous.effective_from:
                    raise InvalidArgument.field("plan_version.effective_from",
                                                f"must not precede version {previous.number}'s {previous.effective_from}")
            stored = ppb.PlanVersion()
            stored.CopyFrom(request.plan_version)
            stored.ClearField("name")
            stored.ClearField("version")
            stored.ClearField("create_time")
            row = PlanVersionRow(id=f"{plan_id}/{number}", plan_id=plan_id, number=number, currency=plan.currency,
                                 effective_from=ratable.version.effective_from,
                                 document=json_format.MessageToJson(stored, indent=None))
            session.add(row)
            plan.latest_version = number
            plan.touch()
            session.flush()
            note_change(session, f"plans/{plan_id}/versions/{number}", "CreatePlanVersion")
            return version_to_proto(row)

        return self._standard.run("CreatePlanVersion", request, ppb.PlanVersion, create)

    def GetPlanVersion(self, request: pb.GetPlanVersionRequest, context) -> ppb.PlanVersion:
        plan_id, number = parse_plan_version(request.name, "name")
        with self._db.unit_of_work() as session:
            row = session.get(PlanVersionRow, f"{plan_id}/{number}")
            if row is None:
                raise NotFound(request.name)
            return version_to_proto(row)

    def ListPlanVersions(self, request: pb.ListPlanVersionsRequest, context) -> pb.ListPlanVersionsResponse:
        plan_id = PLANS.key(request.parent, "parent")
        page = self._tokens.parse(request.page_size, request.page_token, {"parent": plan_id})
        with self._db.unit_of_work() as session:
            PLAN_COLLECTION.rows(session).get(plan_id)
            query = select(PlanVersionRow).where(PlanVersionRow.plan_id == plan_id).order_by(PlanVersionRow.number)
            if page.after:
                query = query.where(PlanVersionRow.number > page.after[0])
            rows = list(session.scalars(query.limit(page.size + 1)))
            rows, token = self._tokens.finish(rows, page, lambda r: (r.number,), {"parent": plan_id})
            return pb.ListPlanVersionsResponse(plan_versions=[version_to_proto(r) for r in rows],
                                               next_page_token=token)
