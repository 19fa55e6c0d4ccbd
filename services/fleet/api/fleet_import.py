"""Fleet onboarding from CSV, all or nothing, and fleet KPIs."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import resources_pb2 as res
from google.type import latlng_pb2
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.fleet.api.assets import _MODE_TO_PROTO, ASSET_COLLECTION
from services.fleet.api.catalog import (
    CUSTOMER_COLLECTION,
    CUSTOMERS,
    DEVICE_CLASS_FROM_PROTO,
    DEVICE_MODELS,
    SITE_COLLECTION,
    SITES,
    register_specs,
)
from services.fleet.domain.assets import AssetState
from services.fleet.domain.kpis import AssetLife, past_expected_life, utilisation
from services.fleet.domain.meters import DEFAULT_READ_TOLERANCE, build_timeline, usage_between
from services.fleet.meter_store import readings_between, resets_of
from services.fleet.store import AssetRow, CustomerRow, DeviceModelRow
from services.runtime.audit import note_change
from services.runtime.crud import Collection
from services.runtime.errors import DomainError, FieldViolation, InvalidArgument
from services.runtime.proto_values import date_from_proto
from services.runtime.scoping import deny_scoped

MAX_IMPORT_ROWS = 50_000
KPI_WINDOW = timedelta(days=30)
CUSTOMER_COLUMNS = ("customer_id", "legal_name", "currency_code", "tax_registration_number",
                    "data_collection_consent", "parent_customer_id")
SITE_COLUMNS = ("customer_id", "site_id", "display_name", "address", "latitude", "longitude", "time_zone",
                "service_territory")
ASSET_COLUMNS = ("asset_id", "serial_number", "device_model_id", "customer_id", "site_id", "acquisition_mode",
                 "owner_party", "install_date", "contract")
_TRUE = {"true", "yes", "1", "y"}


def _rows(text: str, columns: tuple[str, ...], field: str) -> list[tuple[int, dict[str, str]]]:
    """Data rows with their line numbers in the file (the header is line 1)."""
    if not text.strip():
        return []
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidArgument.field(field, f"header lacks {', '.join(missing)}; expected {','.join(columns)}")
    rows = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidArgument.field(field, f"at most {MAX_IMPORT_ROWS} rows per import")
    return rows


def _customer(row: dict[str, str]) -> res.Customer:
    return res.Customer(legal_name=row["legal_name"], currency_code=row["currency_code"],
                        tax_registration_number=row["tax_registration_number"],
                        data_collection_consent=row["data_collection_consent"].lower() in _TRUE,
                        parent_customer=CUSTOMERS.name_of(row["parent_customer_id"]) if row["parent_customer_id"] else "")


def _site(row: dict[str, str]) -> res.Site:
    for column in ("latitude", "longitude"):
        try:
            float(row[column] or 0)
        except ValueError:
            raise InvalidArgument.field(f"site.{column}", f"must be a number, got {row[column]!r}") from None
    site = res.Site(display_name=row["display_name"], address=row["address"], time_zone=row["time_zone"],
                    service_territory=row["service_territory"])
    if row["latitude"] or row["longitude"]:
        site.position.CopyFrom(latlng_pb2.LatLng(latitude=float(row["latitude"]), longitude=float(row["longitude"])))
    return site


def _asset(row: dict[str, str]) -> res.Asset:
    modes = {name.lower(): value for name, value in _MODE_TO_PROTO.items()}
    if row["acquisition_mode"] and row["acquisition_mode"].lower() not in modes:
        raise InvalidArgument.field("asset.acquisition_mode", f"must be one of {', '.join(sorted(modes))}")
    if row["install_date"]:
        try:
            datetime.strptime(row["install_date"], "%Y-%m-%d")
        except ValueError:
            raise InvalidArgument.field("asset.install_date", "must be a date like 2026-04-01") from None
    return res.Asset(
        serial_number=row["serial_number"], device_model=DEVICE_MODELS.name_of(row["device_model_id"]) if row["device_model_id"] else "",
        customer=CUSTOMERS.name_of(row["customer_id"]) if row["customer_id"] else "",
        site=SITES.name_of(f"{row['customer_id']}/{row['site_id']}") if row["site_id"] else "",
        acquisition_mode=modes.get(row["acquisition_mode"].lower(), 0), owner_party=row["owner_party"],
        contract=row["contract"])


class ImportMethods:
    """Fleet import and KPIs (mixed into FleetApi)."""

    def ImportFleet(self, request: pb.ImportFleetRequest, context) -> pb.ImportFleetResponse:
        deny_scoped("fleet import, which onboards customers")
        tables = [
            ("customers_csv", _rows(request.customers_csv, CUSTOMER_COLUMNS, "customers_csv"), CUSTOMER_COLLECTION,
             lambda r: r["customer_id"], _customer),
            ("sites_csv", _rows(request.sites_csv, SITE_COLUMNS, "sites_csv"), SITE_COLLECTION,
             lambda r: f"{r['customer_id']}/{r['site_id']}", _site),
            ("assets_csv", _rows(request.assets_csv, ASSET_COLUMNS, "assets_csv"), ASSET_COLLECTION,
             lambda r: r["asset_id"], _asset),
        ]

        def import_all(session: Session) -> pb.ImportFleetResponse:
            violations: list[FieldViolation] = []
            created = []
            for field, rows, collection, key_of, to_message in tables:
                count = 0
                for line, row in rows:
                    try:
                        _create_from_row(session, collection, key_of(row), row, to_message)
                        count += 1
                    except InvalidArgument as error:
                        violations += [FieldViolation(f"{field}[row {line}].{v.field.split('.', 1)[-1]}", v.description)
                                       for v in error.violations]
                    except DomainError as error:  # AlreadyExists and the like: reported per row, nothing kept
                        violations.append(FieldViolation(f"{field}[row {line}]", error.message))
                created.append(count)
            if violations:
                raise InvalidArgument(violations, reason="IMPORT_REJECTED")
            install_dates(session, tables[2][1])
            return pb.ImportFleetResponse(customers_created=created[0], sites_created=created[1],
                                          assets_created=created[2])

        return self._standard.run("ImportFleet", request, pb.ImportFleetResponse, import_all)

    def GetFleetKpis(self, request: pb.GetFleetKpisRequest, context) -> pb.FleetKpis:
        customer_id = CUSTOMERS.key(request.customer, "customer")
        site_id = SITES.key(request.site, "site") if request.site else None
        as_of = date_from_proto(request.as_of, "as_of") if request.HasField("as_of") else datetime.now(UTC).date()
        end = datetime.combine(as_of, time(), tzinfo=UTC)
        device_class = DEVICE_CLASS_FROM_PROTO.get(request.device_class)
        with self._db.unit_of_work() as session:
            CUSTOMER_COLLECTION.rows(session).get(customer_id)
            statement = select(AssetRow, DeviceModelRow).join(DeviceModelRow).where(AssetRow.customer_id == customer_id)
            if site_id:
                statement = statement.where(AssetRow.site_id == site_id)
            if device_class:
                statement = statement.where(AssetRow.device_class == device_class.value)
            pairs = session.execute(statement).all()
            in_service = [(a, m) for a, m in pairs if a.state in (AssetState.ACTIVE.value, AssetState.SUSPENDED.value,
                                                                  AssetState.INSTALLED.value)]
            used, recommended, latest_counters = self._usage_against_recommended(session, in_service, end)
        lives = [AssetLife(a.install_date, m.expected_life_months, latest_counters.get(a.id), m.expected_life_counter)
                 for a, m in in_service]
        return pb.FleetKpis(
            active_assets=sum(a.state == AssetState.ACTIVE.value for a, _ in pairs),
            installed_assets=len(in_service),
            assets_past_expected_life=sum(past_expected_life(life, as_of) for life in lives),
            utilisation=format(utilisation(used, recommended), "f"))

    def _usage_against_recommended(self, session: Session, assets, end: datetime):
        used: list[Decimal] = []
        recommended: list[Decimal] = []
        latest_counters: dict[str, Decimal] = {}
        by_register: dict[str, list] = {}
        for asset, model in assets:
            volumes = model.capabilities.get("recommended_monthly_volume", {})
            for register in {*volumes, model.expected_life_register} - {""}:
                by_register.setdefault(register, []).append((asset, model, Decimal(volumes.get(register, 0))))
        for register, members in by_register.items():
            ids = [a.id for a, _, _ in members]
            readings = readings_between(session, ids, register, end - KPI_WINDOW - DEFAULT_READ_TOLERANCE,
                                        end + DEFAULT_READ_TOLERANCE)
            resets = resets_of(session, {(i, register) for i in ids})
            for asset, model, volume in members:
                series = readings.get(asset.id, [])
                if register == model.expected_life_register and series:
                    latest_counters[asset.id] = series[-1].value
                if not volume or not series:
                    continue
                rules = {s.code: s.rules for s in register_specs(model.registers)}.get(register)
                if rules is None:
                    continue
                timeline = build_timeline(series, resets.get((asset.id, register), []), rules)
                used.append(usage_between(timeline, end - KPI_WINDOW, end).quantity)
                recommended.append(volume * Decimal(KPI_WINDOW.days) / Decimal(30))
        return used, recommended, latest_counters


def _create_from_row(session: Session, collection: Collection, key: str, row: dict[str, str], to_message) -> None:
    message = to_message(row)
    if collection is SITE_COLLECTION and session.get(CustomerRow, row["customer_id"]) is None:
        raise InvalidArgument.field("site.customer_id", f"customers/{row['customer_id']} does not exist")
    new_row = collection.row_type(id=key)
    with session.begin_nested():  # a failing row leaves nothing of itself behind
        collection.write(session, new_row, message, set(collection.writable))
        collection.rows(session).add(new_row)
    note_change(session, collection.pattern.name_of(key), details="imported")


def install_dates(session: Session, asset_rows) -> None:
    """Imported assets with an install date are installed (and active) already: the fleet exists."""
    for _, row in asset_rows:
        if not row["install_date"]:
            continue
        asset = session.get(AssetRow, row["asset_id"])
        asset.install_date = datetime.strptime(row["install_date"], "%Y-%m-%d").date()
        asset.state = AssetState.ACTIVE.value if asset.site_id else AssetState.ORDERED.value
