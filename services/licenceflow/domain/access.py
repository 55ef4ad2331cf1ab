"""Who is calling: the principal a bearer token names, the role it acts in, what it may see."""

from __future__ import annotations

from collections.abc import Iterable

from licenceflow.domain.audit import Actor, Role
from licenceflow.domain.errors import Forbidden
from licenceflow.domain.values import Value

MEMBER_ROLES = frozenset({Role.EXPORTER, Role.VIEWER})


class Principal(Value, frozen=True, kw_only=True):
    sub: str
    org: str
    roles: frozenset[Role]

    @property
    def member_of(self) -> str | None:
        """The organisation whose resources this principal sees as a member, if any."""
        return self.org if self.roles & MEMBER_ROLES else None

    @property
    def is_officer(self) -> bool:
        return Role.OFFICER in self.roles

    def acting_as(self, allowed: frozenset[Role], doing: str) -> Actor:
        """The actor this principal is in one of the `allowed` roles; `Forbidden` if in none."""
        for role in _preference(self.roles):
            if role in allowed:
                return Actor(sub=self.sub, role=role)
        raise Forbidden(f"none of the roles {sorted(self.roles)} may {doing}")

    def require(self, role: Role, doing: str) -> Actor:
        if role not in self.roles:
            raise Forbidden(f"only the role '{role}' may {doing}")
        return Actor(sub=self.sub, role=role)


def _preference(roles: Iterable[Role]) -> list[Role]:
    order = [Role.EXPORTER, Role.OFFICER, Role.VIEWER, Role.SYSTEM]
    return [r for r in order if r in roles]
