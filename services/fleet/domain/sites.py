"""Sites and locations: where devices stand, in which time zone, when technicians may come."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.errors import FieldViolation, InvalidArgument
from services.runtime.time_zones import is_time_zone


@dataclass
class SiteDetails:
    display_name: str
    address: str
    latitude: float | None
    longitude: float | None
    time_zone: str
    # (ISO weekday 1 = Monday .. 7, "HH:MM" open, "HH:MM" close)
    opening_hours: list[tuple[int, str, str]]
    service_territory: str
    cost_centres: list[str]


def validate_site(details: SiteDetails, fields: set[str], prefix: str = "site.") -> None:
    violations: list[FieldViolation] = []
    if "display_name" in fields and not details.display_name.strip():
        violations.append(FieldViolation(prefix + "display_name", "is required"))
    if "time_zone" in fields and not is_time_zone(details.time_zone):
        violations.append(FieldViolation(prefix + "time_zone",
                                         f"must be an IANA time zone such as Asia/Tokyo, got {details.time_zone!r}"))
    if "position" in fields and details.latitude is not None:
        if not -90 <= details.latitude <= 90:
            violations.append(FieldViolation(prefix + "position.latitude", "must be between -90 and 90"))
        if not -180 <= details.longitude <= 180:
            violations.append(FieldViolation(prefix + "position.longitude", "must be between -180 and 180"))
    if "opening_hours" in fields:
        for index, (day, opens, closes) in enumerate(details.opening_hours):
            if not 1 <= day <= 7:
                violations.append(FieldViolation(f"{prefix}opening_hours[{index}].day", "must be a weekday"))
            if opens >= closes:
                violations.append(FieldViolation(f"{prefix}opening_hours[{index}].close", "must be after open"))
    if violations:
        raise InvalidArgument(violations)
