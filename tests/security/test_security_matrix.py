"""The authorization matrix: every RPC of the three services (from the generated descriptors) called
by every role and by a caller without credentials, through real servers that accept tokens only.

The expectations below are written as rules about roles, independently of the table in
`services/runtime/policy.py`, so a slip in either shows up here. An allowed call gets an empty
request and may fail with INVALID_ARGUMENT, NOT_FOUND, ...: anything but UNAUTHENTICATED or the
policy's PERMISSION_DENIED proves it passed authorization.
"""

from __future__ import annotations

import urllib.request

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2
from fleetops.invoicing.v1 import invoicing_service_pb2
from fleetops.maintenance.v1 import maintenance_service_pb2
from google.protobuf import message_factory
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

from services.runtime import policy
from services.runtime.clients import bearer_metadata
from tests.security.security_helpers import start_secured

SERVICES = {
    "fleet": fleet_service_pb2.DESCRIPTOR.services_by_name["FleetService"],
    "maintenance": maintenance_service_pb2.DESCRIPTOR.services_by_name["MaintenanceService"],
    "invoicing": invoicing_service_pb2.DESCRIPTOR.services_by_name["InvoicingService"],
}
RPCS = [(name, method) for name, service in SERVICES.items() for method in service.methods]

TECHNICIAN_API = {"ListMyWorkOrders", "AcceptWorkOrder", "StartTravel", "ArriveOnSite", "PutOnHold",
                  "CompleteWorkOrder", "AddWorkNote"}
# What a technician looks up on site besides the technician API.
TECHNICIAN_READS = {"fleet": {"GetCustomer", "GetSite", "GetLocation", "GetDeviceModel", "GetAsset"},
                    "maintenance": {"GetAlarm"}, "invoicing": set()}
# What the services call on each other (grep Peer in services/), plus gateways sending diagnostics.
PEER_CALLS = {"fleet": {"BatchGetAssets", "GetSite", "GetUsage", "RecordMeterReadings"},
              "maintenance": {"ListDowntimeIntervals", "ListWorkOrders", "IngestDiagnostics", "StreamDiagnostics"},
              "invoicing": set()}
DIAGNOSTICS_INGESTION = {"IngestDiagnostics", "StreamDiagnostics"}
SLA_WRITES = {"CreateSlaPolicy", "UpdateSlaPolicy"}


def is_read(method: str) -> bool:
    return method.startswith(("Get", "List", "BatchGet")) or method in {"RenderInvoice", "PreviewBillingRun"}


def allowed(role: str, service: str, method: str) -> bool:
    reads = is_read(method) and method not in TECHNICIAN_API
    if role == "admin":
        return True
    if role == "viewer":
        return reads
    if role == "technician":
        return method in TECHNICIAN_API or method in TECHNICIAN_READS[service]
    if role == "service":
        return method in PEER_CALLS[service]
    if role == "dispatcher":
        maintenance_work = method not in TECHNICIAN_API | DIAGNOSTICS_INGESTION | SLA_WRITES
        return (service == "fleet" and reads) or (service == "maintenance" and maintenance_work)
    if role == "billing":
        return service == "invoicing" or (service == "fleet" and reads)
    raise AssertionError(f"no expectation for role {role}")


def call(channel: grpc.Channel, service, method, metadata: tuple) -> grpc.StatusCode:
    """Calls `method` with an empty request (or an empty stream); returns the status code."""
    request_type = message_factory.GetMessageClass(method.input_type)
    response_type = message_factory.GetMessageClass(method.output_type)
    path = f"/{service.full_name}/{method.name}"
    try:
        if method.client_streaming:
            stub = channel.stream_stream(path, request_serializer=request_type.SerializeToString,
                                         response_deserializer=response_type.FromString)
            list(stub(iter(()), metadata=metadata, timeout=30))
        else:
            stub = channel.unary_unary(path, request_serializer=request_type.SerializeToString,
                                       response_deserializer=response_type.FromString)
            stub(request_type(), metadata=metadata, timeout=30)
    except grpc.RpcError as error:
        return error
    return None


def policy_denial(error) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo of the policy's refusal, None for any other outcome."""
    if error is None or error.code() != grpc.StatusCode.PERMISSION_DENIED:
        return None
    for detail in rpc_status.from_call(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.reason == "MISSING_ROLE":
            return info
    return None


@pytest.mark.parametrize(("service_name", "method"), RPCS, ids=[f"{s}.{m.name}" for s, m in RPCS])
def test_every_role_gets_what_the_policy_promises(secured_suite, keys, service_name, method):
    service = SERVICES[service_name]
    channel = secured_suite[service_name].raw_channel
    anonymous = call(channel, service, method, ())
    assert anonymous is not None and anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
    expected_roles = {role for role in policy.ROLES if allowed(role, service_name, method.name)}
    for role in policy.ROLES:
        outcome = call(channel, service, method, bearer_metadata(keys.token(role, subject=f"matrix-{role}")))
        denial = policy_denial(outcome)
        if role in expected_roles:
            assert denial is None, f"{role} was refused {method.name}: {outcome.details()}"
            assert outcome is None or outcome.code() != grpc.StatusCode.UNAUTHENTICATED, outcome.details()
        else:
            assert denial is not None, f"{role} was let into {method.name} ({outcome.code() if outcome else 'OK'})"
            # the message names the roles that would do
            assert set(denial.metadata["required_roles"].split(",")) == expected_roles
            assert all(needed in outcome.details() for needed in expected_roles)


def test_the_policy_covers_every_rpc_and_names_only_known_roles():
    names = {service.full_name: {method.name for method in service.methods} for service in SERVICES.values()}
    assert policy.methods_without_policy(names) == []
    for service, table in policy.POLICY.items():
        assert set(table) <= names[service], f"entries for RPCs {service} does not have"
        assert all(roles and roles <= set(policy.ROLES) for roles in table.values())


def test_a_service_with_an_rpc_missing_from_the_policy_does_not_start(monkeypatch, tmp_path, keys):
    from services.fleet.main import DEFINITION
    trimmed = dict(policy.POLICY[policy.FLEET_SERVICE])
    del trimmed["ListAssets"]
    monkeypatch.setitem(policy.POLICY, policy.FLEET_SERVICE, trimmed)
    with pytest.raises(RuntimeError, match="FleetService/ListAssets"):
        start_secured(DEFINITION, tmp_path, keys)


def test_health_reflection_and_metrics_stay_open(secured_suite):
    for handle in secured_suite.values():
        with urllib.request.urlopen(handle.metrics_url, timeout=5) as response:
            assert b"grpc_server_handled_total" in response.read()
        health = health_pb2_grpc.HealthStub(handle.raw_channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        assert any(name.startswith("fleetops.") for name in
                   ProtoReflectionDescriptorDatabase(handle.raw_channel).get_services())
