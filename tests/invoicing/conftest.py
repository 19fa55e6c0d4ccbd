"""Fixtures of the invoicing service tests: the real invoicing server and a client for it."""

from __future__ import annotations

import pytest

from tests.invoicing.invoicing_service_builders import UNREACHABLE, Billing


@pytest.fixture(scope="session")
def billing_service(service_factory, fleet):
    """Invoicing wired to the real fleet service and an unreachable maintenance service."""
    from services.invoicing.main import DEFINITION
    return service_factory(DEFINITION, peers={"fleet": fleet.address, "maintenance": UNREACHABLE})


@pytest.fixture()
def billing(billing_service) -> Billing:
    return Billing(billing_service.channel)
