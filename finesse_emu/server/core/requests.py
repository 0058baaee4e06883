"""REST commands checked against the node's state and turned into GED-188 requests. Pure.

Each function returns the CTI request to send (the REST answer is then 202, and the outcome an
Update on the user's node) or the ApiErrors answer that refuses the command at once. Cisco's
wording on each check is beside it.
"""

from __future__ import annotations

from finesse_emu.server import xml as X
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.core.directory import Directory
from finesse_emu.server.core.views import participant_actions
from finesse_emu.server.model import REQUESTABLE, Dialog, MediaSlot, Participant, User
from ged188 import (
    ARM_ERROR_TEXT,
    NULL_ID,
    AgentState,
    ArmError,
    MediaAction,
    Message,
    MessageType,
    Tag,
    make,
    named_variable,
)

M = MessageType
Floating = list[tuple[int, str | bytes | int]]


def user_state(
    d: Directory, user: User, update: X.UserUpdate, password: str | None, by: AuthUser | None = None
) -> Message | X.ErrorResponse:
    """PUT User: SET_AGENT_STATE_REQ (sign-in with extension and password, state, sign-out).

    ``by`` is the supervisor changing a team member's state (None: the user itself); the REST
    layer already checked that it supervises the user's team (auth/access.py)."""
    wanted = update.state.value
    if by is not None and by.id != user.id:
        return supervisor_user_state(user, update)
    if update.extension is not None and not (update.extension.isascii() and len(update.extension) < 16):
        # An instrument is an ASCII string of at most 15 characters on the CTI wire (STRING 16).
        return X.invalid_input("extension", "Invalid extension specified")
    if wanted != "LOGIN" and user.state == "LOGOUT":
        return X.invalid_input("state", "Invalid State specified for user")
    reason, forced = 0, 0
    if update.reason_code_id is not None:
        category = "LOGOUT" if wanted == "LOGOUT" else "NOT_READY"
        rc = next(
            (r for r in d.reason_codes if r.id == update.reason_code_id and r.category == category),
            None,
        )
        if rc is not None:
            reason = rc.code
        elif wanted == "LOGOUT" and update.reason_code_id == FORCED_LOGOUT_REASON_CODE:
            # Chapter "Finesse Failover Mechanisms", The Refresh Token has expired: "Finesse desktop
            # sends a forced logout request to the CTI server." / "The Finesse server forwards the
            # forced logout request to the CTI server." The desktop's LOGOUT with reasonCodeId 255
            # goes on as the forced logout itself (255, forced), so LOAD decides the outcome.
            reason, forced = FORCED_LOGOUT_REASON_CODE, 1
        else:
            return X.invalid_input("reasonCodeId", "Invalid reasonCodeId specified")
    floating: Floating = [(Tag.AGENT_ID, user.id)]
    if wanted == "LOGIN":
        floating.append((Tag.AGENT_INSTRUMENT, update.extension or ""))
        if password is not None:
            floating.append((Tag.AGENT_PASSWORD, password.encode()))
    return make(
        M.SET_AGENT_STATE_REQ,
        floating,
        AgentState=REQUESTABLE[wanted],
        EventReasonCode=reason,
        ForcedFlag=forced,
    )


# "Cisco Finesse sends a code of 255 to the CTI server": the system LOGOUT code "Forced Logout".
FORCED_LOGOUT_REASON_CODE = 255

# -- supervisor actions: a team member's state ---------------------------------------------------
# User—Change Agent State (Finesse Web Services Developer Guide 12.5, "The following statements apply
# to a supervisor using this API to change the state of an agent or other supervisor"):
# "A supervisor can only set the state of another user to NOT_READY, READY, or LOGOUT."
# "A supervisor can set the state of a user to LOGOUT only if that user is in READY, NOT_READY,
# RESERVED, RESERVED_OUTBOUND, RESERVED_OUTBOUND_PREVIEW, TALKING, HOLD, WORK, or WORK_READY state."
# "A supervisor can set the state of a user to NOT_READY only if that user is in READY, WORK, or
# WORK_READY state."
# "When a supervisor uses this API to set the state of a user to NOT_READY, a reason code must not
# be used. If a reason code is provided, Finesse rejects it and returns a 400 Invalid Input error.
# Finesse sends a hard-coded reason code to indicate that the state change was performed by the
# supervisor." ("Stand-alone Finesse with Unified CCE: Finesse sends a hard-coded reason code of 999".)
SUPERVISOR_REASON_CODE = 999
SUPERVISOR_SETTABLE_FROM = {
    "LOGOUT": frozenset(
        {
            "READY",
            "NOT_READY",
            "RESERVED",
            "RESERVED_OUTBOUND",
            "RESERVED_OUTBOUND_PREVIEW",
            "TALKING",
            "HOLD",
            "WORK",
            "WORK_READY",
        }
    ),
    "NOT_READY": frozenset({"READY", "WORK", "WORK_READY"}),
}


def supervisor_user_state(user: User, update: X.UserUpdate) -> Message | X.ErrorResponse:
    """A supervisor's PUT User on a member of its team: READY, NOT_READY or LOGOUT, never with a
    reason code; NOT_READY and LOGOUT carry the hard-coded 999. The refusals are synchronous 400s
    (which ErrorType a state the rules exclude gets is not documented: Invalid State, as for an
    agent's own state change from a state that does not allow it) [UNCERTAIN]."""
    wanted = update.state.value
    if wanted not in ("READY", "NOT_READY", "LOGOUT") or update.extension is not None:
        return X.invalid_input("state", "Invalid State specified for user")
    if update.reason_code_id is not None:
        return X.invalid_input("reasonCodeId", "A supervisor may not give a reason code")
    allowed = SUPERVISOR_SETTABLE_FROM.get(wanted)
    if allowed is not None and user.state not in allowed:
        return X.invalid_state("state", "Invalid State specified for user")
    reason = 0 if wanted == "READY" else SUPERVISOR_REASON_CODE
    return make(
        M.SET_AGENT_STATE_REQ,
        [(Tag.AGENT_ID, user.id)],
        AgentState=REQUESTABLE[wanted],
        EventReasonCode=reason,
        ForcedFlag=0,
    )


def media_state(
    d: Directory, peripheral_id: int, target: AuthUser, slot: MediaSlot, mrd: int, update: X.MediaUpdate
) -> Message | X.ErrorResponse:
    """PUT Media (a non-voice MRD): sign in, state, routable or Work to Active."""
    fields: dict[str, int] = {"MRDID": mrd, "PeripheralID": peripheral_id}
    if update.work_to_active:
        # "Users can only use this API when an agent state is WORK."
        if slot.state != "WORK":
            return X.invalid_state("state", "Invalid State: the agent is not in WORK in this MRD")
        fields["Action"] = MediaAction.WORK_TO_ACTIVE
    elif update.state is not None:
        wanted = update.state.value
        reason = 0
        if update.reason_code_id is not None:
            if wanted not in ("NOT_READY", "LOGOUT"):
                return X.invalid_input("reasonCodeId", "A reason code goes with NOT_READY or LOGOUT only")
            rc = d.reason_code_by_id(update.reason_code_id)
            if rc is None or rc.category != wanted:
                return X.invalid_input("reasonCodeId", "Invalid reasonCodeId specified")
            reason = rc.code
        fields |= {
            "Action": MediaAction.SET_STATE,
            "AgentState": REQUESTABLE[wanted],
            "EventReasonCode": reason,
        }
        if wanted == "LOGIN":
            fields["MaxTaskLimit"] = update.max_dialog_limit or 1
    else:
        fields |= {"Action": MediaAction.SET_ROUTABLE, "AgentMode": int(bool(update.routable))}
    return make(M.EMU_SET_MEDIA_STATE_REQ, [(Tag.AGENT_ID, target.id)], **fields)


# Call control the emulator carries out, each as its GED-188 request. The CCX-only actions (and
# those not emulated yet) answer 501.
DIALOG_REQUESTS = {
    "ANSWER": M.ANSWER_CALL_REQ,
    "HOLD": M.HOLD_CALL_REQ,
    "RETRIEVE": M.RETRIEVE_CALL_REQ,
    "DROP": M.CLEAR_CONNECTION_REQ,
    "SEND_DTMF": M.SEND_DTMF_SIGNAL_REQ,
    "UPDATE_CALL_DATA": M.SET_CALL_DATA_REQ,
    "CONSULT_CALL": M.CONSULTATION_CALL_REQ,
    "TRANSFER_SST": M.TRANSFER_CALL_REQ,
    "TRANSFER": M.TRANSFER_CALL_REQ,
    "CONFERENCE": M.CONFERENCE_CALL_REQ,
}


def dialog_action(
    d: Directory,
    peripheral_id: int,
    dialog: Dialog,
    action: X.DialogAction,
    user: User,
    other: tuple[Dialog, Participant] | None = None,
) -> Message | X.ErrorResponse:
    """PUT Dialog: ANSWER, HOLD, RETRIEVE, DROP, SEND_DTMF, UPDATE_CALL_DATA, CONSULT_CALL,
    TRANSFER_SST, TRANSFER and CONFERENCE on the user's own participant, when the participant lists
    the action ("Only actions listed in the participant's actions are allowed"). UPDATE_CALL_DATA
    names no targetMediaAddress: it is the user's own. ``other``: the user's other call going on
    and its participant there (the consult, for TRANSFER and CONFERENCE on the held call)."""
    name = action.requested_action.value
    if name == "MAKE_CALL" or action.requested_action in X.SUPERVISOR_POSTS:
        # A new call (MAKE_CALL, a supervisor's SILENT_MONITOR and BARGE_CALL) is a POST to the
        # user's Dialogs: emulated there, no action on an existing dialog (so no 501).
        return X.invalid_input("requestedAction", "Invalid requestedAction specified for dialog")
    mtype = DIALOG_REQUESTS.get(name)
    if mtype is None:
        return X.not_implemented(
            "requestedAction", f"{name} is not emulated ({', '.join(DIALOG_REQUESTS)} are)"
        )
    target = action.target_media_address
    if target is None and mtype == M.SET_CALL_DATA_REQ:
        participant = dialog.participant_of(user.id)
    else:
        participant = dialog.participants.get(target or "")
    if participant is None or participant.user_id != user.id:
        # An agent acts on its own device's participant only.
        return X.invalid_input("targetMediaAddress", "Invalid targetMediaAddress specified")
    other_state = other[1].state if other is not None and participant.state in ("HELD", "ACTIVE") else ""
    if name not in participant_actions(participant, user.state, other_state):
        return X.invalid_state("requestedAction", "Invalid action for the dialog state")
    device = participant.address
    if mtype in (M.CONSULTATION_CALL_REQ, M.TRANSFER_CALL_REQ, M.CONFERENCE_CALL_REQ):
        return consult_transfer_conference(peripheral_id, dialog, name, device, action.to_address, other)
    if mtype == M.SET_CALL_DATA_REQ:
        agent = d.agents.get(user.id)
        return call_data(d, agent.team_id if agent is not None else 0, peripheral_id, dialog, action, device)
    if mtype == M.SEND_DTMF_SIGNAL_REQ:
        return send_dtmf(peripheral_id, dialog, action.param("dtmfString") or "", device)
    floating: Floating = [(Tag.CONNECTION_DEVID, device), (Tag.AGENT_INSTRUMENT, device)]
    return make(mtype, floating, PeripheralID=peripheral_id, ConnectionCallID=dialog.call_id)


def make_call(peripheral_id: int, user: User, action: X.DialogAction) -> Message | X.ErrorResponse:
    """POST User/{id}/Dialogs MAKE_CALL: MAKE_CALL_REQ from the user's extension to toAddress.

    "fromAddress must be the extension the user is signed in with"; 400 Invalid Destination when
    toAddress is fromAddress."""
    if action.requested_action is not X.DialogActionName.MAKE_CALL:
        return X.invalid_input("requestedAction", "Invalid requestedAction specified for dialog")
    if user.state == "LOGOUT" or not user.extension:
        return X.invalid_state("state", "Invalid State specified for user")
    if action.from_address != user.extension:
        return X.invalid_input("fromAddress", "Invalid fromAddress specified")
    to = action.to_address or ""
    if to == action.from_address:
        return X.invalid_destination("toAddress")
    if not (to.isascii() and 0 < len(to) < 40):  # DialedNumber is a STRING 40 on the CTI wire
        return X.invalid_destination("toAddress")
    floating: Floating = [(Tag.AGENT_INSTRUMENT, user.extension), (Tag.DIALED_NUMBER, to)]
    for cv in action.call_variables or ():
        if cv.name.startswith("callVariable") and cv.name[12:].isdigit() and 1 <= int(cv.name[12:]) <= 10:
            floating.append((Tag.CALL_VAR_1 + int(cv.name[12:]) - 1, cv.value[:40]))
    return make(M.MAKE_CALL_REQ, floating, PeripheralID=peripheral_id, Reserved=0xFFFFFFFF)


def consult_transfer_conference(
    peripheral_id: int,
    dialog: Dialog,
    name: str,
    device: str,
    to: str | None,
    other: tuple[Dialog, Participant] | None,
) -> Message | X.ErrorResponse:
    """CONSULT_CALL (CONSULTATION_CALL_REQ from the active call to toAddress), TRANSFER_SST
    (TRANSFER_CALL_REQ with no active call and the DialedNumber), TRANSFER and CONFERENCE (the held
    call, this dialog, with the user's active one)."""
    floating: Floating = [(Tag.ACTIVE_CONN_DEVID, device), (Tag.AGENT_INSTRUMENT, device)]
    if name in ("CONSULT_CALL", "TRANSFER_SST"):
        dialed = to or ""
        # Dialog—Make a Consult Call / Initiate a Single Step Transfer: toAddress is required; "400:
        # Invalid Destination" as for MAKE_CALL (DialedNumber is a STRING 40 on the CTI wire).
        if not dialed:
            return X.parameter_missing("toAddress")
        if dialed == device or not (dialed.isascii() and len(dialed) < 40):
            return X.invalid_destination("toAddress")
        floating.append((Tag.DIALED_NUMBER, dialed))
        if name == "CONSULT_CALL":
            return make(
                M.CONSULTATION_CALL_REQ,
                floating,
                PeripheralID=peripheral_id,
                ActiveConnectionCallID=dialog.call_id,
            )
        floating.append((Tag.HELD_CONN_DEVID, device))
        return make(
            M.TRANSFER_CALL_REQ,
            floating,
            PeripheralID=peripheral_id,
            HeldConnectionCallID=dialog.call_id,
            ActiveConnectionCallID=NULL_ID,
        )
    if other is None:  # (the participant would not have listed the action)
        return X.invalid_state("requestedAction", "Invalid action for the dialog state")
    floating.append((Tag.HELD_CONN_DEVID, device))
    return make(
        M.TRANSFER_CALL_REQ if name == "TRANSFER" else M.CONFERENCE_CALL_REQ,
        floating,
        PeripheralID=peripheral_id,
        HeldConnectionCallID=dialog.call_id,
        ActiveConnectionCallID=other[0].call_id,
    )


# Dialog—Update Call Variable Data: "Call variable: 40 bytes"; a wrap-up reason is at most 39 bytes
# (a WrapUpReason's label), GED-188 CallWrapupData (STRING 40). ECC variables are "prepended with
# user"; "the call variable name [...] is invalid or not recognized, or there are duplicate call
# variable names": 400 Invalid Input.
CALL_VARIABLE_BYTES = 40
WRAP_UP_REASON_BYTES = 39
NAMED_VARIABLE_BYTES = 251  # a NamedVariable floating field, both NULs included
_CALL_VARIABLES = {f"callVariable{i}": Tag.CALL_VAR_1 + i - 1 for i in range(1, 11)}


def _latin1_len(value: str) -> int | None:
    """The wire length of ``value`` (GED-188 strings are single-byte), None when it is not ASCII:
    "With Unified CCE, Cisco Finesse does not support the use of extended ASCII characters"."""
    return len(value) if value.isascii() else None


def call_data(
    d: Directory, team_id: int, peripheral_id: int, dialog: Dialog, action: X.DialogAction, device: str
) -> Message | X.ErrorResponse:
    """PUT Dialog UPDATE_CALL_DATA: SET_CALL_DATA_REQ with the call variables, ECC variables and the
    wrap-up reason (one of the agent's: the global ones and its team's)."""
    floating: Floating = [(Tag.CONNECTION_DEVID, device)]
    seen: set[str] = set()
    for cv in action.call_variables or ():
        size = _latin1_len(cv.value)
        if cv.name in seen:
            return X.invalid_input("callvariables", f"Duplicate call variable {cv.name}")
        seen.add(cv.name)
        if cv.name in _CALL_VARIABLES:
            if size is None or size > CALL_VARIABLE_BYTES:
                return X.invalid_input(cv.name, f"Value of {cv.name} exceeds {CALL_VARIABLE_BYTES} bytes")
            floating.append((_CALL_VARIABLES[cv.name], cv.value))
        elif cv.name.startswith("user.") and len(cv.name) > 5 and cv.name.isascii():
            if size is None or len(cv.name) + size + 2 > NAMED_VARIABLE_BYTES:
                return X.invalid_input(cv.name, f"Value of {cv.name} is too long")
            floating.append((Tag.NAMED_VARIABLE, named_variable(cv.name, cv.value)))
        else:
            return X.invalid_input("callvariables", f"Invalid call variable name {cv.name[:64]}")
    if action.wrap_up_reason is not None:
        labels = {w.label for w in d.wrapup_reasons_for(team_id)}
        if action.wrap_up_reason not in labels:
            return X.invalid_input("wrapUpReason", "Invalid wrapUpReason specified")
        floating.append((Tag.CALL_WRAPUP_DATA, action.wrap_up_reason[:WRAP_UP_REASON_BYTES]))
    if len(floating) == 1:
        return X.parameter_missing("callvariables")
    return make(
        M.SET_CALL_DATA_REQ,
        floating,
        PeripheralID=peripheral_id,
        ConnectionCallID=dialog.call_id,
        NumNamedVariables=sum(1 for tag, _ in floating if tag == Tag.NAMED_VARIABLE),
    )


# The DTMF keypad's sixteen tones; GED-188 DTMFString is a STRING 32 (31 tones and the NUL).
DTMF_DIGITS = frozenset("0123456789*#ABCD")
DTMF_MAX = 31


def send_dtmf(peripheral_id: int, dialog: Dialog, digits: str, device: str) -> Message | X.ErrorResponse:
    """PUT Dialog SEND_DTMF: SEND_DTMF_SIGNAL_REQ from the user's active connection."""
    if not digits or len(digits) > DTMF_MAX or any(c not in DTMF_DIGITS for c in digits):
        return X.invalid_input("dtmfString", "Invalid dtmfString specified")
    floating: Floating = [
        (Tag.CONNECTION_DEVID, device),
        (Tag.DTMF_STRING, digits),
        (Tag.AGENT_INSTRUMENT, device),
    ]
    return make(M.SEND_DTMF_SIGNAL_REQ, floating, PeripheralID=peripheral_id, ConnectionCallID=dialog.call_id)


def query_agent_state(agent_id: str) -> Message:
    """The resync after a (re)connect: every agent's voice state."""
    return make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, agent_id)], MRDID=1)


def work_to_active(peripheral_id: int, agent_id: str, mrd: int) -> Message:
    return make(
        M.EMU_SET_MEDIA_STATE_REQ,
        [(Tag.AGENT_ID, agent_id)],
        Action=MediaAction.WORK_TO_ACTIVE,
        MRDID=mrd,
        PeripheralID=peripheral_id,
    )


def forced_logout(peripheral_id: int, agent_id: str, reason_code: int) -> Message:
    """SET_AGENT_STATE_REQ LOGOUT, reason 255, forced: what the CTI server makes of it is LOAD's."""
    return make(
        M.SET_AGENT_STATE_REQ,
        [(Tag.AGENT_ID, agent_id)],
        PeripheralID=peripheral_id,
        AgentState=AgentState.LOGOUT,
        EventReasonCode=reason_code,
        ForcedFlag=1,
    )


def media_api_error(peripheral_error: int, mrd: int, detail: str) -> X.ApiError:
    """The asynchronous ApiError of a refused Media PUT (``E_ARM_STAT_...`` in ``errorMessage``)."""
    try:
        arm = ArmError(peripheral_error)
    except ValueError:
        return X.ApiError("Invalid State", detail, "", error_media=str(mrd))
    error_type, error_data = ARM_ERROR_TEXT[arm]
    return X.ApiError(error_type, arm.name, error_data, error_media=str(mrd))
