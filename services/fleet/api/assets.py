"""Assets: standard methods, lifecycle verbs and moves."""

from __future__ import annotations

from collections.abc import Iterable

from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import resources_pb2 as res
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.fleet.api.catalog import (
    CUSTOMERS,
    DEVICE_CLASS_FROM_PROTO,
    DEVICE_CLASS_TO_PROTO,
    DEVICE_MODELS,
    LOCATIONS,
    SITES,
    _stamps,
)
from services.fleet.domain.assets import AcquisitionMode, AssetState, Lifecycle, ensure_movable
from services.fleet.store import AssetMoveRow, AssetRow, CustomerRow, DeviceModelRow, LocationRow, SiteRow
from services.runtime.auth import current_identity
from services.runtime.crud import Collection
from services.runtime.errors import AlreadyExists, FieldViolation, InvalidArgument
from services.runtime.proto_values import date_from_proto, date_to_proto
from services.runtime.resources import NamePattern, check_etag, to_timestamp
from services.runtime.scoping import CustomerOwned, check_customer, scoped_customer

ASSETS = NamePattern("assets/{asset}")
MAX_BATCH_GET = 1000
_STATE_TO_PROTO = {state.value: res.AssetState.Value(f"ASSET_STATE_{state.value}") for state in AssetState}
_STATE_FROM_PROTO = {v: k for k, v in _STATE_TO_PROTO.items()}
_MODE_TO_PROTO = {mode.value: res.AcquisitionMode.Value(f"ACQUISITION_MODE_{mode.value}") for mode in AcquisitionMode}
_MODE_FROM_PROTO = {v: k for k, v in _MODE_TO_PROTO.items()}


def asset_to_proto(row: AssetRow, consent: bool) -> res.Asset:
    return res.Asset(
        name=ASSETS.name_of(row.id), serial_number=row.serial_number, device_model=DEVICE_MODELS.name_of(row.device_model_id),
        customer=CUSTOMERS.name_of(row.customer_id), site=SITES.name_of(row.site_id) if row.site_id else "",
        location=LOCATIONS.name_of(row.location_id) if row.location_id else "",
        state=_STATE_TO_PROTO[row.state], acquisition_mode=_MODE_TO_PROTO.get(row.acquisition_mode, 0),
        owner_party=row.owner_party, install_date=date_to_proto(row.install_date), contract=row.contract,
        third_party=row.third_party, retrofitted_sensor=row.retrofitted_sensor,
        device_class=DEVICE_CLASS_TO_PROTO[row.device_class], maker=row.maker, data_collection_consent=consent,
        **_stamps(row))


def _consent(session: Session, row: AssetRow) -> bool:
    return session.get(CustomerRow, row.customer_id).data_collection_consent


def placement(session: Session, customer_id: str, site_name: str, location_name: str,
              prefix: str) -> tuple[str | None, str | None]:
    """Site and location keys that belong to the customer (INVALID_ARGUMENT naming the field otherwise)."""
    site_id = SITES.key(site_name, prefix + "site") if site_name else None
    location_id = LOCATIONS.key(location_name, prefix + "location") if location_name else None
    if site_id and (site_id.split("/")[0] != customer_id or session.get(SiteRow, site_id) is None):
        raise InvalidArgument.field(prefix + "site", f"{site_name} is not a site of customers/{customer_id}")
    if location_id and (location_id.rsplit("/", 1)[0] != site_id or session.get(LocationRow, location_id) is None):
        raise InvalidArgument.field(prefix + "location", f"{location_name} is not a location of {site_name or 'the site'}")
    return site_id, location_id


def write_asset(session: Session, row: AssetRow, message: res.Asset, fields: set[str]) -> None:
    creating = row.state is None
    violations = []
    if "serial_number" in fields and not message.serial_number.strip():
        violations.append(FieldViolation("asset.serial_number", "is required"))
    if creating:
        model = session.get(DeviceModelRow, DEVICE_MODELS.key(message.device_model, "asset.device_model")) \
            if message.device_model else None
        customer = session.get(CustomerRow, CUSTOMERS.key(message.customer, "asset.customer")) \
            if message.customer else None
        if model is None:
            violations.append(FieldViolation("asset.device_model", f"{message.device_model or 'a device model'} does not exist"))
        if customer is None:
            violations.append(FieldViolation("asset.customer", f"{message.customer or 'a customer'} does not exist"))
    if violations:
        raise InvalidArgument(violations)
    if creating:
        row.device_model_id, row.maker, row.device_class = model.id, model.maker, model.device_class
        row.customer_id = customer.id
        row.site_id, row.location_id = placement(session, customer.id, message.site, message.location, "asset.")
        row.state = AssetState.ORDERED.value
    if "acquisition_mode" in fields:
        row.acquisition_mode = _MODE_FROM_PROTO.get(message.acquisition_mode, "")
    for field in fields & {"serial_number", "owner_party", "contract", "third_party", "retrofitted_sensor"}:
        setattr(row, field, getattr(message, field))
    if "serial_number" in fields:
        clash = session.scalars(select(AssetRow.id).where(
            AssetRow.maker == row.maker, AssetRow.serial_number == row.serial_number, AssetRow.id != row.id)).first()
        if clash:
            raise AlreadyExists(f"{row.maker} serial number {row.serial_number} is already assets/{clash}",
                                reason="SERIAL_NUMBER_TAKEN", metadata={"resource": f"assets/{clash}"})


def check_assets_visible(session: Session, asset_ids: Iterable[str]) -> None:
    """PERMISSION_DENIED unless a scoped caller's customer owns every asset named (a missing one is denied too)."""
    if scoped_customer() is None:
        return
    asset_ids = set(asset_ids)
    owners = dict(session.execute(select(AssetRow.id, AssetRow.customer_id).where(AssetRow.id.in_(asset_ids))).all())
    for asset_id in sorted(asset_ids):
        check_customer(owners.get(asset_id), ASSETS.name_of(asset_id))


ASSET_COLLECTION = Collection(
    pattern=ASSETS, row_type=AssetRow, message_type=res.Asset, message_field="asset",
    writable=("serial_number", "acquisition_mode", "owner_party", "contract", "third_party", "retrofitted_sensor"),
    to_message=lambda row: asset_to_proto(row, _consent(Session.object_session(row), row)), write=write_asset,
    scope=CustomerOwned("customer_id"))


class AssetMethods:
    """Assets (mixed into FleetApi)."""

    def GetAsset(self, request: pb.GetAssetRequest, context) -> res.Asset:
        return self._standard.get(ASSET_COLLECTION, request.name)

    def BatchGetAssets(self, request: pb.BatchGetAssetsRequest, context) -> pb.BatchGetAssetsResponse:
        if len(request.names) > MAX_BATCH_GET:
            raise InvalidArgument.field("names", f"at most {MAX_BATCH_GET} names per call")
        keys = [ASSETS.key(name, f"names[{i}]") for i, name in enumerate(request.names)]
        with self._db.unit_of_work() as session:
            check_assets_visible(session, keys)
            rows = {r.id: r for r in session.scalars(select(AssetRow).where(AssetRow.id.in_(keys)))}
            consents = dict(session.execute(select(CustomerRow.id, CustomerRow.data_collection_consent).where(
                CustomerRow.id.in_({r.customer_id for r in rows.values()}))).all())
            return pb.BatchGetAssetsResponse(
                assets=[asset_to_proto(rows[k], consents[rows[k].customer_id]) for k in keys if k in rows],
                missing=[name for name, k in zip(request.names, keys, strict=True) if k not in rows])

    def ListAssets(self, request: pb.ListAssetsRequest, context) -> pb.ListAssetsResponse:
        device_class = DEVICE_CLASS_FROM_PROTO.get(request.device_class)
        assets, token = self._standard.list(
            ASSET_COLLECTION, request,
            customer_id=CUSTOMERS.key(request.customer, "customer") if request.customer else None,
            site_id=SITES.key(request.site, "site") if request.site else None,
            device_class=device_class.value if device_class else None,
            state=_STATE_FROM_PROTO.get(request.state))
        return pb.ListAssetsResponse(assets=assets, next_page_token=token)

    def CreateAsset(self, request: pb.CreateAssetRequest, context) -> res.Asset:
        return self._standard.create(ASSET_COLLECTION, "CreateAsset", request, request.asset_id, "asset_id")

    def UpdateAsset(self, request: pb.UpdateAssetRequest, context) -> res.Asset:
        return self._standard.update(ASSET_COLLECTION, "UpdateAsset", request)

    def InstallAsset(self, request: pb.InstallAssetRequest, context) -> res.Asset:
        install_date = date_from_proto(request.install_date, "install_date")

        def install(session: Session, row: AssetRow) -> None:
            row.site_id, row.location_id = placement(session, row.customer_id, request.site, request.location, "")
            if row.site_id is None:
                raise InvalidArgument.field("site", "is required to install an asset")
            row.install_date = install_date

        return self._transition("InstallAsset", request, Lifecycle.INSTALL, install)

    def ActivateAsset(self, request: pb.AssetTransitionRequest, context) -> res.Asset:
        return self._transition("ActivateAsset", request, Lifecycle.ACTIVATE)

    def SuspendAsset(self, request: pb.AssetTransitionRequest, context) -> res.Asset:
        return self._transition("SuspendAsset", request, Lifecycle.SUSPEND)

    def RetireAsset(self, request: pb.AssetTransitionRequest, context) -> res.Asset:
        return self._transition("RetireAsset", request, Lifecycle.RETIRE)

    def MoveAsset(self, request: pb.MoveAssetRequest, context) -> res.Asset:
        def move(session: Session, row: AssetRow) -> None:
            ensure_movable(ASSETS.name_of(row.id), AssetState(row.state))
            site_name = request.site or SITES.name_of(row.site_id)
            site_id, location_id = placement(session, row.customer_id, site_name, request.location, "")
            session.add(AssetMoveRow(asset_id=row.id, from_site_id=row.site_id, from_location_id=row.location_id,
                                     to_site_id=site_id, to_location_id=location_id,
                                     moved_by=current_identity().subject, reason=request.reason))
            row.site_id, row.location_id = site_id, location_id

        return self._change_asset("MoveAsset", request, move)

    def ListAssetMoves(self, request: pb.ListAssetMovesRequest, context) -> pb.ListAssetMovesResponse:
        asset_id = ASSETS.key(request.name)
        query = {"asset": asset_id}
        page = self._tokens.parse(request.page_size, request.page_token, query)
        with self._db.unit_of_work() as session:
            ASSET_COLLECTION.rows(session).get(asset_id)
            statement = select(AssetMoveRow).where(AssetMoveRow.asset_id == asset_id).order_by(AssetMoveRow.id)
            if page.after:
                statement = statement.where(AssetMoveRow.id > page.after[0])
            rows = list(session.scalars(statement.limit(page.size + 1)))
            rows, token = self._tokens.finish(rows, page, lambda r: (r.id,), query)
        return pb.ListAssetMovesResponse(moves=[move_to_proto(r) for r in rows], next_page_token=token)

    def _transition(self, method: str, request, verb: Lifecycle, extra=None) -> res.Asset:
        def apply(session: Session, row: AssetRow) -> None:
            row.state = verb.apply(ASSETS.name_of(row.id), AssetState(row.state)).value
            if extra:
                extra(session, row)

        return self._change_asset(method, request, apply)

    def _change_asset(self, method: str, request, change) -> res.Asset:
        asset_id = ASSETS.key(request.name)

        def work(session: Session) -> res.Asset:
            row = ASSET_COLLECTION.rows(session).get(asset_id, for_update=True)
            check_etag(request.name, request.etag, row.version)
            change(session, row)
            row.touch()
            session.flush()
            return asset_to_proto(row, _consent(session, row))

        return self._standard.run(method, request, res.Asset, work)


def _name(pattern: NamePattern, key: str | None) -> str:
    return pattern.name_of(key) if key else ""


def move_to_proto(row: AssetMoveRow) -> res.AssetMove:
    return res.AssetMove(
        asset=ASSETS.name_of(row.asset_id), from_site=_name(SITES, row.from_site_id),
        from_location=_name(LOCATIONS, row.from_location_id), to_site=_name(SITES, row.to_site_id),
        to_location=_name(LOCATIONS, row.to_location_id), moved_by=row.moved_by,
        move_time=to_timestamp(row.move_time), reason=row.reason)
