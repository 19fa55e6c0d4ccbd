"""One function per `fleetctl` subcommand: build the request, call, print. Each returns an exit code."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from google.protobuf import duration_pb2, json_format
from google.protobuf.message import Message
from google.type import date_pb2

from fleetops.fleet.v1 import fleet_service_pb2, resources_pb2 as fleet_resources
from fleetops.invoicing.v1 import billing_pb2, invoicing_service_pb2
from fleetops.maintenance.v1 import diagnostics_pb2, maintenance_service_pb2, resources_pb2, scheduling_pb2
from services.cli.connection import Clients

INGEST_BATCH_SIZE = 1000  # well under the service's 10,000 per call, so each call stays short


def parse_date(text: str) -> date_pb2.Date:
    """argparse `type=`: an ISO date (YYYY-MM-DD) as google.type.Date; anything else is a usage error."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def new_request_id() -> str:
    return str(uuid.uuid4())


def qualified(name: str, collection: str) -> str:
    """Accepts `invoices/abc` or just `abc`."""
    return name if name.startswith(f"{collection}/") else f"{collection}/{name}"


def enum_label(message: Message, field: str) -> str:
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    label = descriptor.values_by_number[getattr(message, field)].name
    prefix = "".join(f"_{c}" if c.isupper() else c for c in descriptor.name).lstrip("_").upper() + "_"
    return label.removeprefix(prefix)


def money(amount: Any) -> str:
    units, nanos = amount.units, amount.nanos
    sign = "-" if units < 0 or nanos < 0 else ""
    fraction = f"{abs(nanos):09d}".rstrip("0")
    return f"{sign}{abs(units)}{'.' + fraction if fraction else ''} {amount.currency_code}".strip()


def print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def print_json(message: Message | Iterable[Message]) -> None:
    if isinstance(message, Message):
        print(json_format.MessageToJson(message, indent=2))
    else:
        print(json.dumps([json_format.MessageToDict(m) for m in message], indent=2))


def paged(clients: Clients, method: Any, request: Message, items_field: str, limit: int) -> Iterator[Message]:
    """Follows next_page_token until `limit` items (0 = all) were yielded."""
    count = 0
    while True:
        response = clients.call(method, request)
        for item in getattr(response, items_field):
            yield item
            count += 1
            if limit and count >= limit:
                return
        if not response.next_page_token:
            return
        request.page_token = response.next_page_token


def assets_list(clients: Clients, args: argparse.Namespace) -> int:
    request = fleet_service_pb2.ListAssetsRequest(page_size=min(args.limit or 1000, 1000), customer=args.customer or "",
                                                  site=args.site or "")
    if args.device_class:
        request.device_class = fleet_resources.DeviceClass.Value(f"DEVICE_CLASS_{args.device_class.upper()}")
    assets = list(paged(clients, clients.fleet.ListAssets, request, "assets", args.limit))
    if args.json:
        print_json(assets)
        return 0
    print_table([[a.name, a.serial_number, a.device_model, enum_label(a, "state"), a.customer, a.site] for a in assets],
                ["NAME", "SERIAL", "MODEL", "STATE", "CUSTOMER", "SITE"])
    return 0


def assets_get(clients: Clients, args: argparse.Namespace) -> int:
    asset = clients.call(clients.fleet.GetAsset, fleet_service_pb2.GetAssetRequest(name=qualified(args.name, "assets")))
    if args.json:
        print_json(asset)
        return 0
    print_table([[field, value] for field, value in json_format.MessageToDict(asset).items()], ["FIELD", "VALUE"])
    return 0


def import_fleet(clients: Clients, args: argparse.Namespace) -> int:
    def read(path: str | None) -> str:
        return Path(path).read_text(encoding="utf-8") if path else ""

    request = fleet_service_pb2.ImportFleetRequest(customers_csv=read(args.customers), sites_csv=read(args.sites),
                                                   assets_csv=read(args.assets), request_id=new_request_id())
    response = clients.call(clients.fleet.ImportFleet, request, timeout=max(clients.timeout, 120))
    if args.json:
        print_json(response)
    else:
        print(f"imported {response.customers_created} customers, {response.sites_created} sites, "
              f"{response.assets_created} assets")
    return 0


def read_events(path: Path) -> Iterator[diagnostics_pb2.DiagnosticEvent]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield json_format.Parse(line, diagnostics_pb2.DiagnosticEvent())
                except json_format.ParseError as error:
                    raise ValueError(f"{path}:{number}: not a DiagnosticEvent: {error}") from None


def ingest(clients: Clients, args: argparse.Namespace) -> int:
    events = list(read_events(Path(args.file)))
    totals: dict[str, int] = {}
    rejected: list[list[str]] = []
    for start in range(0, len(events), INGEST_BATCH_SIZE):
        batch = events[start:start + INGEST_BATCH_SIZE]
        response = clients.call(clients.maintenance.IngestDiagnostics,
                                diagnostics_pb2.IngestDiagnosticsRequest(events=batch))
        for result in response.results:
            outcome = enum_label(result, "outcome")
            totals[outcome] = totals.get(outcome, 0) + 1
            if result.reason:
                rejected.append([batch[result.index].source_event_id, outcome, result.reason])
    if args.json:
        print(json.dumps({"events": len(events), "outcomes": totals}, indent=2))
        return 0
    print(f"{len(events)} events: " + ", ".join(f"{count} {outcome.lower()}" for outcome, count in sorted(totals.items())))
    if rejected:
        print_table(rejected, ["SOURCE_EVENT_ID", "OUTCOME", "REASON"])
    return 0


def work_orders_list(clients: Clients, args: argparse.Namespace) -> int:
    request = maintenance_service_pb2.ListWorkOrdersRequest(page_size=min(args.limit or 1000, 1000),
                                                            asset=args.asset or "", customer=args.customer or "")
    if args.state:
        request.state = resources_pb2.WorkOrderState.Value(f"WORK_ORDER_STATE_{args.state.upper()}")
    orders = list(paged(clients, clients.maintenance.ListWorkOrders, request, "work_orders", args.limit))
    if args.json:
        print_json(orders)
        return 0
    print_table([[o.name, o.asset, enum_label(o, "kind"), enum_label(o, "state"), enum_label(o, "priority"),
                  o.technician, o.reason] for o in orders],
                ["NAME", "ASSET", "KIND", "STATE", "PRIORITY", "TECHNICIAN", "REASON"])
    return 0


def schedule_create(clients: Clients, args: argparse.Namespace) -> int:
    request = scheduling_pb2.CreateScheduleRequest(
        territory=args.territory, date=args.date, wait=True, request_id=new_request_id(),
        time_limit=duration_pb2.Duration(seconds=args.time_limit))
    schedule = clients.call(clients.maintenance.CreateSchedule, request, timeout=args.time_limit + 60)
    if args.json:
        print_json(schedule)
        return 0
    print(f"{schedule.name}: {enum_label(schedule, 'state')} ({enum_label(schedule, 'solver_status')}), "
          f"{len(schedule.routes)} routes, {len(schedule.unassigned)} unassigned, "
          f"{schedule.total_travel_metres / 1000:.1f} km travel, solved in {schedule.solve_seconds:.1f} s")
    for route in schedule.routes:
        print(f"  {route.technician}: " + ", ".join(visit.work_order for visit in route.visits))
    for item in schedule.unassigned:
        print(f"  unassigned {item.work_order}: {enum_label(item, 'reason')} {item.detail}".rstrip())
    return 0


def billing_run(clients: Clients, args: argparse.Namespace) -> int:
    run = billing_pb2.BillingRun(period_start=args.period_start,
                                 customer=qualified(args.customer, "customers") if args.customer else "")
    run = clients.call(clients.invoicing.CreateBillingRun, invoicing_service_pb2.CreateBillingRunRequest(
        billing_run_id=f"cli-{uuid.uuid4().hex[:12]}", billing_run=run, request_id=new_request_id()))
    if args.execute:
        run = clients.call(clients.invoicing.ExecuteBillingRun, invoicing_service_pb2.ExecuteBillingRunRequest(
            name=run.name, request_id=new_request_id()), timeout=max(clients.timeout, 300))
        if args.json:
            print_json(run)
            return 0
        print(f"{run.name}: {enum_label(run, 'state')}, {run.contract_count} contracts, {run.asset_count} assets, "
              f"{len(run.invoices)} draft invoices {run.error}".rstrip())
        for invoice in run.invoices:
            print(f"  {invoice}")
        return 0
    preview = clients.call(clients.invoicing.PreviewBillingRun,
                           invoicing_service_pb2.PreviewBillingRunRequest(name=run.name), timeout=max(clients.timeout, 300))
    if args.json:
        print_json(preview)
        return 0
    print(f"{run.name}: preview (nothing billed; add --execute to create the draft invoices)")
    print_table([[i.customer, money(i.subtotal), money(i.tax_total), money(i.total)] for i in preview.invoices],
                ["CUSTOMER", "SUBTOTAL", "TAX", "TOTAL"])
    return 0


def invoice_get(clients: Clients, args: argparse.Namespace) -> int:
    name = qualified(args.name, "invoices")
    invoice = clients.call(clients.invoicing.GetInvoice, invoicing_service_pb2.GetInvoiceRequest(name=name))
    for path, render_format in ((args.pdf, invoicing_service_pb2.RENDER_FORMAT_PDF),
                                (args.ubl, invoicing_service_pb2.RENDER_FORMAT_UBL)):
        if path:
            rendering = clients.call(clients.invoicing.RenderInvoice,
                                     invoicing_service_pb2.RenderInvoiceRequest(name=name, format=render_format))
            Path(path).write_bytes(rendering.content)
            print(f"wrote {path} ({rendering.content_type}, {len(rendering.content)} bytes)")
    if args.json:
        print_json(invoice)
        return 0
    print(f"{invoice.name} {invoice.number or '(draft)'} {enum_label(invoice, 'state')} {invoice.customer} "
          f"{invoice.period_start.year:04d}-{invoice.period_start.month:02d}-{invoice.period_start.day:02d}")
    print_table([[group.site, line.kind, line.asset, line.quantity, money(line.amount), line.description]
                 for group in invoice.groups for line in group.lines],
                ["SITE", "KIND", "ASSET", "QUANTITY", "AMOUNT", "DESCRIPTION"])
    print(f"subtotal {money(invoice.subtotal)}  tax {money(invoice.tax_total)}  total {money(invoice.total)}")
    return 0
