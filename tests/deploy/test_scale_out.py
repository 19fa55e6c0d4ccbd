"""Two replicas of a service on one PostgreSQL database behave as one service: concurrent work split
across them creates no duplicates, and invoice numbers stay gapless.

PostgreSQL only: that is what several replicas share in a deployment (SQLite is one process's file).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import grpc
import pytest
from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2 as mpb

from tests.conftest import ServiceUnderTest, start_service, stop_service
from tests.invoicing.invoicing_service_builders import UNREACHABLE, Billing, fee, unique
from tests.maintenance.maintenance_factory import Devices, alert_row, eventually, when

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

RETRIES = 5
BURST = 12
DRAFTS = 20


@dataclass
class Replicas:
    fleet: ServiceUnderTest
    maintenance: tuple[ServiceUnderTest, ServiceUnderTest]
    invoicing: tuple[ServiceUnderTest, ServiceUnderTest]


@pytest.fixture(scope="module")
def replicas(new_database_url) -> Iterator[Replicas]:
    from services.fleet.main import DEFINITION as FLEET
    from services.invoicing.main import DEFINITION as INVOICING
    from services.maintenance.main import DEFINITION as MAINTENANCE

    fleet = start_service(FLEET, new_database_url("fleet"))
    started = [fleet]
    maintenance_url, invoicing_url = new_database_url("maintenance"), new_database_url("invoicing")
    for _ in range(2):
        started.append(start_service(MAINTENANCE, maintenance_url, peers={"fleet": fleet.address, "invoicing": UNREACHABLE},
                                     solver_workers=1))
    for _ in range(2):
        started.append(start_service(INVOICING, invoicing_url, peers={"fleet": fleet.address, "maintenance": UNREACHABLE}))
    yield Replicas(fleet, (started[1], started[2]), (started[3], started[4]))
    for handle in started:
        stop_service(handle)


def _retrying_unavailable(call: Callable[[], object]):
    """A well-behaved client retries UNAVAILABLE (AIP-194): the answer to a collision between replicas."""
    for attempt in range(RETRIES):
        try:
            return call()
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == RETRIES - 1:
                raise


def _split_burst(replicas: Replicas, *, wait: bool) -> tuple[Devices, Devices, str, list[dpb.IngestDiagnosticsResponse]]:
    """Twelve repeats of one fault on a new printer, sent alternately to the two replicas by six callers."""
    left, right = (Devices(replicas.fleet.channel, replica.channel) for replica in replicas.maintenance)
    printer = left.asset()
    sends = [(left if minute % 2 else right, left.event(printer, when(minute), printer_alert=alert_row()))
             for minute in range(BURST)]
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda pair: _retrying_unavailable(lambda: pair[0].ingest(pair[1], wait=wait)), sends))
    return left, right, printer, responses


def test_a_burst_of_one_fault_split_across_two_replicas_opens_one_work_order(replicas):
    left, right, printer, responses = _split_burst(replicas, wait=True)
    orders = {name for response in responses for result in response.results for name in result.work_orders}
    assert len(orders) == 1
    for devices in (left, right):
        listed = devices.stub.ListWorkOrders(mpb.ListWorkOrdersRequest(asset=printer)).work_orders
        assert [order.name for order in listed] == list(orders)


def test_the_same_events_sent_to_both_replicas_are_stored_once(replicas):
    left, right = (Devices(replicas.fleet.channel, replica.channel) for replica in replicas.maintenance)
    right.source = left.source  # one collector delivering to both replicas
    printer = left.asset()
    events = [left.event(printer, when(minute), f"evt-{minute}", printer_alert=alert_row()) for minute in range(8)]
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda devices: _retrying_unavailable(lambda: devices.ingest(*events)),
                                  (left, right, left, right)))
    outcomes = Counter((result.index, result.outcome) for response in responses for result in response.results)
    for index in range(len(events)):
        assert outcomes[(index, dpb.INGEST_OUTCOME_ACCEPTED)] == 1, index
        assert outcomes[(index, dpb.INGEST_OUTCOME_DUPLICATE)] == 3, index
    for devices in (left, right):
        [alarm] = devices.stub.ListAlarms(mpb.ListAlarmsRequest(asset=printer)).alarms
        assert alarm.count == len(events)


def test_a_burst_acknowledged_by_both_replicas_is_processed_once_in_the_background(replicas):
    left, right, printer, responses = _split_burst(replicas, wait=False)
    assert [r.results[0].outcome for r in responses] == [dpb.INGEST_OUTCOME_ACCEPTED] * BURST
    alarms = eventually(lambda: right.stub.ListAlarms(mpb.ListAlarmsRequest(asset=printer)).alarms,
                        lambda found: len(found) == 1 and found[0].count == BURST and found[0].work_order)
    [alarm] = alarms
    assert alarm.count == BURST  # each event processed once, by one replica or the other
    listed = left.stub.ListWorkOrders(mpb.ListWorkOrdersRequest(asset=printer)).work_orders
    assert [order.name for order in listed] == [alarm.work_order]


def test_two_invoicing_replicas_number_concurrent_finalizations_without_gaps(replicas):
    left, right = (Billing(replica.channel) for replica in replicas.invoicing)
    issuer = left.issuer(series="SCALE")
    plan = left.plan(fee("base", "10000"))
    group = unique("group")
    for index in range(DRAFTS):
        (left, right)[index % 2].contract(f"customers/{group}-{index}", plan, issuer, [f"assets/{group}-{index}"])
    run = left.execute(left.run(date(2026, 5, 1)))
    drafts = [name for name in run.invoices if left.invoice(name).issuing_entity == issuer.name]
    assert len(drafts) == DRAFTS

    # Every draft is finalized through both replicas at once, with one request id: one number each.
    calls = [(billing, name) for name in drafts for billing in (left, right)]
    with ThreadPoolExecutor(8) as pool:
        finalized = list(pool.map(
            lambda call: _retrying_unavailable(lambda: call[0].finalize(call[1], request_id=f"fin-{call[1]}")), calls))

    numbers = {invoice.name: invoice.number for invoice in finalized}
    assert all(numbers[invoice.name] == invoice.number for invoice in finalized)  # both replicas agree
    year = finalized[0].finalize_time.ToDatetime().year
    assert sorted(numbers.values()) == [f"SCALE-{year}-{n:06d}" for n in range(1, DRAFTS + 1)]
    assert {right.invoice(name).state for name in drafts} == {bpb.INVOICE_STATE_FINALIZED}
