"""The demo's synthetic but realistic fleet: CSV for ImportFleet, a month of meter readings and
diagnostic events in the three native formats (Printer MIB alert rows, J1939 DM1, Redfish)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from google.protobuf import timestamp_pb2

from fleetops.fleet.v1 import meters_pb2
from fleetops.maintenance.v1 import diagnostics_pb2

CUSTOMERS = [("kansai-print", "Kansai Print KK"), ("tokai-logistics", "Tokai Logistics KK"),
             ("kanto-datacentre", "Kanto Datacentre KK")]
TERRITORY = "kansai"
CITIES = [("osaka", 34.69, 135.50), ("kobe", 34.69, 135.19), ("kyoto", 35.01, 135.77), ("nara", 34.68, 135.80)]
MODELS = {"printer": "demo-mfp-c3000", "forklift": "demo-forklift-fb25", "server": "demo-server-r750"}
REGISTERS = {"printer": "mono_impressions", "forklift": "operating_hours", "server": "compute_hours"}
COUNTS = {"printer": 400, "forklift": 60, "server": 80}
INSTALL_DATE = date(2026, 9, 1)
# DM1 with the amber lamp on and one DTC: SPN 91 (accelerator pedal position), FMI 3, seen once.
DM1_ACCELERATOR_FAULT = bytes([0x04, 0xFF, 0x5B, 0x00, 0x03, 0x01, 0xFF, 0xFF])
DM1_PGN = 65226


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


def sites() -> list[tuple[str, str, str, float, float]]:
    """(customer_id, site_id, display name, latitude, longitude): 4 sites per customer, 12 in all."""
    return [(customer, f"{city}-{index}", f"{city.title()} {index}", lat + index * 0.01, lon - index * 0.01)
            for customer, _ in CUSTOMERS for index, (city, lat, lon) in enumerate(CITIES)]


def assets() -> list[tuple[str, str, str, str]]:
    """(asset_id, device class, customer_id, site_id), printers spread over every site."""
    site_rows = sites()
    rows = []
    for device_class, count in COUNTS.items():
        for number in range(count):
            customer, site, *_ = site_rows[number % len(site_rows)]
            rows.append((f"demo-{device_class}-{number:04d}", device_class, customer, site))
    return rows


def customers_csv() -> str:
    lines = ["customer_id,legal_name,currency_code,tax_registration_number,data_collection_consent,parent_customer_id"]
    lines += [f"{customer},{legal},JPY,T{index:013d},yes," for index, (customer, legal) in enumerate(CUSTOMERS, 1)]
    return "\n".join(lines) + "\n"


def sites_csv() -> str:
    lines = ["customer_id,site_id,display_name,address,latitude,longitude,time_zone,service_territory"]
    lines += [f"{c},{s},{name},,{lat:.4f},{lon:.4f},Asia/Tokyo,{TERRITORY}" for c, s, name, lat, lon in sites()]
    return "\n".join(lines) + "\n"


def assets_csv() -> str:
    lines = ["asset_id,serial_number,device_model_id,customer_id,site_id,acquisition_mode,owner_party,install_date,contract"]
    lines += [f"{asset},SN-{asset.upper()},{MODELS[kind]},{customer},{site},lease,provider,{INSTALL_DATE.isoformat()},"
              for asset, kind, customer, site in assets()]
    return "\n".join(lines) + "\n"


def meter_readings(month_start: date, days: int, seed: int = 7) -> Iterator[meters_pb2.MeterReading]:
    """One cumulative reading per asset and day at 23:00 UTC; printers print 40-400 pages a day."""
    rng = random.Random(seed)
    daily = {"printer": (40, 400), "forklift": (4, 16), "server": (20, 24)}
    for asset, kind, _, _ in assets():
        counter = rng.randint(10_000, 200_000) if kind == "printer" else rng.randint(100, 2_000)
        low, high = daily[kind]
        for day in range(days + 1):
            moment = datetime(month_start.year, month_start.month, month_start.day, 23, tzinfo=UTC) + timedelta(days=day - 1)
            yield meters_pb2.MeterReading(asset=f"assets/{asset}", register=REGISTERS[kind], value=str(counter),
                                          read_time=stamp(moment))
            counter += rng.randint(low, high)


def paper_jam(index: int) -> diagnostics_pb2.SnmpRow:
    values = {"prtAlertIndex": index, "prtAlertSeverityLevel": 3, "prtAlertTrainingLevel": 5, "prtAlertGroup": 13,
              "prtAlertGroupIndex": 1, "prtAlertLocation": 5, "prtAlertCode": 8,
              "prtAlertDescription": "Paper jam in duplex path", "prtAlertTime": 123456}
    return diagnostics_pb2.SnmpRow(columns={key: str(value) for key, value in values.items()})


def redfish_ecc_errors(event_id: str, moment: datetime) -> str:
    return json.dumps({"Events": [{"EventType": "Alert", "EventId": event_id,
                                   "MessageId": "ResourceEvent.1.4.ResourceErrorsDetected",
                                   "MessageArgs": ["CPU1", "ECC"], "MessageSeverity": "Warning",
                                   "EventTimestamp": moment.isoformat(),
                                   "OriginOfCondition": {"@odata.id": "/redfish/v1/Systems/1/Processors/CPU1"}}]})


def diagnostic_events(moment: datetime, faulty_per_class: int = 8) -> list[diagnostics_pb2.DiagnosticEvent]:
    """A few faulty devices of each class, in their native formats."""
    by_class: dict[str, list[str]] = {}
    for asset, kind, _, _ in assets():
        by_class.setdefault(kind, []).append(f"assets/{asset}")
    events = []
    for number, asset in enumerate(by_class["printer"][:faulty_per_class]):
        events.append(diagnostics_pb2.DiagnosticEvent(source="demo-snmp-collector", source_event_id=f"jam-{number}",
                                                      asset=asset, observe_time=stamp(moment),
                                                      printer_alert=paper_jam(12)))
    for number, asset in enumerate(by_class["forklift"][:faulty_per_class]):
        events.append(diagnostics_pb2.DiagnosticEvent(
            source="demo-telematics", source_event_id=f"dm1-{number}", asset=asset, observe_time=stamp(moment),
            j1939_message=diagnostics_pb2.J1939Message(pgn=DM1_PGN, source_address=0, data=DM1_ACCELERATOR_FAULT)))
    for number, asset in enumerate(by_class["server"][:faulty_per_class]):
        events.append(diagnostics_pb2.DiagnosticEvent(
            source="demo-redfish", source_event_id=f"rf-{number}", asset=asset, observe_time=stamp(moment),
            redfish_event=redfish_ecc_errors(f"rf-{number}", moment)))
    return events
