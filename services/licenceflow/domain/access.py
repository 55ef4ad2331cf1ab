"""Who is calling: the principal a bearer token names, the role it acts in, what it may see."""

from __future__ import annotations

from collections.abc import Iterable

from licenceflow.domain.audit import Actor, Role
from licenceflow.domain.errors import Forbidden, NotFound
from licenceflow.domain.values import Value

MEMBER_ROLES = frozenset({Role.EXPORTER, Role.VIEWER})
WRITER_ROLES = frozenset({Role.EXPORTER, Role.OFFICER})


class Visibility(Value, frozen=True, kw_only=True):
    """Who is looking: members of `org` (None: of no org) and whether officers' sight applies."""

    org: str | None
    officer: bool


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

    @property
    def visibility(self) -> Visibility:
        """What this principal sees: its organisation's files as a member, any as an officer."""
        return Visibility(org=self.member_of, officer=self.is_officer)

    def acting_as(self, allowed: frozenset[Role], doing: str) -> Actor:
        """The actor this principal is in one of the `allowed` roles; `Forbidden` if in none."""
        for role in _preference(self.roles):
            if role in allowed:
                return Actor(sub=self.sub, role=role)
        raise Forbidden(f"{_in_words(self.roles)} may not {doing}")

    def reach(self, actor: Actor, owner_org: str, what: str) -> None:
        """Officers act on every other organisation's resources, never on their own (separation
        of duties: `Forbidden`, whatever other roles the token holds); a member acts only on its
        own: for another's, `NotFound`, as if it did not exist."""
        if actor.role is Role.OFFICER and owner_org == self.org:
            raise Forbidden(
                f"an officer may not act on {what} of their own organisation '{self.org}'"
                " (separation of duties)"
            )
        if actor.role is not Role.OFFICER and owner_org != self.org:
            raise NotFound(f"no {what}")

    def require_writer(self) -> None:
        """Viewers only read: refuse before even reading what they sent."""
        if not self.roles & WRITER_ROLES:
            raise Forbidden("a viewer may only read")

    def require(self, role: Role, doing: str) -> Actor:
        if role not in self.roles:
            raise Forbidden(f"only {_in_words([role])} may {doing}, not {_in_words(self.roles)}")
        return Actor(sub=self.sub, role=role)


def _preference(roles: Iterable[Role]) -> list[Role]:
    order = [Role.EXPORTER, Role.OFFICER, Role.VIEWER, Role.SYSTEM]
    return [r for r in order if r in roles]


def _in_words(roles: Iterable[Role]) -> str:
    """`an exporter`, `a viewer or an officer`: roles as a person would name them."""
    named = [f"{'an' if r[0] in 'aeiou' else 'a'} {r}" for r in _preference(roles)]
    return " or ".join(named) or "no role"
