"""Rating CPU per asset, in process: the pure domain (rate_contract per contract, then consolidate).

The same mixed plans as bench/invoicing_run.py, one contract of 100 assets per customer, cycled:
fees only; fee + metered mono pages with allowance and graduated tiers; fee + mono + colour
(pooled allowances) + availability guarantee + discount; output price with take-or-pay. Synthetic
usage as the seeded fleet answers it (2% of end reads estimated and fractional, rounded to whole
pages as billing_engine does), 1% of assets two days down. Inputs are built before timing; what is
timed is exactly what billing_engine.rate_run does after the usage, downtime and work phases.

    .venv/bin/python bench/invoicing_rating.py [--assets 20000] [--repeat 3] [--profile]
Prints a table (best of `repeat` CPU seconds, µs per asset, and a fingerprint of every line amount and
invoice total: two code versions that bill the same print the same one) and writes
bench/results/invoicing_rating.json. To compare with main, run this file from a checkout of main too.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import sys
import time
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import ROOT, report

sys.path.insert(0, str(ROOT))
from services.invoicing.domain.contracts import BillingPeriod, Contract, CoveredAsset
from services.invoicing.domain.invoices import consolidate, japan_tax_policy
from services.invoicing.domain.plans import (
    AllowanceScope,
    AvailabilityGuarantee,
    Discount,
    FixedFee,
    MeteredCharge,
    OutputPrice,
    PlanVersion,
    Register,
    Tier,
)
from services.invoicing.domain.rating import RatingInput, rate_contract
from services.invoicing.domain.usage import MeterRead, ReadKind, UsageRecord

D = Decimal
PER_CUSTOMER = 100
PERIOD = BillingPeriod.anchored(2026, 3, 1)
START = datetime(2026, 3, 1, 6, tzinfo=UTC)
END = datetime(2026, 3, 31, 6, tzinfo=UTC)
MONO_TIERS = (Tier(D(5000), D("0.8")), Tier(None, D("0.6")))


def _plans() -> list[PlanVersion]:
    def mono(allowance: str, scope: AllowanceScope = AllowanceScope.PER_DEVICE) -> MeteredCharge:
        return MeteredCharge("mono", "Mono pages", Register.MONO_PAGES, MONO_TIERS, allowance=D(allowance),
                             allowance_scope=scope)

    charge_sets = [
        (FixedFee("base", "Base fee", D(12000)),),
        (FixedFee("base", "Base fee", D(8000)), mono("1000")),
        (FixedFee("base", "Base fee", D(15000)), mono("2000", AllowanceScope.POOLED),
         MeteredCharge("colour", "Colour pages", Register.COLOUR_PAGES, (Tier(None, D(6)),), allowance=D(200),
                       allowance_scope=AllowanceScope.POOLED),
         AvailabilityGuarantee("sla", "Availability", D("0.98"), D("0.10"), ("base",)),
         Discount("loyalty", "Loyalty", percent=D("0.05"))),
        (OutputPrice("pages", "Pages", Register.MONO_PAGES, D("1.2"), minimum_offtake=D(3000)),),
    ]
    return [PlanVersion(f"plan-{index}", 1, "JPY", date(2026, 1, 1), charges)
            for index, charges in enumerate(charge_sets)]


def _usage(index: int, register: Register) -> UsageRecord:
    per_day = 80 + index % 97 if register is Register.MONO_PAGES else 20 + index % 41
    quantity, kind = D(30 * per_day), ReadKind.ACTUAL
    if index % 50 == 0:  # stopped reporting: 26 days read, 4.75 estimated at the trailing average
        quantity, kind = (D(26 * per_day) + D(per_day) * D("4.75")).quantize(D(1), rounding=ROUND_HALF_UP), \
            ReadKind.ESTIMATED
    start = D(1000 + index + per_day)
    return UsageRecord(f"a-{index}", register, MeterRead(start, ReadKind.ACTUAL, START),
                       MeterRead(start + quantity, kind, END), quantity)


def build_inputs(assets: int) -> list[RatingInput]:
    plans = _plans()
    inputs = []
    for customer in range(assets // PER_CUSTOMER):
        plan = plans[customer % len(plans)]
        indices = range(customer * PER_CUSTOMER, (customer + 1) * PER_CUSTOMER)
        site = f"customers/c{customer:04d}/sites/hq"
        contract = Contract(
            contract_id=f"k{customer:04d}", customer=f"customers/c{customer:04d}", plan_id=plan.plan_id,
            plan_version=1, currency="JPY", issuing_entity="jp", billing_anchor_day=1, start_date=date(2026, 1, 1),
            assets=tuple(CoveredAsset(f"a-{i}", site, f"CC-{i % 3}", date(2026, 1, 1)) for i in indices),
            billing_site=site, billing_cost_centre="CC-0")
        registers = {charge.register for charge in plan.charges if isinstance(charge, MeteredCharge | OutputPrice)}
        usage = [_usage(i, register) for i in indices for register in sorted(registers, key=lambda r: r.value)]
        downtime = ({f"a-{i}": 2 * 86_400 for i in indices if i % 100 == 7}
                    if any(isinstance(charge, AvailabilityGuarantee) for charge in plan.charges) else {})
        inputs.append(RatingInput(contract, plan, PERIOD, usage=usage, downtime_seconds=downtime))
    return inputs


def rate_and_consolidate(inputs: list[RatingInput]) -> list:
    return consolidate([rate_contract(each) for each in inputs], {"jp": japan_tax_policy()})


def fingerprint(invoices: list) -> str:
    """A digest of every line amount and invoice total, to show two code versions bill the same."""
    digest = hashlib.sha256()
    for invoice in invoices:
        digest.update(f"{invoice.customer} {invoice.subtotal} {invoice.tax_total} {invoice.total}\n".encode())
        for line in invoice.lines:
            digest.update(f"{line.contract_id} {line.charge_id} {line.asset} {line.quantity} {line.amount}\n".encode())
    return digest.hexdigest()[:16]


def measure(assets: int, repeat: int) -> dict:
    inputs = build_inputs(assets)
    rate_and_consolidate(inputs[:10])  # warm-up
    timings = []
    for _ in range(repeat):
        started = time.process_time()
        invoices = rate_and_consolidate(inputs)
        timings.append(time.process_time() - started)
    best = min(timings)
    return {"assets": assets, "contracts": len(inputs), "invoices": len(invoices),
            "lines": sum(len(invoice.lines) for invoice in invoices), "cpu_seconds_best": round(best, 3),
            "cpu_seconds_worst": round(max(timings), 3), "us_per_asset": round(1e6 * best / assets, 1),
            "fingerprint": fingerprint(invoices)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, nargs="+", default=[20_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top functions by own time instead")
    args = parser.parse_args()
    if args.profile:
        inputs = build_inputs(args.assets[0])
        profiler = cProfile.Profile()
        profiler.runcall(rate_and_consolidate, inputs)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    report("invoicing_rating", [measure(assets, args.repeat) for assets in args.assets])


if __name__ == "__main__":
    main()
