"""Technicians: who can fix what, where their day starts, in which time zone their shifts run."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.runtime.errors import FieldViolation, InvalidArgument
from services.runtime.time_zones import is_time_zone

_SKILL = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
MAX_DISPLAY_NAME_LENGTH = 120


@dataclass
class TechnicianDetails:
    display_name: str
    skills: list[str]
    home_latitude: float | None
    home_longitude: float | None
    territory: str
    time_zone: str


def validate_details(details: TechnicianDetails, fields: set[str], prefix: str = "technician.") -> None:
    violations: list[FieldViolation] = []
    if "display_name" in fields and not 0 < len(details.display_name.strip()) <= MAX_DISPLAY_NAME_LENGTH:
        violations.append(FieldViolation(prefix + "display_name", f"is required, at most {MAX_DISPLAY_NAME_LENGTH} characters"))
    if "skills" in fields:
        violations += [FieldViolation(f"{prefix}skills[{i}]", "must be a lowercase skill code like printer-colour")
                       for i, skill in enumerate(details.skills) if not _SKILL.match(skill)]
    if "home_base" in fields and details.home_latitude is not None:
        if not -90 <= details.home_latitude <= 90:
            violations.append(FieldViolation(prefix + "home_base.latitude", "must be between -90 and 90"))
        if not -180 <= details.home_longitude <= 180:
            violations.append(FieldViolation(prefix + "home_base.longitude", "must be between -180 and 180"))
    if "time_zone" in fields and not is_time_zone(details.time_zone):
        violations.append(FieldViolation(prefix + "time_zone", f"must be an IANA time zone such as Asia/Tokyo,"
                                                               f" got {details.time_zone!r}"))
    if violations:
        raise InvalidArgument(violations)
