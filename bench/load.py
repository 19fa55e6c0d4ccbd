"""Load: a realistic mix of calls against the three services at a target rate, on PostgreSQL.

Starts fleet, maintenance and invoicing as their own processes on fresh PostgreSQL databases (or
drives services already running on this machine: --fleet/--maintenance/--invoicing; loopback
addresses only, anything else is refused), seeds a fleet under run-unique ids (customers and sites,
printers, forklifts and servers with two months of meter readings, technicians, contracts and a
billed, finalized month), then starts actions at --rate per second (open loop, at most
--concurrency in flight) until --duration seconds or --requests actions, whichever comes first:

  technicians  ListMyWorkOrders, then Accept / StartTravel / ArriveOnSite / Complete on their orders;
               a dispatcher creates, schedules and dispatches orders for them (three calls, one action)
  ingestion    IngestDiagnostics: a customer's on-site collector sends 100 events in the native
               formats (5% sent before)
  reads        GetAsset, ListAssets, GetUsage, ListWorkOrders, ListAlarms, ListInvoices, GetInvoice

Reports per RPC: calls, throughput, p50/p99 latency (over every call) and the error ratio with the
codes seen. `--soak 300` runs five minutes and adds each service's resident memory (RSS) at the
start and the end of the drive and every minute, of its process alone and with its solver workers.

    .venv/bin/python bench/load.py [--rate 40] [--duration 30] [--requests 100000] [--concurrency 32]
    .venv/bin/python bench/load.py --soak 300
Prints tables and writes bench/results/load.json (load_soak.json for a soak).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import random
import socket
import sys
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import grpc
from fleetops.fleet.v1 import fleet_service_pb2 as fpb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import meters_pb2 as meters
from fleetops.fleet.v1 import resources_pb2 as fres
from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import contracts_pb2 as cpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as ipb
from fleetops.invoicing.v1 import invoicing_service_pb2_grpc as invoicing_grpc
from fleetops.invoicing.v1 import plans_pb2 as ppb
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2 as mpb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as maintenance_grpc
from fleetops.maintenance.v1 import resources_pb2 as mres
from google.type import date_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import METADATA, ROOT, percentile, postgres_database, print_table, running_service
from maintenance_ingest import make_event

SERVICES = ("fleet", "maintenance", "invoicing")
CALL_TIMEOUT_SECONDS = 10
INGEST_BATCH = 100
REPLAY_SHARE = 0.05
HISTORY_DAYS = 60
SKILL = "printer-field-service"
MAX_DURATION_SECONDS = 3600
MEMORY_SAMPLE_SECONDS = 60
# Share of actions; a mix a managed-print operator sees: mostly reads, technicians' app traffic, device batches.
MIX = {"GetAsset": 14, "ListAssets": 4, "GetUsage": 8, "ListWorkOrders": 7, "ListAlarms": 7, "ListInvoices": 5,
       "GetInvoice": 4, "ListMyWorkOrders": 14, "technician_verb": 16, "dispatch": 6, "IngestDiagnostics": 15}
NEXT_VERB = {"AcceptWorkOrder": "StartTravel", "StartTravel": "ArriveOnSite", "ArriveOnSite": "CompleteWorkOrder"}


def loopback_address(address: str) -> str:
    """`host:port` when every address the host resolves to is loopback; a load generator must not
    be pointed at somebody else's servers."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{address!r} is not host:port")
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(host, int(port), proto=socket.IPPROTO_TCP)}
    except socket.gaierror as error:
        raise argparse.ArgumentTypeError(f"{host!r} does not resolve: {error}") from None
    if not all(ipaddress.ip_address(ip.split("%")[0]).is_loopback for ip in resolved):
        raise argparse.ArgumentTypeError(f"refusing {address!r}: not a loopback address ({', '.join(sorted(resolved))})")
    return address


def _own_rss(pid: int) -> int:
    try:
        return next(int(line.split()[1]) * 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmRSS:"))
    except (FileNotFoundError, StopIteration):  # ended meanwhile, or a zombie
        return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()]
    except FileNotFoundError:
        return []


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory (MiB) of a process alone and with its descendants (solver workers), from /proc (Linux)."""
    own = family = _own_rss(pid)
    waiting = _children(pid)
    while waiting:
        child = waiting.pop()
        family += _own_rss(child)
        waiting += _children(child)
    return round(own / 2**20, 1), round(family / 2**20, 1)


async def sample_memory(pids: dict[str, int], samples: dict[str, list[float]]) -> None:
    """Each service process's RSS every MEMORY_SAMPLE_SECONDS: a leak climbs, a warm-up levels off."""
    while True:
        for name, pid in pids.items():
            samples[name].append(rss_mb(pid)[0])
        await asyncio.sleep(MEMORY_SAMPLE_SECONDS)


def _day(value: date) -> date_pb2.Date:
    return date_pb2.Date(year=value.year, month=value.month, day=value.day)


def _stamp(moment: datetime):
    from google.protobuf import timestamp_pb2
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


@dataclass
class Fleet:
    """What the seeding created, for the actions to pick from."""

    assets: list[tuple[str, str]]  # (asset name, device class)
    customers: list[str]
    assets_of: dict[str, list[tuple[str, str]]]  # by customer name
    technicians: list[str]
    invoices: list[str]


@dataclass
class Calls:
    """Latency and status of every call, per RPC."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    async def timed(self, rpc: str, call: Awaitable):
        started = time.perf_counter()
        code = "OK"
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            code = error.code().name
            return None
        finally:
            self.seconds[rpc].append(time.perf_counter() - started)
            self.codes[rpc][code] += 1

    def rows(self, elapsed: float) -> list[dict]:
        rows = []
        for rpc in sorted(self.seconds):
            latencies, codes = self.seconds[rpc], self.codes[rpc]
            errors = sum(count for code, count in codes.items() if code != "OK")
            rows.append({"rpc": rpc, "calls": len(latencies), "per_second": round(len(latencies) / elapsed, 2),
                         "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
                         "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
                         "error_ratio": round(errors / len(latencies), 4),
                         "errors": ", ".join(f"{code}:{count}" for code, count in sorted(codes.items()) if code != "OK")})
        return rows


class Clients:
    def __init__(self, addresses: dict[str, str]):
        self._channels = [grpc.aio.insecure_channel(addresses[name], options=[
            ("grpc.max_receive_message_length", 64 << 20)]) for name in SERVICES]
        self.fleet = fleet_grpc.FleetServiceStub(self._channels[0])
        self.maintenance = maintenance_grpc.MaintenanceServiceStub(self._channels[1])
        self.invoicing = invoicing_grpc.InvoicingServiceStub(self._channels[2])

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


async def seed(clients: Clients, prefix: str, assets: int, technicians: int, rng: random.Random) -> Fleet:
    """Onboards the fleet through the public API, as an operator's import would."""
    options = {"metadata": METADATA, "timeout": 600}
    classes = {"printer": ("total_impressions", 0.6), "forklift": ("operating_hours", 0.25), "server": ("compute_hours", 0.15)}
    for device_class, (register, _) in classes.items():
        await clients.fleet.CreateDeviceModel(fpb.CreateDeviceModelRequest(
            device_model_id=f"{prefix}-{device_class}", device_model=fres.DeviceModel(
                device_class=getattr(fres, f"DEVICE_CLASS_{device_class.upper()}"), maker="Load", display_name=device_class,
                registers=[fres.MeterRegister(code=register)])), **options)
    customers = [f"{prefix}-c{i:03d}" for i in range(max(1, assets // 25))]
    plan = [(f"{prefix}-{device_class}-{i:05d}", device_class)
            for device_class, (_, share) in classes.items() for i in range(max(1, int(assets * share)))]
    owner = {asset: customers[i % len(customers)] for i, (asset, _) in enumerate(plan)}
    await clients.fleet.ImportFleet(fpb.ImportFleetRequest(
        customers_csv="customer_id,legal_name,currency_code,tax_registration_number,data_collection_consent,parent_customer_id\n"
                      + "".join(f"{c},{c} KK,JPY,,yes,\n" for c in customers),
        sites_csv="customer_id,site_id,display_name,address,latitude,longitude,time_zone,service_territory\n"
                  + "".join(f"{c},hq,HQ,,35.6,139.7,Asia/Tokyo,tokyo\n" for c in customers),
        assets_csv="asset_id,serial_number,device_model_id,customer_id,site_id,acquisition_mode,owner_party,install_date,contract\n"
                   + "".join(f"{a},SN-{a},{prefix}-{c},{owner[a]},hq,lease,provider,2025-01-01,\n" for a, c in plan)),
        **options)
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [meters.MeterReading(asset=f"assets/{asset}", register=classes[device_class][0],
                                    value=str(10_000 + day * rng.randint(50, 400)), source=meters.READING_SOURCE_DEVICE,
                                    read_time=_stamp(now - timedelta(days=HISTORY_DAYS - day)))
                for asset, device_class in plan for day in range(0, HISTORY_DAYS, 3)]
    for start in range(0, len(readings), 5000):
        await clients.fleet.RecordMeterReadings(meters.RecordMeterReadingsRequest(readings=readings[start:start + 5000]),
                                                **options)
    technician_ids = [f"{prefix}-tech-{i:02d}" for i in range(technicians)]
    for technician in technician_ids:
        await clients.maintenance.CreateTechnician(mpb.CreateTechnicianRequest(
            technician_id=technician, technician=mres.Technician(display_name=technician, skills=[SKILL],
                                                                 time_zone="Asia/Tokyo")), **options)
    assets_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for asset, device_class in plan:
        assets_of[f"customers/{owner[asset]}"].append((f"assets/{asset}", device_class))
    return Fleet([(f"assets/{a}", c) for a, c in plan], [f"customers/{c}" for c in customers], dict(assets_of),
                 technician_ids, await _billed_month(clients, prefix, customers, owner, now.date()))


async def _billed_month(clients: Clients, prefix: str, customers: list[str], owner: dict[str, str], today: date) -> list[str]:
    """Contracts for every customer and last month billed and finalized: invoices for the reads to find."""
    options = {"metadata": METADATA, "timeout": 600}
    issuer = await clients.invoicing.CreateIssuingEntity(ipb.CreateIssuingEntityRequest(
        issuing_entity_id=f"{prefix}-issuer", issuing_entity=ipb.IssuingEntity(
            legal_name="Fleetops Japan KK", country_code="JP", invoice_series="LOAD",
            tax_registration_number="T1234567890123")), **options)
    plan = await clients.invoicing.CreatePlan(ipb.CreatePlanRequest(plan_id=f"{prefix}-plan", plan=ppb.Plan(
        display_name="Managed fleet", currency_code="JPY")), **options)
    version = await clients.invoicing.CreatePlanVersion(ipb.CreatePlanVersionRequest(parent=plan.name, plan_version=ppb.PlanVersion(
        effective_from=_day(date(2025, 1, 1)), charges=[ppb.Charge(charge_id="base", description="Fleet management",
                                                                    fixed_fee=ppb.FixedFee(amount="25000"))])), **options)
    for customer in customers:
        covered = [cpb.CoveredAsset(asset=f"assets/{asset}", site=f"customers/{customer}/sites/hq", cost_centre="CC-1",
                                    effective_from=_day(date(2025, 1, 1))) for asset, c in owner.items() if c == customer]
        await clients.invoicing.CreateContract(ipb.CreateContractRequest(contract_id=f"{prefix}-{customer}", contract=cpb.Contract(
            customer=f"customers/{customer}", plan_version=version.name, issuing_entity=issuer.name, currency_code="JPY",
            billing_anchor_day=1, start_date=_day(date(2025, 1, 1)), billing_site=f"customers/{customer}/sites/hq",
            billing_cost_centre="CC-1", assets=covered)), **options)
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    invoices: list[str] = []
    for customer in customers:  # one run per customer: the period may already be billed by another load run
        run = await clients.invoicing.CreateBillingRun(ipb.CreateBillingRunRequest(
            billing_run_id=f"{prefix}-run-{customer}", billing_run=bpb.BillingRun(period_start=_day(last_month),
                                                                                  customer=f"customers/{customer}")), **options)
        run = await clients.invoicing.ExecuteBillingRun(ipb.ExecuteBillingRunRequest(name=run.name), **options)
        invoices += run.invoices
    for name in invoices[::2]:  # half finalized, half still drafts
        await clients.invoicing.FinalizeInvoice(ipb.FinalizeInvoiceRequest(name=name), **options)
    return invoices


class Mix:
    """The actions, with the client-side state technicians carry between calls."""

    def __init__(self, clients: Clients, fleet: Fleet, calls: Calls, prefix: str, rng: random.Random):
        self._clients, self._fleet, self._calls, self._rng = clients, fleet, calls, rng
        self._prefix = prefix
        self._events = 0
        self._sent: dict[str, list[dpb.DiagnosticEvent]] = defaultdict(list)
        self._orders: deque[tuple[str, str, str]] = deque()  # (technician, order name, next verb)
        self._printers = [asset for asset, device_class in fleet.assets if device_class == "printer"]
        self._reads: dict[str, tuple[str, Callable[[], object]]] = {  # RPC: (service, request)
            "GetAsset": ("fleet", lambda: fpb.GetAssetRequest(name=self._asset())),
            "ListAssets": ("fleet", lambda: fpb.ListAssetsRequest(customer=self._customer(), page_size=50)),
            "GetUsage": ("fleet", self._usage_request),
            "ListWorkOrders": ("maintenance", lambda: mpb.ListWorkOrdersRequest(customer=self._customer(), page_size=50)),
            "ListAlarms": ("maintenance", lambda: mpb.ListAlarmsRequest(asset=self._asset())),
            "ListInvoices": ("invoicing", lambda: ipb.ListInvoicesRequest(customer=self._customer(), page_size=20)),
            "GetInvoice": ("invoicing", lambda: ipb.GetInvoiceRequest(name=self._rng.choice(self._fleet.invoices))),
        }

    def _technician(self, technician: str) -> tuple:
        return (("x-fleetops-subject", technician), ("x-fleetops-roles", "technician"))

    def _call(self, rpc: str, method: Callable, request, metadata=METADATA) -> Awaitable:
        return self._calls.timed(rpc, method(request, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS))

    async def run(self, action: str) -> None:
        if action in self._reads:
            service, request = self._reads[action]
            await self._call(action, getattr(getattr(self._clients, service), action), request())
        else:
            await getattr(self, f"_{action}")()

    def _asset(self) -> str:
        return self._rng.choice(self._fleet.assets)[0]

    def _customer(self) -> str:
        return self._rng.choice(self._fleet.customers)

    def _usage_request(self) -> meters.GetUsageRequest:
        end = datetime.now(UTC).replace(microsecond=0)
        return meters.GetUsageRequest(assets=self._rng.sample(self._printers, min(10, len(self._printers))),
                                      register="total_impressions", start_time=_stamp(end - timedelta(days=30)),
                                      end_time=_stamp(end))

    async def _ListMyWorkOrders(self) -> None:
        technician = self._rng.choice(self._fleet.technicians)
        await self._call("ListMyWorkOrders", self._clients.maintenance.ListMyWorkOrders, mpb.ListMyWorkOrdersRequest(),
                         self._technician(technician))

    async def _dispatch(self) -> None:
        """A dispatcher turns a customer's call into a visit for a technician."""
        maintenance = self._clients.maintenance
        order = await self._call("CreateWorkOrder", maintenance.CreateWorkOrder, mpb.CreateWorkOrderRequest(
            work_order=mres.WorkOrder(asset=self._asset(), reason="customer called", skill=SKILL,
                                      priority=mres.SEVERITY_MAJOR), request_id=uuid.uuid4().hex))
        if order is None:
            return
        start = datetime.now(UTC) + timedelta(hours=1)
        order = await self._call("ScheduleWorkOrder", maintenance.ScheduleWorkOrder, mpb.ScheduleWorkOrderRequest(
            name=order.name, start_time=_stamp(start), end_time=_stamp(start + timedelta(hours=2))))
        if order is None:
            return
        technician = self._rng.choice(self._fleet.technicians)
        if await self._call("DispatchWorkOrder", maintenance.DispatchWorkOrder, mpb.DispatchWorkOrderRequest(
                name=order.name, technician=f"technicians/{technician}")):
            self._orders.append((technician, order.name, "AcceptWorkOrder"))

    async def _technician_verb(self) -> None:
        """The next step of one dispatched visit, from the technician's app; a list when none waits."""
        if not self._orders:
            await self._ListMyWorkOrders()
            return
        technician, name, verb = self._orders.popleft()
        method = getattr(self._clients.maintenance, verb)
        if verb == "CompleteWorkOrder":
            request = mpb.CompleteWorkOrderRequest(name=name, request_id=uuid.uuid4().hex, completion=mres.Completion(
                resolution_code="replaced-part", labour_minutes=40, notes="fuser replaced"))
        else:
            request = mpb.WorkOrderVerbRequest(name=name, request_id=uuid.uuid4().hex)
        if await self._call(verb, method, request, self._technician(technician)) and verb in NEXT_VERB:
            self._orders.append((technician, name, NEXT_VERB[verb]))

    async def _IngestDiagnostics(self) -> None:
        """A batch from one customer's on-site collector: its devices' events, a few sent before."""
        customer = self._rng.choice(self._fleet.customers)
        events, sent = [], self._sent[customer]
        for _ in range(INGEST_BATCH):
            if sent and self._rng.random() < REPLAY_SHARE:
                events.append(self._rng.choice(sent))
                continue
            asset, device_class = self._rng.choice(self._fleet.assets_of[customer])
            event = make_event(self._events, asset.split("/", 1)[1], device_class, self._rng)
            event.source = f"{self._prefix}-collector-{customer.split('/', 1)[1]}"
            self._events += 1
            events.append(event)
        self._sent[customer] = events
        await self._call("IngestDiagnostics", self._clients.maintenance.IngestDiagnostics,
                         dpb.IngestDiagnosticsRequest(events=events))


async def drive(mix: Mix, shares: dict[str, int], rate: float, duration: float, requests: int, concurrency: int,
                rng: random.Random) -> dict:
    """Starts actions on a fixed schedule (open loop); when `concurrency` are in flight the next waits,
    which shows as an achieved rate below the target."""
    actions, weights = list(shares), list(shares.values())
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task] = set()
    loop = asyncio.get_running_loop()
    started = loop.time()
    due = started
    count = 0
    while count < requests and loop.time() - started < duration:
        await asyncio.sleep(max(0.0, due - loop.time()))
        due += 1 / rate
        await slots.acquire()
        task = asyncio.create_task(mix.run(rng.choices(actions, weights)[0]))
        running.add(task)
        task.add_done_callback(lambda done: (running.discard(done), slots.release()))
        count += 1
    if running:
        await asyncio.wait(running)
    elapsed = loop.time() - started
    return {"target_rate": rate, "actions": count, "seconds": round(elapsed, 1),
            "achieved_rate": round(count / elapsed, 2),
            "machine_load_1m": round(os.getloadavg()[0], 1)}  # the machine is shared: read figures with this


async def measure(args: argparse.Namespace, addresses: dict[str, str], pids: dict[str, int]) -> dict:
    rng = random.Random(args.seed)
    prefix = f"load-{uuid.uuid4().hex[:6]}"
    clients = Clients(addresses)
    try:
        seeding = time.perf_counter()
        fleet = await seed(clients, prefix, args.assets, args.technicians, rng)
        print(f"seeded {len(fleet.assets)} assets, {len(fleet.customers)} customers, {len(fleet.technicians)} technicians,"
              f" {len(fleet.invoices)} invoices in {time.perf_counter() - seeding:.1f}s", flush=True)
        calls = Calls()
        memory_at_start = {name: rss_mb(pid) for name, pid in pids.items()}
        samples: dict[str, list[float]] = defaultdict(list)
        sampler = asyncio.create_task(sample_memory(pids, samples))
        shares = {action: share for action, share in MIX.items() if action not in args.without}
        summary = await drive(Mix(clients, fleet, calls, prefix, rng), shares, args.rate, args.duration, args.requests,
                              args.concurrency, rng)
        sampler.cancel()
        memory_at_end = {name: rss_mb(pid) for name, pid in pids.items()}
    finally:
        await clients.close()
    summary["calls"] = sum(len(latencies) for latencies in calls.seconds.values())
    summary["left_out"] = ",".join(sorted(args.without)) or "-"
    memory = [{"service": name, "rss_start_mb": memory_at_start[name][0], "rss_end_mb": memory_at_end[name][0],
               "growth_mb": round(memory_at_end[name][0] - memory_at_start[name][0], 1),
               "with_workers_start_mb": memory_at_start[name][1], "with_workers_end_mb": memory_at_end[name][1],
               "every_minute_mb": samples[name]} for name in pids]
    return {"summary": summary, "rpcs": calls.rows(summary["seconds"]), "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=40, help="actions started per second")
    parser.add_argument("--duration", type=float, default=30, help=f"seconds of load (at most {MAX_DURATION_SECONDS})")
    parser.add_argument("--requests", type=int, default=100_000, help="at most this many actions")
    parser.add_argument("--concurrency", type=int, default=32, help="actions in flight at most")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="a soak of this many seconds, with memory")
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--technicians", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--without", default="", type=lambda names: set(filter(None, names.split(","))),
                        help=f"actions left out of the mix, to compare side by side; of {', '.join(MIX)}")
    for name in SERVICES:
        parser.add_argument(f"--{name}", type=loopback_address, metavar="HOST:PORT",
                            help=f"a running {name} service on this machine (default: start one)")
    args = parser.parse_args()
    if args.soak:
        args.duration = args.soak
    given = {name: getattr(args, name) for name in SERVICES if getattr(args, name)}
    if given and len(given) != len(SERVICES):
        parser.error("give all three of --fleet, --maintenance and --invoicing, or none")
    if args.without - set(MIX) or args.without >= set(MIX):
        parser.error(f"--without takes some, not all, of: {', '.join(MIX)}")
    if not (0 < args.duration <= MAX_DURATION_SECONDS and args.rate > 0 and args.requests > 0 and args.concurrency > 0):
        parser.error(f"rate, requests and concurrency must be positive and the duration within (0, {MAX_DURATION_SECONDS}]")

    with contextlib.ExitStack() as stack:
        if given:
            addresses, pids = given, {}
        else:
            urls = {name: stack.enter_context(postgres_database(name)) for name in SERVICES}
            fleet = stack.enter_context(running_service("fleet", urls["fleet"]))
            maintenance = stack.enter_context(running_service("maintenance", urls["maintenance"], fleet=fleet.address))
            invoicing = stack.enter_context(running_service("invoicing", urls["invoicing"], fleet=fleet.address,
                                                            maintenance=maintenance.address))
            handles = {"fleet": fleet, "maintenance": maintenance, "invoicing": invoicing}
            addresses = {name: handle.address for name, handle in handles.items()}
            pids = {name: handle.pid for name, handle in handles.items()}
        result = asyncio.run(measure(args, addresses, pids))
        publish(result, args.soak)  # before the services stop: a slow shutdown must not lose the figures


def publish(result: dict, soak: bool) -> None:
    print_table([result["summary"]])
    print()
    print_table(result["rpcs"])
    if soak:
        print()
        print_table(result["memory"])
    else:
        del result["memory"]
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / ("load_soak.json" if soak else "load.json")).write_text(json.dumps(result, indent=2))
    sys.stdout.flush()

if __name__ == "__main__":
    main()
