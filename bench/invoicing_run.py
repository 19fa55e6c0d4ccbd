"""A billing run on PostgreSQL for 10,000 and 100,000 assets across 1,000 customers, end to end.

Three real service processes, each on its own fresh PostgreSQL database: invoicing rates the run,
asking the fleet service for usage (`GetUsage`, 1,000 assets a call, several calls at a time) and
the maintenance service for downtime (`ListDowntimeIntervals`) exactly as in production.

What is not done through RPCs is the *seeding* of fleet and maintenance, because recording 6.4
million readings through `RecordMeterReadings` would take hours on this machine:
- fleet: after its migrations ran (the service started), customers, sites, one printer model and the
  assets are inserted with SQLAlchemy Core through fleet's own table definitions, and the readings
  (one per register per day from the day before the period to its last day, both registers of every
  asset) plus the latest-reading rows are loaded with COPY, with the counter state that ingestion
  would store. About 0.2% of assets roll over during the period; 2% stop reporting four days before
  its end (their end read is estimated). A sample of usages is checked against the expected figures.
- maintenance: 1% of assets have a completed corrective work order with two days of downtime,
  inserted with maintenance's own table definition.
- invoicing: issuer, four plans and one contract per customer through its RPCs.
No plan bills work orders, so invoicing does not call `ListWorkOrders` here.

Mixed plans, one contract per customer: fees only; fee + metered mono pages with allowance and
graduated tiers; fee + mono + colour (pooled allowance) + availability guarantee + discount;
output price with take-or-pay.

    .venv/bin/python bench/invoicing_run.py [--assets 10000 100000] [--customers 1000]
Prints a table and writes bench/results/invoicing_run.json. The usage share is the run's `usage`
phase from invoicing's /metrics; GetUsage latency is fleet's server-side mean during the run. CPU
seconds are those the three services and their PostgreSQL backends used during the run: on a shared
machine they are a steadier measure of cost than wall-clock seconds.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from concurrent import futures
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import sqlalchemy
from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import meters_pb2 as mpb
from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import contracts_pb2 as cpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from fleetops.invoicing.v1 import invoicing_service_pb2_grpc as pb_grpc
from fleetops.invoicing.v1 import plans_pb2 as ppb
from google.protobuf import timestamp_pb2
from google.type import date_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import METADATA, ROOT, cpu_seconds, free_port, metric_samples, postgres_database, report, service_process

sys.path.insert(0, str(ROOT))
from services.fleet.store import AssetRow, CustomerRow, DeviceModelRow, SiteRow
from services.maintenance.store_orders import WorkOrderRow

PERIOD = date(2026, 3, 1)
FIRST_READ = datetime(2026, 2, 28, 6, tzinfo=UTC)  # the read before the period, then one a day
READ_DAYS = 32  # 28 Feb .. 31 Mar
SILENT_AFTER_DAY = 27  # assets that stop reporting send their last read on 27 Mar
ROLLOVER = 10_000_000
SCALE = 10_000  # fleet stores meter values as integers of 10^-4
REGISTERS = ("mono_impressions", "colour_impressions")


def _asset_id(index: int) -> str:
    return f"a-{index}"


def _stops_reporting(index: int) -> bool:
    return index % 50 == 0


def _rolls_over(index: int) -> bool:
    return index % 500 == 3


def _per_day(index: int, register: str) -> int:
    return 80 + index % 97 if register == "mono_impressions" else 20 + index % 41


def _counter_at_first_read(index: int, register: str) -> int:
    """Where the counter stands on 28 Feb; rolling assets wrap ten days later."""
    if register == "mono_impressions" and _rolls_over(index):
        return ROLLOVER - 10 * _per_day(index, register) + 7
    return 1000 + index


def _read_days(index: int) -> range:
    return range(SILENT_AFTER_DAY + 1 if _stops_reporting(index) else READ_DAYS)


def expected_actual_usage(index: int, register: str) -> int:
    """Usage from 1 Mar 06:00 (the read nearest the period start) to 31 Mar 06:00 (nearest its end)."""
    return 30 * _per_day(index, register)


def seed_fleet(url: str, assets: int, customers: int) -> None:
    """Customers, sites, a model and assets through fleet's tables; readings and latest reads by COPY."""
    engine = sqlalchemy.create_engine(url)
    per_customer = assets // customers
    with engine.begin() as connection:
        connection.execute(sqlalchemy.insert(DeviceModelRow.__table__), [dict(
            id="mfp", device_class="PRINTER", maker="Ricoh", display_name="IM C3000", capabilities={},
            currency_code="JPY", registers=[{"code": code, "rollover_at": str(ROLLOVER), "backward_jitter_tolerance": ""}
                                            for code in REGISTERS])])
        connection.execute(sqlalchemy.insert(CustomerRow.__table__), [dict(
            id=f"c{c:04d}", legal_name=f"Customer {c}", currency_code="JPY", data_collection_consent=True)
            for c in range(customers)])
        connection.execute(sqlalchemy.insert(SiteRow.__table__), [dict(
            id=f"c{c:04d}/hq", customer_id=f"c{c:04d}", display_name="HQ", time_zone="Asia/Tokyo")
            for c in range(customers)])
        connection.execute(sqlalchemy.insert(AssetRow.__table__), [dict(
            id=_asset_id(i), serial_number=f"SN{i:07d}", maker="Ricoh", device_model_id="mfp", device_class="PRINTER",
            customer_id=f"c{i // per_customer:04d}", site_id=f"c{i // per_customer:04d}/hq", state="ACTIVE",
            acquisition_mode="LEASE", install_date=date(2025, 6, 1)) for i in range(assets)])
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            # The rows are consistent by construction; skipping the per-row foreign-key triggers
            # halves the load time of millions of readings.
            cursor.execute("SET session_replication_role = replica")
            _copy(cursor, "meter_readings (asset_id, register, read_time, value, source, record_time, consumed,"
                          " high_water, rollovers, resets)", _reading_lines(assets))
            _copy(cursor, "meter_latest (asset_id, register, read_time, value, consumed, high_water, rollovers,"
                          " resets)", _latest_lines(assets))
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()


def _state(index: int, register: str, day: int) -> tuple[str, int, int, int, int]:
    """(read time, value, consumed, high water, rollovers) on `day`, as ingestion would store them."""
    running = _counter_at_first_read(index, register) + _per_day(index, register) * day
    value = running % ROLLOVER
    moment = (FIRST_READ + timedelta(days=day)).isoformat()
    return moment, value * SCALE, _per_day(index, register) * day * SCALE, value * SCALE, running // ROLLOVER


def _reading_lines(assets: int):
    for index in range(assets):
        for register in REGISTERS:
            for day in _read_days(index):
                moment, value, consumed, high_water, rollovers = _state(index, register, day)
                yield (f"{_asset_id(index)}\t{register}\t{moment}\t{value}\tDEVICE\t{moment}\t{consumed}\t"
                       f"{high_water}\t{rollovers}\t0\n")


def _latest_lines(assets: int):
    for index in range(assets):
        for register in REGISTERS:
            moment, value, consumed, high_water, rollovers = _state(index, register, _read_days(index)[-1])
            yield f"{_asset_id(index)}\t{register}\t{moment}\t{value}\t{consumed}\t{high_water}\t{rollovers}\t0\n"


def _copy(cursor, target: str, lines, chunk: int = 200_000) -> None:
    with cursor.copy(f"COPY {target} FROM STDIN") as copy:
        buffer = io.StringIO()
        for count, line in enumerate(lines, 1):
            buffer.write(line)
            if count % chunk == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def seed_maintenance(url: str, assets: int, customers: int) -> int:
    """One asset in a hundred was down for two days, as a completed corrective work order."""
    per_customer = assets // customers
    down = datetime(2026, 3, 4, 9, tzinfo=UTC)
    rows = [dict(id=f"w{i}", asset_id=_asset_id(i), customer_id=f"c{i // per_customer:04d}",
                 site=f"customers/c{i // per_customer:04d}/sites/hq", kind="corrective", state="completed",
                 priority=2, hours={}, reason="paper feed jammed", completion={}, downtime_start=down,
                 downtime_end=down + timedelta(days=2), completed_time=down + timedelta(days=2))
            for i in range(assets) if i % 100 == 7]
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.insert(WorkOrderRow.__table__), rows)
    engine.dispose()
    return len(rows)


def check_usage_sample(fleet_address: str, assets: int) -> None:
    """Fleet's GetUsage on the seeded data answers what the seed implies (rollovers, estimates included)."""
    sample = sorted({3, 7, 50, 503, assets - 1} & set(range(assets)))
    with grpc.insecure_channel(fleet_address) as channel:
        stub = fleet_grpc.FleetServiceStub(channel)
        usages = stub.GetUsage(mpb.GetUsageRequest(
            assets=[f"assets/{_asset_id(i)}" for i in sample], register="mono_impressions",
            start_time=_stamp(datetime(2026, 3, 1, tzinfo=UTC)), end_time=_stamp(datetime(2026, 4, 1, tzinfo=UTC))),
            metadata=METADATA, timeout=60).usages
    for index, usage in zip(sample, usages, strict=True):
        per_day = _per_day(index, "mono_impressions")
        if _stops_reporting(index):  # 26 days read, then 4.75 days at the trailing average
            expected = Decimal(26 * per_day) + Decimal(per_day) * Decimal("4.75")
            assert usage.end.kind == mpb.ENDPOINT_KIND_ESTIMATED, usage
        else:
            expected = Decimal(expected_actual_usage(index, "mono_impressions"))
            assert usage.end.kind == mpb.ENDPOINT_KIND_ACTUAL, usage
        assert Decimal(usage.quantity) == expected, (index, usage.quantity, expected)
        assert usage.rollovers == int(_rolls_over(index)), usage


def _stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


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


def seed_invoicing(stub, assets: int, customers: int) -> None:
    stub.CreateIssuingEntity(pb.CreateIssuingEntityRequest(issuing_entity_id="jp", issuing_entity=pb.IssuingEntity(
        legal_name="Fleetops Japan KK", country_code="JP", invoice_series="INV",
        tax_registration_number="T1234567890123")), metadata=METADATA)
    plans = _plans(stub)
    per_customer = assets // customers

    def contract(customer: int) -> None:
        site = f"customers/c{customer:04d}/sites/hq"
        covered = [cpb.CoveredAsset(asset=f"assets/{_asset_id(customer * per_customer + n)}", site=site,
                                    cost_centre=f"CC-{n % 3}", effective_from=_day(date(2026, 1, 1)))
                   for n in range(per_customer)]
        stub.CreateContract(pb.CreateContractRequest(contract_id=f"k{customer:04d}", contract=cpb.Contract(
            customer=f"customers/c{customer:04d}", plan_version=plans[customer % len(plans)].name,
            issuing_entity="issuingEntities/jp", currency_code="JPY", billing_anchor_day=1,
            start_date=_day(date(2026, 1, 1)), billing_site=site, billing_cost_centre="CC-0", assets=covered)),
            metadata=METADATA, timeout=60)

    with futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(contract, range(customers)))


def measure(assets: int, customers: int) -> dict:
    fleet_metrics, invoicing_metrics = free_port(), free_port()
    with (postgres_database("fleet") as fleet_url, postgres_database("maintenance") as maintenance_url,
          postgres_database("invoicing") as invoicing_url,
          service_process("fleet", fleet_url, metrics_port=fleet_metrics) as fleet,
          service_process("maintenance", maintenance_url, fleet=fleet) as maintenance,
          service_process("invoicing", invoicing_url, metrics_port=invoicing_metrics, fleet=fleet,
                          maintenance=maintenance) as address):
        started = time.perf_counter()
        seed_fleet(fleet_url, assets, customers)
        down = seed_maintenance(maintenance_url, assets, customers)
        check_usage_sample(fleet, assets)
        channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])
        stub = pb_grpc.InvoicingServiceStub(channel)
        seed_invoicing(stub, assets, customers)
        seed_seconds = time.perf_counter() - started
        run = stub.CreateBillingRun(pb.CreateBillingRunRequest(billing_run_id="march", billing_run=bpb.BillingRun(
            period_start=_day(PERIOD))), metadata=METADATA)
        databases = [sqlalchemy.make_url(url).database for url in (fleet_url, maintenance_url, invoicing_url)]
        usage_calls_before, cpu_before = _get_usage(fleet_metrics), cpu_seconds(databases)
        started = time.perf_counter()
        executed = stub.ExecuteBillingRun(pb.ExecuteBillingRunRequest(name=run.name), metadata=METADATA, timeout=900)
        seconds = time.perf_counter() - started
        cpu = {name: used - cpu_before.get(name, 0.0) for name, used in cpu_seconds(databases).items()}
        phases = {dict(labels)["phase"]: value for labels, value in metric_samples(
            invoicing_metrics, "fleetops_invoicing_billing_run_phase_seconds_sum").items()}
        usage_calls = [after - before for after, before in zip(_get_usage(fleet_metrics), usage_calls_before,
                                                                 strict=True)]
        started = time.perf_counter()
        again = stub.ExecuteBillingRun(pb.ExecuteBillingRunRequest(name=run.name), metadata=METADATA, timeout=900)
        again_seconds = time.perf_counter() - started
        channel.close()
    assert len(again.invoices) == len(executed.invoices) == customers
    return {"assets": assets, "customers": customers, "contracts": executed.contract_count,
            "invoices": len(executed.invoices), "estimated_lines": executed.estimated_line_count,
            "assets_down": down, "seed_seconds": round(seed_seconds, 1), "run_seconds": round(seconds, 2),
            "ms_per_asset": round(1000 * seconds / assets, 4),
            "usage_seconds": round(phases["usage"], 2), "usage_share": round(phases["usage"] / seconds, 3),
            **{f"{phase}_seconds": round(phases[phase], 2) for phase in ("inputs", "downtime", "rating", "write")},
            "cpu_seconds": round(sum(cpu.values()), 1),
            "cpu_ms_per_asset": round(1000 * sum(cpu.values()) / assets, 4),
            **{f"cpu_{name.split('.')[1] if '.' in name else name}": round(value, 1) for name, value in sorted(cpu.items())},
            "get_usage_calls": int(usage_calls[1]),
            "get_usage_mean_ms": round(1000 * usage_calls[0] / usage_calls[1], 1) if usage_calls[1] else None,
            "re_execute_seconds": round(again_seconds, 2)}


def _get_usage(metrics_port: int) -> tuple[float, float]:
    """Fleet's server-side GetUsage (total seconds, calls) so far."""
    labels = (("grpc_method", "GetUsage"), ("grpc_service", "fleetops.fleet.v1.FleetService"), ("grpc_type", "unary"))
    total = metric_samples(metrics_port, "grpc_server_handling_seconds_sum").get(labels, 0.0)
    count = metric_samples(metrics_port, "grpc_server_handling_seconds_count").get(labels, 0.0)
    return total, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--customers", type=int, default=1_000)
    args = parser.parse_args()
    rows = [measure(assets, args.customers) for assets in args.assets]
    if len(rows) >= 2:
        for cost in ("ms_per_asset", "cpu_ms_per_asset"):
            growth = rows[-1][cost] / rows[0][cost]
            for row in rows:
                row[f"{cost}_vs_smallest"] = round(row[cost] / rows[0][cost], 3)
            print(f"{cost} grows {100 * (growth - 1):+.1f}% from {rows[0]['assets']} to {rows[-1]['assets']} assets")
    report("invoicing_run", rows)


if __name__ == "__main__":
    main()
