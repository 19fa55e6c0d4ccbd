"""RecordMeterReadings on PostgreSQL as the maintenance service's forwarder sends readings: fleet CPU
and PostgreSQL CPU per reading, this working tree's code beside a baseline's (another git revision).

Each round starts the fleet service from each tree in turn (the order alternates) on a fresh
database, onboards `--assets` printers by CSV import, sends `--warmup` batches untimed, then
`--batches` batches of `--batch` readings in time order (every asset's counter read once per hour,
hour after hour, as the forwarder's outbox holds them). CPU seconds are the fleet process's and its
PostgreSQL backends' over the timed batches: on a shared machine they move less than wall-clock
time. Every answer of the tree under test must equal the baseline's byte for byte. (GetUsage:
bench/fleet_usage.py.)

    .venv/bin/python bench/fleet_meter_ingest.py [--assets 1000] [--batch 5000] [--batches 20] [--rounds 2] [--baseline main]
Prints a table and writes bench/results/fleet_meter_ingest.json. `--baseline ""` measures this tree only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import sqlalchemy
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from fleetops.fleet.v1 import meters_pb2 as mpb
from fleetops.fleet.v1 import resources_pb2 as res
from google.protobuf import timestamp_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import (  # noqa: E402
    METADATA,
    cpu_seconds,
    import_bench_fleet,
    postgres_database,
    report,
    running_service,
)
from fleet_usage import compared_trees, side_by_side  # noqa: E402

FIRST_HOUR = datetime(2026, 3, 1, tzinfo=UTC)
REGISTER = "total_impressions"


def onboard(stub: pb_grpc.FleetServiceStub, assets: int) -> None:
    stub.CreateDeviceModel(pb.CreateDeviceModelRequest(device_model_id="mfp", device_model=res.DeviceModel(
        device_class=res.DEVICE_CLASS_PRINTER, maker="Ricoh", display_name="IM C3000",
        registers=[res.MeterRegister(code=REGISTER, rollover_at="10000000")])), metadata=METADATA)
    import_bench_fleet(stub, pb, [(f"a{i:06d}", "mfp") for i in range(assets)])


def batches(assets: int, size: int, count: int) -> list[mpb.RecordMeterReadingsRequest]:
    """`count` requests of `size` readings: hour by hour, every asset once an hour, counters rising
    by an asset-dependent number of pages (some wrap at the counter's width)."""
    requests = []
    for number in range(count):
        request = mpb.RecordMeterReadingsRequest()
        for position in range(number * size, (number + 1) * size):
            hour, asset = divmod(position, assets)
            reading = request.readings.add(asset=f"assets/a{asset:06d}", register=REGISTER,
                                           value=str((9_990_000 + asset * 7 + hour * (asset % 13)) % 10_000_000),
                                           source=mpb.READING_SOURCE_DEVICE)
            reading.read_time.CopyFrom(stamp(FIRST_HOUR + timedelta(hours=hour)))
        requests.append(request)
    return requests


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


def measure(label: str, root: Path, requests: list[mpb.RecordMeterReadingsRequest], warmup: int, assets: int,
            digests: dict) -> dict:
    with postgres_database("fleet_meters") as url, running_service("fleet", url, label=label, root=root) as fleet, \
            grpc.insecure_channel(fleet.address, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = pb_grpc.FleetServiceStub(channel)
        onboard(stub, assets)
        database = [sqlalchemy.make_url(url).database]
        for request in requests[:warmup]:
            stub.RecordMeterReadings(request, metadata=METADATA, timeout=120)
        load = os.getloadavg()[0]
        before = cpu_seconds(database)
        started = time.perf_counter()
        answers = [stub.RecordMeterReadings(request, metadata=METADATA, timeout=120) for request in requests[warmup:]]
        seconds = time.perf_counter() - started
        after = cpu_seconds(database)
    for index, answer in enumerate(answers):
        digest = hashlib.sha256(answer.SerializeToString(deterministic=True)).hexdigest()
        assert digests.setdefault(index, digest) == digest, f"{label}: answer {index} differs from the baseline's"
    readings = sum(len(request.readings) for request in requests[warmup:])

    def per_reading(name: str) -> float:
        return round(1e6 * (after.get(name, 0.0) - before.get(name, 0.0)) / readings, 1)

    return {"code": label, "load_1min": round(load, 2), "readings": readings,
            "accepted": sum(a.accepted_count for a in answers),
            "fleet_cpu_us_per_reading": per_reading("services.fleet.main"),
            "postgresql_cpu_us_per_reading": per_reading("postgresql"),
            "wall_us_per_reading": round(1e6 * seconds / readings, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", default="main", help="git revision to compare with; empty for none")
    args = parser.parse_args()
    requests = batches(args.assets, args.batch, args.warmup + args.batches)
    digests: dict = {}
    with ExitStack() as stack:
        trees = compared_trees(stack, args.baseline)
        rows = side_by_side(trees, args.rounds,
                            lambda label, root: measure(label, root, requests, args.warmup, args.assets, digests))
    report("fleet_meter_ingest", rows)


if __name__ == "__main__":
    main()
