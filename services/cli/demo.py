"""`make demo`: a month in the life of a realistic fleet, end to end, against the running services.

Starts `python -m services` in the background when nothing answers on the fleet address (and stops
it at the end). Every step prints what it did; a failed step prints its status and the demo goes on,
so one broken service does not hide what the others do. Exit status 1 when any step failed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import grpc
from fleetops.fleet.v1 import fleet_service_pb2 as fleet_pb
from fleetops.fleet.v1 import meters_pb2, placement_pb2, replacement_pb2
from fleetops.fleet.v1 import resources_pb2 as fleet_res
from fleetops.invoicing.v1 import billing_pb2, contracts_pb2, plans_pb2
from fleetops.invoicing.v1 import invoicing_service_pb2 as inv_pb
from fleetops.maintenance.v1 import diagnostics_pb2, scheduling_pb2
from fleetops.maintenance.v1 import maintenance_service_pb2 as mnt_pb
from fleetops.maintenance.v1 import resources_pb2 as mnt_res
from google.protobuf import duration_pb2
from google.type import date_pb2, latlng_pb2, money_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.cli import demo_data as data
from services.cli.connection import Clients, default_address, describe_rpc_error

MONTH_START = date(2026, 10, 1)
MONTH_DAYS = 31
READINGS_PER_CALL = 5_000
SOLVER_SECONDS = 10
OUTPUT = Path("var")


def yen(units: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="JPY", units=units)


def day(value: date) -> date_pb2.Date:
    return date_pb2.Date(year=value.year, month=value.month, day=value.day)


class Demo:
    def __init__(self, clients: Clients):
        self.clients = clients
        self.failures: list[str] = []
        self.facts: dict[str, Any] = {}

    def step(self, title: str, action: Callable[[], str]) -> None:
        started = time.monotonic()
        print(f"- {title} ...", end="", flush=True)
        try:
            outcome = action()
        except grpc.RpcError as error:
            lines = describe_rpc_error(error)
            self.failures.append(f"{title}: {lines[0]}")
            print(" FAILED\n    " + "\n    ".join(lines), flush=True)
            return
        print(f" {outcome} ({time.monotonic() - started:.1f} s)", flush=True)
        if "STATE_FAILED" in outcome:
            self.failures.append(f"{title}: {outcome}")

    def call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        return self.clients.call(method, request, timeout)

    def create_models(self) -> str:
        fleet = self.clients.fleet
        models = {
            "printer": fleet_res.DeviceModel(
                device_class=fleet_res.DEVICE_CLASS_PRINTER, maker="Ricoh", display_name="IM C3000",
                printer=fleet_res.PrinterCapabilities(colour=True, pages_per_minute=30,
                                                      recommended_monthly_volume={"mono_impressions": 6000,
                                                                                  "colour_impressions": 2000}),
                list_price=yen(1_200_000), monthly_lease_cost=yen(25_000), expected_life_months=60,
                expected_life_register="mono_impressions", expected_life_counter="1500000",
                registers=[fleet_res.MeterRegister(code="mono_impressions"),
                           fleet_res.MeterRegister(code="colour_impressions"),
                           fleet_res.MeterRegister(code="total_impressions")]),
            "forklift": fleet_res.DeviceModel(device_class=fleet_res.DEVICE_CLASS_FORKLIFT, maker="Toyota",
                                              display_name="8FB25", list_price=yen(3_500_000), expected_life_months=96,
                                              registers=[fleet_res.MeterRegister(code="operating_hours")]),
            "server": fleet_res.DeviceModel(device_class=fleet_res.DEVICE_CLASS_SERVER, maker="Dell",
                                            display_name="PowerEdge R750", list_price=yen(1_800_000),
                                            expected_life_months=60,
                                            registers=[fleet_res.MeterRegister(code="compute_hours")]),
        }
        for kind, model in models.items():
            self.call(fleet.CreateDeviceModel, fleet_pb.CreateDeviceModelRequest(
                device_model_id=data.MODELS[kind], device_model=model, request_id=f"demo-model-{kind}"))
        return f"{len(models)} device models"

    def import_fleet(self) -> str:
        response = self.call(self.clients.fleet.ImportFleet, fleet_pb.ImportFleetRequest(
            customers_csv=data.customers_csv(), sites_csv=data.sites_csv(), assets_csv=data.assets_csv(),
            request_id="demo-import"), timeout=300)
        return (f"{response.customers_created} customers, {response.sites_created} sites, "
                f"{response.assets_created} assets")

    def record_readings(self) -> str:
        readings = list(data.meter_readings(MONTH_START, MONTH_DAYS))
        accepted = duplicates = rejected = 0
        for start in range(0, len(readings), READINGS_PER_CALL):
            response = self.call(self.clients.fleet.RecordMeterReadings, meters_pb2.RecordMeterReadingsRequest(
                readings=readings[start:start + READINGS_PER_CALL], request_id=f"demo-readings-{start}"), timeout=300)
            accepted += response.accepted_count
            duplicates += response.duplicate_count
            rejected += response.rejected_count
        return f"{len(readings)} readings: {accepted} accepted, {duplicates} duplicates, {rejected} rejected"

    def ingest_diagnostics(self) -> str:
        events = data.diagnostic_events(datetime(2026, 10, 28, 9, tzinfo=UTC))
        response = self.call(self.clients.maintenance.IngestDiagnostics,
                             diagnostics_pb2.IngestDiagnosticsRequest(events=events, wait_for_processing=True),
                             timeout=120)
        outcomes: dict[str, int] = {}
        for result in response.results:
            label = diagnostics_pb2.IngestOutcome.Name(result.outcome).removeprefix("INGEST_OUTCOME_").lower()
            outcomes[label] = outcomes.get(label, 0) + 1
        orders = sum(len(result.work_orders) for result in response.results)
        return f"{len(events)} events ({', '.join(f'{n} {o}' for o, n in outcomes.items())}), {orders} work orders"

    def create_technicians(self) -> str:
        # The skills the fault catalogues (services/maintenance/catalogues/) put on work orders.
        skills = sorted({"printer-technician", "forklift-diagnostics", "forklift-electrical", "forklift-mechanic",
                         "server-hardware", "server-administration", "datacenter-facilities"})
        for number, (city, lat, lon) in enumerate(data.CITIES):
            self.call(self.clients.maintenance.CreateTechnician, mnt_pb.CreateTechnicianRequest(
                technician_id=f"demo-tech-{city}", request_id=f"demo-tech-{number}", technician=mnt_res.Technician(
                    display_name=f"Technician {city.title()}", skills=skills, time_zone="Asia/Tokyo",
                    territory=data.TERRITORY, home_base=latlng_pb2.LatLng(latitude=lat, longitude=lon))))
        return f"{len(data.CITIES)} technicians in {data.TERRITORY}"

    def create_schedule(self) -> str:
        schedule = self.call(self.clients.maintenance.CreateSchedule, scheduling_pb2.CreateScheduleRequest(
            territory=data.TERRITORY, date=day(date(2026, 10, 29)), wait=True, request_id="demo-schedule",
            time_limit=duration_pb2.Duration(seconds=SOLVER_SECONDS)), timeout=SOLVER_SECONDS + 60)
        self.facts["schedule"] = schedule.name
        visits = sum(len(route.visits) for route in schedule.routes)
        reasons: dict[str, int] = {}
        for item in schedule.unassigned:
            label = scheduling_pb2.UnassignedReason.Name(item.reason).removeprefix("UNASSIGNED_REASON_").lower()
            reasons[label] = reasons.get(label, 0) + 1
        return (f"{schedule.name}: {scheduling_pb2.ScheduleState.Name(schedule.state)}, {visits} visits on "
                f"{len(schedule.routes)} routes, {len(schedule.unassigned)} unassigned {reasons or ''}, "
                f"{schedule.total_travel_metres / 1000:.1f} km {schedule.error}").rstrip()

    def optimize_placement(self) -> str:
        customer, site_id, *_ = data.sites()[0]
        site = f"customers/{customer}/sites/{site_id}"
        fleet = self.clients.fleet
        # Monthly pages per department; one device per location serves at most its recommended volume.
        departments = [("sales", "1", 0.0, 5500, 0), ("design", "1", 30.0, 4000, 1500), ("finance", "2", 0.0, 6000, 0),
                       ("support", "2", 30.0, 5000, 0), ("management", "3", 10.0, 2000, 500)]
        groups = []
        for name, floor, x, mono, colour in departments:
            location = self.call(fleet.CreateLocation, fleet_pb.CreateLocationRequest(
                parent=site, location_id=f"demo-{name}", request_id=f"demo-location-{name}",
                location=fleet_res.Location(building="main", floor=floor, x_metres=x, y_metres=0.0)))
            demand = {"mono_impressions": mono, **({"colour_impressions": colour} if colour else {})}
            groups.append(placement_pb2.DemandGroup(id=name, location=location.name, demand=demand, users=10,
                                                    needs=["colour"] if colour else []))
        plan = self.call(fleet.OptimizePlacement, placement_pb2.OptimizePlacementRequest(
            site=site, demand_groups=groups, candidate_models=[f"deviceModels/{data.MODELS['printer']}"],
            walking_cost_per_metre=yen(10), horizon_months=36, wait=True,
            change_costs=placement_pb2.ChangeCosts(install=yen(5000), move=yen(1000), retire=yen(2000)),
            time_limit=duration_pb2.Duration(seconds=SOLVER_SECONDS)), timeout=SOLVER_SECONDS + 60)
        self.facts["placement"] = plan.name
        return f"{plan.name}: {placement_pb2.PlanState.Name(plan.state)} for {site} {plan.error}".rstrip()

    def plan_replacements(self) -> str:
        customer, site_id, *_ = data.sites()[0]
        model = f"deviceModels/{data.MODELS['printer']}"
        plan = self.call(self.clients.fleet.PlanReplacements, replacement_pb2.PlanReplacementsRequest(
            site=f"customers/{customer}/sites/{site_id}", horizon_periods=5, period_months=12,
            as_of_date=day(date(2026, 11, 1)), discount_rate="0.05", candidate_models=[model], wait=True,
            model_economics=[replacement_pb2.ModelEconomics(
                device_model=model, maintenance_per_usage="0.5",
                maintenance_per_period=[yen(v) for v in (50_000, 80_000, 120_000, 180_000, 260_000, 350_000)],
                residual_value=[yen(v) for v in (1_200_000, 900_000, 650_000, 450_000, 300_000, 200_000, 100_000)])],
            time_limit=duration_pb2.Duration(seconds=SOLVER_SECONDS)), timeout=SOLVER_SECONDS + 60)
        self.facts["replacement"] = plan.name
        return f"{plan.name}: {placement_pb2.PlanState.Name(plan.state)} {plan.error}".rstrip()

    def bill_the_month(self) -> str:
        invoicing = self.clients.invoicing
        issuer = self.call(invoicing.CreateIssuingEntity, inv_pb.CreateIssuingEntityRequest(
            issuing_entity_id="demo-issuer", request_id="demo-issuer", issuing_entity=inv_pb.IssuingEntity(
                legal_name="Fleetops Japan KK", country_code="JP", invoice_series="DEMO",
                tax_registration_number="T1234567890123")))
        plan = self.call(invoicing.CreatePlan, inv_pb.CreatePlanRequest(
            plan_id="demo-managed-print", request_id="demo-plan",
            plan=plans_pb2.Plan(display_name="Managed print", currency_code="JPY")))
        version = self.call(invoicing.CreatePlanVersion, inv_pb.CreatePlanVersionRequest(
            parent=plan.name, request_id="demo-plan-version", plan_version=plans_pb2.PlanVersion(
                effective_from=day(date(2026, 1, 1)), charges=[
                    plans_pb2.Charge(charge_id="base", description="Managed print fee",
                                     fixed_fee=plans_pb2.FixedFee(amount="30000")),
                    plans_pb2.Charge(charge_id="mono", description="Mono pages", metered=plans_pb2.MeteredCharge(
                        register=plans_pb2.REGISTER_MONO_PAGES, fleet_register="mono_impressions",
                        tiers=[plans_pb2.Tier(unit_price="0.8")], allowance="1000"))])))
        customer, site_id, *_ = data.sites()[0]
        site = f"customers/{customer}/sites/{site_id}"
        printers = [f"assets/{asset}" for asset, kind, owner, at in data.assets()
                    if kind == "printer" and owner == customer and at == site_id]
        self.call(invoicing.CreateContract, inv_pb.CreateContractRequest(
            contract_id="demo-contract", request_id="demo-contract", contract=contracts_pb2.Contract(
                customer=f"customers/{customer}", plan_version=version.name, issuing_entity=issuer.name,
                currency_code="JPY", billing_anchor_day=1, start_date=day(MONTH_START), purchase_order="PO-2026-10",
                billing_site=site, billing_cost_centre="CC-100",
                assets=[contracts_pb2.CoveredAsset(asset=asset, site=site, cost_centre="CC-100",
                                                   effective_from=day(MONTH_START)) for asset in printers])))
        run = self.call(invoicing.CreateBillingRun, inv_pb.CreateBillingRunRequest(
            billing_run_id="demo-2026-10", request_id="demo-run",
            billing_run=billing_pb2.BillingRun(period_start=day(MONTH_START), customer=f"customers/{customer}")))
        run = self.call(invoicing.ExecuteBillingRun, inv_pb.ExecuteBillingRunRequest(
            name=run.name, request_id="demo-run-execute"), timeout=300)
        if not run.invoices:
            return f"{run.name}: {billing_pb2.BillingRunState.Name(run.state)}, no invoice {run.error}".rstrip()
        invoice = self.call(invoicing.GetInvoice, inv_pb.GetInvoiceRequest(name=run.invoices[0]))
        if invoice.state == billing_pb2.INVOICE_STATE_DRAFT:
            invoice = self.call(invoicing.FinalizeInvoice, inv_pb.FinalizeInvoiceRequest(
                name=invoice.name, request_id="demo-finalize"))
        pdf = self.call(invoicing.RenderInvoice, inv_pb.RenderInvoiceRequest(
            name=invoice.name, format=inv_pb.RENDER_FORMAT_PDF))
        OUTPUT.mkdir(exist_ok=True)
        path = OUTPUT / (pdf.file_name or "demo-invoice.pdf")
        path.write_bytes(pdf.content)
        self.facts["invoice"], self.facts["pdf"] = invoice.name, str(path)
        return (f"{run.asset_count} assets billed; {invoice.name} number {invoice.number}, total "
                f"{invoice.total.units} {invoice.total.currency_code}; PDF {path}")

    def run(self) -> int:
        self.step("device models", self.create_models)
        self.step("ImportFleet (3 customers, 12 sites, 540 assets)", self.import_fleet)
        self.step(f"RecordMeterReadings for {MONTH_START:%B %Y}", self.record_readings)
        self.step("IngestDiagnostics (Printer MIB, J1939 DM1, Redfish)", self.ingest_diagnostics)
        self.step("technicians", self.create_technicians)
        self.step("CreateSchedule (wait)", self.create_schedule)
        self.step("OptimizePlacement (wait)", self.optimize_placement)
        self.step("PlanReplacements (wait)", self.plan_replacements)
        self.step("billing: plan, contract, run, finalize, PDF", self.bill_the_month)
        print(next_steps(self.clients.addresses, self.facts))
        if self.failures:
            print("\nFailed steps:\n  " + "\n  ".join(self.failures))
        return 1 if self.failures else 0


def next_steps(addresses: dict[str, str], facts: dict[str, Any]) -> str:
    header = "-H 'x-fleetops-subject: dev' -H 'x-fleetops-roles: admin'"
    lines = ["", "Where to look next:",
             f"  .venv/bin/fleetctl assets list --customer customers/{data.CUSTOMERS[0][0]} --limit 10",
             "  .venv/bin/fleetctl work-orders list",
             f"  grpcurl -plaintext {header} -d '{{\"customer\": \"customers/{data.CUSTOMERS[0][0]}\"}}' "
             f"{addresses['fleet']} fleetops.fleet.v1.FleetService/GetFleetKpis"]
    for key, service, method in (("schedule", "maintenance", "fleetops.maintenance.v1.MaintenanceService/GetSchedule"),
                                 ("placement", "fleet", "fleetops.fleet.v1.FleetService/GetPlacementPlan"),
                                 ("replacement", "fleet", "fleetops.fleet.v1.FleetService/GetReplacementPlan"),
                                 ("invoice", "invoicing", "fleetops.invoicing.v1.InvoicingService/GetInvoice")):
        if key in facts:
            lines.append(f"  grpcurl -plaintext {header} -d '{{\"name\": \"{facts[key]}\"}}' {addresses[service]} {method}")
    if "pdf" in facts:
        lines.append(f"  the invoice PDF: {facts['pdf']}")
    lines.append("  metrics: http://localhost:9101/metrics (fleet), :9102 (maintenance), :9103 (invoicing)")
    return "\n".join(lines)


def serving(address: str, timeout: float) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
    return status.status == health_pb2.HealthCheckResponse.SERVING


def start_suite_when_absent(addresses: dict[str, str]) -> subprocess.Popen | None:
    if serving(addresses["fleet"], timeout=2):
        return None
    print("nothing answers on the fleet address: starting `python -m services` in the background", flush=True)
    suite = subprocess.Popen([sys.executable, "-m", "services"], stdout=subprocess.DEVNULL)
    give_up = time.monotonic() + 120
    while not all(serving(address, timeout=1) for address in addresses.values()):
        if suite.poll() is not None or time.monotonic() > give_up:
            stop_suite(suite)
            raise SystemExit("the services did not start; try `make run` to see why")
        time.sleep(0.5)
    return suite


def stop_suite(suite: subprocess.Popen) -> None:
    if suite.poll() is None:
        suite.send_signal(signal.SIGTERM)
        try:
            suite.wait(timeout=60)
        except subprocess.TimeoutExpired:
            suite.kill()


def main() -> int:
    addresses = {service: default_address(service) for service in ("fleet", "maintenance", "invoicing")}
    suite = start_suite_when_absent(addresses)
    clients = Clients(addresses, subject="demo", roles="admin", timeout=60)
    try:
        return Demo(clients).run()
    finally:
        clients.close()
        if suite is not None:
            stop_suite(suite)


if __name__ == "__main__":
    raise SystemExit(main())
