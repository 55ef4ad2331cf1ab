"""The base of every value the domain exchanges with the outside world, and strict conversion
of decoded JSON into those values with each failure named by its field path."""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException
from typing import Any, TypeVar

import msgspec

from licenceflow.domain.errors import FieldProblem, InvalidFiling, MalformedRequest

T = TypeVar("T")


class Value(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Immutable, keyword-only, and strict when decoded: an unknown field is an error, not noise."""


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD = re.compile(r"field `(?P<name>[^`]+)`")


def convert(data: Any, type_: type[T], *, at: str = "") -> T:
    """`data` (decoded JSON) as `type_`, or `InvalidFiling` naming the offending field."""
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as error:
        raise InvalidFiling([problem_of(error, at)]) from None


def _exact_number(text: str) -> Decimal | int:
    """A JSON number with a fraction or an exponent, exact: a Decimal, or an int when it is a
    whole number of sane size (JSON has one kind of number: `1.0` is the integer 1, and JSON
    Schema's `integer` takes it). One beyond Decimal's own exponent limits
    (`1e9999999999999999999`) is malformed input, not a crash."""
    try:
        number = Decimal(text)
    except DecimalException as error:
        raise ValueError(f"the number {text[:40]} is out of range") from error
    if number.is_finite() and number.adjusted() < 19 and number == number.to_integral_value():
        return int(number)
    return number


_json = msgspec.json.Decoder(float_hook=_exact_number)  # JSON numbers stay exact: never floats
MAX_DEPTH = 16  # objects and arrays within each other: every request this service reads needs 4


def parse_json(raw: bytes) -> Any:
    """A request body as decoded JSON; `MalformedRequest` if it is empty, not JSON, or nested
    deeper than `MAX_DEPTH`."""
    if not raw.strip():
        raise MalformedRequest("a JSON body is required")
    try:
        body = _json.decode(raw)
    except msgspec.DecodeError as error:
        raise MalformedRequest(f"the body is not valid JSON: {error}") from None
    except RecursionError:
        body = None  # nested too deep for the decoder itself
    else:
        if _nested_within(body, MAX_DEPTH):
            return body
    raise MalformedRequest(f"the body nests objects and arrays more than {MAX_DEPTH} deep")


def as_object(body: Any) -> dict[str, Any]:
    """A request body that must be a JSON object, as a mutable dict."""
    if not isinstance(body, dict):
        raise InvalidFiling([FieldProblem(field="body", message="expected a JSON object")])
    return dict(body)


def problem_of(error: msgspec.ValidationError, at: str = "") -> FieldProblem:
    """msgspec says `Expected int, got str - at $.lines[0].quantity_kg`: make that a field."""
    match = _AT.match(str(error))
    assert match is not None
    message, path = match["message"], (match["path"] or "")
    named = _FIELD.search(message)  # unknown or missing fields name themselves
    if named and ("unknown field" in message or "missing required field" in message):
        path = f"{path}.{named['name']}"
    field = f"{at}{path}".lstrip(".") or "body"
    return FieldProblem(field=field, message=message)


def _nested_within(value: Any, limit: int) -> bool:
    """Whether no object or array in `value` lies more than `limit` containers deep."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        if not level:
            return True
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return not level
