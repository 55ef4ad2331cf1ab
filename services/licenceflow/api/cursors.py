"""Opaque keyset cursors: the last row's sort key, and a fingerprint of the query that made it,
so that a cursor replayed with other filters or another order is refused (400)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, TypeVar

import msgspec

from licenceflow.domain.errors import MalformedRequest

T = TypeVar("T")


class _Cursor(msgspec.Struct, array_like=True):
    query: str
    key: msgspec.Raw


def fingerprint(query: Any) -> str:
    return hashlib.blake2s(msgspec.json.encode(query, order="sorted"), digest_size=8).hexdigest()


def encode(query: Any, key: Any) -> str:
    raw = msgspec.json.encode(_Cursor(fingerprint(query), msgspec.Raw(msgspec.json.encode(key))))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str, query: Any, key_type: type[T]) -> T:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parsed = msgspec.json.decode(raw, type=_Cursor)
        key = msgspec.json.decode(parsed.key, type=key_type)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise MalformedRequest("the cursor is not one this service gave out") from None
    if parsed.query != fingerprint(query):
        raise MalformedRequest("the cursor belongs to a list with other filters or order")
    return key
