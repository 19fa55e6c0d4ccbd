"""Assets, sites, models and onboarding as account managers and other services use them."""

from __future__ import annotations

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import resources_pb2 as res
from google.protobuf import field_mask_pb2
from google.type import date_pb2

from tests.fleet.fleet_factory import Fleet, at, unique
from tests.runtime.test_runtime_edge import rich_error


def test_illegal_lifecycle_transition_is_refused(fleet):
    f = Fleet(fleet.channel)
    ordered = f.asset(f.customer(), f.printer_model(), installed=False)
    assert ordered.state == res.ASSET_STATE_ORDERED
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.ActivateAsset(pb.AssetTransitionRequest(name=ordered.name))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(caught.value)[1].reason == "ILLEGAL_ASSET_TRANSITION"
    active = f.printer()
    suspended = f.stub.SuspendAsset(pb.AssetTransitionRequest(name=active.name))
    resumed = f.stub.ActivateAsset(pb.AssetTransitionRequest(name=active.name))
    retired = f.stub.RetireAsset(pb.AssetTransitionRequest(name=active.name, etag=resumed.etag))
    assert [suspended.state, resumed.state, retired.state] == [res.ASSET_STATE_SUSPENDED, res.ASSET_STATE_ACTIVE,
                                                               res.ASSET_STATE_RETIRED]
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.ActivateAsset(pb.AssetTransitionRequest(name=active.name))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_transition_with_stale_etag_is_aborted(fleet):
    f = Fleet(fleet.channel)
    asset = f.printer()
    f.stub.SuspendAsset(pb.AssetTransitionRequest(name=asset.name, etag=asset.etag))
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.RetireAsset(pb.AssetTransitionRequest(name=asset.name, etag=asset.etag))
    assert caught.value.code() == grpc.StatusCode.ABORTED


def test_consent_is_readable_on_the_asset_by_other_services(fleet):
    f = Fleet(fleet.channel)
    model = f.printer_model()
    refusing = f.asset(f.customer(consent=False), model)
    consenting = f.asset(f.customer(consent=True), model)
    assert f.stub.GetAsset(pb.GetAssetRequest(name=refusing.name)).data_collection_consent is False
    assert f.stub.GetAsset(pb.GetAssetRequest(name=consenting.name)).data_collection_consent is True


def test_serial_number_is_unique_per_maker(fleet):
    f = Fleet(fleet.channel)
    customer, model = f.customer(), f.printer_model()
    first = f.asset(customer, model, installed=False)
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.CreateAsset(pb.CreateAssetRequest(asset_id=unique("asset"), asset=res.Asset(
            serial_number=first.serial_number, device_model=model.name, customer=customer.name)))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_moves_are_recorded_with_who_and_where(fleet):
    f = Fleet(fleet.channel)
    customer = f.customer()
    head_office, warehouse = f.site(customer), f.site(customer)
    floor = f.stub.CreateLocation(pb.CreateLocationRequest(parent=warehouse.name, location_id="floor-2",
                                                           location=res.Location(floor="2", x_metres=12.5)))
    asset = f.asset(customer, f.printer_model(), site=head_office)
    moved = f.stub.MoveAsset(pb.MoveAssetRequest(name=asset.name, site=warehouse.name, location=floor.name,
                                                 reason="more users on floor 2"))
    assert (moved.site, moved.location) == (warehouse.name, floor.name)
    moves = f.stub.ListAssetMoves(pb.ListAssetMovesRequest(name=asset.name)).moves
    assert [(m.from_site, m.to_site, m.to_location, m.moved_by) for m in moves] == [
        (head_office.name, warehouse.name, floor.name, "test-admin")]
    other = f.site(f.customer())
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.MoveAsset(pb.MoveAssetRequest(name=asset.name, site=other.name))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_lists_filter_by_customer_site_class_and_state(fleet):
    f = Fleet(fleet.channel)
    customer = f.customer()
    site = f.site(customer)
    model = f.printer_model()
    active = f.asset(customer, model, site=site)
    ordered = f.asset(customer, model, installed=False)
    by_customer = f.stub.ListAssets(pb.ListAssetsRequest(customer=customer.name)).assets
    assert sorted(a.name for a in by_customer) == sorted([active.name, ordered.name])
    by_state = f.stub.ListAssets(pb.ListAssetsRequest(customer=customer.name, state=res.ASSET_STATE_ORDERED)).assets
    assert [a.name for a in by_state] == [ordered.name]
    by_site = f.stub.ListAssets(pb.ListAssetsRequest(site=site.name, device_class=res.DEVICE_CLASS_PRINTER)).assets
    assert [a.name for a in by_site] == [active.name]
    assert [s.name for s in f.stub.ListSites(pb.ListSitesRequest(parent=customer.name)).sites] == [site.name]


def test_site_and_model_validation_name_fields(fleet):
    f = Fleet(fleet.channel)
    customer = f.customer()
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.CreateSite(pb.CreateSiteRequest(parent=customer.name, site_id="hq",
                                               site=res.Site(display_name="HQ", time_zone="Mars/Olympus")))
    assert rich_error(caught.value)[0][0][0] == "site.time_zone"
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.CreateSite(pb.CreateSiteRequest(parent="customers/nobody", site_id="hq",
                                               site=res.Site(display_name="HQ", time_zone="Asia/Tokyo")))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.CreateDeviceModel(pb.CreateDeviceModelRequest(device_model_id="odd", device_model=res.DeviceModel(
            device_class=res.DEVICE_CLASS_FORKLIFT, maker="Toyota", display_name="8FBE",
            printer=res.PrinterCapabilities(colour=True))))
    assert rich_error(caught.value)[0][0][0] == "device_model.printer"


def test_model_round_trips_capabilities_money_and_registers(fleet):
    f = Fleet(fleet.channel)
    model = f.printer_model()
    fetched = f.stub.GetDeviceModel(pb.GetDeviceModelRequest(name=model.name))
    assert fetched == model
    assert fetched.printer.recommended_monthly_volume["mono_impressions"] == 3000
    assert (fetched.monthly_lease_cost.units, fetched.monthly_lease_cost.currency_code) == (25000, "JPY")
    renamed = f.stub.UpdateDeviceModel(pb.UpdateDeviceModelRequest(
        device_model=res.DeviceModel(name=model.name, display_name="IM C3010", etag=model.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"])))
    assert renamed.display_name == "IM C3010" and renamed.printer == model.printer


CUSTOMERS_CSV = """customer_id,legal_name,currency_code,tax_registration_number,data_collection_consent,parent_customer_id
{c},Imported KK,JPY,,yes,
"""
SITES_CSV = """customer_id,site_id,display_name,address,latitude,longitude,time_zone,service_territory
{c},osaka,Osaka branch,,34.69,135.50,Asia/Tokyo,kansai
"""
ASSETS_CSV = """asset_id,serial_number,device_model_id,customer_id,site_id,acquisition_mode,owner_party,install_date,contract
{a1},SN-{a1},{m},{c},osaka,lease,provider,2025-04-01,
{a2},SN-{a2},no-such-model,{c},osaka,lease,provider,2025-04-01,
{a3},SN-{a3},{m},{c},osaka,bartered,provider,2025-13-01,
"""


def test_csv_import_with_a_bad_row_imports_nothing_and_names_the_rows(fleet):
    f = Fleet(fleet.channel)
    model_id = f.printer_model().name.split("/")[1]
    ids = dict(c=unique("imp"), a1=unique("a"), a2=unique("a"), a3=unique("a"), m=model_id)
    request = pb.ImportFleetRequest(customers_csv=CUSTOMERS_CSV.format(**ids), sites_csv=SITES_CSV.format(**ids),
                                    assets_csv=ASSETS_CSV.format(**ids))
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.ImportFleet(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [field for field, _ in rich_error(caught.value)[0]]
    assert fields == ["assets_csv[row 3].device_model", "assets_csv[row 4].acquisition_mode"]
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.GetCustomer(pb.GetCustomerRequest(name=f"customers/{ids['c']}"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    good_assets = "\n".join(ASSETS_CSV.format(**ids).splitlines()[:2]) + "\n"
    imported = f.stub.ImportFleet(pb.ImportFleetRequest(customers_csv=request.customers_csv,
                                                        sites_csv=request.sites_csv, assets_csv=good_assets))
    assert (imported.customers_created, imported.sites_created, imported.assets_created) == (1, 1, 1)
    asset = f.stub.GetAsset(pb.GetAssetRequest(name=f"assets/{ids['a1']}"))
    assert asset.state == res.ASSET_STATE_ACTIVE and asset.site == f"customers/{ids['c']}/sites/osaka"
    assert asset.data_collection_consent is True


def test_kpis_count_active_assets_utilisation_and_end_of_life(fleet):
    f = Fleet(fleet.channel)
    customer = f.customer()
    model = f.printer_model()
    busy, idle = f.asset(customer, model), f.asset(customer, model)
    f.read(busy, (at(1), "100000"), (at(31), "106000"))  # 6,000 pages in 30 days: 200% of 3,000
    f.read(idle, (at(1), "1500000"), (at(31), "1500000"))  # at its 1,500,000-page life counter
    f.stub.SuspendAsset(pb.AssetTransitionRequest(name=idle.name))
    kpis = f.stub.GetFleetKpis(pb.GetFleetKpisRequest(customer=customer.name,
                                                      as_of=date_pb2.Date(year=2026, month=3, day=31)))
    assert kpis.active_assets == 1 and kpis.installed_assets == 2
    assert kpis.assets_past_expected_life == 1
    assert kpis.utilisation == "1.0000"  # (6,000 + 0) / (3,000 + 3,000)


def test_metrics_show_assets_by_class_and_state_and_readings_by_result(fleet):
    import urllib.request
    f = Fleet(fleet.channel)
    printer = f.printer()
    f.read(printer, (at(1), "10"), (at(2), "5"))
    with urllib.request.urlopen(fleet.metrics_url, timeout=5) as response:
        text = response.read().decode()
    assert 'fleetops_fleet_assets{device_class="printer",state="active"}' in text
    assert 'fleetops_fleet_meter_readings_total{result="rejected"}' in text
    assert "asset-" not in text  # no per-asset labels


def test_batch_get_returns_found_assets_in_order_and_names_the_missing(fleet):
    f = Fleet(fleet.channel)
    first, second = f.printer(), f.printer()
    response = f.stub.BatchGetAssets(pb.BatchGetAssetsRequest(names=[second.name, "assets/ghost", first.name]))
    assert [a.name for a in response.assets] == [second.name, first.name]
    assert list(response.missing) == ["assets/ghost"]
