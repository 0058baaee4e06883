"""What the node core asks of its shell: typed, frozen, drained in order by ``NodeCore.outputs()``.

The presence tracker's actions (:mod:`finesse_emu.server.presence`: a forced-logout timer started,
cancelled, skipped, waiting for a call, the forced logout itself) are outputs as they are: the
shell counts and logs them; the CTI request a forced logout makes is a :class:`SendToCti` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from finesse_emu.server.presence import Action as PresenceAction
from finesse_emu.server.status import StatusChange
from ged188 import Message


class CtiPurpose(StrEnum):
    """Why the core sends a CTI request: what it does with the reply or the refusal."""

    RESYNC = "resync"  # QUERY_AGENT_STATE_REQ after (re)connecting
    AUTO_WORK_TO_ACTIVE = "auto_work_to_active"  # enableAutoWorkModeStateChange after a reconnect
    STATE_CHANGE = "state_change"  # PUT User
    MEDIA_CHANGE = "media_change"  # PUT Media
    DIALOG_ACTION = "dialog_action"  # PUT Dialog
    MAKE_CALL = "make_call"  # POST User/{id}/Dialogs
    FORCED_LOGOUT = "forced_logout"  # presence Unavailable for 60 s


@dataclass(frozen=True)
class SendToCti:
    """Send ``message`` on the CTI link; answer with ``cti_reply(now, ref, conf)`` or
    ``cti_failed(now, ref, failure)`` (a FAILURE_CONF, a timeout, no link)."""

    ref: int
    message: Message
    purpose: CtiPurpose


@dataclass(frozen=True)
class CtiFailure:
    """Input: why a request sent for a :class:`SendToCti` got no CONF (what the shell's CTI client
    said: its text, FAILURE_CONF Status or CONTROL_FAILURE_CONF FailureCode, the reply if any)."""

    reason: str
    status: int | None = None
    reply: Message | None = None


@dataclass(frozen=True)
class Publish:
    """An ``<Update>`` for the pubsub ``node`` (the text is final: the shell publishes it as is).

    ``error``: the asynchronous ApiErrors of a request refused after its 202, published on the
    node as it stands (no node set-up, not counted among the events). ``status``: the service
    status when it was decided (the event log's ``finesse_publish`` line)."""

    node: str
    text: str
    verb: str
    status: str
    error: bool = False


@dataclass(frozen=True)
class StatusChanged:
    """The node went IN_SERVICE or OUT_OF_SERVICE (its SystemInfo event follows as a Publish)."""

    change: StatusChange


@dataclass(frozen=True)
class SessionChanged:
    """An agent's session on this node began or ended (event_log only: ``finesse_agent_signed_in``
    / ``finesse_agent_signed_out``; see ``NodeCore._session``). ``reason_code``: the CTI reason of
    a logout the node did not ask for, None when there is none to tell."""

    agent_id: str
    signed_in: bool
    why: str
    status: str
    reason_code: int | None = None


@dataclass(frozen=True)
class CtiRequestRefused:
    """A request of the core got no CONF (logged by the shell; the core did what follows from it)."""

    purpose: CtiPurpose
    user_id: str
    error: str
    mrd: int | None = None
    dialog_id: str | None = None


Output = SendToCti | Publish | StatusChanged | SessionChanged | CtiRequestRefused | PresenceAction
