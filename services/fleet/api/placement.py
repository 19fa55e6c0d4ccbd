"""Placement plans (issue 7): OptimizePlacement, Get, List and ApplyPlacementPlan."""

from __future__ import annotations

import math
from decimal import Decimal
from functools import cached_property

from fleetops.fleet.v1 import placement_pb2 as ppb
from google.protobuf.json_format import ParseDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.fleet.api.assets import ASSET_COLLECTION, ASSETS
from services.fleet.api.catalog import (
    CUSTOMER_COLLECTION,
    CUSTOMERS,
    DEVICE_CLASS_FROM_PROTO,
    DEVICE_MODELS,
    LOCATIONS,
    SITE_COLLECTION,
    SITES,
)
from services.fleet.api.plan_jobs import (
    FAILED,
    SUCCEEDED,
    Outcome,
    PlanJobs,
    decimal_field,
    decimal_text,
    money,
    money_field,
    new_plan_id,
    output_json,
    plan_message,
    solver_report,
    time_limit,
    written_by_verbs_only,
)
from services.fleet.domain.assets import MOVABLE_STATES, AcquisitionMode, AssetState, Lifecycle, ensure_movable
from services.fleet.domain.device_models import DeviceClass
from services.fleet.domain.placement_input import CatalogueModel, GroupInput, PlacementSettings, Spot, build_problem
from services.fleet.placement import CostBreakdown, InvalidProblemError, Params, Plan, Problem, Solver, Status
from services.fleet.placement.validation import validate
from services.fleet.plan_solves import solve_placement
from services.fleet.store import AssetMoveRow, AssetRow, CustomerRow, DeviceModelRow, LocationRow
from services.fleet.store_plans import PlacementPlanRow
from services.runtime.auth import current_identity
from services.runtime.crud import Collection
from services.runtime.dataclass_json import to_json
from services.runtime.db import utc_now
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.resources import NamePattern, check_etag, id_violation, to_timestamp
from services.runtime.scoping import CustomerOwned

PLACEMENT_PLANS = NamePattern("placementPlans/{plan}")
DEFAULT_HORIZON_MONTHS = 36
_STATUS = {Status.OPTIMAL: ppb.SOLVER_STATUS_OPTIMAL, Status.FEASIBLE: ppb.SOLVER_STATUS_FEASIBLE,
           Status.INFEASIBLE: ppb.SOLVER_STATUS_INFEASIBLE, Status.UNKNOWN: ppb.SOLVER_STATUS_UNKNOWN}
_NO_PLAN = {Status.INFEASIBLE: "no placement serves every demand group within the limits",
            Status.UNKNOWN: "the time limit passed before any placement was found"}
# The optimizer's field paths -> the request's.
_REQUEST_FIELDS = {"groups": "demand_groups", "limits.max_devices": "max_devices",
                   "limits.monthly_budget": "monthly_budget", "params.time_limit_seconds": "time_limit",
                   "walking_cost_per_unit": "walking_cost_per_metre", "horizon_months": "horizon_months"}


def placement_plan_to_proto(row: PlacementPlanRow) -> ppb.PlacementPlan:
    message = ppb.PlacementPlan(customer=CUSTOMERS.name_of(row.customer_id),
                                site=SITES.name_of(row.site_id) if row.site_id else "")
    plan_message(row, PLACEMENT_PLANS, message)
    if row.apply_time is not None:
        message.application.CopyFrom(ppb.PlacementApplication(apply_time=to_timestamp(row.apply_time),
                                                              **row.application))
    return message


PLACEMENT_PLAN_COLLECTION = Collection(
    pattern=PLACEMENT_PLANS, row_type=PlacementPlanRow, message_type=ppb.PlacementPlan,
    message_field="placement_plan", writable=(), to_message=placement_plan_to_proto, write=written_by_verbs_only,
    scope=CustomerOwned("customer_id"))


class PlacementMethods:
    """Placement plans (mixed into FleetApi)."""

    @cached_property
    def _placement_jobs(self) -> PlanJobs:
        return PlanJobs(self._standard, self._solve_jobs, PLACEMENT_PLAN_COLLECTION)

    def OptimizePlacement(self, request: ppb.OptimizePlacementRequest, context) -> ppb.PlacementPlan:
        limit = time_limit(request.time_limit)
        with self._db.unit_of_work() as session:
            scope = _scope(session, request)
            problem, summary = _problem(session, request, scope)
        params = Params(time_limit_seconds=limit.total_seconds(), num_workers=1, solver=Solver.HIGHS,
                        relative_gap=float(decimal_field(request.relative_gap, "relative_gap", Decimal(0),
                                                         high=Decimal(1))))
        try:
            validate(problem, params)
        except InvalidProblemError as error:
            raise InvalidArgument.field(_request_field(error.field_path), str(error).split(": ", 1)[-1]) from None
        customer_id, site_id, currency = scope.customer_id, scope.site_id, scope.currency
        plan_id = new_plan_id()

        def new_row() -> PlacementPlanRow:
            return PlacementPlanRow(id=plan_id, customer_id=customer_id, site_id=site_id, currency_code=currency,
                                    input={"params": to_json(params), "problem": _problem_json(problem)},
                                    output={"input_summary": output_json(summary)})

        return self._placement_jobs.submit("OptimizePlacement", request, new_row, solve_placement, (problem, params),
                                           lambda plan: _outcome(plan, problem, currency), limit)

    def GetPlacementPlan(self, request: ppb.GetPlacementPlanRequest, context) -> ppb.PlacementPlan:
        return self._standard.get(PLACEMENT_PLAN_COLLECTION, request.name)

    def ListPlacementPlans(self, request: ppb.ListPlacementPlansRequest, context) -> ppb.ListPlacementPlansResponse:
        customer = CUSTOMERS.key(request.customer, "customer") if request.customer else None
        plans, token = self._standard.list(PLACEMENT_PLAN_COLLECTION, request, customer_id=customer)
        return ppb.ListPlacementPlansResponse(placement_plans=plans, next_page_token=token)

    def ApplyPlacementPlan(self, request: ppb.ApplyPlacementPlanRequest, context) -> ppb.PlacementPlan:
        key = PLACEMENT_PLANS.key(request.name)

        def apply(session: Session) -> ppb.PlacementPlan:
            row = PLACEMENT_PLAN_COLLECTION.rows(session).get(key, for_update=True)
            check_etag(request.name, request.etag, row.version)
            if row.state != SUCCEEDED:
                raise FailedPrecondition(f"{request.name} is {row.state}; only a SUCCEEDED plan can be applied",
                                         reason="PLAN_NOT_SUCCEEDED", metadata={"resource": request.name})
            if row.apply_time is not None:
                raise FailedPrecondition(f"{request.name} was applied already", reason="PLAN_ALREADY_APPLIED",
                                         metadata={"resource": request.name})
            plan = ParseDict(row.output, ppb.PlacementPlan(), ignore_unknown_fields=True)
            row.application = {"ordered_assets": _order(session, row, plan.devices_added),
                               "moved_assets": _move(session, plan.devices_moved, request.name),
                               "retired_assets": _retire(session, plan.devices_retired)}
            row.apply_time = utc_now()
            row.touch()
            session.flush()
            return placement_plan_to_proto(row)

        return self._standard.run("ApplyPlacementPlan", request, ppb.PlacementPlan, apply)


# --- building the problem ----------------------------------------------------------------------

class _Scope:
    def __init__(self, customer: CustomerRow, site_id: str | None):
        self.customer_id = customer.id
        self.currency = customer.currency_code
        self.site_id = site_id


def _scope(session: Session, request: ppb.OptimizePlacementRequest) -> _Scope:
    which = request.WhichOneof("scope")
    if which is None:
        raise InvalidArgument.field("customer", "a customer or a site is required")
    if which == "site":
        site_id = SITES.key(request.site, "site")
        SITE_COLLECTION.rows(session).get(site_id)
        return _Scope(CUSTOMER_COLLECTION.rows(session).get(site_id.split("/")[0]), site_id)
    return _Scope(CUSTOMER_COLLECTION.rows(session).get(CUSTOMERS.key(request.customer, "customer")), None)


def _problem(session: Session, request: ppb.OptimizePlacementRequest,
             scope: _Scope) -> tuple[Problem, ppb.PlacementInputSummary]:
    prefix = f"{scope.site_id}/" if scope.site_id else f"{scope.customer_id}/"
    spots = {row.id: Spot(row.id, row.building, row.floor, row.x_metres, row.y_metres)
             for row in session.scalars(select(LocationRow).where(LocationRow.id.startswith(prefix, autoescape=True)))}
    if not spots:
        raise FailedPrecondition(f"{request.site or request.customer} has no locations to place devices at",
                                 reason="NO_LOCATIONS")
    assets = session.scalars(select(AssetRow).where(
        AssetRow.customer_id == scope.customer_id,
        AssetRow.state.in_([state.value for state in MOVABLE_STATES]),
        *([AssetRow.site_id == scope.site_id] if scope.site_id else [])).order_by(AssetRow.id)).all()
    fleet = [(a.id, a.device_model_id, a.location_id) for a in assets if a.location_id in spots]
    models = _models(session, request, scope.currency, {model for _, model, _ in fleet})
    settings = _settings(request, scope.currency, fleet)
    problem = build_problem(_groups(request, spots), spots, models, settings)
    summary = ppb.PlacementInputSummary(
        demand_groups=len(problem.groups), positions=len(problem.positions),
        device_models=[DEVICE_MODELS.name_of(m.id) for m in problem.models], current_devices=len(fleet),
        horizon_months=settings.horizon_months,
        assets_without_location=[ASSETS.name_of(a.id) for a in assets if a.location_id not in spots])
    return problem, summary


def _groups(request: ppb.OptimizePlacementRequest, spots: dict[str, Spot]) -> list[GroupInput]:
    if not request.demand_groups:
        raise InvalidArgument.field("demand_groups", "at least one demand group is required")
    groups, seen = [], set()
    for i, group in enumerate(request.demand_groups):
        path = f"demand_groups[{i}]"
        violation = id_violation(group.id, f"{path}.id")
        if violation:
            raise InvalidArgument([violation])
        if group.id in seen:
            raise InvalidArgument.field(f"{path}.id", f"{group.id} is listed twice")
        seen.add(group.id)
        location = LOCATIONS.key(group.location, f"{path}.location")
        if location not in spots:
            raise InvalidArgument.field(f"{path}.location", f"{group.location} is not a location of the plan's scope")
        for resource, amount in group.demand.items():
            if amount < 0:
                raise InvalidArgument.field(f"{path}.demand[{resource}]", "must not be negative")
        if group.users < 0:
            raise InvalidArgument.field(f"{path}.users", "must not be negative")
        groups.append(GroupInput(group.id, location, dict(group.demand), frozenset(group.needs), group.users or 1))
    return groups


def _models(session: Session, request: ppb.OptimizePlacementRequest, currency: str,
            today: set[str]) -> list[CatalogueModel]:
    chosen: dict[str, CatalogueModel] = {}
    if request.candidate_models:
        for i, name in enumerate(request.candidate_models):
            field = f"candidate_models[{i}]"
            row = session.get(DeviceModelRow, DEVICE_MODELS.key(name, field))
            if row is None:
                raise InvalidArgument.field(field, f"{name} does not exist")
            if not _leased_in(row, currency):
                raise InvalidArgument.field(field, f"{name} has no monthly lease cost in {currency}")
            chosen[row.id] = _catalogue_model(row)
    else:
        device_class = DEVICE_CLASS_FROM_PROTO.get(request.device_class, DeviceClass.PRINTER)
        for row in session.scalars(select(DeviceModelRow).where(DeviceModelRow.device_class == device_class.value)
                                   .order_by(DeviceModelRow.id)):
            if _leased_in(row, currency):
                chosen[row.id] = _catalogue_model(row)
    for model_id in sorted(today - set(chosen)):
        row = session.get(DeviceModelRow, model_id)
        if not _leased_in(row, currency):
            raise FailedPrecondition(f"{DEVICE_MODELS.name_of(model_id)}, used by today's fleet, has no monthly lease"
                                     f" cost in {currency}", reason="MODEL_WITHOUT_LEASE_COST",
                                     metadata={"resource": DEVICE_MODELS.name_of(model_id)})
        chosen[row.id] = _catalogue_model(row)
    if not chosen:
        raise FailedPrecondition(f"the catalogue has no model with a monthly lease cost in {currency}",
                                 reason="NO_CANDIDATE_MODELS")
    return list(chosen.values())


def _leased_in(row: DeviceModelRow, currency: str) -> bool:
    return row.monthly_lease_cost is not None and row.currency_code == currency


def _catalogue_model(row: DeviceModelRow) -> CatalogueModel:
    return CatalogueModel(row.id, row.device_class, row.capabilities, row.monthly_lease_cost)


def _settings(request: ppb.OptimizePlacementRequest, currency: str,
              fleet: list[tuple[str, str, str]]) -> PlacementSettings:
    for field in ("devices_per_location", "horizon_months", "max_devices"):
        if getattr(request, field) < 0:
            raise InvalidArgument.field(field, "must not be negative")
    for field in ("floor_change_metres", "max_walking_metres"):
        value = getattr(request, field)
        if not math.isfinite(value) or value < 0:
            raise InvalidArgument.field(field, "must be a finite number of metres, not negative")
    changes = request.change_costs
    return PlacementSettings(
        devices_per_location=request.devices_per_location or 1,
        floor_change_metres=request.floor_change_metres,
        max_walking_metres=Decimal(repr(request.max_walking_metres)) if request.max_walking_metres else None,
        walking_cost_per_metre=money_field(request.walking_cost_per_metre, "walking_cost_per_metre", currency)
        or Decimal(0),
        install_cost=money_field(changes.install, "change_costs.install", currency) or Decimal(0),
        move_cost=money_field(changes.move, "change_costs.move", currency) or Decimal(0),
        retire_cost=money_field(changes.retire, "change_costs.retire", currency) or Decimal(0),
        horizon_months=request.horizon_months or DEFAULT_HORIZON_MONTHS,
        monthly_budget=money_field(request.monthly_budget, "monthly_budget", currency),
        max_devices=request.max_devices or None,
        current_fleet=tuple(fleet))


def _request_field(optimizer_path: str) -> str:
    for prefix, field in _REQUEST_FIELDS.items():
        if optimizer_path == prefix or optimizer_path.startswith((prefix + "[", prefix + ".")):
            return field + optimizer_path[len(prefix):]
    return optimizer_path


def _problem_json(problem: Problem) -> dict:
    stored = to_json(problem)
    stored["walking_distance"] = [[group, position, str(metres)]
                                  for (group, position), metres in problem.walking_distance.items()]
    return stored


# --- the outcome -------------------------------------------------------------------------------

def _outcome(plan: Plan, problem: Problem, currency: str) -> Outcome:
    report = solver_report(_STATUS[plan.status], plan.objective, plan.bound, plan.gap, plan.seconds)
    if plan.status in _NO_PLAN:
        return FAILED, output_json(ppb.PlacementPlan(solver=report)), _NO_PLAN[plan.status]
    asset_at = {(d.position_id, d.slot): d.current_device_id for d in plan.devices}
    changes = plan.changes
    message = ppb.PlacementPlan(
        solver=report,
        devices=[ppb.PlannedDevice(location=LOCATIONS.name_of(d.position_id),
                                   device_model=DEVICE_MODELS.name_of(d.model_id),
                                   asset=_asset_name(d.current_device_id),
                                   moved_from_location=LOCATIONS.name_of(d.moved_from) if d.moved_from else "")
                 for d in plan.devices],
        assignments=[ppb.GroupAssignment(demand_group=a.group_id, location=LOCATIONS.name_of(a.position_id),
                                         device_model=DEVICE_MODELS.name_of(a.model_id),
                                         asset=_asset_name(asset_at.get((a.position_id, a.slot))),
                                         walking_metres=decimal_text(
                                             problem.walking_distance[(a.group_id, a.position_id)]))
                     for a in plan.assignments],
        plan_cost=_cost(plan.cost, currency), today_cost=_cost(plan.today, currency),
        monthly_saving=money(plan.monthly_saving, currency),
        devices_added=[ppb.DeviceAddition(device_model=DEVICE_MODELS.name_of(model),
                                          location=LOCATIONS.name_of(position))
                       for model, position in changes.added],
        devices_moved=[ppb.DeviceMove(asset=ASSETS.name_of(asset), from_location=LOCATIONS.name_of(source),
                                      to_location=LOCATIONS.name_of(target))
                       for asset, source, target in changes.moved],
        devices_retired=[ASSETS.name_of(asset) for asset in changes.retired],
        devices_kept=[ASSETS.name_of(asset) for asset in changes.kept])
    return SUCCEEDED, output_json(message), ""


def _asset_name(key: str | None) -> str:
    return ASSETS.name_of(key) if key else ""


def _cost(cost: CostBreakdown | None, currency: str) -> ppb.PlacementCost | None:
    if cost is None:
        return None
    return ppb.PlacementCost(device_monthly=money(cost.device_monthly, currency),
                             variable_monthly=money(cost.variable_monthly, currency),
                             walking_monthly=money(cost.walking_monthly, currency),
                             monthly_total=money(cost.monthly, currency),
                             change_one_off=money(cost.change_one_off, currency))


# --- applying ----------------------------------------------------------------------------------

def _order(session: Session, plan_row: PlacementPlanRow, additions) -> list[str]:
    """One ORDERED asset per addition; the serial number is a placeholder until the device arrives."""
    names = []
    for n, addition in enumerate(additions, start=1):
        model = session.get(DeviceModelRow, DEVICE_MODELS.key(addition.device_model))
        location_id = LOCATIONS.key(addition.location)
        asset_id = f"{plan_row.id}-{n}"
        session.add(AssetRow(id=asset_id, serial_number=f"pending-{asset_id}", maker=model.maker,
                             device_model_id=model.id, device_class=model.device_class,
                             customer_id=plan_row.customer_id, site_id=location_id.rsplit("/", 1)[0],
                             location_id=location_id, state=AssetState.ORDERED.value,
                             acquisition_mode=AcquisitionMode.LEASE.value))
        names.append(ASSETS.name_of(asset_id))
    session.flush()
    return names


def _move(session: Session, moves, plan_name: str) -> list[str]:
    names = []
    for move in moves:
        row = _asset_as_planned(session, move.asset, move.from_location)
        ensure_movable(move.asset, AssetState(row.state))
        target = LOCATIONS.key(move.to_location)
        session.add(AssetMoveRow(asset_id=row.id, from_site_id=row.site_id, from_location_id=row.location_id,
                                 to_site_id=target.rsplit("/", 1)[0], to_location_id=target,
                                 moved_by=current_identity().subject, reason=f"applied {plan_name}"))
        row.site_id, row.location_id = target.rsplit("/", 1)[0], target
        row.touch()
        names.append(move.asset)
    return names


def _retire(session: Session, assets) -> list[str]:
    for name in assets:
        row = _asset_as_planned(session, name, None)
        row.state = Lifecycle.RETIRE.apply(name, AssetState(row.state)).value
        row.touch()
    return list(assets)


def _asset_as_planned(session: Session, name: str, location: str | None) -> AssetRow:
    row = ASSET_COLLECTION.rows(session).get(ASSETS.key(name), for_update=True)
    if location and row.location_id != LOCATIONS.key(location):
        raise FailedPrecondition(f"{name} no longer stands at {location}; plan again", reason="FLEET_CHANGED",
                                 metadata={"resource": name})
    return row
