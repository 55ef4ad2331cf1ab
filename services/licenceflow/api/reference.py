"""Reference data: the rare earths and which are controlled today."""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec
from litestar import Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency

from licenceflow.api.queries import refuse_unknown
from licenceflow.api.services import services
from licenceflow.domain.access import Principal
from licenceflow.domain.elements import RARE_EARTHS


class ElementResource(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    name: str
    atomic_number: int
    group: str
    controlled: bool
    controlled_from: date | None
    control_code: str | None


class ElementList(msgspec.Struct, frozen=True):
    items: list[ElementResource]
    next_cursor: None = None


@get(
    "/v1/reference/elements",
    tags=["reference"],
    summary="The 17 rare earths",
    description=(
        "The 17 rare earths: symbol, name, group, and whether and since when each is controlled."
    ),
)
async def elements(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal], state: State
) -> ElementList:
    refuse_unknown(request)
    context = services(state).context
    today = context.calendar.date_of(context.clock.now())
    return ElementList(
        [
            ElementResource(
                symbol=e.symbol,
                name=e.name,
                atomic_number=e.atomic_number,
                group=e.group,
                controlled=e.controlled_on(today),
                controlled_from=e.controlled_from,
                control_code=e.control_code,
            )
            for e in sorted(RARE_EARTHS.values(), key=lambda e: e.atomic_number)
        ]
    )
