"""What an exporter files: `values.convert()` (types, unknown and missing fields, line count) and
`filing.problems()` (countries, the regime's own country, elements, HS codes, quantities, currencies
and their minor units, constituents), each failure named by its field path as API.md's `errors`
use it; and `filing.normalized()` (kg to 3 places, money to the currency's minor unit)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from licenceflow.domain.applications import Status
from licenceflow.domain.errors import InvalidFiling
from licenceflow.domain.filing import Filing, normalized, problems
from licenceflow.domain.values import convert
from tests.examples import line

Body = dict[str, Any]
TEN_MORE = ("Nb", "Zr", "Ti", "Si", "C", "O", "N", "Mn", "Cr", "Ni")
TODAY = date(2025, 6, 2)  # the business date the example is filed on (it ships on 2025-07-01)


def fields_of(body: Body) -> list[str]:
    """The field paths `problems()` names for a body that converts."""
    return [p.field for p in problems(convert(body, Filing), regime_country="CN", today=TODAY)]


def conversion_fields(data: Any, type_: Any = Filing, at: str = "") -> list[str]:
    with pytest.raises(InvalidFiling) as raised:
        convert(data, type_, at=at)
    return [p.field for p in raised.value.problems]


def set_line(index: int, **changes: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        while len(body["lines"]) <= index:
            body["lines"].append(line())
        body["lines"][index] |= changes

    return change


def set_(path: str, value: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        *parents, last = path.split(".")
        target = body
        for key in parents:
            target = target[key]
        target[last] = value

    return change


# --- problems(): rules types cannot express ------------------------------------------------------


def test_api_md_example_is_valid(body: Body) -> None:
    assert fields_of(body) == []


VALID_VARIANTS: dict[str, Callable[[Body], None]] = {
    "quantity-as-json-number": set_line(0, quantity_kg=1250.5),
    "quantity-three-places": set_line(0, quantity_kg="0.001"),
    "hs-code-ten-digits": set_line(0, hs_code="2846901940"),
    "hs-code-six-digits": set_line(0, hs_code="284690"),
    "jpy-whole-yen": set_line(0, value="72000000", currency="JPY"),
    "value-zero": set_line(0, value="0"),
    "magnet-with-constituents": set_line(
        0, form="magnet", hs_code="8505.11", contains=["Nd", "Fe"]
    ),
    "alloy-with-constituents": set_line(0, form="alloy", contains=["Fe"]),
    "fifty-lines": lambda body: body.update(lines=[line() for _ in range(50)]),
    "no-customs-port": lambda body: body.pop("customs_port"),
    "ship-date-five-years-ago": set_("planned_ship_date", "2020-05-29"),
    "ship-date-five-years-ahead": set_("planned_ship_date", "2030-06-06"),
    "quantity-just-below-10^15": set_line(0, quantity_kg="999999999999999.999"),
    "twenty-constituents": set_line(
        0,
        form="magnet",
        contains=[*("Nd", "Fe", "B", "Dy", "Tb", "Pr", "Co", "Cu", "Al", "Ga"), *TEN_MORE],
    ),
}


@pytest.mark.parametrize("change", VALID_VARIANTS.values(), ids=VALID_VARIANTS.keys())
def test_valid_variants_have_no_problems(body: Body, change: Callable[[Body], None]) -> None:
    change(body)
    assert fields_of(body) == []


INVALID: list[tuple[str, Callable[[Body], None], str]] = [
    # (id, change to the example, the one field named)
    ("exporter-abroad", set_("exporter.country", "DE"), "exporter.country"),
    ("consignee-lowercase-country", set_("consignee.country", "de"), "consignee.country"),
    ("end-user-unknown-country", set_("end_user.country", "XX"), "end_user.country"),
    ("destination-is-china", set_("destination_country", "CN"), "destination_country"),
    ("destination-unknown", set_("destination_country", "ZZ"), "destination_country"),
    ("destination-alpha-3", set_("destination_country", "USA"), "destination_country"),
    ("second-line-not-a-rare-earth", set_line(1, element="Fe"), "lines[1].element"),
    ("element-case-sensitive", set_line(0, element="dy"), "lines[0].element"),
    ("quantity-zero", set_line(0, quantity_kg="0"), "lines[0].quantity_kg"),
    ("quantity-negative", set_line(0, quantity_kg="-5"), "lines[0].quantity_kg"),
    ("quantity-four-places", set_line(0, quantity_kg="1.0005"), "lines[0].quantity_kg"),
    ("quantity-nan", set_line(0, quantity_kg="NaN"), "lines[0].quantity_kg"),
    ("quantity-infinite", set_line(0, quantity_kg="Infinity"), "lines[0].quantity_kg"),
    # magnitudes are checked after quantizing, and before any arithmetic could overflow
    ("quantity-vanishing", set_line(0, quantity_kg=Decimal("1e-1000030")), "lines[0].quantity_kg"),
    (
        "quantity-huge-exponent",
        set_line(0, quantity_kg=Decimal("1e1000000")),
        "lines[0].quantity_kg",
    ),
    ("quantity-10^15", set_line(0, quantity_kg="1000000000000000"), "lines[0].quantity_kg"),
    ("value-huge-exponent", set_line(0, value=Decimal("1e1000000")), "lines[0].value"),
    ("value-vanishing-negative", set_line(0, value=Decimal("-1e-1000030")), "lines[0].value"),
    ("ship-date-year-1", set_("planned_ship_date", "0001-01-01"), "planned_ship_date"),
    ("ship-date-year-9999", set_("planned_ship_date", "9999-12-31"), "planned_ship_date"),
    ("ship-date-over-5-years-ago", set_("planned_ship_date", "2020-05-28"), "planned_ship_date"),
    ("ship-date-over-5-years-ahead", set_("planned_ship_date", "2030-06-07"), "planned_ship_date"),
    ("hs-code-five-digits", set_line(0, hs_code="28469"), "lines[0].hs_code"),
    ("hs-code-eleven-digits", set_line(0, hs_code="28469019401"), "lines[0].hs_code"),
    ("hs-code-letters", set_line(0, hs_code="2846AB"), "lines[0].hs_code"),
    ("currency-unknown", set_line(0, currency="XYZ"), "lines[0].currency"),
    ("currency-lowercase", set_line(0, currency="usd"), "lines[0].currency"),
    ("usd-three-places", set_line(0, value="480000.005"), "lines[0].value"),
    ("jpy-with-sen", set_line(0, value="72000000.5", currency="JPY"), "lines[0].value"),
    ("value-negative", set_line(0, value="-1.00"), "lines[0].value"),
    (
        "constituent-not-an-element",
        set_line(0, form="magnet", contains=["Nd", "Xx"]),
        "lines[0].contains[1]",
    ),
    ("constituents-on-an-oxide", set_line(0, contains=["Nd"]), "lines[0].contains"),
    (
        "constituent-twice",
        set_line(0, form="magnet", contains=["Nd", "Nd"]),
        "lines[0].contains",
    ),
]


@pytest.mark.parametrize(
    ("change", "field"), [(c, f) for _, c, f in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_problem_names_the_field(body: Body, change: Callable[[Body], None], field: str) -> None:
    change(body)
    found = fields_of(body)
    assert found
    assert set(found) == {field}


def test_every_problem_is_reported_in_field_order(body: Body) -> None:
    body["exporter"]["country"] = "HK"
    body["destination_country"] = "CN"
    body["lines"] = [line(), line(quantity_kg="0", currency="XYZ"), line(element="Fe")]
    assert fields_of(body) == [
        "exporter.country",
        "destination_country",
        "lines[1].quantity_kg",
        "lines[1].currency",
        "lines[2].element",
    ]


def test_a_problem_explains_itself(body: Body) -> None:
    body["lines"][0]["value"] = "1.5"
    body["lines"][0]["currency"] = "JPY"
    [problem] = problems(convert(body, Filing), regime_country="CN", today=TODAY)
    assert problem.field == "lines[0].value"
    assert "JPY" in problem.message


# --- convert(): types and shape --------------------------------------------------------------


CONVERSION: list[tuple[str, Callable[[Body], None], str]] = [
    ("submit-is-not-a-filing-field", set_("submit", True), "submit"),
    ("unknown-top-level-field", set_("notes", "x"), "notes"),
    ("unknown-party-field", set_("exporter.vat", "x"), "exporter.vat"),
    ("unknown-line-field", set_line(0, colour="red"), "lines[0].colour"),
    ("unknown-second-line-field", set_line(1, grade="4N"), "lines[1].grade"),
    ("quantity-an-array", set_line(0, quantity_kg=[1]), "lines[0].quantity_kg"),
    ("quantity-not-a-number", set_line(0, quantity_kg="lots"), "lines[0].quantity_kg"),
    ("value-a-bool", set_line(0, value=True), "lines[0].value"),
    ("party-a-string", set_("exporter", "Baotou"), "exporter"),
    ("country-a-number", set_("consignee.country", 49), "consignee.country"),
    ("form-unknown", set_line(0, form="powder"), "lines[0].form"),
    ("contains-a-string", set_line(0, form="magnet", contains="Nd"), "lines[0].contains"),
    ("end-use-category-unknown", set_("end_use_category", "mining"), "end_use_category"),
    ("transport-mode-unknown", set_("transport_mode", "pipeline"), "transport_mode"),
    ("ship-date-invalid", set_("planned_ship_date", "2025-13-01"), "planned_ship_date"),
    ("end-use-empty", set_("end_use", ""), "end_use"),
    ("missing-end-use", lambda body: body.pop("end_use"), "end_use"),
    ("missing-party-country", lambda body: body["exporter"].pop("country"), "exporter.country"),
    ("missing-line-currency", lambda body: body["lines"][0].pop("currency"), "lines[0].currency"),
    ("no-lines", set_("lines", []), "lines"),
    ("fifty-one-lines", lambda body: body.update(lines=[line() for _ in range(51)]), "lines"),
    ("lines-an-object", set_("lines", {"element": "Dy"}), "lines"),
    # every list and string is bounded: a hostile body cannot make the refusal huge
    (
        "twenty-one-constituents",
        set_line(0, form="magnet", contains=["Nd"] * 21),
        "lines[0].contains",
    ),
    ("element-too-long", set_line(0, element="Dy" * 9), "lines[0].element"),
    ("hs-code-too-long", set_line(0, hs_code="2" * 20), "lines[0].hs_code"),
    ("currency-too-long", set_line(0, currency="U" * 17), "lines[0].currency"),
    ("country-too-long", set_("destination_country", "D" * 17), "destination_country"),
]


@pytest.mark.parametrize(
    ("change", "field"), [(c, f) for _, c, f in CONVERSION], ids=[i for i, _, _ in CONVERSION]
)
def test_conversion_error_names_the_field(
    body: Body, change: Callable[[Body], None], field: str
) -> None:
    change(body)
    assert conversion_fields(body) == [field]


def test_a_body_that_is_not_an_object_is_named_body() -> None:
    assert conversion_fields([1, 2]) == ["body"]


def test_convert_prefixes_the_field_it_was_given() -> None:
    assert conversion_fields("yes", bool, at="submit") == ["submit"]
    assert conversion_fields(["draft", "sent"], list[Status], at="status") == ["status[1]"]


def test_convert_returns_the_value_when_valid(body: Body) -> None:
    filing = convert(body, Filing)
    assert filing.destination_country == "US"
    assert filing.lines[0].quantity_kg == Decimal("1250.5")
    assert filing.symbols() == {"Dy"}


# --- normalized() --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("1250.5", "1250.500"),
        ("2", "2.000"),
        (7, "7.000"),
        ("0.001", "0.001"),
        ("1E+3", "1000.000"),
    ],
)
def test_quantity_is_normalized_to_three_places(body: Body, quantity: Any, expected: str) -> None:
    body["lines"][0]["quantity_kg"] = quantity
    assert str(normalized(convert(body, Filing)).lines[0].quantity_kg) == expected


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("480000", "USD", "480000.00"),
        ("480000.5", "USD", "480000.50"),
        ("480000.00", "USD", "480000.00"),
        ("72000000", "JPY", "72000000"),
        ("72000000.00", "JPY", "72000000"),
        ("10.5", "KWD", "10.500"),  # the dinar has three decimal places
        ("12.3", "EUR", "12.30"),
    ],
)
def test_value_is_normalized_to_the_currencys_minor_unit(
    body: Body, value: str, currency: str, expected: str
) -> None:
    body["lines"][0] |= {"value": value, "currency": currency}
    filing = convert(body, Filing)
    assert problems(filing, regime_country="CN", today=TODAY) == []
    assert str(normalized(filing).lines[0].value) == expected


def test_normalized_changes_nothing_else(body: Body) -> None:
    body["lines"] = [line(), line(element="Tb", quantity_kg="3", value="9.9")]
    filing = convert(body, Filing)
    after = normalized(filing)
    assert after.lines[0].quantity_kg == filing.lines[0].quantity_kg
    assert [str(x.quantity_kg) for x in after.lines] == ["1250.500", "3.000"]
    assert [x.element for x in after.lines] == ["Dy", "Tb"]
    assert after.exporter == filing.exporter
    assert after.planned_ship_date == filing.planned_ship_date
