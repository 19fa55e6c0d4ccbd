"""fleetctl against a real fleet service: listing, a missing asset, an import with a bad row."""

from __future__ import annotations

import json

from tests.cli.fleetctl_runner import fleetctl
from tests.fleet.fleet_factory import Fleet, unique


def test_assets_list_prints_the_customers_assets(suite):
    fleet = suite["fleet"]
    f = Fleet(fleet.channel)
    customer = f.customer()
    model = f.printer_model()
    assets = [f.asset(customer, model) for _ in range(2)]

    table = fleetctl("assets", "list", "--customer", customer.name, fleet_address=fleet.address)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "SERIAL", "MODEL", "STATE"]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(a.name for a in assets)
    assert all("ACTIVE" in line for line in lines[1:])

    as_json = fleetctl("--json", "assets", "list", "--customer", customer.name, fleet_address=fleet.address)
    assert sorted(a["serialNumber"] for a in json.loads(as_json.stdout)) == sorted(a.serial_number for a in assets)


def test_get_of_a_missing_asset_exits_1_with_not_found_and_no_traceback(fleet):
    result = fleetctl("assets", "get", "no-such-asset", fleet_address=fleet.address)
    assert result.returncode == 1
    assert result.stderr.startswith("error: NOT_FOUND:")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_import_with_a_bad_row_prints_the_row_named_violations(fleet, tmp_path):
    model_id = Fleet(fleet.channel).printer_model().name.split("/")[1]
    customer = unique("imp")
    (tmp_path / "customers.csv").write_text(
        "customer_id,legal_name,currency_code,tax_registration_number,data_collection_consent,parent_customer_id\n"
        f"{customer},Imported KK,JPY,,yes,\n")
    (tmp_path / "sites.csv").write_text(
        "customer_id,site_id,display_name,address,latitude,longitude,time_zone,service_territory\n"
        f"{customer},osaka,Osaka branch,,34.69,135.50,Asia/Tokyo,kansai\n")
    (tmp_path / "assets.csv").write_text(
        "asset_id,serial_number,device_model_id,customer_id,site_id,acquisition_mode,owner_party,install_date,contract\n"
        f"{customer}-a1,SN-{customer}-1,{model_id},{customer},osaka,lease,provider,2025-04-01,\n"
        f"{customer}-a2,SN-{customer}-2,no-such-model,{customer},osaka,lease,provider,2025-04-01,\n")
    result = fleetctl("import-fleet", "--customers", str(tmp_path / "customers.csv"),
                      "--sites", str(tmp_path / "sites.csv"), "--assets", str(tmp_path / "assets.csv"),
                      fleet_address=fleet.address)
    assert result.returncode == 1
    assert result.stderr.startswith("error: INVALID_ARGUMENT:")
    assert "  assets_csv[row 3].device_model: " in result.stderr
    assert "Traceback" not in result.stderr

    good = fleetctl("import-fleet", "--customers", str(tmp_path / "customers.csv"), "--sites", str(tmp_path / "sites.csv"),
                    fleet_address=fleet.address)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "imported 1 customers, 1 sites, 0 assets"
