"""PlanReplacements, GetReplacementPlan and ListReplacementPlans as a fleet planner uses them."""

from __future__ import annotations

import grpc
import pytest
from fleetops.fleet.v1 import placement_pb2 as ppb
from fleetops.fleet.v1 import replacement_pb2 as rpb
from google.protobuf import duration_pb2
from google.type import date_pb2

from services.fleet.replacement import SolveParams, solve
from services.fleet.replacement.fleet_data import AssetRecord, group_assets
from services.fleet.replacement.problem import AssetModel, CostCurve, Problem
from tests.fleet.fleet_factory import at
from tests.fleet.fleet_plans_builders import PlanFleet, amount, poll_until_done, yen
from tests.runtime.test_runtime_edge import rich_error

OLD_MAINTENANCE = [50_000, 80_000, 120_000, 180_000, 260_000, 350_000]
OLD_RESIDUAL = [1_200_000, 900_000, 650_000, 450_000, 300_000, 200_000, 100_000]
NEW_MAINTENANCE = [30_000, 45_000, 70_000, 110_000, 170_000]
NEW_RESIDUAL = [900_000, 700_000, 520_000, 380_000, 260_000, 160_000]
AS_OF = date_pb2.Date(year=2029, month=2, day=1)  # the fleet was installed on 2026-01-15: 3 years old


@pytest.fixture
def ageing_fleet(fleet):
    f = PlanFleet(fleet.channel)
    customer = f.customer()
    site = f.site(customer)
    old = f.priced_printer(mono=20_000, colour=0, lease=30_000, price=1_200_000, life_months=60)
    new = f.priced_printer(mono=20_000, colour=0, lease=22_000, price=900_000, life_months=60)
    busy, quiet = f.installed(customer, old, site), f.installed(customer, old, site)
    f.read(busy, (at(1, month=3), "0"), (at(1, month=5), "30000"))
    f.read(quiet, (at(1, month=3), "0"), (at(1, month=5), "4000"))
    request = rpb.PlanReplacementsRequest(
        site=site.name, horizon_periods=5, period_months=12, as_of_date=AS_OF, discount_rate="0.05",
        candidate_models=[old.name, new.name],
        model_economics=[
            rpb.ModelEconomics(device_model=old.name, maintenance_per_period=[yen(v) for v in OLD_MAINTENANCE],
                               maintenance_per_usage="0.5", residual_value=[yen(v) for v in OLD_RESIDUAL]),
            rpb.ModelEconomics(device_model=new.name, maintenance_per_period=[yen(v) for v in NEW_MAINTENANCE],
                               maintenance_per_usage="0.4", residual_value=[yen(v) for v in NEW_RESIDUAL])],
        time_limit=duration_pb2.Duration(seconds=10))
    return f, request, {"old": old, "new": new}, {"busy": busy, "quiet": quiet}


def _model(name: str, price: float, maintenance: list[int], per_usage: float, residual: list[int]) -> AssetModel:
    return AssetModel(name=name.split("/")[1], price=price, maintenance=CostCurve(tuple(map(float, maintenance)),
                                                                                  (per_usage,)),
                      residual_value=tuple(map(float, residual)), expected_life=5)


def test_plan_equals_the_optimizer_on_the_same_problem(fleet, ageing_fleet):
    f, request, models, assets = ageing_fleet
    request.wait = True
    plan = f.stub.PlanReplacements(request, timeout=60)
    assert plan.state == ppb.PLAN_STATE_SUCCEEDED, plan.error
    by_asset = {a.asset: a for a in plan.assets}
    assert set(by_asset) == {assets["busy"].name, assets["quiet"].name}
    assert {a.age_periods for a in plan.assets} == {3}
    busy, quiet = by_asset[assets["busy"].name], by_asset[assets["quiet"].name]
    assert float(busy.usage_per_period) > float(quiet.usage_per_period) > 0

    old_key, new_key = (models[k].name.split("/")[1] for k in ("old", "new"))
    problem = Problem(
        periods=5, discount_rate=0.05,
        models={old_key: _model(models["old"].name, 1_200_000.0, OLD_MAINTENANCE, 0.5, OLD_RESIDUAL),
                new_key: _model(models["new"].name, 900_000.0, NEW_MAINTENANCE, 0.4, NEW_RESIDUAL)},
        cohorts=tuple(group_assets(
            AssetRecord(id=name.split("/")[1], model=old_key, age=3, usage=float(entry.usage_per_period),
                        candidates=(old_key, new_key), group=request.site.split("/", 1)[1].replace("/sites/", "/"),
                        customer=request.site.split("/")[1])
            for name, entry in sorted(by_asset.items()))),
        lead_window=2)
    expected = solve(problem, SolveParams(time_limit_s=10))

    assert expected.status == "optimal" and plan.solver.status == ppb.SOLVER_STATUS_OPTIMAL
    assert amount(plan.net_present_cost) == round(expected.total_cost)
    expected_replacements = {asset_id: [(r.period, r.model) for r in group.replacements]
                             for group in expected.plan for asset_id in group.asset_ids}
    assert {name.split("/")[1]: [(r.period, r.device_model.split("/")[1]) for r in entry.replacements]
            for name, entry in by_asset.items()} == expected_replacements
    assert len(plan.cost_per_period) == 5
    policies = {p.policy: p for p in plan.policies}
    assert set(policies) == {"replace_at_end_of_expected_life", "run_until_it_fails_often"}
    assert all(amount(p.plan_saving) >= 0 for p in policies.values())


def test_job_form_and_fitted_maintenance_history(fleet, ageing_fleet):
    f, request, models, assets = ageing_fleet
    # Three years of monthly parts and labour on both assets: enough history to fit a curve.
    request.maintenance_history.extend(
        rpb.MaintenancePeriodCost(asset=asset.name, period_start=date_pb2.Date(year=2026 + year, month=month, day=1),
                                  parts=yen(2000 * (year + 1)), labour=yen(3000 + 1000 * year))
        for asset in assets.values() for year in range(3) for month in (2, 6, 10))
    started = f.stub.PlanReplacements(request, timeout=60)
    assert started.state == ppb.PLAN_STATE_RUNNING
    done = poll_until_done(lambda name: f.stub.GetReplacementPlan(rpb.GetReplacementPlanRequest(name=name)),
                           started.name)
    assert done.state == ppb.PLAN_STATE_SUCCEEDED, done.error
    assert list(done.input_summary.fitted_models) == [models["old"].name]
    assert {a.maintenance_curve for a in done.assets} == {"fitted"}
    customer = "/".join(request.site.split("/")[:2])
    listed = f.stub.ListReplacementPlans(rpb.ListReplacementPlansRequest(customer=customer))
    assert [p.name for p in listed.replacement_plans] == [done.name]


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: setattr(r, "discount_rate", "five percent"), "discount_rate"),
    (lambda r: setattr(r, "horizon_periods", -1), "horizon_periods"),
    (lambda r: r.candidate_models.append("deviceModels/missing"), "candidate_models[2]"),
    (lambda r: r.model_economics[1].residual_value.append(yen(-1)), "model_economics[1].residual_value[6]"),
    (lambda r: r.maintenance_history.add(asset="assets/elsewhere", period_start=AS_OF),
     "maintenance_history[0].asset"),
    (lambda r: r.ClearField("site"), "customer"),
])
def test_bad_input_names_the_field(fleet, ageing_fleet, change, field):
    f, request, _, _ = ageing_fleet
    change(request)
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.PlanReplacements(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v[0] for v in rich_error(caught.value)[0]] == [field]
