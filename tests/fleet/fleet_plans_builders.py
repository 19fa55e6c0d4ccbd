"""Small fleets with floor plans and priced models, for the placement and replacement plan tests."""

from __future__ import annotations

import time

from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import placement_pb2 as ppb
from fleetops.fleet.v1 import resources_pb2 as res
from google.type import date_pb2, money_pb2

from tests.fleet.fleet_factory import Fleet, unique


def yen(units: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="JPY", units=units)


def amount(money: money_pb2.Money) -> int:
    assert money.currency_code == "JPY" and money.nanos == 0
    return money.units


class PlanFleet(Fleet):
    def location(self, site: res.Site, floor: str, x: float, y: float) -> res.Location:
        return self.stub.CreateLocation(pb.CreateLocationRequest(
            parent=site.name, location_id=unique("loc"),
            location=res.Location(building="main", floor=floor, x_metres=x, y_metres=y)))

    def priced_printer(self, mono: int, colour: int, lease: int, price: int = 0, life_months: int = 60,
                       **registers) -> res.DeviceModel:
        volumes = {"mono_impressions": mono, **({"colour_impressions": colour} if colour else {})}
        model = res.DeviceModel(
            device_class=res.DEVICE_CLASS_PRINTER, maker="Ricoh", display_name=f"MFP {mono}/{colour}",
            printer=res.PrinterCapabilities(colour=bool(colour), recommended_monthly_volume=volumes),
            monthly_lease_cost=yen(lease), list_price=yen(price or lease * 40), expected_life_months=life_months,
            expected_life_register="mono_impressions",
            registers=[res.MeterRegister(code="mono_impressions"), res.MeterRegister(code="colour_impressions")])
        return self.stub.CreateDeviceModel(pb.CreateDeviceModelRequest(device_model_id=unique("model"),
                                                                       device_model=model))

    def installed(self, customer: res.Customer, model: res.DeviceModel, site: res.Site,
                  location: res.Location | None = None) -> res.Asset:
        asset = self.stub.CreateAsset(pb.CreateAssetRequest(asset_id=unique("asset"), asset=res.Asset(
            serial_number=unique("SN"), device_model=model.name, customer=customer.name)))
        asset = self.stub.InstallAsset(pb.InstallAssetRequest(
            name=asset.name, site=site.name, location=location.name if location else "",
            install_date=date_pb2.Date(year=2026, month=1, day=15)))
        return self.stub.ActivateAsset(pb.AssetTransitionRequest(name=asset.name))


def poll_until_done(get, name: str, seconds: float = 30.0):
    """Gets the plan until it leaves RUNNING; fails after `seconds`."""
    give_up = time.monotonic() + seconds
    while True:
        plan = get(name)
        if plan.state != ppb.PLAN_STATE_RUNNING:
            return plan
        assert time.monotonic() < give_up, f"{name} still RUNNING after {seconds} s"
        time.sleep(0.1)

