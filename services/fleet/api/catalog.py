"""Customers, sites, locations and device models: the standard methods over the fleet's catalogue."""

from __future__ import annotations

from decimal import Decimal

from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import resources_pb2 as res
from google.protobuf.json_format import MessageToDict, ParseDict
from google.type import latlng_pb2, timeofday_pb2
from sqlalchemy.orm import Session

from services.fleet.domain.customers import CustomerDetails, check_parent, validate_details
from services.fleet.domain.device_models import DeviceClass, DeviceModelDetails, RegisterSpec, validate_device_model
from services.fleet.domain.meters import parse_decimal
from services.fleet.domain.sites import SiteDetails, validate_site
from services.fleet.store import MONEY_SCALE, CustomerRow, DeviceModelRow, LocationRow, SiteRow
from services.runtime.crud import Collection
from services.runtime.errors import InvalidArgument
from services.runtime.proto_values import money_from_proto, money_to_proto
from services.runtime.resources import NamePattern, etag_for, to_timestamp
from services.runtime.scoping import CustomerOwned, check_customer, shared

CUSTOMERS = NamePattern("customers/{customer}")
SITES = NamePattern("customers/{customer}/sites/{site}")
LOCATIONS = NamePattern("customers/{customer}/sites/{site}/locations/{location}")
DEVICE_MODELS = NamePattern("deviceModels/{device_model}")
# Prices are stored as integers scaled by 10^MONEY_SCALE: below 10^12 they fit 64 bits.
_MAX_PRICE = Decimal(10) ** 12
_PRICE_STEP = Decimal(1).scaleb(-MONEY_SCALE)

DEVICE_CLASS_FROM_PROTO = {res.DEVICE_CLASS_PRINTER: DeviceClass.PRINTER, res.DEVICE_CLASS_FORKLIFT: DeviceClass.FORKLIFT,
                           res.DEVICE_CLASS_SERVER: DeviceClass.SERVER}
DEVICE_CLASS_TO_PROTO = {v.value: k for k, v in DEVICE_CLASS_FROM_PROTO.items()}


def _stamps(row) -> dict:
    return dict(create_time=to_timestamp(row.create_time), update_time=to_timestamp(row.update_time),
                etag=etag_for(row.version))


def _assign(row, details, fields: set[str]) -> None:
    for field in fields:
        setattr(row, field, getattr(details, field))


# --- customers ---------------------------------------------------------------------------------

def customer_to_proto(row: CustomerRow) -> res.Customer:
    return res.Customer(
        name=CUSTOMERS.name_of(row.id),
        parent_customer=CUSTOMERS.name_of(row.parent_customer_id) if row.parent_customer_id else "",
        legal_name=row.legal_name, currency_code=row.currency_code,
        tax_registration_number=row.tax_registration_number,
        data_collection_consent=row.data_collection_consent, **_stamps(row))


def write_customer(session: Session, row: CustomerRow, message: res.Customer, fields: set[str]) -> None:
    parent = CUSTOMERS.key(message.parent_customer, "customer.parent_customer") if message.parent_customer else None
    details = CustomerDetails(parent, message.legal_name, message.currency_code, message.tax_registration_number,
                              message.data_collection_consent)
    validate_details(details, fields)
    if "parent_customer" in fields:
        customers = CUSTOMER_COLLECTION.rows(session)
        check_parent(row.id, parent, lambda customer_id: customers.get(customer_id).parent_customer_id)
        row.parent_customer_id = parent
    _assign(row, details, fields - {"parent_customer"})


CUSTOMER_COLLECTION = Collection(
    pattern=CUSTOMERS, row_type=CustomerRow, message_type=res.Customer, message_field="customer",
    writable=("parent_customer", "legal_name", "currency_code", "tax_registration_number",
              "data_collection_consent"),
    to_message=customer_to_proto, write=write_customer, scope=CustomerOwned())


# --- sites -------------------------------------------------------------------------------------

def _time_text(value: timeofday_pb2.TimeOfDay) -> str:
    return f"{value.hours:02d}:{value.minutes:02d}"


def _time_of_day(text: str) -> timeofday_pb2.TimeOfDay:
    hours, minutes = text.split(":")
    return timeofday_pb2.TimeOfDay(hours=int(hours), minutes=int(minutes))


def site_to_proto(row: SiteRow) -> res.Site:
    position = latlng_pb2.LatLng(latitude=row.latitude, longitude=row.longitude) if row.latitude is not None else None
    return res.Site(
        name=SITES.name_of(row.id), display_name=row.display_name, address=row.address, position=position,
        time_zone=row.time_zone, service_territory=row.service_territory, cost_centres=row.cost_centres,
        opening_hours=[res.OpeningHours(day=day, open=_time_of_day(opens), close=_time_of_day(closes))
                       for day, opens, closes in row.opening_hours], **_stamps(row))


def write_site(session: Session, row: SiteRow, message: res.Site, fields: set[str]) -> None:
    has_position = message.HasField("position")
    details = SiteDetails(
        display_name=message.display_name, address=message.address,
        latitude=message.position.latitude if has_position else None,
        longitude=message.position.longitude if has_position else None,
        time_zone=message.time_zone, service_territory=message.service_territory,
        opening_hours=[(h.day, _time_text(h.open), _time_text(h.close)) for h in message.opening_hours],
        cost_centres=list(message.cost_centres))
    validate_site(details, fields)
    row.customer_id = row.id.split("/")[0]
    if "position" in fields:
        row.latitude, row.longitude = details.latitude, details.longitude
    _assign(row, details, fields - {"position"})


SITE_COLLECTION = Collection(
    pattern=SITES, row_type=SiteRow, message_type=res.Site, message_field="site",
    writable=("display_name", "address", "position", "time_zone", "opening_hours", "service_territory",
              "cost_centres"),
    to_message=site_to_proto, write=write_site, scope=CustomerOwned())


# --- locations ---------------------------------------------------------------------------------

def location_to_proto(row: LocationRow) -> res.Location:
    return res.Location(name=LOCATIONS.name_of(row.id), building=row.building, floor=row.floor, zone=row.zone,
                        x_metres=row.x_metres, y_metres=row.y_metres, **_stamps(row))


def write_location(session: Session, row: LocationRow, message: res.Location, fields: set[str]) -> None:
    row.site_id = row.id.rsplit("/", 1)[0]
    for field in fields:
        setattr(row, field, getattr(message, field))


LOCATION_COLLECTION = Collection(
    pattern=LOCATIONS, row_type=LocationRow, message_type=res.Location, message_field="location",
    writable=("building", "floor", "zone", "x_metres", "y_metres"),
    to_message=location_to_proto, write=write_location, scope=CustomerOwned())


# --- device models -----------------------------------------------------------------------------

def register_specs(rows: list[dict]) -> list[RegisterSpec]:
    return [RegisterSpec(r["code"], Decimal(r["rollover_at"]) if r["rollover_at"] else None,
                         Decimal(r["backward_jitter_tolerance"] or 0)) for r in rows]


def device_model_to_proto(row: DeviceModelRow) -> res.DeviceModel:
    block_type = getattr(res, f"{row.device_class.title()}Capabilities")
    capability = {row.device_class.lower(): ParseDict(row.capabilities, block_type())}
    return res.DeviceModel(
        name=DEVICE_MODELS.name_of(row.id), device_class=DEVICE_CLASS_TO_PROTO[row.device_class], maker=row.maker,
        display_name=row.display_name, list_price=money_to_proto(row.list_price, row.currency_code),
        monthly_lease_cost=money_to_proto(row.monthly_lease_cost, row.currency_code),
        expected_life_months=row.expected_life_months, expected_life_register=row.expected_life_register,
        expected_life_counter=str(row.expected_life_counter.normalize()) if row.expected_life_counter is not None else "",
        registers=[res.MeterRegister(code=r["code"], rollover_at=r["rollover_at"],
                                     backward_jitter_tolerance=r["backward_jitter_tolerance"]) for r in row.registers],
        **capability, **_stamps(row))


def _price(message: res.DeviceModel, name: str, prefix: str) -> tuple[Decimal, str]:
    """A list or lease price, no more exact than its column keeps it (and small enough to fit it)."""
    amount, currency = money_from_proto(getattr(message, name), prefix + name)
    if abs(amount) >= _MAX_PRICE or amount != amount.quantize(_PRICE_STEP):
        raise InvalidArgument.field(prefix + name, f"must be below 10^12 with at most {MONEY_SCALE} decimals")
    return amount, currency


def write_device_model(session: Session, row: DeviceModelRow, message: res.DeviceModel, fields: set[str]) -> None:
    prefix = "device_model."
    block = message.WhichOneof("capabilities")
    registers = [{"code": r.code,
                  "rollover_at": str(parse_decimal(r.rollover_at, f"{prefix}registers[{i}].rollover_at", allow_empty=True) or ""),
                  "backward_jitter_tolerance": r.backward_jitter_tolerance}
                 for i, r in enumerate(message.registers)]
    for i, r in enumerate(message.registers):
        parse_decimal(r.backward_jitter_tolerance, f"{prefix}registers[{i}].backward_jitter_tolerance", allow_empty=True)
    prices = {name: _price(message, name, prefix) for name in ("list_price", "monthly_lease_cost")
              if message.HasField(name)}
    details = DeviceModelDetails(
        device_class=DEVICE_CLASS_FROM_PROTO.get(message.device_class), maker=message.maker,
        display_name=message.display_name, capability_class=DeviceClass(block.upper()) if block else None,
        registers=register_specs(registers), expected_life_months=message.expected_life_months,
        expected_life_register=message.expected_life_register,
        money_currencies={currency for _, currency in prices.values()})
    validate_device_model(details, fields | {"device_class"} if "capabilities" in fields else fields)
    if "device_class" in fields:
        row.device_class = details.device_class.value
    if "capabilities" in fields:
        row.capabilities = MessageToDict(getattr(message, block), preserving_proto_field_name=True) if block else {}
    if "registers" in fields:
        row.registers = registers
    for name in ("list_price", "monthly_lease_cost"):
        if name in fields:
            amount, currency = prices.get(name, (None, row.currency_code))
            setattr(row, name, amount)
            row.currency_code = currency or ""
    if "expected_life_counter" in fields:
        row.expected_life_counter = parse_decimal(message.expected_life_counter, prefix + "expected_life_counter",
                                                  allow_empty=True)
    _assign(row, message, fields & {"maker", "display_name", "expected_life_months", "expected_life_register"})


DEVICE_MODEL_COLLECTION = Collection(
    pattern=DEVICE_MODELS, row_type=DeviceModelRow, message_type=res.DeviceModel, message_field="device_model",
    writable=("device_class", "maker", "display_name", "capabilities", "list_price", "monthly_lease_cost",
              "expected_life_months", "expected_life_register", "expected_life_counter", "registers"),
    to_message=device_model_to_proto, write=write_device_model, scope=shared("the device-model catalogue"))


class CatalogMethods:
    """Standard methods of customers, sites, locations and device models (mixed into FleetApi)."""

    def GetCustomer(self, request: pb.GetCustomerRequest, context) -> res.Customer:
        return self._standard.get(CUSTOMER_COLLECTION, request.name)

    def ListCustomers(self, request: pb.ListCustomersRequest, context) -> pb.ListCustomersResponse:
        parent = CUSTOMERS.key(request.parent_customer, "parent_customer") if request.parent_customer else None
        customers, token = self._standard.list(CUSTOMER_COLLECTION, request, parent_customer_id=parent)
        return pb.ListCustomersResponse(customers=customers, next_page_token=token)

    def CreateCustomer(self, request: pb.CreateCustomerRequest, context) -> res.Customer:
        return self._standard.create(CUSTOMER_COLLECTION, "CreateCustomer", request, request.customer_id,
                                     "customer_id")

    def UpdateCustomer(self, request: pb.UpdateCustomerRequest, context) -> res.Customer:
        return self._standard.update(CUSTOMER_COLLECTION, "UpdateCustomer", request)

    def GetSite(self, request: pb.GetSiteRequest, context) -> res.Site:
        return self._standard.get(SITE_COLLECTION, request.name)

    def ListSites(self, request: pb.ListSitesRequest, context) -> pb.ListSitesResponse:
        customer = None if request.parent == "customers/-" else CUSTOMERS.key(request.parent, "parent")
        if customer:
            check_customer(customer, request.parent)
        sites, token = self._standard.list(SITE_COLLECTION, request, customer_id=customer,
                                           service_territory=request.service_territory)
        return pb.ListSitesResponse(sites=sites, next_page_token=token)

    def CreateSite(self, request: pb.CreateSiteRequest, context) -> res.Site:
        parent = self._existing_parent(CUSTOMER_COLLECTION, request.parent)
        return self._standard.create(SITE_COLLECTION, "CreateSite", request, request.site_id, "site_id", parent)

    def UpdateSite(self, request: pb.UpdateSiteRequest, context) -> res.Site:
        return self._standard.update(SITE_COLLECTION, "UpdateSite", request)

    def GetLocation(self, request: pb.GetLocationRequest, context) -> res.Location:
        return self._standard.get(LOCATION_COLLECTION, request.name)

    def ListLocations(self, request: pb.ListLocationsRequest, context) -> pb.ListLocationsResponse:
        site_id = SITES.key(request.parent, "parent")
        check_customer(site_id.split("/", 1)[0], request.parent)
        locations, token = self._standard.list(LOCATION_COLLECTION, request, site_id=site_id)
        return pb.ListLocationsResponse(locations=locations, next_page_token=token)

    def CreateLocation(self, request: pb.CreateLocationRequest, context) -> res.Location:
        parent = self._existing_parent(SITE_COLLECTION, request.parent)
        return self._standard.create(LOCATION_COLLECTION, "CreateLocation", request, request.location_id,
                                     "location_id", parent)

    def UpdateLocation(self, request: pb.UpdateLocationRequest, context) -> res.Location:
        return self._standard.update(LOCATION_COLLECTION, "UpdateLocation", request)

    def GetDeviceModel(self, request: pb.GetDeviceModelRequest, context) -> res.DeviceModel:
        return self._standard.get(DEVICE_MODEL_COLLECTION, request.name)

    def ListDeviceModels(self, request: pb.ListDeviceModelsRequest, context) -> pb.ListDeviceModelsResponse:
        device_class = DEVICE_CLASS_FROM_PROTO.get(request.device_class)
        models, token = self._standard.list(DEVICE_MODEL_COLLECTION, request,
                                            device_class=device_class.value if device_class else None)
        return pb.ListDeviceModelsResponse(device_models=models, next_page_token=token)

    def CreateDeviceModel(self, request: pb.CreateDeviceModelRequest, context) -> res.DeviceModel:
        return self._standard.create(DEVICE_MODEL_COLLECTION, "CreateDeviceModel", request, request.device_model_id,
                                     "device_model_id")

    def UpdateDeviceModel(self, request: pb.UpdateDeviceModelRequest, context) -> res.DeviceModel:
        return self._standard.update(DEVICE_MODEL_COLLECTION, "UpdateDeviceModel", request)

    def _existing_parent(self, collection: Collection, name: str) -> str:
        """The key of a parent that must exist: NOT_FOUND otherwise (AIP-133)."""
        key = collection.pattern.key(name, "parent")
        with self._standard.database.unit_of_work() as session:
            collection.rows(session).get(key)
        return key
