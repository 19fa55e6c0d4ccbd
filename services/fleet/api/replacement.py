"""Replacement plans (issue 8): PlanReplacements, Get and List."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property

from fleetops.fleet.v1 import placement_pb2 as ppb
from fleetops.fleet.v1 import replacement_pb2 as rpb
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.fleet.api.assets import ASSETS
from services.fleet.api.catalog import (
    CUSTOMER_COLLECTION,
    CUSTOMERS,
    DEVICE_MODEL_COLLECTION,
    DEVICE_MODELS,
    SITES,
    register_specs,
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
from services.fleet.domain.assets import MOVABLE_STATES
from services.fleet.domain.meters import Reading, build_timeline
from services.fleet.domain.replacement_input import (
    AssetFacts,
    FleetAsset,
    HistoryEntry,
    ModelFacts,
    ReplacementSettings,
    build_problem,
    period_start,
)
from services.fleet.meter_store import resets_of
from services.fleet.plan_solves import solve_replacement
from services.fleet.replacement import ProblemError, Solution, SolveParams
from services.fleet.replacement.validation import validate
from services.fleet.store import AssetRow, CustomerRow, DeviceModelRow, MeterReadingRow
from services.fleet.store_plans import ReplacementPlanRow
from services.runtime.crud import Collection
from services.runtime.dataclass_json import to_json
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.proto_values import date_from_proto, date_to_proto
from services.runtime.resources import NamePattern
from services.runtime.scoping import CustomerOwned, deny_scoped

REPLACEMENT_PLANS = NamePattern("replacementPlans/{plan}")
DEFAULT_HORIZON_PERIODS = 5
MAX_HORIZON_PERIODS = 120
DEFAULT_PERIOD_MONTHS = 12
DEFAULT_LEAD_WINDOW = 2
_STATUS = {"optimal": ppb.SOLVER_STATUS_OPTIMAL, "feasible": ppb.SOLVER_STATUS_FEASIBLE,
           "infeasible": ppb.SOLVER_STATUS_INFEASIBLE, "unknown": ppb.SOLVER_STATUS_UNKNOWN}
_NO_PLAN = {"infeasible": "no replacement plan meets the budget and installation limits",
            "unknown": "the time limit passed before any replacement plan was found"}


def replacement_plan_to_proto(row: ReplacementPlanRow) -> rpb.ReplacementPlan:
    message = rpb.ReplacementPlan(customer=CUSTOMERS.name_of(row.customer_id) if row.customer_id else "",
                                  site=SITES.name_of(row.site_id) if row.site_id else "",
                                  device_model=DEVICE_MODELS.name_of(row.device_model_id)
                                  if row.device_model_id else "")
    return plan_message(row, REPLACEMENT_PLANS, message)


REPLACEMENT_PLAN_COLLECTION = Collection(
    pattern=REPLACEMENT_PLANS, row_type=ReplacementPlanRow, message_type=rpb.ReplacementPlan,
    message_field="replacement_plan", writable=(), to_message=replacement_plan_to_proto, write=written_by_verbs_only,
    scope=CustomerOwned("customer_id"))


class ReplacementMethods:
    """Replacement plans (mixed into FleetApi)."""

    @cached_property
    def _replacement_jobs(self) -> PlanJobs:
        return PlanJobs(self._standard, self._solve_jobs, REPLACEMENT_PLAN_COLLECTION)

    def PlanReplacements(self, request: rpb.PlanReplacementsRequest, context) -> rpb.ReplacementPlan:
        limit = time_limit(request.time_limit)
        with self._db.unit_of_work() as session:
            scope = _scope(session, request)
            assets = _assets(session, scope)
            currency = _currency(session, assets)
            models, candidates = _models(session, request, currency, {a.model_key for a in assets})
            settings = replace(_settings(request, currency), candidates=candidates)
            history = _history(request, {a.key for a in assets}, currency)
        problem, facts = build_problem(assets, models, history, settings)
        try:
            validate(problem)
        except ProblemError as error:
            raise InvalidArgument.field(error.field, str(error).split(": ", 1)[-1]) from None
        params = SolveParams(time_limit_s=limit.total_seconds(), num_workers=1)
        summary = rpb.ReplacementInputSummary(
            assets=len(assets), cohorts=len(problem.cohorts), horizon_periods=settings.periods,
            period_months=settings.period_months, as_of_date=date_to_proto(settings.as_of),
            fitted_models=sorted({DEVICE_MODELS.name_of(f.model_key) for f in facts.values() if f.curve == "fitted"}))
        customer_id, site_id, model_id = scope
        plan_id = new_plan_id()

        def new_row() -> ReplacementPlanRow:
            return ReplacementPlanRow(id=plan_id, customer_id=customer_id or "", site_id=site_id,
                                      device_model_id=model_id, currency_code=currency,
                                      input={"params": to_json(params), "problem": to_json(problem)},
                                      output={"input_summary": output_json(summary)})

        return self._replacement_jobs.submit("PlanReplacements", request, new_row, solve_replacement,
                                             (problem, params),
                                             lambda solution: _outcome(solution, facts, settings, currency),
                                             limit)

    def GetReplacementPlan(self, request: rpb.GetReplacementPlanRequest, context) -> rpb.ReplacementPlan:
        return self._standard.get(REPLACEMENT_PLAN_COLLECTION, request.name)

    def ListReplacementPlans(self, request: rpb.ListReplacementPlansRequest,
                             context) -> rpb.ListReplacementPlansResponse:
        customer = CUSTOMERS.key(request.customer, "customer") if request.customer else None
        plans, token = self._standard.list(REPLACEMENT_PLAN_COLLECTION, request, customer_id=customer)
        return rpb.ListReplacementPlansResponse(replacement_plans=plans, next_page_token=token)


# --- building the problem ----------------------------------------------------------------------

def _scope(session: Session, request: rpb.PlanReplacementsRequest) -> tuple[str | None, str | None, str | None]:
    if not (request.customer or request.site or request.device_model):
        raise InvalidArgument.field("customer", "a customer, a site or a device model is required")
    customer_id = CUSTOMERS.key(request.customer, "customer") if request.customer else None
    site_id = SITES.key(request.site, "site") if request.site else None
    model_id = DEVICE_MODELS.key(request.device_model, "device_model") if request.device_model else None
    if site_id:
        if customer_id and site_id.split("/")[0] != customer_id:
            raise InvalidArgument.field("site", f"{request.site} is not a site of {request.customer}")
        customer_id = site_id.split("/")[0]
    if customer_id:
        CUSTOMER_COLLECTION.rows(session).get(customer_id)
    else:
        deny_scoped("a replacement plan across customers")
    if model_id:
        DEVICE_MODEL_COLLECTION.rows(session).get(model_id)
    return customer_id, site_id, model_id


def _assets(session: Session, scope: tuple[str | None, str | None, str | None]) -> list[FleetAsset]:
    customer_id, site_id, model_id = scope
    filters = [AssetRow.state.in_([state.value for state in MOVABLE_STATES])]
    for column, value in ((AssetRow.customer_id, customer_id), (AssetRow.site_id, site_id),
                          (AssetRow.device_model_id, model_id)):
        if value:
            filters.append(column == value)
    rows = session.scalars(select(AssetRow).where(*filters).order_by(AssetRow.id)).all()
    if not rows:
        raise FailedPrecondition("the scope has no installed assets to plan for", reason="NO_ASSETS")
    consumption = _consumption(session, rows)
    return [FleetAsset(r.id, r.device_model_id, r.customer_id, r.site_id, r.install_date, consumption.get(r.id, ()))
            for r in rows]


def _consumption(session: Session, rows: list[AssetRow]) -> dict[str, tuple]:
    """Each asset's meter timeline on its model's usage register: the expected-life register, else
    the first register the model reports."""
    models = {m.id: m for m in session.scalars(select(DeviceModelRow).where(
        DeviceModelRow.id.in_({r.device_model_id for r in rows})))}
    register_of = {}
    for row in rows:
        model = models[row.device_model_id]
        specs = {spec.code: spec for spec in register_specs(model.registers)}
        code = model.expected_life_register or next(iter(specs), "")
        if code in specs:
            register_of[row.id] = specs[code]
    readings: dict[str, list[Reading]] = defaultdict(list)
    for reading in session.scalars(select(MeterReadingRow).where(MeterReadingRow.asset_id.in_(list(register_of)))):
        if reading.register == register_of[reading.asset_id].code:
            readings[reading.asset_id].append(Reading(reading.read_time, reading.value))
    resets = resets_of(session, {(asset_id, spec.code) for asset_id, spec in register_of.items()})
    consumption = {}
    for asset_id, asset_readings in readings.items():
        spec = register_of[asset_id]
        timeline = build_timeline(asset_readings, resets.get((asset_id, spec.code), []), spec.rules)
        consumption[asset_id] = tuple(zip((r.read_time for r in timeline.readings), timeline.consumed))
    return consumption


def _currency(session: Session, assets: list[FleetAsset]) -> str:
    currencies = set(session.scalars(select(CustomerRow.currency_code).where(
        CustomerRow.id.in_({a.customer_key for a in assets}))))
    if len(currencies) > 1:
        raise InvalidArgument.field("customer", f"the scope's assets are billed in {', '.join(sorted(currencies))};"
                                                " narrow it to one customer")
    return currencies.pop()


def _settings(request: rpb.PlanReplacementsRequest, currency: str) -> ReplacementSettings:
    for field in ("horizon_periods", "period_months", "installations_per_period", "lead_window_periods"):
        if getattr(request, field) < 0:
            raise InvalidArgument.field(field, "must not be negative")
    if request.horizon_periods > MAX_HORIZON_PERIODS:
        raise InvalidArgument.field("horizon_periods", f"must be at most {MAX_HORIZON_PERIODS}")
    as_of = (date_from_proto(request.as_of_date, "as_of_date") if request.HasField("as_of_date")
             else datetime.now(UTC).date())
    budget = money_field(request.budget_per_period, "budget_per_period", currency)
    return ReplacementSettings(
        periods=request.horizon_periods or DEFAULT_HORIZON_PERIODS,
        period_months=request.period_months or DEFAULT_PERIOD_MONTHS, as_of=as_of,
        discount_rate=float(decimal_field(request.discount_rate, "discount_rate", Decimal(0), high=Decimal(1))),
        budget_per_period=float(budget) if budget is not None else None,
        installations_per_period=request.installations_per_period or None,
        batch_cost=float(money_field(request.batch_cost, "batch_cost", currency) or 0),
        lead_window=request.lead_window_periods or DEFAULT_LEAD_WINDOW)


def _models(session: Session, request: rpb.PlanReplacementsRequest, currency: str,
            current: set[str]) -> tuple[dict[str, ModelFacts], tuple[str, ...]]:
    """Current models and candidates with their catalogue facts and the request's economics, and the
    candidates' keys."""
    candidates = []
    for i, name in enumerate(request.candidate_models):
        field = f"candidate_models[{i}]"
        row = session.get(DeviceModelRow, DEVICE_MODELS.key(name, field))
        if row is None:
            raise InvalidArgument.field(field, f"{name} does not exist")
        if row.list_price is None or row.currency_code != currency:
            raise InvalidArgument.field(field, f"{name} has no list price in {currency}")
        candidates.append(row.id)
    rows = {r.id: r for r in session.scalars(select(DeviceModelRow).where(
        DeviceModelRow.id.in_(current | set(candidates))))}
    if not candidates:
        for model_id in sorted(current):
            if rows[model_id].list_price is None or rows[model_id].currency_code != currency:
                raise FailedPrecondition(f"{DEVICE_MODELS.name_of(model_id)} has no list price in {currency}; name"
                                         " candidate_models that have one", reason="MODEL_WITHOUT_LIST_PRICE",
                                         metadata={"resource": DEVICE_MODELS.name_of(model_id)})
    economics = _economics(request, currency, set(rows))
    return {key: ModelFacts(key=key, list_price=row.list_price if row.currency_code == currency else None,
                            expected_life_months=row.expected_life_months, **economics.get(key, {}))
            for key, row in rows.items()}, tuple(dict.fromkeys(candidates))


def _economics(request: rpb.PlanReplacementsRequest, currency: str, known: set[str]) -> dict[str, dict]:
    found = {}
    for i, entry in enumerate(request.model_economics):
        path = f"model_economics[{i}]"
        key = DEVICE_MODELS.key(entry.device_model, f"{path}.device_model")
        if key not in known:
            raise InvalidArgument.field(f"{path}.device_model", "is neither a model of the scope nor a candidate")
        if key in found:
            raise InvalidArgument.field(f"{path}.device_model", "is listed twice")
        if entry.max_age_periods < 0:
            raise InvalidArgument.field(f"{path}.max_age_periods", "must not be negative")
        fields: dict = {
            "maintenance_per_usage": float(decimal_field(entry.maintenance_per_usage, f"{path}.maintenance_per_usage",
                                                         Decimal(0))),
            "energy_cost_per_usage": float(decimal_field(entry.energy_cost_per_usage, f"{path}.energy_cost_per_usage",
                                                         Decimal(0))),
            "failure_rate": tuple(float(decimal_field(rate, f"{path}.failure_rate[{j}]", Decimal(0)))
                                  for j, rate in enumerate(entry.failure_rate)),
            "failure_cost": float(money_field(entry.failure_cost, f"{path}.failure_cost", currency) or 0),
            "max_age_periods": entry.max_age_periods or None,
        }
        if entry.maintenance_per_period:
            fields["maintenance_per_period"] = _amounts(entry.maintenance_per_period, f"{path}.maintenance_per_period",
                                                        currency)
        if entry.residual_value:
            fields["residual_value"] = _amounts(entry.residual_value, f"{path}.residual_value", currency)
        found[key] = fields
    return found


def _amounts(values, path: str, currency: str) -> tuple[float, ...]:
    return tuple(float(money_field(value, f"{path}[{j}]", currency, required=True)) for j, value in enumerate(values))


def _history(request: rpb.PlanReplacementsRequest, in_scope: set[str], currency: str) -> list[HistoryEntry]:
    entries = []
    for i, entry in enumerate(request.maintenance_history):
        path = f"maintenance_history[{i}]"
        key = ASSETS.key(entry.asset, f"{path}.asset")
        if key not in in_scope:
            raise InvalidArgument.field(f"{path}.asset", f"{entry.asset} is not an installed asset of the scope")
        entries.append(HistoryEntry(key, date_from_proto(entry.period_start, f"{path}.period_start"),
                                    float(money_field(entry.parts, f"{path}.parts", currency) or 0),
                                    float(money_field(entry.labour, f"{path}.labour", currency) or 0)))
    return entries


# --- the outcome -------------------------------------------------------------------------------

def _outcome(solution: Solution, facts: dict[str, AssetFacts], settings: ReplacementSettings,
             currency: str) -> Outcome:
    report = solver_report(_STATUS[solution.status], solution.total_cost, solution.best_bound, solution.gap,
                           solution.seconds)
    if solution.evaluation is None:
        return FAILED, output_json(rpb.ReplacementPlan(solver=report)), _NO_PLAN.get(solution.status, solution.status)

    def start(period: int):
        return date_to_proto(period_start(settings.as_of, period, settings.period_months))

    assets = []
    for group in solution.plan:
        replacements = [rpb.AssetReplacement(period=r.period, period_start=start(r.period),
                                             device_model=DEVICE_MODELS.name_of(r.model)) for r in group.replacements]
        for asset_id in group.asset_ids:
            fact = facts[asset_id]
            assets.append(rpb.AssetPlan(asset=ASSETS.name_of(asset_id),
                                        current_device_model=DEVICE_MODELS.name_of(fact.model_key),
                                        age_periods=fact.age, usage_per_period=decimal_text(fact.usage),
                                        maintenance_curve=fact.curve, replacements=replacements))
    evaluation = solution.evaluation
    message = rpb.ReplacementPlan(
        solver=report, assets=sorted(assets, key=lambda a: a.asset),
        cost_per_period=[rpb.PeriodCost(period=c.period, period_start=start(c.period),
                                        purchases=money(c.purchases, currency), trade_ins=money(c.trade_ins, currency),
                                        batch=money(c.batch, currency), maintenance=money(c.maintenance, currency),
                                        failure=money(c.failure, currency), energy=money(c.energy, currency),
                                        net=money(c.net, currency), replacements=c.replacements)
                         for c in evaluation.periods],
        net_present_cost=money(evaluation.net_present_cost, currency),
        terminal_value=money(evaluation.terminal_value, currency),
        policies=[rpb.PolicyComparison(policy=name, net_present_cost=money(baseline.net_present_cost, currency),
                                       plan_saving=money(baseline.net_present_cost - evaluation.net_present_cost,
                                                         currency),
                                       violations=baseline.violations)
                  for name, baseline in sorted(solution.baselines.items())],
        leads=[rpb.ReplacementLead(period=lead.period, period_start=start(lead.period),
                                   customer=CUSTOMERS.name_of(lead.customer) if lead.customer else "",
                                   assets=[ASSETS.name_of(a) for a in lead.asset_ids],
                                   current_device_model=DEVICE_MODELS.name_of(lead.current_model)
                                   if lead.current_model else "",
                                   new_device_model=DEVICE_MODELS.name_of(lead.new_model),
                                   estimated_value=money(lead.estimated_value, currency))
               for lead in solution.leads])
    return SUCCEEDED, output_json(message), ""
