"""Diagnostic ingestion throughput, loss and event-to-work-order latency, on PostgreSQL.

Runs the fleet and maintenance services as their own processes on fresh PostgreSQL databases,
onboards printers, forklifts and servers, then sends batches of 10,000 events in the native
formats (60% printer, 25% forklift, 15% server; 10% of them replays of earlier event ids).
Afterwards it counts the stored events in the database: every unique event exactly once.

    .venv/bin/python bench/maintenance_ingest.py [--events 200000] [--assets 1000] [--callers 2]
Prints a table and writes bench/results/maintenance_ingest.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import METADATA, percentile, postgres_database, report, service_process  # noqa: E402

BATCH = 10_000
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
    rows = ["asset_id,serial_number,device_model_id,customer_id,site_id,acquisition_mode,owner_party,install_date,contract"]
    rows += [f"{asset},SN-{asset},{device_class},bench,hq,lease,provider,2025-01-01," for asset, device_class in plan]
    fleet.ImportFleet(fleet_pb.ImportFleetRequest(
        customers_csv="customer_id,legal_name,currency_code,tax_registration_number,data_collection_consent,parent_customer_id\n"
                      "bench,Bench KK,JPY,,yes,\n",
        sites_csv="customer_id,site_id,display_name,address,latitude,longitude,time_zone,service_territory\n"
                  "bench,hq,HQ,,35.6,139.7,Asia/Tokyo,tokyo\n",
        assets_csv="\n".join(rows) + "\n"), metadata=METADATA, timeout=600)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--assets", type=int, default=1_000)
    parser.add_argument("--callers", type=int, default=2)
    args = parser.parse_args()
    with postgres_database("fleet") as fleet_url, postgres_database("maintenance") as maintenance_url, \
            service_process("fleet", fleet_url) as fleet_address, \
            service_process("maintenance", maintenance_url, fleet=fleet_address) as address:
        fleet = fleet_grpc.FleetServiceStub(grpc.insecure_channel(fleet_address))
        plan = onboard(fleet, args.assets)
        rng = random.Random(7)
        unique_events: list[dpb.DiagnosticEvent] = []
        stream: list[dpb.DiagnosticEvent] = []
        weights = [0.60 if c == "printer" else 0.25 if c == "forklift" else 0.15 for _, c in plan]
        counts = {"printer": sum(c == "printer" for _, c in plan), "forklift": sum(c == "forklift" for _, c in plan),
                  "server": sum(c == "server" for _, c in plan)}
        weights = [w / counts[c] for w, (_, c) in zip(weights, plan, strict=True)]
        for number in range(args.events):
            if unique_events and rng.random() < 0.10:
                stream.append(rng.choice(unique_events))  # a replay
                continue
            asset, device_class = rng.choices(plan, weights)[0]
            event = make_event(number, asset, device_class, rng)
            unique_events.append(event)
            stream.append(event)
        batches = [stream[i:i + BATCH] for i in range(0, len(stream), BATCH)]
        stub = pb_grpc.MaintenanceServiceStub(grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]))
        stub.IngestDiagnostics(dpb.IngestDiagnosticsRequest(events=batches[0][:100]), metadata=METADATA, timeout=300)  # warm-up
        latencies, with_orders = [], []
        totals = {"accepted": 0, "duplicate": 0, "conflict": 0, "rejected": 0}
        lock = threading.Lock()

        def send(batch: list[dpb.DiagnosticEvent]) -> None:
            t0 = time.perf_counter()
            response = stub.IngestDiagnostics(dpb.IngestDiagnosticsRequest(events=batch), metadata=METADATA, timeout=600)
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                if any(r.work_orders for r in response.results):
                    with_orders.append(elapsed)
                for key in totals:
                    totals[key] += getattr(response, f"{key}_count")

        started = time.perf_counter()
        with ThreadPoolExecutor(args.callers) as pool:
            list(pool.map(send, batches))
        seconds = time.perf_counter() - started
        engine = sqlalchemy.create_engine(maintenance_url)
        with engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT count(*) FROM diagnostic_events").scalar()
            orders = connection.exec_driver_sql("SELECT count(*) FROM work_orders").scalar()
        engine.dispose()
    expected = len({e.source_event_id for e in unique_events})
    report("maintenance_ingest", [{
        "events_sent": len(stream), "unique_events": expected, "callers": args.callers, "database": "postgresql",
        "seconds": round(seconds, 2), "events_per_second": round(len(stream) / seconds),
        **totals, "stored_events": stored, "lost_or_doubled": stored - expected, "work_orders": orders,
        "batch_p50_s": round(percentile(latencies, 0.5), 3), "batch_p99_s": round(percentile(latencies, 0.99), 3),
        "event_to_work_order_p50_s": round(percentile(with_orders, 0.5), 3) if with_orders else None,
        "event_to_work_order_p99_s": round(percentile(with_orders, 0.99), 3) if with_orders else None,
    }])


if __name__ == "__main__":
    main()
