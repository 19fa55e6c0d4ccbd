"""Customer scoping: a caller whose identity names one customer sees and changes only that customer's
resources (the mobile backend, customer portals).

`Identity.customer` holds the customer's resource name, `customers/{customer}`. Every check here
answers PERMISSION_DENIED *before* anything could say NOT_FOUND (AIP-211): a scoped caller asking for
a name that does not exist, or exists under another customer, learns nothing about which it is.

Three kinds of resources:
- owned by one customer (`CustomerOwned`): lists are filtered in the query, so paging stays exact;
  a read or change of another customer's (or a missing) resource is denied;
- `shared` reference data (device models, plans, SLA policies...): every caller reads it, a scoped
  caller never changes it;
- `internal` records of the provider's own operations (technicians, schedules, the audit trail...):
  a scoped caller neither reads nor changes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import or_

from services.runtime.auth import current_identity
from services.runtime.errors import NotFound, PermissionDenied
from services.runtime.resources import id_violation

CUSTOMER_PREFIX = "customers/"
RowT = TypeVar("RowT")


def scoped_customer() -> str | None:
    """The id (`acme`) of the customer the caller is confined to; None for an unscoped caller.

    A malformed scope denies everything: a token must never widen by being unreadable."""
    scope = current_identity().customer
    if scope is None:
        return None
    customer = scope.removeprefix(CUSTOMER_PREFIX)
    if not scope.startswith(CUSTOMER_PREFIX) or id_violation(customer, "customer"):
        raise PermissionDenied(f"the caller's customer scope {scope!r} is not a name like customers/{{customer}}",
                               reason="MALFORMED_CUSTOMER_SCOPE")
    return customer


def customer_id_of(name_or_id: str) -> str:
    """`customers/acme` or `acme` -> `acme`."""
    return name_or_id.removeprefix(CUSTOMER_PREFIX)


def deny_scoped(what: str) -> None:
    """For resources and operations that are the provider's own: PERMISSION_DENIED for a scoped caller."""
    customer = scoped_customer()
    if customer is not None:
        raise PermissionDenied(f"a caller scoped to {CUSTOMER_PREFIX}{customer} may not use {what}",
                               reason="OUTSIDE_CUSTOMER_SCOPE")


def check_customer(customer: str | None, resource: str) -> None:
    """PERMISSION_DENIED unless the caller may touch `resource`, owned by `customer` (an id or a name;
    None or "" when the resource does not exist or belongs to no customer)."""
    scope = scoped_customer()
    if scope is not None and (not customer or customer_id_of(customer) != scope):
        raise PermissionDenied(f"{resource} is outside the caller's customer scope",
                               reason="OUTSIDE_CUSTOMER_SCOPE", metadata={"resource": resource})


def visible(row: RowT | None, resource: str, customer_of: Callable[[RowT], str | None]) -> RowT:
    """`row` when the caller may see it; PERMISSION_DENIED (scoped caller) or NOT_FOUND when it is None."""
    check_customer(customer_of(row) if row is not None else None, resource)
    if row is None:
        raise NotFound(resource)
    return row


def restrict(query: Any, customer_column: Any, *, as_name: bool = False) -> Any:
    """`query` limited to the scoped caller's customer; `customer_column` holds ids, or names with `as_name`."""
    customer = scoped_customer()
    if customer is None:
        return query
    return query.where(customer_column == (CUSTOMER_PREFIX + customer if as_name else customer))


class CustomerOwned:
    """Rows of one customer each. `column` holds the customer's id (its name `customers/{id}` with
    `as_name`); without a column, the first id of the row's key is the customer's (`acme` for the
    customer itself, `acme/hq` for its site). `message_field` is where a new resource names its customer."""

    def __init__(self, column: str | None = None, *, as_name: bool = False, message_field: str = "customer"):
        self.column = column
        self.as_name = as_name
        self.message_field = message_field

    def customer_of(self, row: Any) -> str:
        if self.column is None:
            return row.id.split("/", 1)[0]
        return customer_id_of(getattr(row, self.column) or "")

    def restrict(self, query: Any, row_type: type) -> Any:
        """A list's query, limited to the scoped caller's rows."""
        customer = scoped_customer()
        if customer is None:
            return query
        if self.column is None:
            return query.where(or_(row_type.id == customer, row_type.id.startswith(customer + "/")))
        return restrict(query, getattr(row_type, self.column), as_name=self.as_name)

    def check_found(self, row: Any | None, name: str, for_update: bool) -> None:
        """After a look-up by name, before any NOT_FOUND: another customer's row and no row are alike."""
        check_customer(self.customer_of(row) if row is not None else None, name)

    def check_new(self, key: str, name: str, message: Any) -> None:
        """Before a create looks anything up: the new resource must be the caller's customer's."""
        owner = key.split("/", 1)[0] if self.column is None else getattr(message, self.message_field, "")
        check_customer(owner, name)

    def check_written(self, row: Any, name: str) -> None:
        """After a create or update wrote the row: no change may hand it to another customer."""
        check_customer(self.customer_of(row), name)


class Unowned:
    """Rows that belong to no customer; `readable` says whether a scoped caller may read them."""

    def __init__(self, readable: bool, what: str):
        self.readable = readable
        self.what = what

    def restrict(self, query: Any, row_type: type) -> Any:
        self.check_read()
        return query

    def check_found(self, row: Any | None, name: str, for_update: bool) -> None:
        """`for_update` declares the intent to change the row."""
        if for_update:
            self.check_write()
        else:
            self.check_read()

    def check_new(self, key: str, name: str, message: Any) -> None:
        self.check_write()

    def check_written(self, row: Any, name: str) -> None:
        self.check_write()

    def check_read(self) -> None:
        if self.readable:
            scoped_customer()  # a malformed scope reads nothing, not even shared data
        else:
            deny_scoped(self.what)

    def check_write(self) -> None:
        deny_scoped(f"changes to {self.what}")


def shared(what: str) -> Unowned:
    """Reference data every caller reads and only an unscoped caller changes."""
    return Unowned(readable=True, what=what)


def internal(what: str) -> Unowned:
    """The provider's own records: a scoped caller neither reads nor changes them."""
    return Unowned(readable=False, what=what)


Scope = CustomerOwned | Unowned
