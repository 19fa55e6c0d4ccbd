"""GetUsage for 1,000 assets a call on PostgreSQL: latency, fleet CPU and PostgreSQL CPU per call,
this working tree's code beside a baseline's (another git revision) on the same seeded database.

The database is seeded as bench/invoicing_run.py seeds fleet (one reading per register per day over
March, 0.2% of assets rolling over, 2% going silent before the end so their end is estimated). Each
round starts the fleet service once from each tree in turn (the order alternates), warms it up, then
times `--calls` GetUsage calls one at a time (the latency a caller sees) and the same calls four at a
time (as invoicing makes them). CPU seconds are the fleet process's and its PostgreSQL backends' over
the calls: on a shared machine they move less than wall-clock time. Every answer of the tree under
test must equal the baseline's byte for byte.

    .venv/bin/python bench/fleet_usage.py [--assets 100000] [--calls 30] [--rounds 2] [--baseline main]
Prints a table and writes bench/results/fleet_usage.json. `--baseline ""` measures this tree only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent import futures
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import grpc
import sqlalchemy
from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import meters_pb2 as mpb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import (
    METADATA,
    ROOT,
    cpu_seconds,
    percentile,
    postgres_database,
    report,
    running_service,
)
from invoicing_run import _asset_id, _stamp, seed_fleet

BATCH = 1000
PARALLEL = 4
START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)


def requests(assets: int, calls: int) -> list[mpb.GetUsageRequest]:
    """`calls` requests of 1,000 consecutive assets each (as invoicing batches them), cycling over the fleet."""
    blocks = max(1, assets // BATCH)
    return [mpb.GetUsageRequest(
        assets=[f"assets/{_asset_id(i)}" for i in range((n % blocks) * BATCH, min(assets, (n % blocks + 1) * BATCH))],
        register="mono_impressions", start_time=_stamp(START), end_time=_stamp(END)) for n in range(calls)]


def measure(label: str, root: Path, url: str, batch: list[mpb.GetUsageRequest], digests: dict) -> dict:
    database = [sqlalchemy.make_url(url).database]
    with running_service("fleet", url, label=label, root=root) as fleet, \
            grpc.insecure_channel(fleet.address, options=[("grpc.max_receive_message_length", 64 << 20)]) as channel:
        stub = fleet_grpc.FleetServiceStub(channel)

        def call(request: mpb.GetUsageRequest) -> tuple[float, bytes]:
            started = time.perf_counter()
            response = stub.GetUsage(request, metadata=METADATA, timeout=120)
            return time.perf_counter() - started, response.SerializeToString()

        for request in batch[:3]:
            call(request)
        load = os.getloadavg()[0]
        before = cpu_seconds(database)
        answers = [call(request) for request in batch]
        serial = cpu_seconds(database)
        started = time.perf_counter()
        with futures.ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(call, batch))
        parallel_seconds = time.perf_counter() - started
        after = cpu_seconds(database)
    for index, (_, body) in enumerate(answers):
        digest = hashlib.sha256(body).hexdigest()
        assert digests.setdefault(index, digest) == digest, f"{label}: answer {index} differs from the baseline's"
    seconds = [s for s, _ in answers]

    def per_call(name: str, start: dict, end: dict) -> float:
        return round(1000 * (end.get(name, 0.0) - start.get(name, 0.0)) / len(batch), 1)

    return {"code": label, "load_1min": round(load, 2), "calls": len(batch),
            "latency_p50_ms": round(1000 * statistics.median(seconds), 1),
            "latency_p90_ms": round(1000 * percentile(seconds, 0.9), 1),
            "fleet_cpu_ms_per_call": per_call("services.fleet.main", before, serial),
            "postgresql_cpu_ms_per_call": per_call("postgresql", before, serial),
            f"parallel{PARALLEL}_ms_per_call": round(1000 * parallel_seconds / len(batch), 1),
            f"parallel{PARALLEL}_fleet_cpu_ms_per_call": per_call("services.fleet.main", serial, after),
            "response_bytes": round(statistics.mean(len(b) for _, b in answers))}


def compared_trees(stack: ExitStack, baseline: str) -> list[tuple[str, Path]]:
    """(label, source tree) to run side by side: the baseline revision's first (unpacked into a
    directory `stack` removes), then this tree; only this tree when `baseline` is empty."""
    trees = [("this tree", ROOT)]
    if baseline:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleetops-baseline-")))
        trees.insert(0, (f"baseline {baseline}", exported(baseline, scratch)))
    return trees


def side_by_side(trees: list[tuple[str, Path]], rounds: int, measure_one) -> list[dict]:
    """`measure_one(label, tree)` for every tree in each round, in alternating order so neither always
    runs first on a noisy machine; the rows (each with its "code" label), then each tree's median."""
    rows = []
    for round_index in range(rounds):
        for label, root in (trees if round_index % 2 == 0 else trees[::-1]):
            rows.append({"round": round_index + 1, **measure_one(label, root)})
            print(rows[-1], flush=True)
    for label, _ in trees:
        mine = [row for row in rows if row["code"] == label]
        rows.append({"round": "median", "code": label, **{key: round(statistics.median(row[key] for row in mine), 2)
                                                          for key in mine[0] if key not in ("round", "code")}})
    return rows


def exported(revision: str, into: Path) -> Path:
    """The tree of a git revision, unpacked (it runs with this tree's environment and generated code)."""
    archive = into / "tree.tar"
    subprocess.run(["git", "archive", "--output", str(archive), revision], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", default="main", help="git revision to compare with; empty for none")
    args = parser.parse_args()
    batch = requests(args.assets, args.calls)
    digests: dict = {}
    with ExitStack() as stack:
        trees = compared_trees(stack, args.baseline)
        url = stack.enter_context(postgres_database("fleet_usage"))
        with running_service("fleet", url, label="migrate", root=trees[0][1]):  # the schema, by the service itself
            pass
        started = time.perf_counter()
        seed_fleet(url, args.assets, min(args.customers, args.assets))
        print(f"seeded {args.assets} assets in {time.perf_counter() - started:.0f} s", flush=True)
        rows = side_by_side(trees, args.rounds, lambda label, root: measure(label, root, url, batch, digests))
    report("fleet_usage", rows)


if __name__ == "__main__":
    main()
