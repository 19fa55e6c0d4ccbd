"""Usage billed through the real fleet service: an estimated period end is billed and marked, and
the next run bills only the difference once the actual reads arrive (never twice)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fleetops.invoicing.v1 import billing_pb2 as bpb

from tests.fleet.fleet_factory import Fleet
from tests.invoicing.invoicing_service_builders import money, pages


def _midnight(value: date) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _daily(first: date, last: date, start_value: int, per_day: int) -> list[tuple[datetime, str]]:
    days = (last - first).days
    return [(_midnight(first + timedelta(days=n)), str(start_value + per_day * n)) for n in range(days + 1)]


def test_estimate_then_true_up_across_two_runs(billing, fleet):
    fleet_api = Fleet(fleet.channel)
    customer = fleet_api.customer()
    printer = fleet_api.asset(customer, fleet_api.printer_model())
    issuer = billing.issuer()
    plan = billing.plan(pages("mono", "2"))
    billing.contract(customer.name, plan, issuer, [printer.name], site=printer.site)
    # March: 1,000 on the 1st, +100 a day until the 20th, then silence past the period end.
    fleet_api.read(printer, *_daily(date(2026, 3, 1), date(2026, 3, 20), 1000, 100))

    march = billing.execute(billing.run(date(2026, 3, 1), customer.name))
    first = billing.invoice(march.invoices[0])
    (line,) = first.groups[0].lines
    (annex,) = first.annex
    # The end is estimated at 100 a day for the 12 silent days: 1,900 + 1,200 = 3,100 pages at 2 JPY.
    assert line.estimated and line.quantity == "3100" and money(line.amount) == 6200
    assert annex.end_read.kind == bpb.READ_KIND_ESTIMATED and annex.start_read.kind == bpb.READ_KIND_ACTUAL
    assert march.estimated_line_count == 1
    billing.finalize(first.name)

    # The reads resume: only +100 up to 3 April, then +50 a day to 4,400 on 1 May.
    fleet_api.read(printer, *_daily(date(2026, 4, 3), date(2026, 5, 1), 3000, 50))
    april = billing.execute(billing.run(date(2026, 4, 1), customer.name))
    second = billing.invoice(april.invoices[0])
    (line,) = second.groups[0].lines
    (annex,) = second.annex
    # Actual 1 March -> 1 May is 3,400 pages; 3,100 were billed on the estimate: 300 more at 2 JPY.
    assert not line.estimated and line.quantity == "300" and money(line.amount) == 600
    assert (annex.start_read.value, annex.start_read.kind) == ("1000", bpb.READ_KIND_ACTUAL)
    assert (annex.end_read.value, annex.end_read.kind) == ("4400", bpb.READ_KIND_ACTUAL)
    assert april.estimated_line_count == 0
    assert money(first.subtotal) + money(second.subtotal) == 2 * 3400


def test_an_estimate_above_the_actual_reads_is_credited_back(billing, fleet):
    fleet_api = Fleet(fleet.channel)
    customer = fleet_api.customer()
    printer = fleet_api.asset(customer, fleet_api.printer_model())
    billing.contract(customer.name, billing.plan(pages("mono", "2")), billing.issuer(), [printer.name],
                     site=printer.site)
    fleet_api.read(printer, *_daily(date(2026, 3, 1), date(2026, 3, 20), 1000, 100))
    billing.execute(billing.run(date(2026, 3, 1), customer.name))  # 3,100 pages billed on the estimate

    # The device stood still from the 20th: 1,950 pages actually printed from 1 March to 1 May.
    fleet_api.read(printer, *_daily(date(2026, 4, 3), date(2026, 5, 1), 2950, 0))
    april = billing.invoice(billing.execute(billing.run(date(2026, 4, 1), customer.name)).invoices[0])
    (line,) = april.groups[0].lines
    assert line.quantity == "-1150" and money(line.amount) == -2300


def test_usage_across_a_counter_rollover_is_billed_once(billing, fleet):
    fleet_api = Fleet(fleet.channel)
    customer = fleet_api.customer()
    printer = fleet_api.asset(customer, fleet_api.printer_model(rollover_at="10000"))
    billing.contract(customer.name, billing.plan(pages("mono", "2")), billing.issuer(), [printer.name],
                     site=printer.site)
    fleet_api.read(printer, (_midnight(date(2026, 3, 1)), "9800"), (_midnight(date(2026, 3, 15)), "9950"),
                   (_midnight(date(2026, 4, 1)), "150"))
    invoice = billing.invoice(billing.execute(billing.run(date(2026, 3, 1), customer.name)).invoices[0])
    (line,) = invoice.groups[0].lines
    # 9,800 -> 10,000 wraps to 0 -> 150: 350 pages at 2 JPY, both ends actual reads.
    assert line.quantity == "350" and money(line.amount) == 700 and not line.estimated
