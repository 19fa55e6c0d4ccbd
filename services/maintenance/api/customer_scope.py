"""Customer scoping of maintenance's own records (see services.runtime.scoping): a work order carries
its customer; an alarm or a shipment belongs to the customer of its asset, as fleet described the
asset (asset_refs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.maintenance.store_ingest import AssetRefRow
from services.runtime.scoping import check_customer, scoped_customer


def restrict_to_scoped_assets(query: Any, asset_column: Any) -> Any:
    """`query` limited to the scoped caller's assets (filtered in SQL, so pages stay exact)."""
    customer = scoped_customer()
    if customer is None:
        return query
    return query.where(asset_column.in_(select(AssetRefRow.asset_id).where(AssetRefRow.customer_id == customer)))


def check_asset_scope(session: Session, asset_id: str | None, resource: str) -> None:
    """PERMISSION_DENIED unless the scoped caller's customer owns the asset of `resource` (None: no such resource)."""
    if scoped_customer() is None:
        return
    asset = session.get(AssetRefRow, asset_id) if asset_id else None
    check_customer(asset.customer_id if asset else None, resource)
