"""JSON for messages that leave the process: `JsonCodec` and its two errors.

A message on the wire is one JSON object::

    {"v": 1, "id": "…", "type": "task_result", "sender": "search-1",
     "receiver": "coordinator", "timestamp": 12.5,
     "content": {"task_id": "task-7", "attempt": 1, "result": "…", "error": null}}

Never pickle: decoding a message runs no code and imports nothing.  An
exception travels as its class name, its text and whether it is permanent;
on the other side it becomes that class again if it is a built-in exception
or one of the course's own, else a `RemoteTaskError` that names it.

Enum members inside a payload (``{"type": AgentCapability.SEARCH}``) travel
as their values, so they arrive as plain strings; tuples arrive as lists and
dict keys as strings (``{1: "a"}`` comes back as ``{"1": "a"}``).
Anything else JSON cannot carry (a set, an object) fails in `encode`, in the
sender, with `NotSerializableError`.

Example use::

    codec = JsonCodec()
    data = codec.encode(message)      # bytes
    codec.decode(data) == message     # True for JSON-friendly content
"""

from __future__ import annotations

import builtins
import json
from dataclasses import fields
from enum import Enum
from typing import Any, Optional

from ..calculator import CalculatorError
from ..errors import PermanentTaskError
from .protocol import CONTENT_TYPES, Message, MessageType, StatusUpdate, TaskResult
from .types import (
    AgentStatus,
    CoordinatorStoppedError,
    InjectedFault,
    InvalidTaskError,
    TaskCancelledError,
    TaskDeadlineError,
    TaskLostError,
    TaskTimeoutError,
)

__all__ = ["JsonCodec", "NotSerializableError", "MalformedMessageError", "RemoteTaskError",
           "WIRE_VERSION"]

WIRE_VERSION = 1


class NotSerializableError(PermanentTaskError, TypeError):
    """A message's content cannot be carried as JSON (raised by the sender)."""


class MalformedMessageError(ValueError):
    """Bytes that are not a message of this protocol and version."""


class RemoteTaskError(RuntimeError):
    """An exception raised in another process, of a class this side does not rebuild."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message


class RemotePermanentTaskError(RemoteTaskError, PermanentTaskError):
    """A `RemoteTaskError` whose original was a `PermanentTaskError`: no retry."""


# Exception classes rebuilt by name: the built-in ones and the course's own.
_KNOWN_ERRORS: dict[str, type[BaseException]] = {
    name: value for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception)
    and not issubclass(value, (StopIteration, StopAsyncIteration))  # would end a coroutine
}
_KNOWN_ERRORS.update({cls.__name__: cls for cls in (
    PermanentTaskError, InvalidTaskError, TaskDeadlineError, InjectedFault, TaskCancelledError,
    CoordinatorStoppedError, CalculatorError, NotSerializableError, TaskLostError,
    TaskTimeoutError,
)})


def encode_error(error: BaseException) -> dict[str, Any]:
    return {"type": type(error).__name__, "message": str(error),
            "permanent": isinstance(error, PermanentTaskError)}


def decode_error(data: Any) -> BaseException:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MalformedMessageError(f"an error must be an object with a 'type', got {data!r}")
    name, text = data["type"], str(data.get("message", ""))
    cls = _KNOWN_ERRORS.get(name)
    if cls is not None and cls not in (RemoteTaskError, RemotePermanentTaskError):
        try:
            return cls(text)
        except Exception:  # a class whose constructor wants other arguments
            pass
    if name in ("RemoteTaskError", "RemotePermanentTaskError") and ": " in text:
        name, text = text.split(": ", 1)  # passed on again: keep the original name
    return (RemotePermanentTaskError if data.get("permanent") else RemoteTaskError)(name, text)


def _default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def as_json_data(value: Any) -> Any:
    """*value* as it arrives after a trip through JSON (enums as values, tuples as lists)."""
    return json.loads(json.dumps(value, default=_default))


class JsonCodec:
    """Turns a `Message` into JSON bytes and back (see the module docstring)."""

    version = WIRE_VERSION

    def __init__(self) -> None:
        self._encoder = json.JSONEncoder(default=_default, ensure_ascii=False,
                                         separators=(",", ":"))

    def encode(self, message: Message) -> bytes:
        """The message as UTF-8 JSON; `NotSerializableError` if its content cannot be."""
        content = message.content
        kind = message.type
        if type(kind) is not MessageType:
            raise NotSerializableError(f"message type must be a MessageType, got {kind!r}")
        if CONTENT_TYPES[kind] is not None and type(content) is CONTENT_TYPES[kind]:
            content = {f.name: getattr(content, f.name) for f in fields(content)}
            if kind is MessageType.TASK_RESULT and content["error"] is not None:
                content["error"] = encode_error(content["error"])
        try:
            text = self._encoder.encode({
                "v": WIRE_VERSION, "id": message.id, "type": kind.value,
                "sender": message.sender, "receiver": message.receiver,
                "timestamp": message.timestamp, "content": content,
            })
        except (TypeError, ValueError) as exc:
            raise NotSerializableError(
                f"a {kind.value} message from {message.sender!r} to {message.receiver!r} "
                f"cannot be sent as JSON: {exc}.  Send plain data: dict, list, str, "
                "int, float, bool, None") from None
        return text.encode()

    def decode(self, data: bytes | str) -> Message:
        """The message in *data*; `MalformedMessageError` if it is not one."""
        try:
            raw = json.loads(data)
        except (TypeError, ValueError, RecursionError) as exc:
            raise MalformedMessageError(f"not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise MalformedMessageError(f"a message is a JSON object, got {type(raw).__name__}")
        if type(raw.get("v")) is not int or raw["v"] != WIRE_VERSION:
            raise MalformedMessageError(
                f"wire version {raw.get('v')!r} is not {WIRE_VERSION} (a foreign or newer sender?)")
        try:
            kind = MessageType(raw["type"])
            sender, receiver, message_id = raw["sender"], raw["receiver"], raw["id"]
            timestamp = raw["timestamp"]
            content = raw["content"]
        except (KeyError, ValueError, TypeError) as exc:
            raise MalformedMessageError(f"bad or missing field: {exc!r}") from None
        if not all(isinstance(s, str) for s in (sender, receiver, message_id)) or \
                type(timestamp) not in (int, float):
            raise MalformedMessageError("sender, receiver and id must be strings, timestamp a number")
        return Message(kind, sender, receiver, _decode_content(kind, content), float(timestamp),
                       message_id)


def _decode_content(kind: MessageType, content: Any) -> Any:
    cls: Optional[type] = CONTENT_TYPES[kind]
    if cls is None:
        return content
    if not isinstance(content, dict):
        raise MalformedMessageError(f"{kind.value} content must be an object, got {content!r}")
    names = {f.name for f in fields(cls)}
    if not names.issuperset(content):
        raise MalformedMessageError(
            f"unknown {kind.value} fields: {sorted(set(content) - names)}")
    values = dict(content)
    if cls is TaskResult and values.get("error") is not None:
        values["error"] = decode_error(values["error"])
    elif cls is StatusUpdate:
        try:
            values["status"] = AgentStatus(values.get("status"))
        except ValueError:
            raise MalformedMessageError(f"unknown agent status {values.get('status')!r}") from None
        values["stale"] = tuple(_pair(p) for p in values.get("stale", ()))
    elif "capabilities" in values and isinstance(values["capabilities"], list):
        values["capabilities"] = tuple(values["capabilities"])
    try:
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        raise MalformedMessageError(f"bad {kind.value} content: {exc}") from None


def _pair(value: Any) -> tuple[str, int]:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) \
            and type(value[1]) is int:
        return value[0], value[1]
    raise MalformedMessageError(f"a stale attempt is [task_id, attempt], got {value!r}")
