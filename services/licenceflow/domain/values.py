"""The base of every value the domain exchanges with the outside world, and strict conversion
of decoded JSON into those values with each failure named by its field path."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, DecimalException
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import msgspec

from licenceflow.domain.errors import FieldProblem, InvalidFiling, MalformedRequest

T = TypeVar("T")


class Value(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Immutable, keyword-only, and strict when decoded: an unknown field is an error, not noise."""


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD = re.compile(r"field `(?P<name>[^`]+)`")


def convert(data: Any, type_: type[T], *, at: str = "") -> T:
    """`data` (decoded JSON) as `type_`, or `InvalidFiling` naming every offending field."""
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError:
        raise InvalidFiling(every_problem(data, type_, at)) from None


def every_problem(data: Any, type_: Any, at: str = "") -> list[FieldProblem]:
    """Why `data` is not a `type_`: every missing, unknown or invalid field, each named by its
    path (msgspec stops at the first). Empty if it is one."""
    try:
        msgspec.convert(data, type_)
    except msgspec.ValidationError as error:
        first = _explained(problem_of(error, at), data, type_)
    else:
        return []
    inner = _unwrapped(type_)
    found: list[FieldProblem] = []
    if isinstance(data, dict) and isinstance(inner, type) and issubclass(inner, msgspec.Struct):
        fields = msgspec.structs.fields(inner)
        names = {f.encode_name for f in fields} | {inner.__struct_config__.tag_field}
        for name in data:
            if name not in names:
                found.append(_at(at, name, f"Object contains unknown field `{name}`"))
        for f in fields:
            if f.encode_name in data:
                found += every_problem(data[f.encode_name], f.type, _path(at, f.encode_name))
            elif f.required:
                found.append(
                    _at(at, f.encode_name, f"Object missing required field `{f.encode_name}`")
                )
    elif isinstance(data, list) and get_origin(inner) in (tuple, list):
        item = get_args(inner)[0]
        found = [p for i, v in enumerate(data) for p in every_problem(v, item, f"{at}[{i}]")]
    return found or [first]


def one_of(value: object, options: Iterable[str]) -> str:
    """`'Draft' is not one of …, draft, … — did you mean 'draft'?`: the allowed values, and the
    one meant when only the case differs."""
    listed = sorted(options)
    hint = did_you_mean(value, listed) if isinstance(value, str) else ""
    return f"{value!r} is not one of {', '.join(listed)}{hint}"


def did_you_mean(value: str, options: Iterable[str]) -> str:
    """` — did you mean 'Dy'?` when `value` differs from one of `options` only in case."""
    close = next((o for o in options if o.lower() == value.lower()), None)
    return f" — did you mean '{close}'?" if close is not None else ""


def _explained(problem: FieldProblem, data: Any, type_: Any) -> FieldProblem:
    """msgspec's message, with what was expected where it does not say: the allowed values of an
    enumeration, the format of a date."""
    inner = _unwrapped(type_)
    if isinstance(inner, type) and issubclass(inner, StrEnum) and isinstance(data, str):
        return FieldProblem(field=problem.field, message=one_of(data, [m.value for m in inner]))
    if get_origin(inner) is Literal and isinstance(data, str):
        return FieldProblem(field=problem.field, message=one_of(data, map(str, get_args(inner))))
    if inner is date and isinstance(data, str):
        message = f"{data!r} is not a date: expected YYYY-MM-DD (`2025-07-01`)"
        return FieldProblem(field=problem.field, message=message)
    return problem


def _unwrapped(type_: Any) -> Any:
    """The type under `Annotated[...]` and `... | None`."""
    while True:
        if get_origin(type_) is Annotated:
            type_ = get_args(type_)[0]
        elif get_origin(type_) in (Union, UnionType) and type(None) in get_args(type_):
            rest = [t for t in get_args(type_) if t is not type(None)]
            if len(rest) != 1:
                return type_
            type_ = rest[0]
        else:
            return type_


def _path(at: str, name: str) -> str:
    return f"{at}.{name}" if at else name


def _at(at: str, name: str, message: str) -> FieldProblem:
    return FieldProblem(field=_path(at, name), message=message)


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
