"""Read-only views across resources: revenue KPIs."""

from __future__ import annotations

from decimal import Decimal

from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb

from services.invoicing.api.common import required_date
from services.invoicing.domain.contracts import BillingPeriod
from services.invoicing.domain.revenue import arpu, mrr_movements
from services.invoicing.revenue_store import monthly_recurring_revenue
from services.runtime.currencies import is_known_currency
from services.runtime.errors import InvalidArgument
from services.runtime.proto_values import date_to_proto, money_to_proto
from services.runtime.scoping import deny_scoped

ZERO = Decimal(0)


class ReportMethods:
    def GetRevenueMetrics(self, request: pb.GetRevenueMetricsRequest, context) -> bpb.RevenueMetrics:
        deny_scoped("revenue metrics across customers")
        currency = request.currency_code
        if not is_known_currency(currency):
            raise InvalidArgument.field("currency_code", "must be an ISO 4217 code such as JPY")
        start = required_date(request.period_start, "period_start", request.HasField("period_start"))
        period = BillingPeriod.anchored(start.year, start.month, start.day)
        if period.start != start:
            raise InvalidArgument.field("period_start", "use a day that exists in every month (1 to 28)")
        previous = period.shifted(-1, start.day)
        with self._db.unit_of_work() as session:
            current_mrr = monthly_recurring_revenue(session, currency, period)
            previous_mrr = monthly_recurring_revenue(session, currency, previous)
        moves = mrr_movements(previous_mrr, current_mrr)

        def money(amount):
            return money_to_proto(amount, currency)

        return bpb.RevenueMetrics(
            period_start=date_to_proto(period.start), period_end=date_to_proto(period.end), mrr=money(moves.current),
            previous_mrr=money(moves.previous), new_mrr=money(moves.new), expansion_mrr=money(moves.expansion),
            contraction_mrr=money(moves.contraction), churned_mrr=money(moves.churn),
            arpu=money(arpu(current_mrr, currency)), paying_customers=sum(1 for v in current_mrr.values() if v > 0),
            customers=[bpb.CustomerMrr(customer=customer, mrr=money(current_mrr.get(customer, ZERO)),
                                       movement=movement.value)
                       for customer, movement in moves.by_customer.items()])
