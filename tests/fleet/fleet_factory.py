"""Builds small fleets through the public API, with unique ids so tests can share a server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from fleetops.fleet.v1 import meters_pb2 as mpb
from fleetops.fleet.v1 import resources_pb2 as res
from google.protobuf import timestamp_pb2
from google.type import date_pb2, money_pb2


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


def at(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


class Fleet:
    def __init__(self, channel):
        self.stub = pb_grpc.FleetServiceStub(channel)

    def customer(self, consent: bool = True, **fields) -> res.Customer:
        customer = res.Customer(legal_name="Acme KK", currency_code="JPY", data_collection_consent=consent, **fields)
        return self.stub.CreateCustomer(pb.CreateCustomerRequest(customer_id=unique("cust"), customer=customer))

    def site(self, customer: res.Customer, **fields) -> res.Site:
        site = res.Site(display_name="Head office", time_zone="Asia/Tokyo", **fields)
        return self.stub.CreateSite(pb.CreateSiteRequest(parent=customer.name, site_id=unique("site"), site=site))

    def printer_model(self, rollover_at: str = "10000000", jitter: str = "") -> res.DeviceModel:
        model = res.DeviceModel(
            device_class=res.DEVICE_CLASS_PRINTER, maker="Ricoh", display_name="IM C3000",
            printer=res.PrinterCapabilities(colour=True, a3=True, pages_per_minute=30,
                                            recommended_monthly_volume={"mono_impressions": 3000}),
            list_price=money_pb2.Money(currency_code="JPY", units=1_200_000),
            monthly_lease_cost=money_pb2.Money(currency_code="JPY", units=25_000),
            expected_life_months=60, expected_life_register="mono_impressions", expected_life_counter="1500000",
            registers=[res.MeterRegister(code="mono_impressions", rollover_at=rollover_at, backward_jitter_tolerance=jitter),
                       res.MeterRegister(code="colour_impressions", rollover_at=rollover_at)])
        return self.stub.CreateDeviceModel(pb.CreateDeviceModelRequest(device_model_id=unique("model"),
                                                                       device_model=model))

    def asset(self, customer: res.Customer, model: res.DeviceModel, site: res.Site | None = None,
              installed: bool = True) -> res.Asset:
        asset = self.stub.CreateAsset(pb.CreateAssetRequest(asset_id=unique("asset"), asset=res.Asset(
            serial_number=unique("SN"), device_model=model.name, customer=customer.name,
            acquisition_mode=res.ACQUISITION_MODE_LEASE)))
        if installed:
            site = site or self.site(customer)
            asset = self.stub.InstallAsset(pb.InstallAssetRequest(
                name=asset.name, site=site.name, install_date=date_pb2.Date(year=2026, month=1, day=15)))
            asset = self.stub.ActivateAsset(pb.AssetTransitionRequest(name=asset.name))
        return asset

    def printer(self, **model_options) -> res.Asset:
        return self.asset(self.customer(), self.printer_model(**model_options))

    def read(self, asset: res.Asset, *values: tuple[datetime, str], register: str = "mono_impressions"):
        readings = [mpb.MeterReading(asset=asset.name, register=register, value=value, read_time=stamp(moment),
                                     source=mpb.READING_SOURCE_DEVICE) for moment, value in values]
        return self.stub.RecordMeterReadings(mpb.RecordMeterReadingsRequest(readings=readings))

    def usage(self, asset: res.Asset, start: datetime, end: datetime, register: str = "mono_impressions"):
        return self.stub.GetUsage(mpb.GetUsageRequest(assets=[asset.name], register=register,
                                                      start_time=stamp(start), end_time=stamp(end))).usages[0]
