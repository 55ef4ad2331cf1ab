"""Opaque keyset cursors: the last row's sort key and a fingerprint of the query that made it,
signed (HMAC-SHA256) so that only cursors this service gave out are accepted: one replayed with
other filters or another order, or made up, is refused (400)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from licenceflow.domain.errors import MalformedRequest

T = TypeVar("T")
R = TypeVar("R")
_SIGNATURE_BYTES = 16


class _Cursor(msgspec.Struct, array_like=True):
    query: str
    key: msgspec.Raw


class Cursors:
    """Encodes and checks cursors with a key of this deployment's own."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"licenceflow-cursor:" + secret.encode()).digest()

    def encode(self, query: Any, key: Any) -> str:
        body = msgspec.json.encode(
            _Cursor(_fingerprint(query), msgspec.Raw(msgspec.json.encode(key)))
        )
        return base64.urlsafe_b64encode(self._sign(body) + body).rstrip(b"=").decode()

    def decode(self, cursor: str, query: Any, key_type: type[T]) -> T:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise MalformedRequest("the cursor is not one this service gave out") from None
        signature, body = raw[:_SIGNATURE_BYTES], raw[_SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, self._sign(body)):
            raise MalformedRequest("the cursor is not one this service gave out")
        parsed = msgspec.json.decode(body, type=_Cursor)
        if parsed.query != _fingerprint(query):
            raise MalformedRequest("the cursor belongs to a list with other filters or order")
        return msgspec.json.decode(parsed.key, type=key_type)

    def page(
        self, rows: Sequence[R], limit: int, query: Any, key: Callable[[R], Any]
    ) -> tuple[Sequence[R], str | None]:
        """The page among `rows` (read one past `limit`, to know whether more follow), and the
        cursor that goes on after its last row (None on the last page)."""
        items = rows[:limit]
        return items, self.encode(query, key(items[-1])) if len(rows) > limit else None

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _fingerprint(query: Any) -> str:
    return hashlib.blake2s(msgspec.json.encode(query, order="sorted"), digest_size=8).hexdigest()
