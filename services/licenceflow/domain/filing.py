"""What an exporter files: parties, end use, transport and goods lines, and the rules they obey.

Types are checked when JSON is decoded into these structs; `problems()` then checks the rules
that types cannot express (known countries and currencies, positive quantities with at most three
decimals, the regime's own country as the exporter's, a plausible ship date) and names each broken
rule by field path. Every part of a filing is bounded: lengths, list sizes, magnitudes, dates.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import iso4217
import msgspec
import pycountry

from licenceflow.domain.elements import CHEMICAL_SYMBOLS, RARE_EARTHS
from licenceflow.domain.errors import FieldProblem
from licenceflow.domain.values import Value, did_you_mean

MAX_LINES = 50
MAX_CONSTITUENTS = 20  # elements a magnet or alloy line lists: real ones name a handful
QUANTITY_PLACES = 3
AMOUNT_DIGITS = 15  # kg or money below 10^15: far beyond any shipment, well within precision
SHIP_DATE_RANGE = timedelta(days=5 * 366)  # a planned ship date within five years of the filing

NO_CONTROL_CHARS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"  # PostgreSQL text cannot hold NUL
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=NO_CONTROL_CHARS)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_CONTROL_CHARS)]

# The rules `problems()` checks, stated in the JSON Schema too (`extra_json_schema` documents,
# it does not validate): a client generated from the OpenAPI, or a fuzzer, sends what passes.
COUNTRIES = sorted(c.alpha_2 for c in pycountry.countries)
CURRENCY_PLACES = {c.code: c.exponent for c in iso4217.Currency if isinstance(c.exponent, int)}
CURRENCIES = sorted(CURRENCY_PLACES)
# 6 to 10 digits, a dot allowed between any two (API.md): 2846.90, 2846901940, 2805.30.1910
HS_CODE = r"^[0-9](\.?[0-9]){5,9}$"


def amount_pattern(places: int) -> str:
    """A plain decimal below 10^15 with at most `places` places (JSON numbers are taken too;
    strings keep amounts exact)."""
    return r"^(0|[1-9][0-9]{0,14})" + (rf"(\.[0-9]{{1,{places}}})?$" if places else "$")


def positive_pattern(places: int) -> str:
    """As `amount_pattern`, above zero: a whole part from 1, or 0 and places not all zeros (a
    plain pattern: client generators do not follow JSON Schema's `not`)."""
    fraction = rf"(\.[0-9]{{1,{places}}})?"
    small = "|".join(
        rf"0{{{zeros}}}[1-9][0-9]{{0,{places - zeros - 1}}}" for zeros in range(places)
    )
    return rf"^([1-9][0-9]{{0,14}}{fraction}|0\.({small}))$"


QUANTITY = positive_pattern(QUANTITY_PLACES)


def _code(**schema: object) -> msgspec.Meta:
    return msgspec.Meta(max_length=16, extra_json_schema=schema)


Country = Annotated[str, _code(enum=COUNTRIES, description="ISO 3166-1 alpha-2")]
RareEarth = Annotated[str, _code(enum=sorted(RARE_EARTHS), description="a rare-earth symbol")]
Symbol = Annotated[str, _code(enum=sorted(CHEMICAL_SYMBOLS), description="an element's symbol")]
HsCode = Annotated[
    str,
    msgspec.Meta(
        max_length=19,  # ten digits and a dot between each two
        extra_json_schema={"pattern": HS_CODE, "description": "6 to 10 digits, dots optional"},
    ),
]
CurrencyCode = Annotated[str, _code(enum=CURRENCIES, description="ISO 4217, with a minor unit")]
Quantity = Annotated[
    Decimal,
    msgspec.Meta(
        extra_json_schema={"pattern": QUANTITY},
        description="kg: positive, below 10^15, at most 3 decimal places",
    ),
]
Amount = Annotated[
    Decimal,
    msgspec.Meta(
        extra_json_schema={"pattern": amount_pattern(max(CURRENCY_PLACES.values()))},
        description="non-negative, below 10^15, at most the currency's minor unit of places",
    ),
]


class Form(StrEnum):
    METAL = "metal"
    ALLOY = "alloy"
    OXIDE = "oxide"
    COMPOUND = "compound"
    MAGNET = "magnet"
    TARGET = "target"


FORMS_WITH_CONSTITUENTS = frozenset({Form.MAGNET, Form.ALLOY})


class EndUseCategory(StrEnum):
    AUTOMOTIVE = "automotive"
    ELECTRONICS = "electronics"
    ENERGY = "energy"
    DEFENCE = "defence"
    MEDICAL = "medical"
    RESEARCH = "research"
    OTHER = "other"


class TransportMode(StrEnum):
    SEA = "sea"
    AIR = "air"
    RAIL = "rail"
    ROAD = "road"


class Party(Value, frozen=True, kw_only=True):
    name: ShortText
    country: Country


class Line(Value, frozen=True, kw_only=True):
    element: RareEarth
    form: Form
    hs_code: HsCode
    quantity_kg: Quantity
    value: Amount
    currency: CurrencyCode
    contains: Annotated[
        tuple[Symbol, ...],
        msgspec.Meta(max_length=MAX_CONSTITUENTS, extra_json_schema={"uniqueItems": True}),
    ] = ()


class Filing(Value, frozen=True, kw_only=True):
    """The content of one per-shipment application, as the exporter files it."""

    exporter: Party
    consignee: Party
    end_user: Party
    end_use: Text
    end_use_category: EndUseCategory
    destination_country: Country
    transport_mode: TransportMode
    planned_ship_date: date
    contract_ref: ShortText
    lines: Annotated[tuple[Line, ...], msgspec.Meta(min_length=1, max_length=MAX_LINES)]
    customs_port: ShortText | None = None
    renews_licence_id: UUID | None = None

    def symbols(self) -> frozenset[str]:
        """Every element named by any line, constituents included."""
        return frozenset(s for line in self.lines for s in (line.element, *line.contains))

    def rare_earths(self) -> frozenset[str]:
        return frozenset(s for s in self.symbols() if s in RARE_EARTHS)


class NewApplication(Filing, frozen=True, kw_only=True):
    """An application as filed; `submit: true` files it at once (status `submitted`)."""

    submit: bool = False

    def filing(self) -> Filing:
        return Filing(**{name: getattr(self, name) for name in Filing.__struct_fields__})


def problems(filing: Filing, *, regime_country: str, today: date) -> list[FieldProblem]:
    """Every rule the filing breaks, in field order; empty when it may be filed on `today`."""
    found: list[FieldProblem] = []

    def check(ok: bool, field: str, message: str) -> None:
        if not ok:
            found.append(FieldProblem(field=field, message=message))

    for field in ("exporter", "consignee", "end_user"):
        party: Party = getattr(filing, field)
        check(_is_country(party.country), f"{field}.country", _not_a_country(party.country))
    check(
        filing.exporter.country == regime_country,
        "exporter.country",
        f"the exporter must be in the regime's country ({regime_country})",
    )
    check(
        _is_country(filing.destination_country),
        "destination_country",
        _not_a_country(filing.destination_country),
    )
    check(
        filing.destination_country != regime_country,
        "destination_country",
        f"an export leaves {regime_country}: the destination must be another country",
    )
    earliest, latest = today - SHIP_DATE_RANGE, today + SHIP_DATE_RANGE
    check(
        earliest <= filing.planned_ship_date <= latest,
        "planned_ship_date",
        f"a date within five years of today: from {earliest} to {latest}",
    )
    for index, line in enumerate(filing.lines):
        found.extend(_line_problems(line, f"lines[{index}]"))
    return found


def normalized(filing: Filing) -> Filing:
    """The filing with quantities at 3 decimal places and values at their currency's minor unit
    (call after `problems()` found none)."""
    lines = tuple(
        msgspec.structs.replace(
            line,
            quantity_kg=_quantized(line.quantity_kg, QUANTITY_PLACES),
            value=_quantized(line.value, _minor_unit(line.currency) or 0),
        )
        for line in filing.lines
    )
    return msgspec.structs.replace(filing, lines=lines)


def _line_problems(line: Line, at: str) -> list[FieldProblem]:
    found: list[FieldProblem] = []

    def check(ok: bool, field: str, message: str) -> None:
        if not ok:
            found.append(FieldProblem(field=f"{at}.{field}", message=message))

    check(
        line.element in RARE_EARTHS,
        "element",
        f"'{line.element}' is not a rare-earth symbol{did_you_mean(line.element, RARE_EARTHS)}",
    )
    check(
        re.fullmatch(HS_CODE, line.hs_code) is not None,
        "hs_code",
        "6 to 10 digits, dots optional between them (2846.90, 2846901940)",
    )
    quantity = exact(line.quantity_kg, QUANTITY_PLACES)
    check(
        quantity is not None and quantity > 0,
        "quantity_kg",
        f"a positive number of kg below 10^15 with at most {QUANTITY_PLACES} decimal places",
    )
    places = _minor_unit(line.currency)
    check(places is not None, "currency", "not an ISO 4217 currency code with a minor unit")
    if places is not None:
        value = exact(line.value, places)
        check(
            value is not None and value >= 0,
            "value",
            f"a non-negative amount below 10^15 with at most {places} decimal places"
            f" for {line.currency}",
        )
    if line.contains:
        check(
            line.form in FORMS_WITH_CONSTITUENTS,
            "contains",
            "only a magnet or alloy line lists constituents",
        )
        for i, symbol in enumerate(line.contains):
            check(
                symbol in CHEMICAL_SYMBOLS,
                f"contains[{i}]",
                f"'{symbol}' is not an element{did_you_mean(symbol, CHEMICAL_SYMBOLS)}",
            )
        check(len(set(line.contains)) == len(line.contains), "contains", "lists an element twice")
    return found


def _not_a_country(code: str) -> str:
    return f"'{code}' is not an ISO 3166-1 alpha-2 code{did_you_mean(code, COUNTRIES)}"


def _is_country(code: str) -> bool:
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None


def _minor_unit(code: str) -> int | None:
    try:
        exponent = iso4217.Currency(code).exponent
    except ValueError:
        return None
    return exponent if isinstance(exponent, int) else None


def exact(amount: Decimal, places: int) -> Decimal | None:
    """`amount` at `places` decimals, if it is finite, below 10^15 and exact at those places
    (so 1e-1000030 is not a positive quantity: at 3 places it is 0.000); else None. Nothing
    here computes with the amount before its size is known to be sane."""
    if not amount.is_finite() or amount.adjusted() >= AMOUNT_DIGITS:
        return None
    quantized = _quantized(amount, places)
    return quantized if quantized == amount else None


def _quantized(amount: Decimal, places: int) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-places))
