"""Travel distances and times between locations: haversine x road factor / speed, or a matrix."""

from __future__ import annotations

import math
from collections.abc import Sequence

from services.maintenance.scheduling.model import HaversineTravel, Location, TravelMatrix

EARTH_RADIUS_METRES = 6_371_008.8  # IUGG mean radius


def haversine_metres(a: Location, b: Location) -> float:
    lat_a, lat_b = math.radians(a.latitude), math.radians(b.latitude)
    d_lat = lat_b - lat_a
    d_lon = math.radians(b.longitude - a.longitude)
    h = math.sin(d_lat / 2) ** 2 + math.cos(lat_a) * math.cos(lat_b) * math.sin(d_lon / 2) ** 2
    return 2 * EARTH_RADIUS_METRES * math.asin(min(1.0, math.sqrt(h)))


def travel_tables(
    locations: Sequence[Location], travel: HaversineTravel | TravelMatrix
) -> tuple[list[list[float]], list[list[float]]]:
    """(metres, seconds) between every pair of `locations`, in double precision."""
    if isinstance(travel, TravelMatrix):
        position = {key: i for i, key in enumerate(travel.keys)}
        missing = sorted({loc.key for loc in locations if loc.key not in position})
        if missing:
            raise ValueError(f"travel matrix has no row for locations {missing}")
        rows = [position[loc.key] for loc in locations]
        metres = [[float(travel.metres[i][j]) for j in rows] for i in rows]
        seconds = [[float(travel.seconds[i][j]) for j in rows] for i in rows]
        return metres, seconds
    metres_per_second = travel.speed_kmh * 1000 / 3600
    metres = [[haversine_metres(a, b) * travel.road_factor for b in locations] for a in locations]
    seconds = [[m / metres_per_second for m in row] for row in metres]
    return metres, seconds
