"""OptimizePlacement, GetPlacementPlan and ApplyPlacementPlan as an account manager uses them."""

from __future__ import annotations

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import placement_pb2 as ppb
from fleetops.fleet.v1 import resources_pb2 as res
from google.protobuf import duration_pb2

from tests.fleet.fleet_plans_builders import PlanFleet, amount, poll_until_done, yen
from tests.runtime.test_runtime_edge import rich_error

PLAN_DEADLINE_SECONDS = 60


@pytest.fixture
def office(fleet):
    """Two floors, two departments each (one needing colour), and four oversized colour devices today."""
    f = PlanFleet(fleet.channel)
    customer = f.customer()
    site = f.site(customer)
    spots = {name: f.location(site, floor, x, 0.0) for name, floor, x in
             [("1a", "1", 0.0), ("1b", "1", 20.0), ("2a", "2", 0.0), ("2b", "2", 20.0)]}
    mono = f.priced_printer(mono=5000, colour=0, lease=10_000)
    colour = f.priced_printer(mono=8000, colour=3000, lease=25_000)
    big = f.priced_printer(mono=30_000, colour=10_000, lease=60_000)
    today = {name: f.installed(customer, big, site, spot) for name, spot in spots.items()}
    groups = [
        ppb.DemandGroup(id="sales", location=spots["1a"].name, demand={"mono_impressions": 3000}, users=10),
        ppb.DemandGroup(id="design", location=spots["1b"].name, needs=["colour"], users=4,
                        demand={"mono_impressions": 2000, "colour_impressions": 500}),
        ppb.DemandGroup(id="finance", location=spots["2a"].name, demand={"mono_impressions": 2000}, users=6),
        ppb.DemandGroup(id="marketing", location=spots["2b"].name, needs=["colour"], users=3,
                        demand={"mono_impressions": 1000, "colour_impressions": 200}),
    ]
    request = ppb.OptimizePlacementRequest(
        site=site.name, demand_groups=groups, candidate_models=[mono.name, colour.name, big.name],
        walking_cost_per_metre=yen(10), horizon_months=36,
        change_costs=ppb.ChangeCosts(install=yen(5000), move=yen(1000), retire=yen(2000)),
        time_limit=duration_pb2.Duration(seconds=10))
    return f, request, {"mono": mono, "colour": colour, "big": big}, today


def test_blocking_form_returns_a_cheaper_plan_that_serves_every_group_in_colour_where_needed(fleet, office):
    f, request, models, today = office
    request.wait = True
    plan = f.stub.OptimizePlacement(request, timeout=PLAN_DEADLINE_SECONDS)

    assert plan.state == ppb.PLAN_STATE_SUCCEEDED, plan.error
    assert plan.solver.status == ppb.SOLVER_STATUS_OPTIMAL
    assert plan.input_summary.demand_groups == 4 and plan.input_summary.current_devices == 4
    assignments = {a.demand_group: a for a in plan.assignments}
    assert set(assignments) == {"sales", "design", "finance", "marketing"}
    colour_models = {models["colour"].name, models["big"].name}
    assert assignments["design"].device_model in colour_models
    assert assignments["marketing"].device_model in colour_models
    assert amount(plan.plan_cost.monthly_total) < amount(plan.today_cost.monthly_total)
    assert amount(plan.monthly_saving) == amount(plan.today_cost.monthly_total) - amount(plan.plan_cost.monthly_total)
    # Every device of today is either kept, moved or retired, exactly once.
    accounted = [*plan.devices_kept, *(m.asset for m in plan.devices_moved), *plan.devices_retired]
    assert sorted(accounted) == sorted(asset.name for asset in today.values())
    assert f.stub.GetPlacementPlan(ppb.GetPlacementPlanRequest(name=plan.name)) == plan


def test_job_form_returns_running_and_the_plan_is_solved_later(fleet, office):
    f, request, _, _ = office
    request.request_id = "optimize-once"
    started = f.stub.OptimizePlacement(request, timeout=PLAN_DEADLINE_SECONDS)
    assert started.state == ppb.PLAN_STATE_RUNNING
    assert started.input_summary.positions == 4

    done = poll_until_done(lambda name: f.stub.GetPlacementPlan(ppb.GetPlacementPlanRequest(name=name)), started.name)
    assert done.state == ppb.PLAN_STATE_SUCCEEDED
    assert len(done.assignments) == 4
    # A retry of the same request starts no second solve and answers with the plan as it stands.
    assert f.stub.OptimizePlacement(request, timeout=PLAN_DEADLINE_SECONDS) == done
    customer = "/".join(request.site.split("/")[:2])
    listed = f.stub.ListPlacementPlans(ppb.ListPlacementPlansRequest(customer=customer))
    assert done.name in [p.name for p in listed.placement_plans]


def test_apply_records_orders_moves_and_retirements_once(fleet, office):
    f, request, _, today = office
    request.wait = True
    plan = f.stub.OptimizePlacement(request, timeout=PLAN_DEADLINE_SECONDS)
    assert plan.devices_added or plan.devices_retired or plan.devices_moved

    applied = f.stub.ApplyPlacementPlan(ppb.ApplyPlacementPlanRequest(name=plan.name, request_id="apply-1"))
    replay = f.stub.ApplyPlacementPlan(ppb.ApplyPlacementPlanRequest(name=plan.name, request_id="apply-1"))
    assert replay == applied
    assert len(applied.application.ordered_assets) == len(plan.devices_added)
    for name, addition in zip(applied.application.ordered_assets, plan.devices_added, strict=True):
        asset = f.stub.GetAsset(pb.GetAssetRequest(name=name))
        assert (asset.state, asset.device_model, asset.location) == (
            res.ASSET_STATE_ORDERED, addition.device_model, addition.location)
    for name in plan.devices_retired:
        assert f.stub.GetAsset(pb.GetAssetRequest(name=name)).state == res.ASSET_STATE_RETIRED
    for move in plan.devices_moved:
        assert f.stub.GetAsset(pb.GetAssetRequest(name=move.asset)).location == move.to_location

    with pytest.raises(grpc.RpcError) as caught:
        f.stub.ApplyPlacementPlan(ppb.ApplyPlacementPlanRequest(name=plan.name, request_id="apply-2"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(caught.value)[1].reason == "PLAN_ALREADY_APPLIED"


def test_a_failed_plan_cannot_be_applied(fleet, office):
    f, request, _, _ = office
    request.wait = True
    request.max_devices = 1  # one device cannot reach both floors
    plan = f.stub.OptimizePlacement(request, timeout=PLAN_DEADLINE_SECONDS)
    assert plan.state == ppb.PLAN_STATE_FAILED
    assert plan.solver.status == ppb.SOLVER_STATUS_INFEASIBLE
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.ApplyPlacementPlan(ppb.ApplyPlacementPlanRequest(name=plan.name))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r.demand_groups[0].MergeFrom(ppb.DemandGroup(location="customers/x/sites/y/locations/z")),
     "demand_groups[0].location"),
    (lambda r: r.demand_groups[1].demand.__setitem__("mono_impressions", -1),
     "demand_groups[1].demand[mono_impressions]"),
    (lambda r: setattr(r.demand_groups[2], "id", "sales"), "demand_groups[2].id"),
    (lambda r: r.candidate_models.append("deviceModels/missing"), "candidate_models[3]"),
    (lambda r: r.monthly_budget.MergeFrom(yen(-5)), "monthly_budget"),
    (lambda r: setattr(r, "relative_gap", "lots"), "relative_gap"),
])
def test_bad_input_names_the_field_and_starts_nothing(fleet, office, change, field):
    f, request, _, _ = office
    customer = "/".join(request.site.split("/")[:2])
    before = len(f.stub.ListPlacementPlans(ppb.ListPlacementPlansRequest(customer=customer)).placement_plans)
    change(request)
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.OptimizePlacement(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v[0] for v in rich_error(caught.value)[0]] == [field]
    assert len(f.stub.ListPlacementPlans(ppb.ListPlacementPlansRequest(customer=customer)).placement_plans) == before
