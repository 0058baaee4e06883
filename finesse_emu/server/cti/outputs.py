"""What the CTI link core hands its shell, in order, from :meth:`CtiLink.outputs`.

Two are requests to the shell (:class:`ConnectRequested`, :class:`CloseRequested`: the
:data:`Action` s); the rest report what happened on the link. The bytes to write are not outputs:
the shell takes them with :meth:`CtiLink.data_to_send`, as h11 and aioquic shells do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from ged188 import Message, MessageType, Status

M = MessageType

# --- actions for the shell ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectRequested:
    """Open TCP to this side, then call ``connection_made`` or ``connection_failed``."""

    side: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class CloseRequested:
    """Drop the current connection (or cancel the connect in progress); expect no more input from it."""


# --- what happened -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkUp:
    side: str
    open_conf: Message


@dataclass(frozen=True, slots=True)
class LinkDown:
    """An OPEN session ended. ``detection_seconds``: how long the oldest heartbeat had gone
    unanswered when the loss was declared (0 when none was outstanding, e.g. a socket reset)."""

    side: str
    reason: str
    detection_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """A connection attempt failed before the session opened (refused, timed out, rejected)."""

    side: str
    reason: str


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    ok: bool
    consecutive_misses: int = 0


@dataclass(frozen=True, slots=True)
class Unsolicited:
    message: Message


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to ``request``: the matching CONF, or FAILURE_CONF / CONTROL_FAILURE_CONF."""

    invoke_id: int
    message: Message

    @property
    def ok(self) -> bool:
        return self.message.type not in (M.FAILURE_CONF, M.CONTROL_FAILURE_CONF)


@dataclass(frozen=True, slots=True)
class RequestFailed:
    invoke_id: int
    reason: str


Action: TypeAlias = ConnectRequested | CloseRequested
Output: TypeAlias = (
    ConnectRequested
    | CloseRequested
    | LinkUp
    | LinkDown
    | AttemptFailed
    | HeartbeatResult
    | Unsolicited
    | Reply
    | RequestFailed
)


def status_name(code: int) -> str:
    try:
        return Status(code).name
    except ValueError:
        return f"status {code}"
