"""Contracts: customer, plan version, issuing entity, covered assets with effective dates."""

from __future__ import annotations

from fleetops.invoicing.v1 import contracts_pb2 as cpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from sqlalchemy.orm import Session

from services.invoicing.api.common import parse_plan_version, required_date
from services.invoicing.billing_store import contract_from_rows
from services.invoicing.domain.contracts import validate_contract
from services.invoicing.store import ContractAssetRow, ContractRow, IssuingEntityRow, PlanVersionRow
from services.runtime.crud import Collection
from services.runtime.errors import InvalidArgument
from services.runtime.proto_values import date_from_proto, date_to_proto
from services.runtime.resources import NamePattern, etag_for, parse_name, to_timestamp
from services.runtime.scoping import CustomerOwned

CONTRACTS = NamePattern("contracts/{contract}")
ISSUERS = NamePattern("issuingEntities/{issuing_entity}")


def contract_to_proto(row: ContractRow) -> cpb.Contract:
    plan_id, version = row.plan_version_id.rsplit("/", 1)
    return cpb.Contract(
        name=CONTRACTS.name_of(row.id), customer=row.customer, plan_version=f"plans/{plan_id}/versions/{version}",
        issuing_entity=ISSUERS.name_of(row.issuing_entity_id), currency_code=row.currency,
        billing_anchor_day=row.billing_anchor_day, start_date=date_to_proto(row.start_date),
        end_date=date_to_proto(row.end_date), purchase_order=row.purchase_order, billing_site=row.billing_site,
        billing_cost_centre=row.billing_cost_centre,
        assets=[cpb.CoveredAsset(asset=a.asset, site=a.site, cost_centre=a.cost_centre,
                                 effective_from=date_to_proto(a.effective_from),
                                 effective_to=date_to_proto(a.effective_to)) for a in row.assets],
        create_time=to_timestamp(row.create_time), update_time=to_timestamp(row.update_time),
        etag=etag_for(row.version),
    )


def write_contract(session: Session, row: ContractRow, message: cpb.Contract, fields: set[str]) -> None:
    if "customer" in fields:
        parse_name(message.customer, "customers", "contract.customer")
        row.customer = message.customer
    if "plan_version" in fields:
        plan_id, number = parse_plan_version(message.plan_version, "contract.plan_version")
        if session.get(PlanVersionRow, f"{plan_id}/{number}") is None:
            raise InvalidArgument.field("contract.plan_version", f"{message.plan_version} does not exist")
        row.plan_version_id = f"{plan_id}/{number}"
    if "issuing_entity" in fields:
        issuer = ISSUERS.key(message.issuing_entity, "contract.issuing_entity")
        if session.get(IssuingEntityRow, issuer) is None:
            raise InvalidArgument.field("contract.issuing_entity", f"{message.issuing_entity} does not exist")
        row.issuing_entity_id = issuer
    for field in {"currency_code", "billing_anchor_day", "purchase_order", "billing_site",
                  "billing_cost_centre"} & fields:
        setattr(row, "currency" if field == "currency_code" else field, getattr(message, field))
    if "start_date" in fields:
        row.start_date = required_date(message.start_date, "contract.start_date", message.HasField("start_date"))
    if "end_date" in fields:
        row.end_date = date_from_proto(message.end_date, "contract.end_date") if message.HasField("end_date") else None
    if "assets" in fields:
        row.assets = [ContractAssetRow(
            position=index, asset=covered.asset, site=covered.site, cost_centre=covered.cost_centre,
            effective_from=required_date(covered.effective_from, f"contract.assets[{index}].effective_from",
                                         covered.HasField("effective_from")),
            effective_to=(date_from_proto(covered.effective_to, f"contract.assets[{index}].effective_to")
                          if covered.HasField("effective_to") else None))
            for index, covered in enumerate(message.assets)]
        for index, covered in enumerate(message.assets):
            if not covered.asset.startswith("assets/"):
                raise InvalidArgument.field(f"contract.assets[{index}].asset", "must look like assets/{asset}")
    plan = session.get(PlanVersionRow, row.plan_version_id)
    if plan is not None and plan.currency != row.currency:
        raise InvalidArgument.field("contract.currency_code", f"must be the plan's currency {plan.currency}")
    validate_contract(contract_from_rows(row, row.assets))


CONTRACT_COLLECTION = Collection(
    pattern=CONTRACTS, row_type=ContractRow, message_type=cpb.Contract, message_field="contract",
    writable=("customer", "plan_version", "issuing_entity", "currency_code", "billing_anchor_day", "start_date",
              "end_date", "purchase_order", "billing_site", "billing_cost_centre", "assets"),
    to_message=contract_to_proto,
    write=write_contract,
    scope=CustomerOwned("customer", as_name=True),
)


class ContractMethods:
    def GetContract(self, request: pb.GetContractRequest, context) -> cpb.Contract:
        return self._standard.get(CONTRACT_COLLECTION, request.name)

    def ListContracts(self, request: pb.ListContractsRequest, context) -> pb.ListContractsResponse:
        contracts, token = self._standard.list(CONTRACT_COLLECTION, request, customer=request.customer)
        return pb.ListContractsResponse(contracts=contracts, next_page_token=token)

    def CreateContract(self, request: pb.CreateContractRequest, context) -> cpb.Contract:
        return self._standard.create(CONTRACT_COLLECTION, "CreateContract", request, request.contract_id,
                                     "contract_id")

    def UpdateContract(self, request: pb.UpdateContractRequest, context) -> cpb.Contract:
        return self._standard.update(CONTRACT_COLLECTION, "UpdateContract", request)
