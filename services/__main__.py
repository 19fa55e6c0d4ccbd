"""`python -m services` (what `make run` calls): all three services, each in its own process.

Waits until every service reports SERVING, prints how to call them, and on Ctrl-C or SIGTERM lets
each service drain within its grace period, then exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.config import load_config

SERVICES = ("fleet", "maintenance", "invoicing")
STARTUP_TIMEOUT_SECONDS = 90


def wait_until_serving(port: int, deadline: float) -> bool:
    with grpc.insecure_channel(f"localhost:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return True
            except grpc.RpcError:
                time.sleep(0.2)
    return False


def usage(configs) -> str:
    lines = ["", "fleetops is running:"]
    for config in configs:
        lines.append(f"  {config.service:<12} gRPC localhost:{config.grpc_port}   metrics http://localhost:{config.metrics_port}/metrics"
                     f"   database {config.database_url}")
    fleet = configs[0].grpc_port
    lines += [
        "",
        "Try it with grpcurl (server reflection is on):",
        f"  grpcurl -plaintext localhost:{fleet} list",
        f"  grpcurl -plaintext -H 'x-fleetops-subject: dev' -H 'x-fleetops-roles: admin' -d '{{\"customer_id\": \"acme\", \"customer\": "
        f"{{\"legal_name\": \"Acme KK\", \"currency_code\": \"JPY\"}}}}' localhost:{fleet} fleetops.fleet.v1.FleetService/CreateCustomer",
        f"  grpcurl -plaintext -H 'x-fleetops-subject: dev' -H 'x-fleetops-roles: viewer' localhost:{fleet} fleetops.fleet.v1.FleetService/ListCustomers",
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def take_terminal_foreground() -> tuple[int, int] | None:
    """Makes Ctrl-C reach only this launcher and the services, not `make` above it.

    make turns a Ctrl-C it receives itself into exit status 130 even when its recipe exits 0; in
    its own foreground process group the launcher decides the exit status.
    """
    if not sys.stdin.isatty():
        return None
    terminal = sys.stdin.fileno()
    previous_group = os.tcgetpgrp(terminal)
    os.setpgid(0, 0)
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    os.tcsetpgrp(terminal, os.getpgrp())
    return terminal, previous_group


def main() -> int:
    foreground = take_terminal_foreground()
    try:
        return run_services()
    finally:
        if foreground is not None:
            os.tcsetpgrp(*foreground)


def run_services() -> int:
    configs = [load_config(name) for name in SERVICES]
    processes = [subprocess.Popen([sys.executable, "-m", f"services.{name}.main"]) for name in SERVICES]
    stopping = False

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    if all(wait_until_serving(c.grpc_port, deadline) for c in configs):
        print(usage(configs), flush=True)
    elif not stopping:
        print("fleetops: a service did not become SERVING; stopping", file=sys.stderr, flush=True)
        stop(signal.SIGTERM, None)
    while any(p.poll() is None for p in processes):
        if not stopping and any(p.poll() not in (None, 0) for p in processes):
            print("fleetops: a service exited; stopping the others", file=sys.stderr, flush=True)
            stop(signal.SIGTERM, None)
        time.sleep(0.2)
    return 0 if stopping and all(p.returncode == 0 for p in processes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
