"""What every benchmark needs: a throw-away PostgreSQL database, service processes, percentiles, output."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import sqlalchemy
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("FLEETOPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
METADATA = (("x-fleetops-subject", "bench"), ("x-fleetops-roles", "admin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextlib.contextmanager
def postgres_database(label: str) -> Iterator[str]:
    name = f"fleetops_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sqlalchemy.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass(frozen=True)
class ServiceHandle:
    address: str  # gRPC, "localhost:<port>"
    pid: int


@contextlib.contextmanager
def running_service(service: str, database_url: str, metrics_port: int | None = None, *, label: str = "",
                    extra_env: dict[str, str] | None = None, root: Path = ROOT, **peers: str) -> Iterator[ServiceHandle]:
    """Runs `python -m services.<service>.main` on free ports (or `metrics_port` for /metrics); yields its
    address and process id once SERVING. `label` tells the logs of several processes of one service
    apart; `extra_env` comes last; `root` is the source tree to run (another revision's, to compare)."""
    port = free_port()
    env = dict(os.environ, FLEETOPS_DEV_AUTH="1", **{
        f"{service.upper()}_DATABASE_URL": database_url, f"{service.upper()}_GRPC_PORT": str(port),
        f"{service.upper()}_METRICS_PORT": str(metrics_port or free_port())},
        **{f"FLEETOPS_{peer.upper()}_ADDRESS": address for peer, address in peers.items()})
    env.update(extra_env or {})
    logs = ROOT / "bench" / "results" / f"{service}{'-' + label if label else ''}.log"
    logs.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-m", f"services.{service}.main"], cwd=root, env=env,
                               stderr=logs.open("w"))
    address = f"localhost:{port}"
    try:
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(600):
                try:
                    if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                        break
                except grpc.RpcError:
                    time.sleep(0.1)
        yield ServiceHandle(address, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            print(f"{service} did not exit within 30 s of SIGTERM (see {logs}); killing it", file=sys.stderr)
            process.kill()
            process.wait()


@contextlib.contextmanager
def service_process(service: str, database_url: str, metrics_port: int | None = None, **options) -> Iterator[str]:
    """Runs `python -m services.<service>.main` on free ports; yields its gRPC address once SERVING."""
    with running_service(service, database_url, metrics_port, **options) as handle:
        yield handle.address


def print_table(rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    widths = {c: max(len(c), *(len(str(row.get(c, ""))) for row in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def report(name: str, rows: list[dict]) -> None:
    """Prints rows as a table and writes them to bench/results/<name>.json."""
    print_table(rows)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(rows, indent=2))


def metric_samples(metrics_port: int, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called `name` on a service's /metrics, keyed by their sorted labels."""
    with urllib.request.urlopen(f"http://localhost:{metrics_port}/metrics", timeout=10) as response:
        body = response.read().decode()
    return {tuple(sorted(sample.labels.items())): sample.value for family in text_string_to_metric_families(body)
            for sample in family.samples if sample.name == name}


def cpu_seconds(database_names: list[str]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by this script's child processes (the services, by
    module) and by the PostgreSQL backends serving `database_names` (summed as "postgresql").

    Unlike wall-clock time this barely moves when other work shares the machine's cores.
    """
    used: dict[str, float] = {}
    for process in Path("/proc").glob("[0-9]*"):
        stat = _stat_of(process)
        if stat is not None and int(stat[1]) == os.getpid():
            command = (process / "cmdline").read_bytes().split(b"\0")
            name = next((part.decode() for part in command if part.startswith(b"services.")), str(process.name))
            used[name] = used.get(name, 0.0) + _cpu_of(stat)
    admin = sqlalchemy.create_engine(ADMIN_URL)
    with admin.connect() as connection:
        backends = connection.execute(sqlalchemy.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY(:names)"), {"names": database_names}).scalars().all()
    admin.dispose()
    used["postgresql"] = sum(_cpu_of(stat) for stat in map(_stat_of, (Path(f"/proc/{pid}") for pid in backends))
                             if stat is not None)
    return used


def _stat_of(process: Path) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state, ppid, ...), or None for something that is not a live process."""
    try:
        text = (process / "stat").read_text()
    except OSError:  # not a process (/proc/net), or one that has just ended
        return None
    return text[text.rindex(")") + 2:].split()


def _cpu_of(stat: list[str]) -> float:
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def import_bench_fleet(fleet_stub, fleet_pb, assets: list[tuple[str, str]]) -> None:
    """Imports the benches' customer "bench" (consenting to data collection), its site "hq" and these
    (asset id, device model id) assets; `fleet_pb` is the fleet service's generated module."""
    rows = ["asset_id,serial_number,device_model_id,customer_id,site_id,acquisition_mode,owner_party,install_date,contract"]
    rows += [f"{asset},SN-{asset},{model},bench,hq,lease,provider,2025-01-01," for asset, model in assets]
    fleet_stub.ImportFleet(fleet_pb.ImportFleetRequest(
        customers_csv="customer_id,legal_name,currency_code,tax_registration_number,data_collection_consent,parent_customer_id\n"
                      "bench,Bench KK,JPY,,yes,\n",
        sites_csv="customer_id,site_id,display_name,address,latitude,longitude,time_zone,service_territory\n"
                  "bench,hq,HQ,,35.6,139.7,Asia/Tokyo,tokyo\n",
        assets_csv="\n".join(rows) + "\n"), metadata=METADATA, timeout=600)
