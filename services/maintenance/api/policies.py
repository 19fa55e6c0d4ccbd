"""SLA policies and preventive maintenance plans: the standard methods."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import resources_pb2 as res
from google.protobuf import duration_pb2
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.maintenance.store_ingest import AssetRefRow
from services.maintenance.store_orders import PreventivePlanRow, SlaPolicyRow
from services.runtime.audit import note_changes
from services.runtime.crud import Collection
from services.runtime.db import utc_now
from services.runtime.errors import FieldViolation, InvalidArgument
from services.runtime.proto_values import date_from_proto, date_to_proto
from services.runtime.resources import NamePattern, etag_for, from_timestamp, parse_name, to_timestamp
from services.runtime.scoping import deny_scoped, internal, shared

DEFAULT_AT_RISK_SHARE = 0.25
MAX_LEAD_DAYS = 60


def _renamed(error: InvalidArgument, domain_prefix: str, request_prefix: str) -> InvalidArgument:
    """The domain names fields after its own dataclasses; the caller needs the request's names."""
    return InvalidArgument([FieldViolation(v.field.replace(domain_prefix, request_prefix, 1), v.description)
                            for v in error.violations])


def _duration(seconds: int) -> duration_pb2.Duration:
    value = duration_pb2.Duration()
    value.FromTimedelta(timedelta(seconds=seconds))
    return value


def sla_policy_to_proto(row: SlaPolicyRow) -> res.SlaPolicy:
    return res.SlaPolicy(
        name=f"slaPolicies/{row.id}", response_target=_duration(row.response_target_seconds),
        resolution_target=_duration(row.resolution_target_seconds), at_risk_share=row.at_risk_share,
        create_time=to_timestamp(row.create_time), update_time=to_timestamp(row.update_time),
        etag=etag_for(row.version))


def write_sla_policy(session: Session, row: SlaPolicyRow, message: res.SlaPolicy, fields: set[str]) -> None:
    if "response_target" in fields:
        row.response_target_seconds = int(message.response_target.ToTimedelta().total_seconds())
    if "resolution_target" in fields:
        row.resolution_target_seconds = int(message.resolution_target.ToTimedelta().total_seconds())
    if "at_risk_share" in fields:
        row.at_risk_share = message.at_risk_share or DEFAULT_AT_RISK_SHARE
    try:
        row.tier()
    except InvalidArgument as error:
        raise _renamed(error, "sla_tier.", "sla_policy.") from None


SLA_POLICY_COLLECTION = Collection(
    pattern=NamePattern("slaPolicies/{sla_policy}"), row_type=SlaPolicyRow, message_type=res.SlaPolicy,
    message_field="sla_policy", writable=("response_target", "resolution_target", "at_risk_share"),
    to_message=sla_policy_to_proto, write=write_sla_policy,
    scope=shared("SLA policies"))  # the tiers a customer's orders run under


def plan_to_proto(row: PreventivePlanRow) -> res.PreventivePlan:
    return res.PreventivePlan(
        name=f"preventivePlans/{row.id}", device_model=row.device_model or "",
        asset=f"assets/{row.asset_id}" if row.asset_id else "", task=row.task, every_days=row.every_days or 0,
        meter_register=row.meter_register or "", meter_interval=row.meter_interval or "",
        meter_start=row.meter_start, skill=row.skill or "", expected_duration_minutes=row.expected_duration_minutes,
        parts=row.parts, start_date=date_to_proto(row.start_date), create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time), etag=etag_for(row.version))


def _decimal(text: str, field: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidArgument.field(field, f"must be a decimal number, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise InvalidArgument.field(field, "must be a non-negative decimal number")
    return str(value)


def write_plan(session: Session, row: PreventivePlanRow, message: res.PreventivePlan, fields: set[str]) -> None:
    prefix = "preventive_plan."
    if "device_model" in fields:
        row.device_model = (f"deviceModels/{parse_name(message.device_model, 'deviceModels', prefix + 'device_model')}"
                            if message.device_model else None)
    if "asset" in fields:
        row.asset_id = parse_name(message.asset, "assets", prefix + "asset") if message.asset else None
    if "task" in fields:
        if not message.task.strip():
            raise InvalidArgument.field(prefix + "task", "is required")
        row.task = message.task
    if "every_days" in fields:
        row.every_days = message.every_days or None
    if "meter_register" in fields:
        row.meter_register = message.meter_register or None
    if "meter_interval" in fields:
        row.meter_interval = (_decimal(message.meter_interval, prefix + "meter_interval")
                              if message.meter_interval else None)
    if "meter_start" in fields:
        row.meter_start = _decimal(message.meter_start or "0", prefix + "meter_start")
    if "skill" in fields:
        row.skill = message.skill or None
    if "expected_duration_minutes" in fields:
        row.expected_duration_minutes = message.expected_duration_minutes
    if "parts" in fields:
        row.parts = list(message.parts)
    if "start_date" in fields and message.HasField("start_date"):
        row.start_date = date_from_proto(message.start_date, prefix + "start_date")
    row.start_date = row.start_date or utc_now().date()
    try:
        row.plan("any")
    except InvalidArgument as error:
        raise _renamed(error, "plan.", prefix) from None


PREVENTIVE_PLAN_COLLECTION = Collection(
    pattern=NamePattern("preventivePlans/{preventive_plan}"), row_type=PreventivePlanRow,
    message_type=res.PreventivePlan, message_field="preventive_plan",
    writable=("device_model", "asset", "task", "every_days", "meter_register", "meter_interval", "meter_start",
              "skill", "expected_duration_minutes", "parts", "start_date"),
    to_message=plan_to_proto, write=write_plan,
    scope=internal("preventive maintenance plans"))  # per device model across customers


class PolicyMethods:
    """SLA policies and preventive plans (mixed into MaintenanceApi)."""

    def GetSlaPolicy(self, request: pb.GetSlaPolicyRequest, context) -> res.SlaPolicy:
        return self._standard.get(SLA_POLICY_COLLECTION, request.name)

    def ListSlaPolicies(self, request: pb.ListSlaPoliciesRequest, context) -> pb.ListSlaPoliciesResponse:
        policies, token = self._standard.list(SLA_POLICY_COLLECTION, request)
        return pb.ListSlaPoliciesResponse(sla_policies=policies, next_page_token=token)

    def CreateSlaPolicy(self, request: pb.CreateSlaPolicyRequest, context) -> res.SlaPolicy:
        return self._standard.create(SLA_POLICY_COLLECTION, "CreateSlaPolicy", request, request.sla_policy_id,
                                     "sla_policy_id")

    def UpdateSlaPolicy(self, request: pb.UpdateSlaPolicyRequest, context) -> res.SlaPolicy:
        return self._standard.update(SLA_POLICY_COLLECTION, "UpdateSlaPolicy", request)

    def GetPreventivePlan(self, request: pb.GetPreventivePlanRequest, context) -> res.PreventivePlan:
        return self._standard.get(PREVENTIVE_PLAN_COLLECTION, request.name)

    def ListPreventivePlans(self, request: pb.ListPreventivePlansRequest, context) -> pb.ListPreventivePlansResponse:
        plans, token = self._standard.list(PREVENTIVE_PLAN_COLLECTION, request)
        return pb.ListPreventivePlansResponse(preventive_plans=plans, next_page_token=token)

    def CreatePreventivePlan(self, request: pb.CreatePreventivePlanRequest, context) -> res.PreventivePlan:
        return self._standard.create(PREVENTIVE_PLAN_COLLECTION, "CreatePreventivePlan", request,
                                     request.preventive_plan_id, "preventive_plan_id")

    def UpdatePreventivePlan(self, request: pb.UpdatePreventivePlanRequest, context) -> res.PreventivePlan:
        return self._standard.update(PREVENTIVE_PLAN_COLLECTION, "UpdatePreventivePlan", request)

    def PlanDuePreventiveMaintenance(self, request: pb.PlanDuePreventiveMaintenanceRequest,
                                     context) -> pb.PlanDuePreventiveMaintenanceResponse:
        """The calendar trigger of preventive plans: one sweep in one unit of work, with every
        concerned asset locked as ingestion locks it, so a sweep and an alarm never race."""
        if not 0 <= request.lead_days <= MAX_LEAD_DAYS:
            raise InvalidArgument.field("lead_days", f"must be between 0 and {MAX_LEAD_DAYS}")
        deny_scoped("the preventive maintenance sweep over every customer")
        now = from_timestamp(request.now) if request.HasField("now") else utc_now()

        def sweep(session: Session) -> pb.PlanDuePreventiveMaintenanceResponse:
            plans = list(session.scalars(select(PreventivePlanRow).where(PreventivePlanRow.every_days.is_not(None))))
            asset_ids = {plan.asset_id for plan in plans if plan.asset_id}
            models = {plan.device_model for plan in plans if plan.device_model}
            if models:
                asset_ids |= set(session.scalars(
                    select(AssetRefRow.asset_id).where(AssetRefRow.device_model.in_(models))))
            assets = self._assets.resolve(session, asset_ids, lock=True)
            names: set[str] = set()
            for asset_id in sorted(assets):
                names.update(self._orders.calendar_due(session, assets[asset_id], now, request.lead_days))
            note_changes(session, [(name, "", "opened by the calendar sweep") for name in sorted(names)])
            return pb.PlanDuePreventiveMaintenanceResponse(work_orders=sorted(names))

        return self._standard.run("PlanDuePreventiveMaintenance", request, pb.PlanDuePreventiveMaintenanceResponse,
                                  sweep)
