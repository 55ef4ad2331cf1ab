"""What a use-case is asked to do: the command itself, or the client's JSON that should be one.

A use-case finds and authorises what a command is for before it reads the command's content, so
that the contract's order holds (404 → 403 → 422). A caller in the process passes the command
itself (`act(conn, ctx, officer, id, Accept())`); the HTTP layer passes the body it received,
`Json[ActionCommand](raw, ActionCommand)`, parsed and checked only when the use-case asks: for
the action it names (which decides the role), then for the whole command:

    new = content(command)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeAlias, TypeVar, overload

from licenceflow.domain.values import as_object, convert, parse_json

C = TypeVar("C")
A = TypeVar("A", bound=StrEnum)


class Json(Generic[C]):
    """A request body that should decode to a `C` (a JSON object, at most 1 MiB already)."""

    __slots__ = ("_fields", "_raw", "_type")

    def __init__(self, raw: bytes, type_: Any) -> None:
        # `type_` is C at runtime; typed Any because a union of commands is not a `type[C]`
        self._raw = raw
        self._type = type_
        self._fields: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The body's members: `MalformedRequest` (400) unless JSON, 422 unless an object."""
        if self._fields is None:
            self._fields = as_object(parse_json(self._raw))
        return dict(self._fields)

    def decoded(self) -> C:
        command: C = convert(self.fields(), self._type)
        return command


CommandOrJson: TypeAlias = C | Json[C]


def action_of(command: CommandOrJson[Any], actions: type[A]) -> A:
    """The action a tagged command names (`"action"`), read before the rest of it: which role may
    take it decides between a 403 and reading the content."""
    if isinstance(command, Json):
        return convert(command.fields().get("action"), actions, at="action")
    return actions(command.__struct_config__.tag)


@overload
def content(command: Json[C]) -> C: ...
@overload
def content(command: C) -> C: ...
def content(command: Any) -> Any:
    """The command itself: a body decoded (400/422 if it is none), a typed command as it is."""
    return command.decoded() if isinstance(command, Json) else command
