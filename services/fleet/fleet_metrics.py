"""Fleet gauges for Prometheus, read from the database at scrape time (bounded labels only)."""

from __future__ import annotations

import logging

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from services.fleet.store import AssetRow
from services.runtime.db import Database

log = logging.getLogger(__name__)


class FleetGauges(Collector):
    def __init__(self, database: Database):
        self._database = database

    def collect(self):
        assets = GaugeMetricFamily("fleetops_fleet_assets", "Assets by device class and lifecycle state.",
                                   labels=["device_class", "state"])
        try:
            with self._database.unit_of_work() as session:
                rows = session.execute(select(AssetRow.device_class, AssetRow.state, func.count())
                                       .group_by(AssetRow.device_class, AssetRow.state)).all()
        except Exception:  # a scrape must not fail because the database is briefly away
            log.warning("could not count assets for /metrics", exc_info=True)
            return
        for device_class, state, count in rows:
            assets.add_metric([device_class.lower(), state.lower()], count)
        yield assets
