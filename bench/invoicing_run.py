"""A billing run of the invoicing service on PostgreSQL for 10,000 and 100,000 assets across 1,000 customers.

The invoicing service runs as its own process on a fresh PostgreSQL database. Its peers (fleet's
GetUsage, maintenance's downtime and work orders) are served by a synthetic process modelling one
reading per register per day, so the figures are invoicing's own cost: fetching usage in batches
of 1,000 assets, rating with the domain, writing drafts set-based. (The real fleet's GetUsage costs
about 0.35 s per 1,000 assets on this machine; see bench/fleet_meter_ingest.py.)

Mixed plans, one contract per customer: fees only; fee + metered mono pages with allowance and
graduated tiers; fee + mono + colour (pooled allowance) + availability guarantee + discount;
output price with take-or-pay. About 2% of assets have an estimated period-end read and 1% downtime.

    .venv/bin/python bench/invoicing_run.py [--assets 10000 100000] [--customers 1000]
Prints a table and writes bench/results/invoicing_run.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent import futures
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import grpc
from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import meters_pb2 as mpb
from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import contracts_pb2 as cpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from fleetops.invoicing.v1 import invoicing_service_pb2_grpc as pb_grpc
from fleetops.invoicing.v1 import plans_pb2 as ppb
from fleetops.maintenance.v1 import maintenance_service_pb2 as mspb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as maintenance_grpc
from fleetops.maintenance.v1 import resources_pb2 as mres
from google.type import date_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import METADATA, ROOT, free_port, postgres_database, report, service_process  # noqa: E402

PERIOD = date(2026, 3, 1)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _asset_index(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


class SyntheticFleet(fleet_grpc.FleetServiceServicer):
    """Counters that advance a fixed number of units a day per asset, read every day at midnight."""

    def GetUsage(self, request, context):
        start, end = request.start_time.ToDatetime(tzinfo=UTC), request.end_time.ToDatetime(tzinfo=UTC)
        colour = request.register == "colour_impressions"
        usages = []
        for name in request.assets:
            index = _asset_index(name)
            per_day = (20 if colour else 80) + index % 97
            estimated = index % 50 == 0
            at = [Decimal(per_day) * Decimal((moment - EPOCH).total_seconds()) / 86400 + index
                  for moment in (start, end)]
            usage = mpb.AssetUsage(asset=name, register=request.register, quantity=str(at[1] - at[0]))
            usage.start.kind = mpb.ENDPOINT_KIND_ACTUAL
            usage.start.counter_value = str(at[0])
            usage.start.time.CopyFrom(request.start_time)
            usage.start.reading_time.CopyFrom(request.start_time)
            usage.end.kind = mpb.ENDPOINT_KIND_ESTIMATED if estimated else mpb.ENDPOINT_KIND_ACTUAL
            usage.end.counter_value = str(at[1])
            usage.end.time.CopyFrom(request.end_time)
            usage.end.reading_time.FromDatetime(end - timedelta(days=3) if estimated else end)
            usages.append(usage)
        return mpb.GetUsageResponse(usages=usages)


class SyntheticMaintenance(maintenance_grpc.MaintenanceServiceServicer):
    """One asset in a hundred was down for two days; no billable work orders."""

    def ListDowntimeIntervals(self, request, context):
        start = request.start_time.ToDatetime(tzinfo=UTC)
        intervals = []
        for name in request.assets:
            if _asset_index(name) % 100 == 7:
                interval = mres.DowntimeInterval(asset=name, work_order=f"workOrders/w{_asset_index(name)}")
                interval.start_time.FromDatetime(start + timedelta(days=3))
                interval.end_time.FromDatetime(start + timedelta(days=5))
                intervals.append(interval)
        return mspb.ListDowntimeIntervalsResponse(intervals=intervals)

    def ListWorkOrders(self, request, context):
        return mspb.ListWorkOrdersResponse()


def serve_synthetic_peers(port: int) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_send_message_length", 64 << 20)])
    fleet_grpc.add_FleetServiceServicer_to_server(SyntheticFleet(), server)
    maintenance_grpc.add_MaintenanceServiceServicer_to_server(SyntheticMaintenance(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def _day(value: date) -> date_pb2.Date:
    return date_pb2.Date(year=value.year, month=value.month, day=value.day)


def _plans(stub) -> list[ppb.PlanVersion]:
    def mono(allowance: str, scope=ppb.ALLOWANCE_SCOPE_PER_DEVICE):
        return ppb.MeteredCharge(register=ppb.REGISTER_MONO_PAGES, fleet_register="mono_impressions",
                                 allowance=allowance, allowance_scope=scope,
                                 tiers=[ppb.Tier(up_to="5000", unit_price="0.8"), ppb.Tier(unit_price="0.6")])

    charge_sets = [
        [ppb.Charge(charge_id="base", fixed_fee=ppb.FixedFee(amount="12000"))],
        [ppb.Charge(charge_id="base", fixed_fee=ppb.FixedFee(amount="8000")),
         ppb.Charge(charge_id="mono", metered=mono("1000"))],
        [ppb.Charge(charge_id="base", fixed_fee=ppb.FixedFee(amount="15000")),
         ppb.Charge(charge_id="mono", metered=mono("2000", ppb.ALLOWANCE_SCOPE_POOLED)),
         ppb.Charge(charge_id="colour", metered=ppb.MeteredCharge(
             register=ppb.REGISTER_COLOUR_PAGES, fleet_register="colour_impressions", allowance="200",
             allowance_scope=ppb.ALLOWANCE_SCOPE_POOLED, tiers=[ppb.Tier(unit_price="6")])),
         ppb.Charge(charge_id="sla", availability=ppb.AvailabilityGuarantee(
             target_uptime="0.98", credit_share="0.10", fee_charge_ids=["base"])),
         ppb.Charge(charge_id="loyalty", discount=ppb.Discount(percent="0.05"))],
        [ppb.Charge(charge_id="pages", output=ppb.OutputPrice(
            register=ppb.REGISTER_MONO_PAGES, fleet_register="mono_impressions", unit_price="1.2",
            minimum_offtake_units="3000"))],
    ]
    versions = []
    for index, charges in enumerate(charge_sets):
        plan = stub.CreatePlan(pb.CreatePlanRequest(plan_id=f"plan-{index}", plan=ppb.Plan(
            display_name=f"Plan {index}", currency_code="JPY")), metadata=METADATA)
        versions.append(stub.CreatePlanVersion(pb.CreatePlanVersionRequest(parent=plan.name, plan_version=ppb.PlanVersion(
            effective_from=_day(date(2026, 1, 1)), charges=charges)), metadata=METADATA))
    return versions


def seed(stub, assets: int, customers: int) -> None:
    stub.CreateIssuingEntity(pb.CreateIssuingEntityRequest(issuing_entity_id="jp", issuing_entity=pb.IssuingEntity(
        legal_name="Fleetops Japan KK", country_code="JP", invoice_series="INV",
        tax_registration_number="T1234567890123")), metadata=METADATA)
    plans = _plans(stub)
    per_customer = assets // customers

    def contract(customer: int) -> None:
        site = f"customers/c{customer:04d}/sites/hq"
        covered = [cpb.CoveredAsset(asset=f"assets/a-{customer * per_customer + n}", site=site,
                                    cost_centre=f"CC-{n % 3}", effective_from=_day(date(2026, 1, 1)))
                   for n in range(per_customer)]
        stub.CreateContract(pb.CreateContractRequest(contract_id=f"k{customer:04d}", contract=cpb.Contract(
            customer=f"customers/c{customer:04d}", plan_version=plans[customer % len(plans)].name,
            issuing_entity="issuingEntities/jp", currency_code="JPY", billing_anchor_day=1,
            start_date=_day(date(2026, 1, 1)), billing_site=site, billing_cost_centre="CC-0", assets=covered)),
            metadata=METADATA, timeout=60)

    with futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(contract, range(customers)))


def measure(assets: int, customers: int, peers: str) -> dict:
    with postgres_database("invoicing") as url, service_process("invoicing", url, fleet=peers,
                                                                maintenance=peers) as address:
        channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])
        stub = pb_grpc.InvoicingServiceStub(channel)
        started = time.perf_counter()
        seed(stub, assets, customers)
        seed_seconds = time.perf_counter() - started
        run = stub.CreateBillingRun(pb.CreateBillingRunRequest(billing_run_id="march", billing_run=bpb.BillingRun(
            period_start=_day(PERIOD))), metadata=METADATA)
        started = time.perf_counter()
        executed = stub.ExecuteBillingRun(pb.ExecuteBillingRunRequest(name=run.name), metadata=METADATA, timeout=900)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = stub.ExecuteBillingRun(pb.ExecuteBillingRunRequest(name=run.name), metadata=METADATA, timeout=900)
        again_seconds = time.perf_counter() - started
        channel.close()
    assert len(again.invoices) == len(executed.invoices)
    return {"assets": assets, "customers": customers, "contracts": executed.contract_count,
            "invoices": len(executed.invoices), "estimated_lines": executed.estimated_line_count,
            "seed_seconds": round(seed_seconds, 1), "run_seconds": round(seconds, 2),
            "ms_per_asset": round(1000 * seconds / assets, 4), "re_execute_seconds": round(again_seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--serve-synthetic-peers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_synthetic_peers:
        serve_synthetic_peers(args.serve_synthetic_peers)
        return
    port = free_port()
    peers = subprocess.Popen([sys.executable, __file__, "--serve-synthetic-peers", str(port)], cwd=ROOT)
    try:
        rows = [measure(assets, args.customers, f"127.0.0.1:{port}") for assets in args.assets]
    finally:
        peers.terminate()
        peers.wait(10)
    if len(rows) >= 2:
        growth = rows[-1]["ms_per_asset"] / rows[0]["ms_per_asset"]
        for row in rows:
            row["cost_per_asset_vs_smallest"] = round(row["ms_per_asset"] / rows[0]["ms_per_asset"], 3)
        print(f"cost per asset grows {100 * (growth - 1):+.1f}% from {rows[0]['assets']} to {rows[-1]['assets']} assets")
    report("invoicing_run", rows)


if __name__ == "__main__":
    main()
