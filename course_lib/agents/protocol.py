"""The wire protocol: every word an agent and the coordinator say to each other.

Everything that crosses between an agent and the coordinator is a `Message`
with an ``id``, on a `MessageBus`.  The message ``type`` says what its
``content`` is:

==============  =======================  ===========================================
type            from -> to               content
==============  =======================  ===========================================
REGISTER        agent -> coordinator     `Registration`: capabilities, capacity
AGENT_STATUS    coordinator -> agent     `StatusUpdate`: registered, rejected, back
                                         online (drop these stale attempts), removed
HEARTBEAT       agent -> coordinator     `Heartbeat`, every ``heartbeat_interval``
GOODBYE         agent -> coordinator     `Goodbye`: stopping; take back my tasks
TASK_REQUEST    coordinator -> agent     `TaskRequest`: run attempt ``attempt``
TASK_REQUEST    agent -> coordinator     `TaskRequest` (attempt 0): please get this done
TASK_RESULT     either way               `TaskResult`: how a task (or attempt) ended
BROADCAST       agent -> coordinator     `Broadcast`: pass this note to the others
DIRECT          agent -> agent           anything JSON can carry: a note
==============  =======================  ===========================================

Delivery is *at least once*: a message may arrive twice (a lost
acknowledgement, a restarted process), so every handler is idempotent.  A
request delivered again is answered again; a result delivered again is
recognised as stale and ignored.  An agent's *incarnation* (a fresh token
each time its loop starts) tells a restarted agent from the old one.

The contents are plain data (strings, numbers, the task's own dict) plus, in a
`TaskResult`, an exception; `course_lib.agents.codec` turns them into JSON and
back.  They are built with keywords, e.g. ``TaskResult(task_id="t", attempt=1,
result=42)``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from .types import AgentStatus, loop_time

__all__ = [
    "MessageType",
    "Message",
    "Registration",
    "StatusUpdate",
    "Heartbeat",
    "Goodbye",
    "TaskRequest",
    "TaskResult",
    "Broadcast",
    "new_token",
    "CONTENT_TYPES",
    "REGISTER_AGAIN",
]


# The reason of an AGENT_STATUS that asks an agent the coordinator does not know
# (a restarted coordinator forgot it) to send REGISTER again rather than stop.
REGISTER_AGAIN = "unknown agent: register again"


def new_token() -> str:
    """A short random hex token (incarnations, message-id prefixes)."""
    return os.urandom(6).hex()


# Message ids: this process's random prefix and a counter, unique without a
# lock or a system call per message (itertools.count is atomic under the GIL).
_PREFIX = new_token()
_serial = itertools.count(1)


def new_message_id() -> str:
    return f"{_PREFIX}-{next(_serial)}"


class MessageType(Enum):
    """Kinds of `Message`: the chapter's four, and the rest of the protocol."""

    TASK_REQUEST = "task_request"
    TASK_RESULT = "task_result"
    AGENT_STATUS = "agent_status"
    HEARTBEAT = "heartbeat"
    DIRECT = "direct"
    REGISTER = "register"
    GOODBYE = "goodbye"
    BROADCAST = "broadcast"

    __hash__ = object.__hash__


@dataclass(slots=True)
class Message:
    """One message on the bus.  ``timestamp`` is the sender's loop clock; ``id``
    is unique, and a message delivered twice keeps it."""

    type: MessageType
    sender: str
    receiver: str
    content: Any
    timestamp: float = field(default_factory=loop_time)
    id: str = field(default_factory=new_message_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """REGISTER: an agent with these capabilities (their values) joins."""

    capabilities: tuple[str, ...]
    capacity: int = 1
    incarnation: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    """AGENT_STATUS: the agent's status as the coordinator sees it.

    ``stale``: the ``(task_id, attempt)`` pairs the agent must drop because
    they went to other agents.  ``heartbeat_interval`` comes with a
    registration.  ``reason`` says why in words (why a registration was
    rejected, say); ``incarnation`` names the run of the agent it is meant for.
    """

    status: AgentStatus
    stale: tuple[tuple[str, int], ...] = ()
    heartbeat_interval: Optional[float] = None
    reason: str = ""
    incarnation: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """HEARTBEAT: still alive."""

    incarnation: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Goodbye:
    """GOODBYE: the agent stops; tasks it still holds go to other agents."""

    incarnation: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRequest:
    """TASK_REQUEST.

    To an agent: run attempt ``attempt`` of the task (meant for run
    ``incarnation`` of the agent).  To the coordinator (``attempt`` 0): get
    the task done under ``task_id`` by any agent with a capability, or by
    one agent (``target``, an agent id or a capability value), failing after
    ``deadline`` seconds, and answer with a TASK_RESULT.
    """

    task_id: str
    task: Mapping[str, Any]
    attempt: int = 0
    target: Optional[str] = None
    deadline: Optional[float] = None
    incarnation: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskResult:
    """TASK_RESULT: how attempt ``attempt`` of a task ended (``error`` None: it returned)."""

    task_id: str
    attempt: int
    result: Any = None
    error: Optional[BaseException] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Broadcast:
    """BROADCAST: the coordinator passes ``content`` as a DIRECT message to every
    other agent (with ``capability``, if given) and answers request
    ``request_id`` with a TASK_RESULT whose result is how many it reached."""

    request_id: str
    content: Any = None
    capability: Optional[str] = None


# What the content of each message type is (DIRECT: anything).
CONTENT_TYPES: dict[MessageType, Optional[type]] = {
    MessageType.REGISTER: Registration,
    MessageType.AGENT_STATUS: StatusUpdate,
    MessageType.HEARTBEAT: Heartbeat,
    MessageType.GOODBYE: Goodbye,
    MessageType.TASK_REQUEST: TaskRequest,
    MessageType.TASK_RESULT: TaskResult,
    MessageType.BROADCAST: Broadcast,
    MessageType.DIRECT: None,
}
