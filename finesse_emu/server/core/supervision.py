"""A supervisor's actions on the calls of its team, checked against the node's state and turned into
GED-188 requests. Pure.

Cisco Finesse Web Services Developer Guide (12.5):

- Dialog—Make a Silent Monitor Call (POST User/{id}/Dialogs, requestedAction SILENT_MONITOR):
  "Supervisors can use this API. A supervisor must be signed in to the fromAddress (extension) being
  used to create the silent monitor call. Agent to be monitored must be assigned to a team that the
  supervisor is responsible for. A supervisor can silently monitor any call except a silent monitor
  call." With Unified CCE "The supervisor must be in NOT_READY state to start a silent monitoring
  session and the agent must be in TALKING state" (the agent's state is the CTI server's to check:
  "Attempt to POST Silent Monitor for an agent who is in Ready or Wrap-Up State" is one of the
  asynchronous errors).
- Dialog—End a Silent Monitor Call: "requestedAction of DROP and the targetMediaAddress of the
  extension of the supervisor" (PUT Dialog: the ordinary DROP of requests.dialog_action).
- Dialog—Make a Barge Call (POST, BARGE_CALL, fromAddress, toAddress, associatedDialogUri):
  "Supervisors can only make barge call requests using the fromAddress that they are currently
  signed in to and can only barge in to calls they are already silent monitoring."
- Dialog—Drop Participant from Conference (PUT Dialog, PARTICIPANT_DROP, targetMediaAddress):
  "By default, this API is only available for supervisors" (enableDropParticipantFor
  supervisor_only: "Only the supervisor, who is a participant of the conference call, can drop other
  agents in the conference call"); "only supported for Unified CCE deployments".

On the CTI wire each is a SUPERVISE_CALL_REQ (MONITOR, BARGE_IN) or a CLEAR_CONNECTION_REQ
(docs/cti.md). That Finesse on Unified CCE starts a silent monitor with SUPERVISE_CALL_REQ rather than
some other request is the emulator's reading [UNCERTAIN: no capture of Finesse's CTI traffic].
"""

from __future__ import annotations

from finesse_emu.server import xml as X
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.core.directory import Directory
from finesse_emu.server.model import Dialog, FinesseModel, Participant
from ged188 import Message, MessageType, SupervisoryAction, Tag, make

M = MessageType
NO_CALL = 0xFFFFFFFF  # "If there is no supervisor call, this field must be set to 0xffffffff."
MONITOR_CALL_TYPE = "SUPERVISOR_MONITOR"
LIVE = ("ACTIVE", "HELD", "INITIATED", "INITIATING", "ALERTING")


def _agent_at(d: Directory, model: FinesseModel, extension: str) -> AuthUser | None:
    user = next((u for u in model.users.values() if u.extension == extension and u.state != "LOGOUT"), None)
    return d.agents.get(user.id) if user is not None else None


def _agents_call(model: FinesseModel, extension: str) -> Dialog | None:
    """The agent's call in progress at ``extension`` (a silent monitor of someone else's is none)."""
    for dialog in model.dialogs.values():
        p = dialog.participants.get(extension)
        if dialog.call_type != MONITOR_CALL_TYPE and p is not None and p.state in ("ACTIVE", "HELD"):
            return dialog
    return None


def supervise(
    d: Directory, model: FinesseModel, peripheral_id: int, me: AuthUser, action: X.DialogAction
) -> Message | X.ErrorResponse:
    """POST User/{id}/Dialogs SILENT_MONITOR or BARGE_CALL: SUPERVISE_CALL_REQ, or the refusal.

    An agent gets 401 Authorization Failure ("Supervisors can use this API"); a supervisor naming an
    agent of a team it does not supervise gets 401 Invalid Authorization User Specified, as for
    every other request on another team's user [UNCERTAIN: the guide lists both 401s without saying
    which answers which]."""
    if not me.supervisor:
        return X.unauthorized(me.login)
    user = model.user(me.id)
    if user.state == "LOGOUT" or action.from_address != user.extension:
        return X.invalid_input("fromAddress", "Invalid fromAddress specified")
    to = action.to_address or ""
    agent = _agent_at(d, model, to)
    if agent is None or agent.id == me.id:
        return X.invalid_destination("toAddress")
    if agent.team_id not in me.teams_supervised:
        return X.invalid_authorization_user(me.id)
    floating: list[tuple[int, str | bytes | int]] = [
        (Tag.AGENT_CONNECTION_DEVID, to),
        (Tag.AGENT_INSTRUMENT, to),
        (Tag.SUPERVISOR_INSTRUMENT, user.extension),
    ]
    call = _agents_call(model, to)
    if action.requested_action is X.DialogActionName.SILENT_MONITOR:
        if user.state != "NOT_READY":
            return X.invalid_state("state", "The supervisor must be NOT_READY to start a silent monitor")
        fields = {
            "AgentConnectionCallID": call.call_id if call else NO_CALL,
            "SupervisorConnectionCallID": NO_CALL,
        }
        kind = SupervisoryAction.MONITOR
    else:
        uri = action.associated_dialog_uri or ""
        monitor = model.dialogs.get(uri.rsplit("/", 1)[-1]) if uri.startswith(f"{X.API}/Dialog/") else None
        if monitor is None or monitor.call_type != MONITOR_CALL_TYPE or monitor.device != user.extension:
            return X.invalid_input("associatedDialogUri", "Invalid associatedDialogUri specified")
        if to not in monitor.participants or call is None:
            return X.invalid_destination("toAddress")
        floating.append((Tag.SUPERVISOR_CONNECTION_DEVID, user.extension))
        fields = {"AgentConnectionCallID": call.call_id, "SupervisorConnectionCallID": monitor.call_id}
        kind = SupervisoryAction.BARGE_IN
    return make(
        M.SUPERVISE_CALL_REQ,
        floating,
        PeripheralID=peripheral_id,
        AgentConnectionDeviceIDType=0,
        SupervisorConnectionDeviceIDType=0,
        SupervisoryAction=kind,
        **fields,
    )


def participant_drop(
    peripheral_id: int, dialog: Dialog, action: X.DialogAction, me: AuthUser
) -> Message | X.ErrorResponse:
    """PUT Dialog PARTICIPANT_DROP: CLEAR_CONNECTION_REQ for another participant's connection, by a
    supervisor taking part in the call (enableDropParticipantFor supervisor_only, the default; the
    other settings are not emulated)."""
    mine = dialog.participant_of(me.id)
    if not me.supervisor or mine is None or mine.state not in ("ACTIVE", "HELD"):
        return X.invalid_state("requestedAction", "Invalid action for the dialog state")
    target = dialog.participants.get(action.target_media_address or "")
    if target is None or target is mine or target.state not in LIVE:
        return X.invalid_input("targetMediaAddress", "Invalid targetMediaAddress specified")
    floating: list[tuple[int, str | bytes | int]] = [
        (Tag.CONNECTION_DEVID, target.address),
        (Tag.AGENT_INSTRUMENT, mine.address),
    ]
    return make(M.CLEAR_CONNECTION_REQ, floating, PeripheralID=peripheral_id, ConnectionCallID=dialog.call_id)


def actions(dialog: Dialog, p: Participant, ordinary: tuple[str, ...], supervisor: bool) -> tuple[str, ...]:
    """A participant's actions with the supervisor's: on its silent monitor dialog, BARGE_CALL and
    DROP (ending the monitor) only; in a call of three or more parties it takes part in,
    PARTICIPANT_DROP as well [UNCERTAIN: the guide lists these actions, not which participant shows
    them when]."""
    if not supervisor or p.state != "ACTIVE":
        return ordinary
    if dialog.call_type == MONITOR_CALL_TYPE:
        return ("BARGE_CALL", "DROP") if p.address == dialog.device else ordinary
    live = sum(q.state in LIVE for q in dialog.participants.values())
    return (*ordinary, "PARTICIPANT_DROP") if live >= 3 else ordinary
