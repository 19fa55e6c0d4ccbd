"""Remote diagnostics: decoders for printer (SNMP Printer MIB v2), forklift (SAE J1939 DM1/DM2)
and server (DMTF Redfish events) messages, and their normalization into faults.

Plain Python: no gRPC, no SQL. Decoders raise `MalformedDiagnostic` for input that breaks its
specification; `decode_each` turns a batch into decoded items and (index, reason) rejections.
Catalogues and Redfish registry facts are the project's own files in services/maintenance/
catalogues/; nothing here reads the shared specification data.
"""

from services.maintenance.domain.diagnostics.batch import BatchResult, Rejected, decode_each
from services.maintenance.domain.diagnostics.catalogue import (
    Catalogue,
    CatalogueError,
    Catalogues,
    load_catalogue,
    load_catalogues,
)
from services.maintenance.domain.diagnostics.errors import MalformedDiagnostic
from services.maintenance.domain.diagnostics.faults import Action, NormalizedFault, Severity
from services.maintenance.domain.diagnostics.j1939 import (
    CanFrame,
    J1939Message,
    TransportReassembler,
    parse_candump_line,
)
from services.maintenance.domain.diagnostics.j1939_dm import (
    DiagnosticMessage,
    Dm1Tracker,
    DtcActivated,
    DtcCleared,
    decode_dm,
    decode_dm_message,
)
from services.maintenance.domain.diagnostics.normalize import DecodedEvent, normalize
from services.maintenance.domain.diagnostics.printer import (
    PageCounter,
    PrinterAlert,
    PrinterAlertRemoved,
    PrinterAlertTable,
    SupplyLevel,
    decode_alert_row,
    decode_marker_row,
    decode_supply_row,
)
from services.maintenance.domain.diagnostics.redfish_events import (
    ClearingRule,
    RedfishEvent,
    decode_event_payload,
    decode_event_record,
)
from services.maintenance.domain.diagnostics.redfish_registry import (
    RegistrySet,
    load_registry_bundle,
    load_registry_folder,
)

__all__ = [
    "Action",
    "BatchResult",
    "CanFrame",
    "Catalogue",
    "CatalogueError",
    "Catalogues",
    "ClearingRule",
    "DecodedEvent",
    "DiagnosticMessage",
    "Dm1Tracker",
    "DtcActivated",
    "DtcCleared",
    "J1939Message",
    "MalformedDiagnostic",
    "NormalizedFault",
    "PageCounter",
    "PrinterAlert",
    "PrinterAlertRemoved",
    "PrinterAlertTable",
    "RedfishEvent",
    "RegistrySet",
    "Rejected",
    "Severity",
    "SupplyLevel",
    "TransportReassembler",
    "decode_alert_row",
    "decode_dm",
    "decode_dm_message",
    "decode_each",
    "decode_event_payload",
    "decode_event_record",
    "decode_marker_row",
    "decode_supply_row",
    "load_catalogue",
    "load_catalogues",
    "load_registry_bundle",
    "load_registry_folder",
    "normalize",
    "parse_candump_line",
]
