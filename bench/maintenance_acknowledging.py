"""The acknowledging replica's Python per diagnostic event, in process: everything but the database.

What IngestDiagnostics does with a batch of 10,000 events besides the transaction: gRPC's parse of
the request, the screening (request limits of each event, ids, asset name, payload kind, replays
inside the batch, the deterministic serialization and its fingerprint), and the answer (each
event's result, the per-format metrics, the response's serialization), with every screened event
settled as accepted, as a store that held none of them answers. The events are
maintenance_ingest.py's (60% printer, 25% forklift DM1, 15% Redfish, 10% replays); each payload
kind is also timed alone, and a mix where 3% of the events break a limit or a rule in assorted
ways (the path that names what is wrong).

    .venv/bin/python bench/maintenance_acknowledging.py [--events 10000] [--assets 1000] [--repeat 7] [--mix NAME]
Prints a table (best of `repeat` CPU seconds per step, µs per event, and a fingerprint of the answer,
the metrics and what would be stored: two code versions that behave the same print the same one) and
writes bench/results/maintenance_acknowledging.json. The garbage collector is set as a service
process sets it (start-up frozen, a large young generation). To compare with another version, run
this file from its tree; for instruction counts, run it under callgrind with `--mix 'weighted mix'`
and `--repeat` 1 and 2: the difference is one batch.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import ROOT, report

sys.path.insert(0, str(ROOT))  # first: maintenance_ingest imports services too, and must find this tree's
from maintenance_ingest import build_stream

import sqlalchemy
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from prometheus_client import CollectorRegistry, Counter

from services.maintenance import ingestion
from services.maintenance.asset_directory import AssetRef, Lookup
from services.maintenance.decoding import payload_kind
from services.maintenance.store import Base
from services.runtime.request_limits import RequestLimits
from services.runtime.server import GC_THRESHOLDS

CLASS_SHARES = {"printer": 0.60, "forklift": 0.25, "server": 0.15}
CONSENTING = AssetRef("assets/a", "customers/c", "", "", "", True, "UTC", ())


def plan_of(assets: int) -> list[tuple[str, str]]:
    """The assets maintenance_ingest.py onboards."""
    return [(f"{device_class}-{i:05d}", device_class) for device_class, share in CLASS_SHARES.items()
            for i in range(int(assets * share))]


def broken(events: list[dpb.DiagnosticEvent], rng: random.Random, share: float) -> list[dpb.DiagnosticEvent]:
    """A copy of the events where `share` of them break a request limit or an ingestion rule."""
    breakages = [
        lambda e: setattr(e, "source", "bus\x00"), lambda e: setattr(e, "source_event_id", "x" * 201),
        lambda e: setattr(e, "source_event_id", "y" * 1100), lambda e: setattr(e, "source", ""),
        lambda e: setattr(e, "asset", "assets/Not_An_Id"), lambda e: setattr(e, "asset", "a" * 2000),
        lambda e: e.ClearField("observe_time"), lambda e: setattr(e.observe_time, "seconds", -70_000_000_000),
        lambda e: setattr(e.observe_time, "nanos", -1), lambda e: e.ClearField(e.WhichOneof("payload")),
        lambda e: e.printer_supply.columns.update({"note": "nul \x00 inside"}),
        lambda e: e.printer_marker.columns.update({"k" * 1025: "1"}),
        lambda e: e.printer_alert_walk.rows.add().columns.update({"prtAlertCode": "9" * 1100}),
        lambda e: e.j1939_message.MergeFrom(dpb.J1939Message(data=b"\x01" * (64 * 1024 + 1))),
        lambda e: e.j1939_frames.candump_lines.extend(["(1.0) can0 18FECA00#00", "bad\x00line"]),
        lambda e: setattr(e, "redfish_event", "{" + " " * 70_000 + "}"),
        lambda e: setattr(e, "redfish_event", '{"Events": []}\x00'),
    ]
    copies = []
    for event in events:
        copy = dpb.DiagnosticEvent()
        copy.CopyFrom(event)
        if rng.random() < share:
            rng.choice(breakages)(copy)
        copies.append(copy)
    return copies


def acknowledge(request: dpb.IngestDiagnosticsRequest, limits: RequestLimits,
                events: Counter) -> tuple[dpb.IngestDiagnosticsResponse, list]:
    """What `Ingestion.ingest` does without the database: every asset consents, and the store held
    none of the events."""
    results = ingestion._Results(len(request.events))
    kinds, candidates = ingestion._screen(request, results, limits)
    known = Lookup({c.asset_id: CONSENTING for c in candidates}, set())
    ingestion._settled(ingestion._admitted(candidates, known, results), {}, results)
    return results.response(request.batch_id, kinds, events), candidates


def fingerprint(answer: bytes, registry: CollectorRegistry, candidates: list) -> str:
    digest = hashlib.sha256(answer)
    for family in registry.collect():
        for sample in sorted(family.samples, key=lambda s: (s.name, sorted(s.labels.items()))):
            if sample.name.endswith("_created"):  # when the series began
                continue
            digest.update(repr((sample.name, sorted(sample.labels.items()), sample.value)).encode())
    for c in candidates:
        digest.update(repr((c.position, c.key, c.asset_id, c.kind, c.observe_time.seconds, c.observe_time.nanos,
                            c.payload, c.fingerprint)).encode())
    return digest.hexdigest()[:12]


def measured(data: bytes, limits: RequestLimits, repeat: int) -> dict:
    """Best of `repeat` CPU seconds of each step for the serialized request `data`."""
    best = {"parse": float("inf"), "screen_and_answer": float("inf"), "serialize_answer": float("inf")}
    for _ in range(repeat):
        registry = CollectorRegistry()
        events = Counter("events_ingested", "", ["format", "result"], registry=registry)
        started = time.process_time()
        request = dpb.IngestDiagnosticsRequest.FromString(data)
        parsed = time.process_time()
        response, candidates = acknowledge(request, limits, events)
        answered = time.process_time()
        response.SerializeToString()  # what gRPC sends
        done = time.process_time()
        for step, seconds in zip(best, (parsed - started, answered - parsed, done - answered), strict=True):
            best[step] = min(best[step], seconds)
    count = len(request.events)
    return {"count": count, **{f"{step}_us": round(1e6 * seconds / count, 2) for step, seconds in best.items()},
            "total_us": round(1e6 * sum(best.values()) / count, 2),
            "fingerprint": fingerprint(response.SerializeToString(deterministic=True), registry, candidates)}


def database_limits() -> RequestLimits:
    """The limits a maintenance replica checks: the column lengths of its tables (here in SQLite)."""
    engine = sqlalchemy.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    limits = RequestLimits.for_database(engine)
    engine.dispose()
    return limits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--assets", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--mix", action="append", help="only this mix (repeatable): 'weighted mix', a payload kind, ...")
    args = parser.parse_args()
    rng = random.Random(7)
    stream, _ = build_stream(plan_of(args.assets), args.events, args.assets, rng)
    limits = database_limits()
    mixes = {"weighted mix": stream, "3% broken": broken(stream, rng, 0.03)}
    for kind in sorted({payload_kind(event) for event in stream}):
        mixes[kind] = [event for event in stream if payload_kind(event) == kind]
    rows = []
    gc.collect()  # the collector as a service process has it (services.runtime.server.run_until_signalled)
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    for name, events in mixes.items():
        if args.mix and name not in args.mix:
            continue
        data = dpb.IngestDiagnosticsRequest(events=events).SerializeToString()
        rows.append({"events": name, **measured(data, limits, args.repeat)})
    report("maintenance_acknowledging", rows)


if __name__ == "__main__":
    main()
