"""Regenerate redfish-registries.json from DMTF Redfish message registries.

The product ships its own copy of the registry facts it acts on (message text, argument count,
severity, resolution, clearing logic, general-message mapping) so that a server event resolves
without network access or a configured folder. Descriptions and argument documentation are
dropped. The DMTF copyright line of each registry is kept (BSD 3-Clause).

    python -m services.maintenance.catalogues.build_redfish_registries [REGISTRY_FOLDER]

REGISTRY_FOLDER defaults to the shared data's diagnostics/redfish/registries. Run it when a
newer DMTF publication is adopted, then review the diff of redfish-registries.json.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

from services.maintenance.domain.diagnostics.shipped_data import REDFISH_REGISTRY_BUNDLE
from services.runtime.shared_data import shared_data_dir

REGISTRY_FIELDS = ("@Redfish.Copyright", "Id", "RegistryPrefix", "RegistryVersion", "OwningEntity")
MESSAGE_FIELDS = (
    "Message",
    "NumberOfArgs",
    "MessageSeverity",
    "Resolution",
    "ClearingLogic",
    "MapsToGeneralMessages",
    "Deprecated",
)
SOURCE = "DMTF Redfish-Publications 2025.4 (commit 26c949654e3e), registries/"


def trimmed_registry(document: Mapping[str, object]) -> dict[str, object]:
    messages = document["Messages"]
    assert isinstance(messages, Mapping)
    trimmed: dict[str, object] = {
        field: document[field] for field in REGISTRY_FIELDS if field in document
    }
    trimmed["Messages"] = {
        key: {field: body[field] for field in MESSAGE_FIELDS if field in body}
        for key, body in messages.items()
    }
    return trimmed


def build_bundle(folder: Path) -> dict[str, object]:
    documents = [
        json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))
    ]
    return {
        "source": SOURCE,
        "licence": "BSD-3-Clause; see each registry's @Redfish.Copyright",
        "generated_by": "python -m services.maintenance.catalogues.build_redfish_registries",
        "registries": [trimmed_registry(document) for document in documents],
    }


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else shared_data_dir() / "diagnostics" / "redfish" / "registries"
    bundle = build_bundle(folder)
    REDFISH_REGISTRY_BUNDLE.write_text(
        json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    registries = bundle["registries"]
    count = sum(len(registry["Messages"]) for registry in registries)
    print(f"wrote {REDFISH_REGISTRY_BUNDLE} ({len(registries)} registries, {count} messages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
