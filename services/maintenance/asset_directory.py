"""Assets as the fleet service describes them, cached in maintenance's own database.

The cache keeps ingestion off the fleet service's critical path: an asset is asked for once per
`ttl`; when the fleet service cannot be reached, what is cached is used as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fleetops.fleet.v1 import fleet_service_pb2 as fleet_pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as fleet_grpc
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.maintenance.domain.business_hours import OpeningHours
from services.maintenance.store_ingest import AssetRefRow
from services.runtime.clients import Peer
from services.runtime.config import ServiceConfig
from services.runtime.db import upsert, utc_now
from services.runtime.errors import Unavailable

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(minutes=5)
_BATCH = 1000
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DEVICE_CLASS_NAMES = {1: "printer", 2: "forklift", 3: "server"}


@dataclass(frozen=True)
class AssetRef:
    name: str  # assets/{asset}
    customer: str  # customers/{customer}
    site: str  # customers/{customer}/sites/{site}, or ""
    device_model: str
    device_class: str  # printer, forklift, server
    data_collection_consent: bool
    time_zone: str
    opening_hours: tuple[tuple[int, str, str], ...]  # (ISO weekday, "HH:MM", "HH:MM"); empty: always open
    site_latitude: float | None = None  # None: the site has no position
    site_longitude: float | None = None
    service_territory: str = ""

    @property
    def asset_id(self) -> str:
        return self.name.split("/", 1)[1]

    def hours(self) -> OpeningHours:
        """The site's opening hours for SLA clocks; a site without hours counts every hour."""
        if not self.opening_hours:
            return OpeningHours.always_open(self.time_zone)
        by_day: dict[str, list[str]] = {}
        for weekday, opens, closes in self.opening_hours:
            by_day.setdefault(_WEEKDAYS[weekday - 1], []).append(f"{opens}-{closes}")
        return OpeningHours.parse(self.time_zone, {day: ",".join(spans) for day, spans in by_day.items()})


def _ref(row: AssetRefRow) -> AssetRef:
    return AssetRef(f"assets/{row.asset_id}", f"customers/{row.customer_id}", row.site, row.device_model,
                    row.device_class, row.data_collection_consent, row.time_zone,
                    tuple(tuple(h) for h in row.opening_hours), row.site_latitude, row.site_longitude,
                    row.service_territory)


class AssetDirectory:
    def __init__(self, config: ServiceConfig, ttl: timedelta = DEFAULT_TTL):
        self._fleet = Peer(config, "fleet", fleet_grpc.FleetServiceStub)
        self._ttl = ttl

    def resolve(self, session: Session, asset_ids: Iterable[str], *, lock: bool = False) -> dict[str, AssetRef]:
        """The known assets among `asset_ids`; unknown ones are absent from the answer.

        With `lock`, the assets' rows are locked in id order for the rest of the unit of work, so
        that decisions about one asset (alarms, work orders) are made one caller at a time.
        """
        ids = sorted(set(asset_ids))
        cached = self._cached(session, ids)
        now = utc_now()
        stale = [i for i in ids if i not in cached or now - cached[i][1] > self._ttl]
        if stale:
            fetched = self._fetch(stale, cached)
            upsert(session, AssetRefRow.__table__, fetched, ["asset_id"])
            cached.update(self._cached(session, [row["asset_id"] for row in fetched]))
        if lock and cached:
            session.execute(select(AssetRefRow.asset_id).where(AssetRefRow.asset_id.in_(sorted(cached)))
                            .order_by(AssetRefRow.asset_id).with_for_update())
        return {i: ref for i, (ref, _) in cached.items()}

    def _cached(self, session: Session, ids: list[str]) -> dict[str, tuple[AssetRef, datetime]]:
        found: dict[str, tuple[AssetRef, datetime]] = {}
        for offset in range(0, len(ids), _BATCH):
            rows = session.scalars(select(AssetRefRow).where(AssetRefRow.asset_id.in_(ids[offset:offset + _BATCH])))
            found.update({row.asset_id: (_ref(row), row.fetched_time) for row in rows})
        return found

    def _fetch(self, ids: list[str], cached: dict) -> list[dict]:
        rows: list[dict] = []
        sites: dict[str, object] = {}
        try:
            for offset in range(0, len(ids), _BATCH):
                names = [f"assets/{i}" for i in ids[offset:offset + _BATCH]]
                response = self._fleet.call(self._fleet.stub.BatchGetAssets, fleet_pb.BatchGetAssetsRequest(names=names))
                for asset in response.assets:
                    site = self._site(asset.site, sites) if asset.site else None
                    rows.append(dict(
                        asset_id=asset.name.split("/", 1)[1], customer_id=asset.customer.split("/", 1)[1],
                        site=asset.site, device_model=asset.device_model,
                        device_class=_DEVICE_CLASS_NAMES.get(asset.device_class, ""),
                        data_collection_consent=asset.data_collection_consent,
                        time_zone=site.time_zone if site else "UTC",
                        opening_hours=[[h.day, f"{h.open.hours:02d}:{h.open.minutes:02d}",
                                        f"{h.close.hours:02d}:{h.close.minutes:02d}"] for h in site.opening_hours]
                        if site else [],
                        site_latitude=site.position.latitude if site and site.HasField("position") else None,
                        site_longitude=site.position.longitude if site and site.HasField("position") else None,
                        service_territory=site.service_territory if site else "",
                        fetched_time=utc_now()))
        except Unavailable:
            if all(i in cached for i in ids):
                log.warning("fleet service unavailable; using cached asset details")
                return []
            raise
        return rows

    def _site(self, name: str, sites: dict):
        if name not in sites:
            sites[name] = self._fleet.call(self._fleet.stub.GetSite, fleet_pb.GetSiteRequest(name=name))
        return sites[name]

    def close(self) -> None:
        self._fleet.close()
