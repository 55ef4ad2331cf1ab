"""Who acts and what the audit timeline records: shared by every aggregate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol, TypeVar

import msgspec

from licenceflow.domain.filing import NO_CONTROL_CHARS
from licenceflow.domain.values import Value

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=NO_CONTROL_CHARS)]


class Role(StrEnum):
    EXPORTER = "exporter"
    VIEWER = "viewer"
    OFFICER = "officer"
    SYSTEM = "system"  # the service itself: deadline sweeps, lapses, expiry


class Actor(Value, frozen=True, kw_only=True):
    sub: str
    role: Role


SYSTEM_ACTOR = Actor(sub="licenceflow", role=Role.SYSTEM)


class Event(Value, frozen=True, kw_only=True):
    """One line of an aggregate's audit timeline: who did what, from which status to which."""

    action: str
    from_status: str | None
    to_status: str
    actor: Actor
    at: datetime
    reason: str | None = None
    reason_code: str | None = None
    details: dict[str, Any] = {}


A = TypeVar("A")


class _Rule(Protocol):
    @property
    def roles(self) -> frozenset[Role]: ...


def roles_by_action(
    table: Mapping[tuple[Any, A], _Rule], actions: Iterable[A]
) -> dict[A, frozenset[Role]]:
    """Every role that may take each action in some status, read off a transition table."""
    return {
        action: frozenset().union(*(rule.roles for (_, a), rule in table.items() if a == action))
        for action in actions
    }
