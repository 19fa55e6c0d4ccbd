"""Diagnostic ingestion on PostgreSQL: acknowledgement, processing, latency, loss.

Runs the fleet service and two maintenance processes on fresh PostgreSQL databases: an "ingest"
replica that only acknowledges (MAINTENANCE_BACKGROUND_PROCESSING=0) and a "worker" replica that
processes the backlog. It onboards printers, forklifts and servers and sends batches of 10,000
events in the native formats (60% printer, 25% forklift, 15% server; 10% of them replays of
earlier event ids). Phases, one after the other on this one machine:

1. steady: `--steady-rate` events/s for `--steady-seconds` through the ingest replica while the worker
   processes: event-to-work-order latency (receive to the work order committed) from the worker's
   `fleetops_maintenance_event_to_work_order_seconds` histogram (interpolated in its buckets, as
   Prometheus' histogram_quantile does).
2. acknowledgement: the worker is stopped; the bulk stream is acknowledged with 1 caller, then
   with `--callers` callers: durable acknowledged events/s.
3. processing: the worker (or `--workers` worker replicas) starts again and drains the backlog:
   processed events/s, and the CPU seconds it took (worker, fleet service and their PostgreSQL backends).
4. sustained: `--workers` worker replicas run while `--sustain-rate` events/s are offered for
   `--sustain-seconds` through the ingest replica, acknowledgement and processing sharing the two
   cores: events acknowledged/s, events processed/s in that window, and what was still pending.
5. loss: every unique event of the stream stored exactly once, and none left pending.

    .venv/bin/python bench/maintenance_ingest.py [--events 200000] [--assets 1000] [--callers 4] [--workers 1]
        [--phases acknowledge]  (a subset of steady,acknowledge,process,sustain while iterating; the count always runs)
Prints a table and writes bench/results/maintenance_ingest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import pstats
import random
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import sqlalchemy
from fleetops.fleet.v1 import fleet_service_pb2 as fleet_pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import resources_pb2 as fleet_res
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as pb_grpc
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import (
    METADATA,
    cpu_seconds,
    free_port,
    import_bench_fleet,
    percentile,
    postgres_database,
    report,
    service_process,
)

from services.maintenance.ingestion import BACKGROUND_PROCESSING_VARIABLE

BATCH = 10_000
# How often the sustained phase counts the events pending while it offers.
BACKLOG_SAMPLE_SECONDS = 10
START = datetime(2026, 3, 1, tzinfo=UTC)
DM1_WITH_DTC = bytes.fromhex("40FF5B000301FFFF")
DM1_CLEAR = bytes.fromhex("00FF00000000FFFF")


def onboard(fleet: fleet_grpc.FleetServiceStub, assets: int) -> list[tuple[str, str]]:
    classes = [("printer", 0.60), ("forklift", 0.25), ("server", 0.15)]
    registers = {"printer": "total_impressions", "forklift": "operating_hours", "server": "compute_hours"}
    for device_class, _ in classes:
        fleet.CreateDeviceModel(fleet_pb.CreateDeviceModelRequest(device_model_id=device_class, device_model=fleet_res.DeviceModel(
            device_class=getattr(fleet_res, f"DEVICE_CLASS_{device_class.upper()}"), maker="Bench", display_name=device_class,
            registers=[fleet_res.MeterRegister(code=registers[device_class])])), metadata=METADATA)
    plan = [(f"{c[0]}-{i:05d}", c[0]) for c in classes for i in range(int(assets * c[1]))]
    import_bench_fleet(fleet, fleet_pb, plan)
    return plan


def make_event(number: int, asset: str, device_class: str, rng: random.Random) -> dpb.DiagnosticEvent:
    event = dpb.DiagnosticEvent(source="bench", source_event_id=f"e{number}", asset=f"assets/{asset}")
    event.observe_time.FromDatetime(START + timedelta(seconds=number))
    if device_class == "printer":
        kind = rng.random()
        if kind < 0.4:
            level = rng.randint(5, 200)
            event.printer_supply.columns.update({"prtMarkerSuppliesIndex": "1", "prtMarkerSuppliesType": "3",
                                                 "prtMarkerSuppliesMaxCapacity": "200", "prtMarkerSuppliesLevel": str(level)})
        elif kind < 0.7:
            event.printer_marker.columns.update({"prtMarkerIndex": "1", "prtMarkerLifeCount": str(10_000 + number),
                                                 "prtMarkerCounterUnit": "7"})
        else:
            event.printer_alert.columns.update({
                "prtAlertIndex": str(rng.randint(1, 3)), "prtAlertSeverityLevel": "3",
                "prtAlertTrainingLevel": rng.choice(["3", "5"]), "prtAlertGroup": "13", "prtAlertGroupIndex": "1",
                "prtAlertLocation": "5", "prtAlertCode": rng.choice(["8", "9", "808"]),
                "prtAlertDescription": "jam", "prtAlertTime": str(number)})
    elif device_class == "forklift":
        event.j1939_message.CopyFrom(dpb.J1939Message(pgn=65226, source_address=0,
                                                      data=DM1_WITH_DTC if rng.random() < 0.7 else DM1_CLEAR))
    else:
        message = rng.choice([("ResourceEvent.1.4.ResourceErrorsDetected", "Warning"),
                              ("ResourceEvent.1.4.ResourceErrorsCorrected", "OK")])
        event.redfish_event = json.dumps({"Events": [{
            "EventType": "Alert", "EventId": str(number), "MessageId": message[0], "MessageArgs": ["CPU1", "ECC"],
            "MessageSeverity": message[1], "EventTimestamp": (START + timedelta(seconds=number)).isoformat(),
            "OriginOfCondition": {"@odata.id": "/redfish/v1/Systems/1/Processors/CPU1"}}]})
    return event


def build_stream(plan: list[tuple[str, str]], count: int, first_number: int,
                 rng: random.Random) -> tuple[list[dpb.DiagnosticEvent], int]:
    """`count` events over the plan's assets (by the class mix), 10% replays; and how many are unique."""
    weights = [0.60 if c == "printer" else 0.25 if c == "forklift" else 0.15 for _, c in plan]
    per_class = {c: sum(1 for _, k in plan if k == c) for _, c in plan}
    weights = [w / per_class[c] for w, (_, c) in zip(weights, plan, strict=True)]
    unique: list[dpb.DiagnosticEvent] = []
    stream: list[dpb.DiagnosticEvent] = []
    for number in range(first_number, first_number + count):
        if unique and rng.random() < 0.10:
            stream.append(rng.choice(unique))  # a replay
            continue
        asset, device_class = rng.choices(plan, weights)[0]
        event = make_event(number, asset, device_class, rng)
        unique.append(event)
        stream.append(event)
    return stream, len(unique)


def histogram_quantile(text: str, name: str, share: float) -> float | None:
    """Prometheus' histogram_quantile over one unlabelled histogram of a /metrics page."""
    buckets = sorted((float(sample.labels["le"]), sample.value) for family in text_string_to_metric_families(text)
                     for sample in family.samples if sample.name == f"{name}_bucket")
    if not buckets or buckets[-1][1] == 0:
        return None
    rank, previous_bound, previous_count = share * buckets[-1][1], 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / max(count - previous_count, 1e-9)
        previous_bound, previous_count = bound, count
    return None


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def pending(engine: sqlalchemy.Engine) -> int:
    """Events queued (an entry of the queue holds an asset's events of one acknowledgement)."""
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT coalesce(sum(event_count), 0) FROM event_queue").scalar()


def any_pending(engine: sqlalchemy.Engine) -> bool:
    """Cheaper than `pending` while events wait: polling with a count cost about 40 ms of the
    database's CPU per poll at 200k events, charged to the processing being measured."""
    with engine.connect() as connection:
        return connection.exec_driver_sql(
            "SELECT EXISTS (SELECT FROM event_queue)").scalar()


def queue_state(connection: sqlalchemy.Connection) -> tuple[dict[str, int], int]:
    """Events by status as callers see them (store_ingest.EventStatus: pending while queued, and
    `acknowledged` events that left the queue are processed), an event queued twice counting twice;
    and what is wrong with the queue itself: queued events that are not stored, or not under their
    own asset, and entries whose event count is not the number of events they hold."""
    # The events the entries hold, as a table (SQL cannot read them in the entries' serialized requests).
    connection.exec_driver_sql("CREATE TEMP TABLE queued_events (entry_id bigint, asset_id text, source text,"
                               " source_event_id text) ON COMMIT DROP")
    keys = [dict(entry_id=entry_id, asset_id=asset_id, source=event.source, source_event_id=event.source_event_id)
            for entry_id, asset_id, events in connection.exec_driver_sql("SELECT id, asset_id, events FROM event_queue")
            for event in dpb.IngestDiagnosticsRequest.FromString(events).events]
    if keys:
        connection.execute(sqlalchemy.text("INSERT INTO queued_events VALUES (:entry_id, :asset_id, :source,"
                                           " :source_event_id)"), keys)
    # Without statistics the planner guesses the temporary table small and joins it by nested loop:
    # with a backlog of 270,000 events the count ran for minutes.
    connection.exec_driver_sql("ANALYZE queued_events")
    by_status = dict(connection.exec_driver_sql(
        "SELECT CASE WHEN q.source IS NOT NULL THEN 'pending' WHEN e.status = 'acknowledged' THEN 'processed'"
        " ELSE e.status END, count(*) FROM diagnostic_events AS e"
        " LEFT JOIN queued_events AS q ON q.source = e.source AND q.source_event_id = e.source_event_id"
        " GROUP BY 1").all())
    orphaned = connection.exec_driver_sql(
        "SELECT count(*) FROM queued_events AS q WHERE NOT EXISTS (SELECT FROM diagnostic_events AS e"
        " WHERE e.source = q.source AND e.source_event_id = q.source_event_id AND e.asset_id = q.asset_id)").scalar()
    miscounted = connection.exec_driver_sql(  # one pass over each table: a count per entry was quadratic
        "SELECT count(*) FROM event_queue AS entry LEFT JOIN (SELECT entry_id, count(*) AS held FROM queued_events"
        " GROUP BY entry_id) AS q ON q.entry_id = entry.id WHERE entry.event_count <> coalesce(q.held, 0)").scalar()
    return by_status, orphaned + miscounted


def wait_drained(engine: sqlalchemy.Engine, limit_seconds: float) -> float:
    """Seconds until no event is pending (polled every 0.2 s)."""
    started = time.perf_counter()
    while any_pending(engine) and time.perf_counter() - started < limit_seconds:
        time.sleep(0.2)
    return time.perf_counter() - started


def acknowledge(stub, batches: list[list[dpb.DiagnosticEvent]], callers: int) -> tuple[float, dict, list[float]]:
    """Sends the batches with `callers` concurrent callers: seconds, outcome totals, per-batch latency."""
    totals = {"accepted": 0, "duplicate": 0, "conflict": 0, "rejected": 0}
    latencies: list[float] = []
    lock = threading.Lock()

    def send(batch: list[dpb.DiagnosticEvent]) -> None:
        t0 = time.perf_counter()
        response = stub.IngestDiagnostics(dpb.IngestDiagnosticsRequest(events=batch), metadata=METADATA, timeout=600)
        with lock:
            latencies.append(time.perf_counter() - t0)
            for key in totals:
                totals[key] += getattr(response, f"{key}_count")

    started = time.perf_counter()
    with ThreadPoolExecutor(callers) as pool:
        list(pool.map(send, batches))
    return time.perf_counter() - started, totals, latencies


def offer(stub, engine: sqlalchemy.Engine, events: list[dpb.DiagnosticEvent], rate: int,
          callers: int) -> tuple[dict, dict, list[float], int]:
    """Sends the events in batches at `rate` events/s (a batch is not sent before its time; late
    batches go at once) with `callers` concurrent callers; the window's timings (with the events
    pending every BACKLOG_SAMPLE_SECONDS: processing keeps up when they stop growing), outcome
    totals, per-batch latency, and the events still pending when the last batch was acknowledged."""
    totals = {"accepted": 0, "duplicate": 0, "conflict": 0, "rejected": 0}
    latencies: list[float] = []
    lock = threading.Lock()
    backlog: list[int] = []
    offering = threading.Event()
    offering.set()

    def sample_backlog() -> None:
        while offering.is_set():
            time.sleep(BACKLOG_SAMPLE_SECONDS)
            if offering.is_set():
                backlog.append(pending(engine))

    sampler = threading.Thread(target=sample_backlog, daemon=True)
    sampler.start()
    started = time.perf_counter()

    def send(number: int) -> None:
        time.sleep(max(0.0, started + number * BATCH / rate - time.perf_counter()))
        t0 = time.perf_counter()
        response = stub.IngestDiagnostics(dpb.IngestDiagnosticsRequest(events=events[number * BATCH:(number + 1) * BATCH]),
                                          metadata=METADATA, timeout=600)
        with lock:
            latencies.append(time.perf_counter() - t0)
            for key in totals:
                totals[key] += getattr(response, f"{key}_count")

    with ThreadPoolExecutor(callers) as pool:
        list(pool.map(send, range((len(events) + BATCH - 1) // BATCH)))
    acknowledged_in = time.perf_counter() - started
    offering.clear()
    left = pending(engine)
    sampler.join()
    return ({"seconds": time.perf_counter() - started, "acknowledged_in": acknowledged_in, "backlog": backlog},
            totals, latencies, left)


@contextlib.contextmanager
def worker_replicas(count: int, maintenance_url: str, fleet_address: str) -> Iterator[None]:
    """`count` maintenance processes that process the backlog (the ingest replica only acknowledges)."""
    with contextlib.ExitStack() as stack:
        for number in range(count):
            stack.enter_context(service_process("maintenance", maintenance_url, label=f"worker-{number}",
                                                fleet=fleet_address))
        yield


def _workers(count: int) -> str:
    return f"{count} worker{'s' if count > 1 else ''}"


def profiled_drain(maintenance_url: str, fleet_address: str) -> float:
    """Drains the backlog with an event processor in this process, under cProfile; seconds taken."""
    from services.maintenance.asset_directory import AssetDirectory
    from services.maintenance.domain.diagnostics import load_catalogues, load_registry_bundle
    from services.maintenance.orders import OrderDesk
    from services.maintenance.processing import EventProcessor
    from services.runtime.config import load_config
    from services.runtime.db import Database
    from services.runtime.metrics import GrpcServerMetrics
    from services.runtime.pagination import PageTokens
    from services.runtime.server import Runtime

    config = load_config("maintenance", database_url=maintenance_url, development_auth=True,
                         peers={"fleet": fleet_address, "invoicing": "localhost:1"})
    runtime = Runtime(config, Database(maintenance_url), PageTokens(b"bench"), GrpcServerMetrics.create())
    processor = EventProcessor(runtime, AssetDirectory(config), OrderDesk(runtime), load_catalogues(),
                               load_registry_bundle(), after_commit=lambda: None, background=False)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.runcall(processor.drain)
    seconds = time.perf_counter() - started
    pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    runtime.database.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--assets", type=int, default=1_000)
    parser.add_argument("--callers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="worker replicas draining the backlog side by side")
    parser.add_argument("--steady-rate", type=int, default=500, help="events/s in the latency phase")
    parser.add_argument("--steady-seconds", type=int, default=20)
    parser.add_argument("--sustain-rate", type=int, default=20_000, help="events/s offered in the sustained phase")
    parser.add_argument("--sustain-seconds", type=int, default=30)
    parser.add_argument("--phases", default="steady,acknowledge,process,sustain",
                        type=lambda value: set(value.split(",")), help="the phases to run, comma separated")
    parser.add_argument("--profile", action="store_true",
                        help="drain the backlog in this process under cProfile and print where the time goes")
    args = parser.parse_args()
    rng = random.Random(7)
    rows = []

    def note(row: dict) -> None:  # printed as each phase ends: a long run that is cut short still says something
        rows.append(row)
        print(json.dumps(row), flush=True)

    with postgres_database("fleet") as fleet_url, postgres_database("maintenance") as maintenance_url, \
            service_process("fleet", fleet_url) as fleet_address, \
            service_process("maintenance", maintenance_url, label="ingest", fleet=fleet_address,
                            extra_env={BACKGROUND_PROCESSING_VARIABLE: "0"}) as address:
        engine = sqlalchemy.create_engine(maintenance_url)
        plan = onboard(fleet_grpc.FleetServiceStub(grpc.insecure_channel(fleet_address)), args.assets)
        stub = pb_grpc.MaintenanceServiceStub(grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]))
        # Warm-up: every asset described once (the ingest replica asks the fleet service the first time).
        # Warm-up, steady load and bulk stream are numbered in the order they are sent, so each asset's
        # page counts rise in time. (The warm-up used to be observed months after the stream: every
        # later page count was a late reading the fleet service had to restate.)
        warm_up = [make_event(i, asset, device_class, rng) for i, (asset, device_class) in enumerate(plan)]
        for event in warm_up:
            event.source = "warm-up"
        stub.IngestDiagnostics(dpb.IngestDiagnosticsRequest(events=warm_up, wait_for_processing=True),
                               metadata=METADATA, timeout=600)

        # 1. steady load while the worker processes: latency
        steady, steady_unique = build_stream(plan, args.steady_rate * args.steady_seconds, len(plan), rng)
        if "steady" not in args.phases:
            steady, steady_unique = [], 0  # built all the same: the later phases see the same random stream
        else:
            worker_metrics = free_port()
            with service_process("maintenance", maintenance_url, label="worker", fleet=fleet_address,
                                 metrics_port=worker_metrics):
                slice_size = max(1, args.steady_rate // 5)
                started = time.perf_counter()
                for number, offset in enumerate(range(0, len(steady), slice_size)):
                    time.sleep(max(0.0, started + number * 0.2 - time.perf_counter()))
                    stub.IngestDiagnostics(dpb.IngestDiagnosticsRequest(events=steady[offset:offset + slice_size]),
                                           metadata=METADATA, timeout=60)
                wait_drained(engine, 600)
                steady_seconds = time.perf_counter() - started
                page = scrape(worker_metrics)
            name = "fleetops_maintenance_event_to_work_order_seconds"
            p50, p99 = histogram_quantile(page, name, 0.5), histogram_quantile(page, name, 0.99)
            routed = sum(s.value for f in text_string_to_metric_families(page) for s in f.samples if s.name == f"{name}_count")
            note({"phase": "steady load, processed while acknowledged", "callers": 1, "events": len(steady),
                         "unique": steady_unique, "seconds": round(steady_seconds, 2),
                         "events_per_second": round(len(steady) / steady_seconds),
                         "event_to_work_order_p50_s": round(p50, 3) if p50 is not None else None,
                         "event_to_work_order_p99_s": round(p99, 3) if p99 is not None else None,
                         "newly_routed_events": int(routed)})

        # 2. acknowledgement only (no processor running)
        stream, unique = build_stream(plan, args.events, len(plan) + args.steady_rate * args.steady_seconds, rng)
        if "acknowledge" not in args.phases:
            stream, unique = [], 0
        batches = [stream[i:i + BATCH] for i in range(0, len(stream), BATCH)]
        half = max(1, len(batches) // 2)
        totals = {"accepted": 0, "duplicate": 0, "conflict": 0, "rejected": 0}
        databases = [sqlalchemy.make_url(url).database for url in (maintenance_url, fleet_url)]
        for callers, part in [(c, p) for c, p in ((1, batches[:half]), (args.callers, batches[half:])) if p]:
            before = cpu_seconds(databases)
            seconds, counted, latencies = acknowledge(stub, part, callers)
            # The ingest replica is the only maintenance process in this phase.
            cpu = {name: used - before.get(name, 0.0) for name, used in cpu_seconds(databases).items()
                   if name in ("services.maintenance.main", "postgresql")}
            sent = sum(len(b) for b in part)
            totals = {k: totals[k] + counted[k] for k in totals}
            note({"phase": "acknowledge (durable)", "callers": callers, "events": sent,
                         "seconds": round(seconds, 2), "events_per_second": round(sent / seconds),
                         "batch_p50_s": round(percentile(latencies, 0.5), 3),
                         "batch_p99_s": round(percentile(latencies, 0.99), 3), **counted,
                         **{f"cpu_s_{name.removeprefix('services.').removesuffix('.main')}": round(used, 2)
                            for name, used in cpu.items()},
                         **{f"cpu_us_per_event_{name.removeprefix('services.').removesuffix('.main')}":
                            round(1e6 * used / sent, 1) for name, used in cpu.items()}})

        # 3. processing the backlog
        backlog = timed = pending(engine)
        if "process" in args.phases and backlog:
            cpu: dict[str, float] = {}
            if args.profile:
                drain_seconds = profiled_drain(maintenance_url, fleet_address)
            else:
                # The fleet service's share too: page counters become its meter readings.
                databases = [sqlalchemy.make_url(url).database for url in (maintenance_url, fleet_url)]
                with worker_replicas(args.workers, maintenance_url, fleet_address):
                    before = cpu_seconds(databases)
                    timed = pending(engine)  # the workers started on the backlog as each came up
                    drain_seconds = wait_drained(engine, 3600)
                    cpu = {name: used - before.get(name, 0.0) for name, used in cpu_seconds(databases).items()
                           if name in ("services.maintenance.main", "services.fleet.main", "postgresql")}
            # CPU seconds barely move when other work shares the cores; wall-clock events/s do.
            note({"phase": f"process backlog ({_workers(args.workers)})", "events": backlog,
                  # None: the first workers drained the backlog before the last one was up (too small a backlog).
                  "timed_events": timed, "seconds": round(drain_seconds, 2),
                  "events_per_second": round(timed / drain_seconds) if timed else None,
                  **{f"cpu_s_{name.removeprefix('services.').removesuffix('.main')}": round(used, 1)
                     for name, used in cpu.items()},
                  **({"events_per_cpu_second": round(timed / sum(cpu.values()))} if cpu and timed else {})})

        # 4. sustained: load offered at a set rate while the workers process, all on this machine
        sustain, sustain_unique = build_stream(plan, args.sustain_rate * args.sustain_seconds,
                                               len(plan) + args.steady_rate * args.steady_seconds + args.events, rng)
        if "sustain" not in args.phases:
            sustain, sustain_unique = [], 0
        else:
            databases = [sqlalchemy.make_url(url).database for url in (maintenance_url, fleet_url)]
            with worker_replicas(args.workers, maintenance_url, fleet_address):
                wait_drained(engine, 3600)
                before, client_before = cpu_seconds(databases), time.process_time()
                offered, counted, latencies, left = offer(stub, engine, sustain, args.sustain_rate, args.callers)
                drained = wait_drained(engine, 3600)
                cpu = {name: used - before.get(name, 0.0) for name, used in cpu_seconds(databases).items()
                       if name in ("services.maintenance.main", "services.fleet.main", "postgresql")}
                cpu["bench"] = time.process_time() - client_before
            window = offered["seconds"]
            note({"phase": f"sustained offer ({_workers(args.workers)})",
                  "callers": args.callers, "events": len(sustain), "offered_per_second": args.sustain_rate,
                  "seconds": round(window, 2), "acknowledged_per_second": round(len(sustain) / offered["acknowledged_in"]),
                  "processed_per_second": round((counted["accepted"] - left) / window), "pending_at_end": left,
                  f"pending_every_{BACKLOG_SAMPLE_SECONDS}_s": offered["backlog"],
                  "drained_after_s": round(drained, 1), "batch_p50_s": round(percentile(latencies, 0.5), 3),
                  "batch_p99_s": round(percentile(latencies, 0.99), 3), **counted,
                  # From the first batch offered until the last event was processed: every event both
                  # acknowledged and processed, so 2 cores / this is the rate this machine can sustain.
                  **{f"cpu_s_{name.removeprefix('services.').removesuffix('.main')}": round(used, 1)
                     for name, used in cpu.items()},
                  "cpu_us_per_event": round(1e6 * sum(cpu.values()) / max(counted["accepted"], 1), 1)})
            totals = {k: totals[k] + counted[k] for k in totals}

        # 5. loss: every unique event once, none pending
        with engine.begin() as connection:
            stored = connection.exec_driver_sql(
                "SELECT count(*) FROM diagnostic_events WHERE source = 'bench'").scalar()
            by_status, orphaned = queue_state(connection)
            orders = connection.exec_driver_sql("SELECT count(*) FROM work_orders").scalar()
            # Never two open orders for one asset and fault family.
            doubled_orders = connection.exec_driver_sql(
                "SELECT count(*) FROM (SELECT o.asset_id, f.family FROM work_orders AS o,"
                " json_array_elements_text(o.families) AS f(family)"
                " WHERE o.state NOT IN ('completed', 'cancelled') GROUP BY o.asset_id, f.family"
                " HAVING count(*) > 1) AS doubled").scalar()
        engine.dispose()
    expected = steady_unique + unique + sustain_unique
    note({"phase": "count", "events": len(steady) + len(stream) + len(sustain), "unique": expected, "stored": stored,
                 "lost_or_doubled": stored - expected, **totals, "status": by_status, "queue_orphans": orphaned, "work_orders": orders,
                 "open_orders_doubled_per_asset_and_family": doubled_orders})
    report("maintenance_ingest", rows)


if __name__ == "__main__":
    main()
