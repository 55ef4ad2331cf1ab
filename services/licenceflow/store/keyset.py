"""Keyset pagination: a filtered SELECT ordered by (column, id), continuing after a row's key.

Filters are added as SQL fragments whose values become numbered parameters, so no value is ever
spliced into the SQL text."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

Direction = Literal["ASC", "DESC"]


def sorting(columns: dict[str, bool]) -> dict[str, tuple[str, Direction]]:
    """The `sort=` values a list takes: each column ascending (`due_at`) and descending
    (`-due_at`), as (column, direction)."""
    return {
        f"{sign}{column}": (column, "DESC" if sign else "ASC")
        for column in columns
        for sign in ("", "-")
    }


def like_prefix(text: str) -> str:
    """A LIKE pattern matching what starts with `text` (its own `%`, `_` and `\\` literal)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class PageQuery:
    def __init__(self, table: str, columns: str) -> None:
        self._table = table
        self._columns = columns
        self._where: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        """A placeholder carrying `value`."""
        self.args.append(value)
        return f"${len(self.args)}"

    def where(self, clause: str) -> None:
        self._where.append(clause)

    def sql(
        self,
        order_by: str,
        direction: Direction,
        *,
        after: tuple[Any, UUID] | None,
        limit: int,
        nullable: bool = False,
    ) -> str:
        """The SELECT of up to `limit` rows after the key `after` (None: from the start). Rows
        whose `order_by` is null (a `nullable` column) come last, in `id` order, whatever the
        direction: every row appears once across the pages."""
        where = list(self._where)
        order = f"{order_by} {direction}, id {direction}"
        if nullable:
            order = f"{order_by} IS NULL, {order}"
        if after is not None:
            op = "<" if direction == "DESC" else ">"
            value, id = after
            if value is None:  # among the nulls, which come last
                where.append(f"{order_by} IS NULL AND id {op} {self.arg(id)}")
            else:
                later = f"({order_by}, id) {op} ({self.arg(value)}, {self.arg(id)})"
                where.append(f"({order_by} IS NULL OR {later})" if nullable else later)
        return (
            f"SELECT {self._columns} FROM {self._table}"
            f" WHERE {' AND '.join(where) or 'true'}"
            f" ORDER BY {order} LIMIT {self.arg(limit)}"
        )
