"""`fleetctl`: argument parsing and exit codes (0 ok, 1 for a failed call, 2 for a usage error).

A failed call prints its status code name, message and field violations on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc

from services.cli import commands
from services.cli.connection import DEFAULT_TIMEOUT_SECONDS, Clients, default_address, print_rpc_error
from services.runtime.config import ClientTls

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetctl", description="Command-line client of the fleetops services.",
                                     epilog="Addresses default to localhost:50051/50052/50053 or the environment "
                                            "variables FLEETOPS_FLEET_ADDRESS, FLEETOPS_MAINTENANCE_ADDRESS and "
                                            "FLEETOPS_INVOICING_ADDRESS.")
    for service in ("fleet", "maintenance", "invoicing"):
        parser.add_argument(f"--{service}", metavar="ADDRESS", default=default_address(service),
                            help=f"{service} service address (default %(default)s)")
    parser.add_argument("--token", default=os.environ.get("FLEETOPS_TOKEN"),
                        help="bearer token (default: FLEETOPS_TOKEN); without one, --subject and --roles are sent "
                             "as development headers")
    parser.add_argument("--subject", default=os.environ.get("FLEETOPS_SUBJECT", "cli"),
                        help="caller identity sent as x-fleetops-subject (default %(default)s)")
    parser.add_argument("--roles", default=os.environ.get("FLEETOPS_ROLES", "admin"),
                        help="comma-separated roles sent as x-fleetops-roles (default %(default)s)")
    parser.add_argument("--tls-ca", metavar="FILE", default=os.environ.get("FLEETOPS_TLS_CA_FILE"),
                        help="connect with TLS, trusting the servers' certificates signed by this CA "
                             "(default: FLEETOPS_TLS_CA_FILE; none: plaintext)")
    parser.add_argument("--tls-cert", metavar="FILE", default=os.environ.get("FLEETOPS_TLS_CLIENT_CERT_FILE"),
                        help="client certificate for servers that require mutual TLS (FLEETOPS_TLS_CLIENT_CERT_FILE)")
    parser.add_argument("--tls-key", metavar="FILE", default=os.environ.get("FLEETOPS_TLS_CLIENT_KEY_FILE"),
                        help="its private key (FLEETOPS_TLS_CLIENT_KEY_FILE)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="SECONDS",
                        help="deadline of each call (default %(default)s; long calls get more)")
    parser.add_argument("--json", action="store_true", help="print the responses as proto JSON")
    groups = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    assets = groups.add_parser("assets", help="list or show assets").add_subparsers(dest="verb", required=True)
    listing = assets.add_parser("list", help="list assets")
    listing.add_argument("--customer", help="customers/{customer}")
    listing.add_argument("--site", help="customers/{customer}/sites/{site}")
    listing.add_argument("--device-class", choices=["printer", "forklift", "server"])
    listing.add_argument("--limit", type=int, default=0, help="at most this many (default: all)")
    listing.set_defaults(handler=commands.assets_list)
    show = assets.add_parser("get", help="show one asset")
    show.add_argument("name", help="assets/{asset} or {asset}")
    show.set_defaults(handler=commands.assets_get)

    onboarding = groups.add_parser("import-fleet", help="import customers, sites and assets from CSV (all or nothing)")
    onboarding.add_argument("--customers", metavar="FILE", help="customers CSV")
    onboarding.add_argument("--sites", metavar="FILE", help="sites CSV")
    onboarding.add_argument("--assets", metavar="FILE", help="assets CSV")
    onboarding.set_defaults(handler=commands.import_fleet)

    ingestion = groups.add_parser("ingest", help="send a JSON-lines file of DiagnosticEvent (proto JSON)")
    ingestion.add_argument("file", metavar="FILE")
    ingestion.set_defaults(handler=commands.ingest)

    orders = groups.add_parser("work-orders", help="list work orders").add_subparsers(dest="verb", required=True)
    order_listing = orders.add_parser("list", help="list work orders")
    order_listing.add_argument("--asset", help="assets/{asset}")
    order_listing.add_argument("--customer", help="customers/{customer}")
    order_listing.add_argument("--state", choices=["new", "scheduled", "dispatched", "en_route", "on_site", "on_hold",
                                                   "completed", "cancelled"])
    order_listing.add_argument("--limit", type=int, default=0, help="at most this many (default: all)")
    order_listing.set_defaults(handler=commands.work_orders_list)

    schedules = groups.add_parser("schedule", help="technician schedules").add_subparsers(dest="verb", required=True)
    planning = schedules.add_parser("create", help="plan a territory's day and wait for the routes")
    planning.add_argument("--territory", required=True)
    planning.add_argument("--date", required=True, type=commands.parse_date, help="YYYY-MM-DD")
    planning.add_argument("--time-limit", type=int, default=10, metavar="SECONDS", help="solver limit (default 10)")
    planning.set_defaults(handler=commands.schedule_create)

    billing = groups.add_parser("billing", help="billing runs").add_subparsers(dest="verb", required=True)
    run = billing.add_parser("run", help="preview (default) or execute the billing of a period")
    run.add_argument("--period-start", required=True, type=commands.parse_date, help="YYYY-MM-DD")
    run.add_argument("--customer", help="customers/{customer} or {customer}; default every customer")
    run.add_argument("--execute", action="store_true", help="create the draft invoices instead of a preview")
    run.set_defaults(handler=commands.billing_run)

    invoices = groups.add_parser("invoice", help="invoices").add_subparsers(dest="verb", required=True)
    invoice = invoices.add_parser("get", help="show an invoice, optionally saving its PDF or UBL rendering")
    invoice.add_argument("name", help="invoices/{invoice} or {invoice}")
    rendering = invoice.add_mutually_exclusive_group()
    rendering.add_argument("--pdf", metavar="FILE", help="write the PDF here")
    rendering.add_argument("--ubl", metavar="FILE", help="write the UBL XML here")
    invoice.set_defaults(handler=commands.invoice_get)
    return parser


def client_tls(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ClientTls | None:
    """The TLS files named on the command line, read; a missing or unreadable one is a usage error."""
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_ca is None:
        if args.tls_cert:
            parser.error("--tls-cert needs --tls-ca")
        return None
    try:
        contents = [Path(path).read_bytes() if path else None for path in (args.tls_ca, args.tls_cert, args.tls_key)]
    except OSError as error:
        parser.error(f"cannot read {error.filename}: {error.strerror}")
    return ClientTls(*contents)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error, 0 for --help
    clients = Clients({"fleet": args.fleet, "maintenance": args.maintenance, "invoicing": args.invoicing},
                      args.subject, args.roles, args.timeout, token=args.token, tls=client_tls(parser, args))
    try:
        return args.handler(clients, args)
    except grpc.RpcError as error:
        print_rpc_error(error)
        return EXIT_FAILED
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    finally:
        clients.close()


if __name__ == "__main__":
    raise SystemExit(main())
