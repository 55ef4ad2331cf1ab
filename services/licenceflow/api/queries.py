"""A list's query string, checked as strictly as a body: a parameter the list does not take is
a 400 naming it (a filter that is ignored would list every row as if it matched), and every
invalid value is named in one 422, with what it should have been. Both are problem type
`…/invalid-query`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from litestar import Request
from litestar.handlers import HTTPRouteHandler
from litestar.params import QueryParameter

from licenceflow.domain.elements import RARE_EARTHS
from licenceflow.domain.errors import FieldProblem, InvalidQuery, UnknownQueryParameter
from licenceflow.domain.values import did_you_mean, one_of

E = TypeVar("E", bound=StrEnum)
REFERENCE = re.compile(r"EL-[0-9]{4}-[0-9]{6}")
LICENCE_NUMBER = re.compile(r"L[ST]-[0-9]{4}-[0-9]{6}")
COUNTRY = re.compile(r"[A-Z]{2}")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# a date filter's bounds: its next day and its start in any time zone stay representable
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)


def refuse_unknown(request: Request[Any, Any, Any]) -> None:
    """A 400 naming every query parameter the route's handler does not declare."""
    taken = _declared(request.route_handler)
    unknown = sorted(set(request.query_params) - taken)
    if unknown:
        listed = ", ".join(sorted(taken)) or "none"
        raise UnknownQueryParameter(
            [
                FieldProblem(field=name, message=f"not a parameter here; it takes {listed}")
                for name in unknown
            ]
        )


@cache
def _declared(handler: HTTPRouteHandler) -> frozenset[str]:
    return frozenset(
        getattr(field.kwarg_definition, "query", None) or name
        for name, field in handler.parsed_fn_signature.parameters.items()
        if isinstance(field.kwarg_definition, QueryParameter)
    )


class Checked:
    """The values of one list's query, checked one by one; `done()` refuses them all at once."""

    def __init__(self) -> None:
        self._problems: list[FieldProblem] = []

    def refuse(self, field: str, message: str) -> None:
        self._problems.append(FieldProblem(field=field, message=message))

    def done(self) -> None:
        if self._problems:
            raise InvalidQuery(self._problems)

    def statuses(self, field: str, values: list[str] | None, allowed: type[E]) -> tuple[E, ...]:
        """Each value one of the enumeration's, in its spelling (lower case)."""
        chosen: set[E] = set()
        for value in values or []:
            if (member := _member(allowed, value)) is None:
                self.refuse(field, one_of(value, [m.value for m in allowed]))
            else:
                chosen.add(member)
        return tuple(sorted(chosen))

    def one_of(self, field: str, value: str, allowed: Iterable[str]) -> str:
        options = sorted(allowed)
        if value not in options:
            self.refuse(field, one_of(value, options))
        return value

    def element(self, field: str, value: str | None) -> str | None:
        """A rare earth's symbol, case-sensitive as in a body (`Dy`)."""
        if value is None or value in RARE_EARTHS:
            return value
        hint = did_you_mean(value, RARE_EARTHS) or f"; one of {', '.join(RARE_EARTHS)}"
        self.refuse(field, f"'{value}' is not a rare-earth symbol{hint}")
        return None

    def country(self, field: str, value: str | None) -> str | None:
        """An ISO 3166-1 alpha-2 code, upper case as in a body (`US`)."""
        if value is None or COUNTRY.fullmatch(value):
            return value
        if COUNTRY.fullmatch(value.upper()):
            self.refuse(field, f"'{value}' — did you mean '{value.upper()}'?")
        else:
            self.refuse(field, f"'{value}' is not a country code: two letters (ISO 3166-1, `US`)")
        return None

    def day(self, field: str, value: str | None) -> date | None:
        """A business date, `YYYY-MM-DD`."""
        if value is None:
            return None
        if DAY.fullmatch(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                pass  # 2025-02-30
            else:
                if EARLIEST <= day <= LATEST:
                    return day
                self.refuse(field, f"'{value}' is not between {EARLIEST} and {LATEST}")
                return None
        self.refuse(field, f"'{value}' is not a date: expected YYYY-MM-DD (`2025-07-01`)")
        return None

    def matching(
        self, field: str, value: str | None, pattern: re.Pattern[str], example: str
    ) -> str | None:
        if value is None or pattern.fullmatch(value):
            return value
        self.refuse(field, f"'{value}' does not look like `{example}`")
        return None

    def text(self, field: str, value: str | None, *, max_length: int = 100) -> str | None:
        """Free text: not empty, no control characters, at most `max_length` characters."""
        if value is None:
            return None
        if not value.strip() or len(value) > max_length or not value.isprintable():
            self.refuse(field, f"1–{max_length} printable characters")
            return None
        return value

    def uuid(self, field: str, value: str | None) -> UUID | None:
        if value is None:
            return None
        try:
            return UUID(value)
        except ValueError:
            self.refuse(field, f"'{value}' is not an id (a UUID)")
            return None


def _member(allowed: type[E], value: str) -> E | None:
    try:
        return allowed(value)
    except ValueError:
        return None
