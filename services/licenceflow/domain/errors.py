"""The domain's errors: every refusal the core can give, one class each.

    DomainError
    ├── NotAuthenticated       no valid bearer token
    ├── MalformedRequest       the body is not JSON, or a cursor was not written by this service
    ├── InvalidFields          fields are missing or invalid (carries a problem for each)
    │   ├── InvalidFiling      in a request's body
    │   └── InvalidQuery       in a list's query string
    │       └── UnknownQueryParameter  a parameter the list does not know (a 400)
    ├── NotFound               no such resource, or not visible to the caller
    ├── Forbidden              the caller's role may not do this
    ├── Conflict               the request is valid but the state forbids it
    │   ├── InvalidTransition  (status, action) is not in the transition table
    │   ├── RequestInProgress  the same Idempotency-Key is still being processed
    │   ├── LicenceNotUsable   the licence is not active, or the date is outside its validity
    │   ├── QuantityExceeded   a shipment asks for more than a line has left
    │   └── ShipmentRefConflict  a shipment reference came back with other lines or date
    ├── IdempotencyKeyReused   the same key came with another body (a 422, not a conflict)
    └── StaleVersion           If-Match names a version that is no longer current

The API maps each class to one HTTP status in one place (`api/errors.py`), and names its
problem type after the class (`QuantityExceeded` → `…/quantity-exceeded`; every query problem
is `…/invalid-query`); workers log them.
"""

from __future__ import annotations

import msgspec


class FieldProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One invalid field, named by its JSON path (`lines[0].quantity_kg`)."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every refusal the domain and the workflow raise."""

    title = "Request refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


MAX_PROBLEMS = 50  # a refusal lists at most this many fields: a hostile body cannot make it huge


class InvalidFields(DomainError):
    """Every missing or invalid field found, not just the first."""

    title = "Invalid request"

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems[:MAX_PROBLEMS]
        detail = "; ".join(f"{p.field}: {p.message}" for p in self.problems[:5])
        if len(problems) > 5:
            detail += f" (and {len(problems) - 5} more"
            detail += f"; the first {MAX_PROBLEMS} listed)" if len(problems) > MAX_PROBLEMS else ")"
        super().__init__(detail)


class InvalidFiling(InvalidFields):
    pass


class InvalidQuery(InvalidFields):
    title = "Invalid query"


class UnknownQueryParameter(InvalidQuery):
    """A list's query names a parameter it does not take: a filter that would silently match
    every row is refused instead."""


class NotFound(DomainError):
    title = "Not found"


class Forbidden(DomainError):
    title = "Forbidden"


class Conflict(DomainError):
    title = "Conflict"


class InvalidTransition(Conflict):
    title = "Invalid transition"

    def __init__(self, current_status: str, action: str, hint: str = "") -> None:
        said = f"action '{action}' is not allowed in status '{current_status}'"
        super().__init__(f"{said}: {hint}" if hint else said)
        self.current_status = current_status
        self.action = action


class RequestInProgress(Conflict):
    title = "Request in progress"


class LicenceNotUsable(Conflict):
    title = "Licence not usable"


class QuantityExceeded(Conflict):
    title = "Quantity exceeded"


class ShipmentRefConflict(Conflict):
    title = "Shipment reference conflict"


class IdempotencyKeyReused(DomainError):
    title = "Idempotency key reused"


class StaleVersion(DomainError):
    title = "Precondition failed"


class MalformedRequest(DomainError):
    """The request cannot be read at all: not JSON, or a cursor this service did not write."""

    title = "Malformed request"


class NotAuthenticated(DomainError):
    """No bearer token, or one that is expired, forged or for another audience."""

    title = "Not authenticated"
