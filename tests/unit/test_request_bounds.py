"""Request bytes and headers the API reads before any connection: bounded, never a 500."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from licenceflow.api.dependencies import if_match
from licenceflow.config import Settings
from licenceflow.domain.errors import MalformedRequest
from licenceflow.domain.values import MAX_DEPTH, parse_json


def nested(depth: int) -> bytes:
    return b'{"a": ' * (depth - 1) + b"[1]" + b"}" * (depth - 1)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 5000 + b"]" * 5000, b"[" * 100_000, nested(MAX_DEPTH + 1), b'{"lines": ' * 17 + b"1"],
    ids=["5000-arrays", "100000-open", "one-too-deep", "objects-unclosed"],
)
def test_deep_nesting_is_a_malformed_request(raw: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_json(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"1e9999999999999999999",
        b'{"quantity_kg": 1e-9999999999999999999}',
        b"[-1e99999999999999999999]",
    ],
)
def test_a_number_beyond_decimals_limits_is_a_malformed_request(raw: bytes) -> None:
    """Decimal() raised InvalidOperation through msgspec's hook: a 500 (found in review)."""
    with pytest.raises(MalformedRequest):
        parse_json(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(nested(MAX_DEPTH), None), (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, None), (b"7", 7)],
    ids=["objects-at-the-limit", "arrays-at-the-limit", "a-scalar"],
)
def test_nesting_up_to_the_limit_is_read(raw: bytes, expected: Any) -> None:
    body = parse_json(raw)
    assert expected is None or body == expected


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        ('"3"', {3}),
        ('W/"3", "4"', {3, 4}),
        ('"²"', set()),  # a superscript two is a digit to Python, not a version
        ('"٣"', set()),  # an Arabic-Indic three
        ('"' + "9" * 5000 + '"', set()),  # longer than int() reads, and than any version
        ('"-1"', set()),
        ('"1_000"', set()),
    ],
)
def test_if_match_reads_only_versions_this_service_writes(header: str, versions: set[int]) -> None:
    assert if_match(header) == frozenset(versions)


def test_if_match_star_or_absent_accepts_any_version() -> None:
    assert if_match("*") is None
    assert if_match(None) is None


def test_a_whole_number_written_with_a_fraction_is_an_integer() -> None:
    """JSON Schema's `integer` takes 1.0, so a client (or a generator) may send it for a line
    number or `valid_months`; it was refused as a decimal. Fractions stay exact decimals, and
    a huge exponent is never expanded into an int."""
    parsed = parse_json(b'{"line": 1.0, "months": 6e0, "kg": 1.50, "tiny": 1e-9, "huge": 1e400}')
    assert parsed["line"] == 1
    assert type(parsed["line"]) is int
    assert type(parsed["months"]) is int
    assert parsed["kg"] == Decimal("1.50")
    assert parsed["tiny"] == Decimal("1e-9")
    assert parsed["huge"] == Decimal("1e400")
    assert isinstance(parsed["huge"], Decimal)


def test_a_process_takes_its_pools_size_in_flight_unless_told() -> None:
    """As many requests as can work at once: beyond, one only waits, and its wait is added to
    every answer (at twice the pool, the accepted p99 under overload was 7–14 times the
    unloaded one; at the pool's size within 5: tests/perf/README.md)."""
    assert Settings(db_pool_max=3).in_flight_cap == 3
    assert Settings(db_pool_max=3, max_in_flight=4).in_flight_cap == 4
