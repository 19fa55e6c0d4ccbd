"""Invoicing metrics for Prometheus: counters of finalizations and runs, MRR gauges per currency.

MRR is computed from the database at scrape time for the calendar month of the latest finalized
invoice of each currency (bounded labels: currency only, never a customer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from services.invoicing.domain.contracts import BillingPeriod
from services.invoicing.revenue_store import monthly_recurring_revenue
from services.invoicing.store import InvoiceRow
from services.runtime.db import Database

log = logging.getLogger(__name__)


@dataclass
class InvoicingMetrics:
    invoices_finalized: Counter
    billing_runs: Counter
    amount_finalized: Counter
    billing_run_phase_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry, database: Database) -> InvoicingMetrics:
        registry.register(MrrGauges(database))
        return cls(
            invoices_finalized=Counter("fleetops_invoicing_invoices_finalized",
                                       "Invoices and credit notes finalized (numbered).", ["document_type"],
                                       registry=registry),
            billing_runs=Counter("fleetops_invoicing_billing_runs", "Billing run executions by result.", ["result"],
                                 registry=registry),
            # A float is fine for a dashboard; the invoices themselves carry the exact amounts.
            amount_finalized=Counter("fleetops_invoicing_amount_finalized",
                                     "Totals of finalized documents by currency (credit notes count negative).",
                                     ["currency"], registry=registry),
            billing_run_phase_seconds=Histogram(
                "fleetops_invoicing_billing_run_phase_seconds",
                "Busy seconds of a billing run's stages: inputs (contracts), usage (fleet), downtime and work "
                "(maintenance), rating, write (drafts); the stages overlap chunk by chunk.", ["phase"],
                registry=registry,
                buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)),
        )


class MrrGauges(Collector):
    def __init__(self, database: Database):
        self._database = database

    def collect(self):
        gauge = GaugeMetricFamily("fleetops_invoicing_mrr",
                                  "Monthly recurring revenue of the latest invoiced month, by currency.",
                                  labels=["currency"])
        try:
            with self._database.unit_of_work() as session:
                latest = session.execute(select(InvoiceRow.currency, func.max(InvoiceRow.period_start))
                                         .where(InvoiceRow.state == "FINALIZED", InvoiceRow.document_type == "INVOICE")
                                         .group_by(InvoiceRow.currency)).all()
                for currency, period_start in latest:
                    period = BillingPeriod.anchored(period_start.year, period_start.month, 1)
                    mrr = monthly_recurring_revenue(session, currency, period)
                    gauge.add_metric([currency], float(sum(mrr.values())))
        except Exception:  # a scrape must not fail because the database is briefly away
            log.warning("could not compute MRR for /metrics", exc_info=True)
            return
        yield gauge
