"""What a billing run asks the other services: usage from fleet, downtime and work from maintenance.

Calls go out in batches of at most 1000 assets, several at a time, each with the caller's
remaining deadline. Any answer other than OK stops the run: a bill must never be issued with
usage or credits silently missing.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import grpc
from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from fleetops.fleet.v1 import meters_pb2 as mpb
from fleetops.maintenance.v1 import maintenance_service_pb2 as mspb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as maintenance_grpc
from fleetops.maintenance.v1 import resources_pb2 as mres

from services.runtime.clients import Peer
from services.runtime.config import ServiceConfig
from services.runtime.errors import FailedPrecondition, Unavailable
from services.runtime.resources import from_timestamp, to_timestamp

BATCH = 1000
PARALLEL_CALLS = 4
CALL_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    value: Decimal
    estimated: bool
    read_time: datetime


@dataclass(frozen=True, slots=True)
class MeasuredUsage:
    asset: str  # `assets/{asset}`
    quantity: Decimal
    start: Endpoint
    end: Endpoint


@dataclass(frozen=True, slots=True)
class UsageWindow:
    fleet_register: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class CompletedWork:
    work_order: str
    asset: str
    completed_at: datetime
    labour_minutes: int
    parts: tuple[tuple[str, int], ...]


def _batches(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i:i + BATCH] for i in range(0, len(items), BATCH)]


def _in_parallel(calls: list[Callable[[], object]]) -> list:
    """Runs the calls on a few threads, each in a copy of the caller's context (deadline, identity)."""
    if len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=PARALLEL_CALLS, thread_name_prefix="invoicing-peer") as pool:
        futures = [pool.submit(contextvars.copy_context().run, call) for call in calls]
        return [future.result() for future in futures]


def _failed(service: str, what: str, error: grpc.RpcError) -> Exception:
    code = error.code()
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
        return FailedPrecondition(f"the {service} service refused {what}: {error.details()}",
                                  reason="DEPENDENCY_REFUSED", metadata={"service": service})
    return Unavailable(f"the {service} service could not provide {what} ({code.name}: {error.details()}); "
                       f"nothing was billed, retry later", metadata={"service": service})


class FleetUsage:
    def __init__(self, config: ServiceConfig):
        self._peer = Peer(config, "fleet", fleet_grpc.FleetServiceStub)

    def usage(self, windows: dict[UsageWindow, list[str]]) -> dict[tuple[UsageWindow, str], MeasuredUsage]:
        """Usage of each asset (`assets/{asset}`) in each window, keyed by (window, asset)."""
        calls = [(window, batch) for window, assets in windows.items() for batch in _batches(sorted(set(assets)))]
        answers = _in_parallel([lambda window=window, batch=batch: self._get_usage(window, batch)
                                for window, batch in calls])
        found: dict[tuple[UsageWindow, str], MeasuredUsage] = {}
        for (window, _batch), usages in zip(calls, answers, strict=True):
            for usage in usages:
                found[(window, usage.asset)] = usage
        return found

    def _get_usage(self, window: UsageWindow, assets: Sequence[str]) -> list[MeasuredUsage]:
        request = mpb.GetUsageRequest(assets=list(assets), register=window.fleet_register,
                                      start_time=to_timestamp(window.start), end_time=to_timestamp(window.end))
        try:
            response = self._peer.call(self._peer.stub.GetUsage, request, CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            raise _failed("fleet", f"usage of {window.fleet_register}", error) from error
        except Unavailable as error:
            raise Unavailable(f"the fleet service did not answer ({error.message}): usage of "
                              f"{window.fleet_register} is missing, nothing was billed",
                              metadata={"service": "fleet"}) from error
        times: dict[tuple[int, int], datetime] = {}  # reads share a handful of times: each converted once
        return [MeasuredUsage(u.asset, Decimal(u.quantity), _endpoint(u.start, times), _endpoint(u.end, times))
                for u in response.usages]

    def close(self) -> None:
        self._peer.close()


def _endpoint(endpoint: mpb.UsageEndpoint, times: dict[tuple[int, int], datetime]) -> Endpoint:
    stamp = endpoint.reading_time if endpoint.HasField("reading_time") else endpoint.time
    key = (stamp.seconds, stamp.nanos)
    read_time = times.get(key)
    if read_time is None:
        read_time = times[key] = from_timestamp(stamp)
    return Endpoint(Decimal(endpoint.counter_value or "0"), endpoint.kind != mpb.ENDPOINT_KIND_ACTUAL, read_time)


class MaintenanceRecords:
    def __init__(self, config: ServiceConfig):
        self._peer = Peer(config, "maintenance", maintenance_grpc.MaintenanceServiceStub)

    def downtime(self, assets: Iterable[str], start: datetime,
                 end: datetime) -> dict[str, list[tuple[datetime, datetime | None]]]:
        """Downtime intervals overlapping [start, end) per asset (`assets/{asset}`), end None while down."""
        found: dict[str, list[tuple[datetime, datetime | None]]] = {}
        answers = _in_parallel([lambda batch=batch: self._downtime(batch, start, end)
                                for batch in _batches(sorted(set(assets)))])
        for intervals in answers:
            for interval in intervals:
                found.setdefault(interval.asset, []).append(
                    (from_timestamp(interval.start_time),
                     from_timestamp(interval.end_time) if interval.HasField("end_time") else None))
        return found

    def _downtime(self, assets: Sequence[str], start: datetime, end: datetime) -> list:
        intervals, token = [], ""
        while True:
            request = mspb.ListDowntimeIntervalsRequest(assets=list(assets), start_time=to_timestamp(start),
                                                        end_time=to_timestamp(end), page_size=1000, page_token=token)
            response = self._call(self._peer.stub.ListDowntimeIntervals, request, "downtime for availability credits")
            intervals += response.intervals
            token = response.next_page_token
            if not token:
                return intervals

    def completed_work(self, customer: str, start: datetime, end: datetime) -> list[CompletedWork]:
        orders, token = [], ""
        while True:
            request = mspb.ListWorkOrdersRequest(customer=customer, state=mres.WORK_ORDER_STATE_COMPLETED,
                                                 completed_after=to_timestamp(start),
                                                 completed_before=to_timestamp(end), page_size=1000, page_token=token)
            response = self._call(self._peer.stub.ListWorkOrders, request, "completed work orders")
            orders += [CompletedWork(order.name, order.asset, from_timestamp(order.complete_time),
                                     order.completion.labour_minutes,
                                     tuple((part.part, part.quantity) for part in order.completion.parts_used))
                       for order in response.work_orders]
            token = response.next_page_token
            if not token:
                return orders

    def _call(self, method, request, what: str):
        try:
            return self._peer.call(method, request, CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            raise _failed("maintenance", what, error) from error
        except Unavailable as error:
            raise Unavailable(f"the maintenance service did not answer ({error.message}): {what} are missing, "
                              f"nothing was billed", metadata={"service": "maintenance"}) from error

    def close(self) -> None:
        self._peer.close()
