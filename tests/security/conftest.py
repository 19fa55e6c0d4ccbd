"""Signing keys and the three services accepting bearer tokens only, shared by the security tests
that need no special transport (started once per test process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ServiceUnderTest, stop_service
from tests.security.security_helpers import TokenKeys, start_secured


@pytest.fixture(scope="session")
def keys() -> TokenKeys:
    return TokenKeys.generate()


@pytest.fixture(scope="session")
def secured_suite(keys, tmp_path_factory) -> Iterator[dict[str, ServiceUnderTest]]:
    from services.fleet.main import DEFINITION as FLEET
    from services.invoicing.main import DEFINITION as INVOICING
    from services.maintenance.main import DEFINITION as MAINTENANCE
    folder = tmp_path_factory.mktemp("secured")
    fleet = start_secured(FLEET, folder, keys)
    maintenance = start_secured(MAINTENANCE, folder, keys, peers={"fleet": fleet.address, "invoicing": "localhost:1"})
    invoicing = start_secured(INVOICING, folder, keys, peers={"fleet": fleet.address, "maintenance": maintenance.address})
    handles = {"fleet": fleet, "maintenance": maintenance, "invoicing": invoicing}
    yield handles
    for handle in handles.values():
        stop_service(handle)
