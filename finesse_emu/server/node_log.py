"""The log lines of a Finesse node's core outputs (JSON lines; the event log's history reads some).

One line per output, and nothing else here: the node shell (:mod:`.node`) hands each output of its
core to :func:`log_output` besides acting on it. ``forced_logout`` and ``agent_signed_in`` /
``agent_signed_out`` are typed history events (:mod:`emu_base.history_events`, read by the checker:
docs/check.md); the rest is for people.
"""

from __future__ import annotations

from typing import Any

from emu_base import history_events as history
from emu_base.logs import get_logger
from finesse_emu.server.core import CtiPurpose, CtiRequestRefused, Output, SessionChanged, StatusChanged
from finesse_emu.server.presence import Cancelled, ForcedLogout, Skipped, TimerStarted, WaitingForCall

log = get_logger()

# The line of each CTI request the core gave up on: (event, level, the name of the agent's field).
_REFUSED = {
    CtiPurpose.STATE_CHANGE: ("finesse_state_change_failed", "info", "user"),
    CtiPurpose.MEDIA_CHANGE: ("finesse_media_change_failed", "info", "user"),
    CtiPurpose.DIALOG_ACTION: ("finesse_dialog_action_failed", "info", "user"),
    CtiPurpose.MAKE_CALL: ("finesse_make_call_failed", "info", "user"),
    CtiPurpose.AUTO_WORK_TO_ACTIVE: ("finesse_auto_work_to_active_failed", "info", "user"),
    CtiPurpose.FORCED_LOGOUT: ("finesse_forced_logout_failed", "warning", "agent"),
}


def log_output(name: str, out: Output) -> None:
    """The line (if any) of one output of the core of node ``name``."""
    if isinstance(out, StatusChanged):
        log.info("finesse_status", name=name, status=out.change.status.value, reason=out.change.reason)
    elif isinstance(out, SessionChanged):
        history.emit(
            (history.AgentSignedIn if out.signed_in else history.AgentSignedOut)(
                agent=out.agent_id, name=name, status=out.status, why=out.why, reason_code=out.reason_code
            ),
            log,
        )
    elif isinstance(out, CtiRequestRefused):
        event, level, who = _REFUSED[out.purpose]
        details: dict[str, Any] = {who: out.user_id}
        if out.mrd is not None:
            details["mrd"] = out.mrd
        if out.dialog_id is not None:
            details["dialog"] = out.dialog_id
        getattr(log, level)(event, **details, error=out.error)
    elif isinstance(out, ForcedLogout):
        history.emit(
            history.ForcedLogout(
                name=name, agent=out.agent_id, reason_code=out.reason_code,
                waited=round(out.waited, 3), call_wait=round(out.call_wait, 3),
            ),
            log,
        )  # fmt: skip
    elif isinstance(out, TimerStarted):
        waits = round(out.fires_at - out.at, 3)
        log.info("finesse_agent_unavailable", name=name, agent=out.agent_id, forced_logout_in=waits)
    elif isinstance(out, Cancelled):
        after = round(out.at - out.unavailable_since, 3)
        reason = out.reason.value
        log.info("finesse_forced_logout_cancelled", name=name, agent=out.agent_id, reason=reason, after=after)
    elif isinstance(out, WaitingForCall):
        log.info("finesse_forced_logout_waits_for_call", agent=out.agent_id, state=out.state)
    elif isinstance(out, Skipped):
        log.debug("finesse_agent_unavailable_no_timer", agent=out.agent_id, reason=out.reason.value)
