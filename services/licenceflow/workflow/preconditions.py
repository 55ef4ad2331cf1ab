"""HTTP preconditions the use-cases honour: `If-Match` on every write to one resource."""

from __future__ import annotations

from licenceflow.domain.errors import StaleVersion


def require_version(current: int, if_match: frozenset[int] | None) -> None:
    """The write goes ahead only on a version `If-Match` names (None: any version)."""
    if if_match is not None and current not in if_match:
        raise StaleVersion(f"If-Match does not match the current version {current}")
