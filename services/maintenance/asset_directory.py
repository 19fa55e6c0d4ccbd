"""Assets as the fleet service describes them, cached in maintenance's own database.

The cache keeps ingestion off the fleet service's critical path: an asset is asked for once per
`ttl`; when the fleet service cannot be reached, what is cached is used as it is.
"""

from __future__ import annotations

import logging
import threading
import time
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
# After the fleet service failed to answer, it is not asked again for this long: cached details serve.
FLEET_RETRY_SECONDS = 2.0
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


@dataclass
class Lookup:
    found: dict[str, AssetRef]
    unreachable: set[str]  # never described, and the fleet service cannot be reached now


class AssetDirectory:
    def __init__(self, config: ServiceConfig, ttl: timedelta = DEFAULT_TTL):
        self._fleet = Peer(config, "fleet", fleet_grpc.FleetServiceStub)
        self._ttl = ttl
        # asset id -> (ref, fetched): this process's copy of asset_refs, so acknowledging events
        # needs neither the table nor the fleet service for assets it has seen.
        self._memory: dict[str, tuple[AssetRef, datetime]] = {}
        self._memory_lock = threading.Lock()
        self._fleet_down_until = 0.0

    def resolve(self, session: Session, asset_ids: Iterable[str], *, lock: bool = False) -> dict[str, AssetRef]:
        """The known assets among `asset_ids`; unknown ones are absent from the answer. UNAVAILABLE
        when the fleet service is needed (an asset never described) and cannot be reached.

        With `lock`, the assets' rows are locked in id order for the rest of the unit of work, so
        that decisions about one asset (alarms, work orders) are made one caller at a time.
        """
        found = self.lookup(session, asset_ids, refresh=True)
        if found.unreachable:
            raise Unavailable("the fleet service cannot be reached to describe "
                              f"{len(found.unreachable)} assets; retry later")
        if lock:
            self.lock(session, found.found)
        return found.found

    def lookup(self, session: Session, asset_ids: Iterable[str], *, refresh: bool) -> Lookup:
        """Asks the fleet service only about assets never described (and, with `refresh`, those
        described longer than the ttl ago); when it cannot be reached, what is known is used as it is."""
        ids = sorted(set(asset_ids))
        now = utc_now()
        with self._memory_lock:
            known = {i: self._memory[i] for i in ids if i in self._memory}
        if refresh:
            known = {i: entry for i, entry in known.items() if now - entry[1] <= self._ttl}
        cached = {**self._cached(session, [i for i in ids if i not in known]), **known}
        missing = [i for i in ids if i not in cached]
        stale = [i for i in ids if i in cached and now - cached[i][1] > self._ttl] if refresh else []
        fetched: list[dict] = []
        unreachable = set(missing)  # until the fleet service answers for them
        if (missing or stale) and time.monotonic() >= self._fleet_down_until:
            try:
                fetched, unreachable = self._fetch(missing + stale), set()
            except Unavailable:
                log.warning("fleet service unavailable; using cached asset details")
                self._fleet_down_until = time.monotonic() + FLEET_RETRY_SECONDS
        if fetched:
            upsert(session, AssetRefRow.__table__, fetched, ["asset_id"])
            cached.update({row["asset_id"]: (_ref(AssetRefRow(**row)), row["fetched_time"]) for row in fetched})
        with self._memory_lock:
            self._memory.update(cached)
        return Lookup({i: ref for i, (ref, _) in cached.items()}, unreachable)

    @staticmethod
    def lock(session: Session, asset_ids: Iterable[str], *, skip_locked: bool = False,
             limit: int | None = None) -> list[str]:
        """Locks the assets' rows in id order until the unit of work ends; with `skip_locked`, only
        those no other transaction holds, at most `limit` of them (the answer names the ones locked)."""
        ids = sorted(asset_ids)
        locked: list[str] = []
        for offset in range(0, len(ids), _BATCH):
            if limit is not None and len(locked) >= limit:
                break
            query = (select(AssetRefRow.asset_id).where(AssetRefRow.asset_id.in_(ids[offset:offset + _BATCH]))
                     .order_by(AssetRefRow.asset_id).with_for_update(skip_locked=skip_locked))
            locked += session.scalars(query if limit is None else query.limit(limit - len(locked)))
        return locked

    def _cached(self, session: Session, ids: list[str]) -> dict[str, tuple[AssetRef, datetime]]:
        found: dict[str, tuple[AssetRef, datetime]] = {}
        for offset in range(0, len(ids), _BATCH):
            rows = session.scalars(select(AssetRefRow).where(AssetRefRow.asset_id.in_(ids[offset:offset + _BATCH])))
            found.update({row.asset_id: (_ref(row), row.fetched_time) for row in rows})
        return found

    def _fetch(self, ids: list[str]) -> list[dict]:
        rows: list[dict] = []
        sites: dict[str, object] = {}
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
        return rows

    def _site(self, name: str, sites: dict):
        if name not in sites:
            sites[name] = self._fleet.call(self._fleet.stub.GetSite, fleet_pb.GetSiteRequest(name=name))
        return sites[name]

    def close(self) -> None:
        self._fleet.close()
