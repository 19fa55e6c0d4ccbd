"""Meter ingestion throughput and GetUsage latency of the fleet service on PostgreSQL.

Starts the fleet service as its own process on a fresh PostgreSQL database, onboards 10,000 assets
by CSV import, records a month of daily readings in batches of 1,000, then times GetUsage.

    .venv/bin/python bench/fleet_meter_ingest.py [--assets 10000] [--days 30] [--batch 1000]
Prints a table and writes bench/results/fleet_meter_ingest.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from fleetops.fleet.v1 import meters_pb2 as mpb
from fleetops.fleet.v1 import resources_pb2 as res
from google.protobuf import timestamp_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import METADATA, percentile, postgres_database, report, service_process  # noqa: E402


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    with postgres_database("fleet") as url, service_process("fleet", url) as address:
        channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)])
        results = run(pb_grpc.FleetServiceStub(channel), args)
    report("fleet_meter_ingest", [results])


def run(stub: pb_grpc.FleetServiceStub, args) -> dict:
    stub.CreateDeviceModel(pb.CreateDeviceModelRequest(device_model_id="mfp", device_model=res.DeviceModel(
        device_class=res.DEVICE_CLASS_PRINTER, maker="Ricoh", display_name="IM C3000",
        registers=[res.MeterRegister(code="mono_impressions", rollover_at="10000000"),
                   res.MeterRegister(code="colour_impressions", rollover_at="10000000")])), metadata=METADATA)
    assets_csv = ["asset_id,serial_number,device_model_id,customer_id,site_id,acquisition_mode,owner_party,install_date,contract"]
    assets_csv += [f"a{i:06d},SN{i:06d},mfp,bench,hq,lease,provider,2025-01-01," for i in range(args.assets)]
    started = time.perf_counter()
    stub.ImportFleet(pb.ImportFleetRequest(
        customers_csv="customer_id,legal_name,currency_code,tax_registration_number,data_collection_consent,parent_customer_id\n"
                      "bench,Bench KK,JPY,,yes,\n",
        sites_csv="customer_id,site_id,display_name,address,latitude,longitude,time_zone,service_territory\n"
                  "bench,hq,HQ,,35.6,139.7,Asia/Tokyo,tokyo\n",
        assets_csv="\n".join(assets_csv) + "\n"), metadata=METADATA, timeout=600)
    import_seconds = time.perf_counter() - started

    start_day = datetime(2026, 3, 1, 6, tzinfo=UTC)
    readings = [(f"assets/a{i:06d}", day) for day in range(args.days) for i in range(args.assets)]
    batch_seconds: list[float] = []
    accepted = 0
    started = time.perf_counter()
    for offset in range(0, len(readings), args.batch):
        batch = [mpb.MeterReading(asset=asset, register="mono_impressions", value=str(1000 + 120 * day),
                                  read_time=stamp(start_day + timedelta(days=day)), source=mpb.READING_SOURCE_DEVICE)
                 for asset, day in readings[offset:offset + args.batch]]
        t0 = time.perf_counter()
        response = stub.RecordMeterReadings(mpb.RecordMeterReadingsRequest(readings=batch), metadata=METADATA,
                                            timeout=120)
        batch_seconds.append(time.perf_counter() - t0)
        accepted += response.accepted_count
    ingest_seconds = time.perf_counter() - started

    single: list[float] = []
    for i in range(200):
        t0 = time.perf_counter()
        stub.GetUsage(mpb.GetUsageRequest(assets=[f"assets/a{(i * 37) % args.assets:06d}"], register="mono_impressions",
                                          start_time=stamp(start_day), end_time=stamp(start_day + timedelta(days=args.days))),
                      metadata=METADATA, timeout=30)
        single.append(time.perf_counter() - t0)
    batched: list[float] = []
    for i in range(10):
        names = [f"assets/a{(i * 1000 + j) % args.assets:06d}" for j in range(1000)]
        t0 = time.perf_counter()
        stub.GetUsage(mpb.GetUsageRequest(assets=names, register="mono_impressions", start_time=stamp(start_day),
                                          end_time=stamp(start_day + timedelta(days=args.days + 5))),
                      metadata=METADATA, timeout=60)
        batched.append(time.perf_counter() - t0)
    return {
        "assets": args.assets, "days": args.days, "batch": args.batch, "database": "postgresql",
        "import_seconds": round(import_seconds, 2),
        "readings": len(readings), "accepted": accepted, "ingest_seconds": round(ingest_seconds, 2),
        "readings_per_second": round(len(readings) / ingest_seconds),
        "batch_p50_ms": round(1000 * statistics.median(batch_seconds), 1),
        "batch_p99_ms": round(1000 * percentile(batch_seconds, 0.99), 1),
        "get_usage_1_asset_p50_ms": round(1000 * statistics.median(single), 2),
        "get_usage_1_asset_p99_ms": round(1000 * percentile(single, 0.99), 2),
        "get_usage_1000_assets_p50_ms": round(1000 * statistics.median(batched), 1),
        "get_usage_1000_assets_p99_ms": round(1000 * percentile(batched, 0.99), 1),
    }


if __name__ == "__main__":
    main()
