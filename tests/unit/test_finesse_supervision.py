"""Finesse's supervisor actions on the pure core: SILENT_MONITOR and BARGE_CALL (POST User/{id}/
Dialogs) and PARTICIPANT_DROP (PUT Dialog) as GED-188 requests, and the dialogs each user sees,
fed with the CTI stub core's real events (tests.unit.test_finesse_model's Pipe).

Directory: 1000 supervises team 1 (1000-1003); 1025 supervises team 2 only.
"""

from __future__ import annotations

from cti_stub.model import PeripheralModel
from emu_base.directory import generate
from finesse_emu.server import xml as X
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.core import requests, supervision
from finesse_emu.server.core.directory import Directory
from finesse_emu.server.core.views import dialog_view
from finesse_emu.server.model import DialogChange
from ged188 import AgentState, Message, MessageType, SupervisoryAction, Tag, encode
from tests.unit.test_finesse_model import Pipe

M = MessageType
SUP, A, B, SUP2 = "1000", "1001", "1002", "1025"
EXT = {SUP: "2000", A: "2001", B: "2002", SUP2: "2025"}
CALLER = "5550100"
USERS = {
    SUP: AuthUser(SUP, "sup", extension=EXT[SUP], team_id=1, supervisor=True, teams_supervised=(1,)),
    A: AuthUser(A, "agentA", extension=EXT[A], team_id=1),
    B: AuthUser(B, "agentB", extension=EXT[B], team_id=1),
    SUP2: AuthUser(SUP2, "sup2", extension=EXT[SUP2], team_id=2, supervisor=True, teams_supervised=(2,)),
}
DIRECTORY = Directory("emu.test", list(USERS.values()), {1: "One", 2: "Two"})


def on_a_call() -> tuple[Pipe, str]:
    """SUP and SUP2 Not Ready, B Ready, A talking to a caller: the call's dialog id."""
    p = Pipe()
    p.pg = PeripheralModel(generate(26))
    p.core.model = p.pg
    for agent in (SUP, A, B, SUP2):
        p.core.admin_set_state(p.now, agent, AgentState.LOGIN, 0, extension=EXT[agent])
    for agent in (A, B):
        p.core.admin_set_state(p.now, agent, AgentState.AVAILABLE, 0)
    call_id = p.core.inject_call(p.now, A, ani=CALLER, dnis="8000")
    p.core.answer_call(p.now, call_id)
    p.drain()
    return p, str(call_id)


def post(action: str, frm: str, to: str, associated: str | None = None) -> X.DialogAction:
    return X.DialogAction(
        X.DialogActionName(action), from_address=frm, to_address=to, associated_dialog_uri=associated
    )


def send(p: Pipe, msg: Message) -> list[DialogChange]:
    """The request as the node sends it (InvokeID set) through the CTI stub: the dialog changes."""
    p.core.data_received(p.now, p.sid, encode(msg))
    return [c for c in p.drain() if isinstance(c, DialogChange)]


def parts(p: Pipe, dialog_id: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    view = dialog_view(p.finesse, dialog_id, DIRECTORY)
    return {q.media_address: (q.state, q.actions) for q in view.participants}


def monitoring() -> tuple[Pipe, str, str]:
    p, call = on_a_call()
    msg = supervision.supervise(
        DIRECTORY, p.finesse, 5000, USERS[SUP], post("SILENT_MONITOR", EXT[SUP], EXT[A])
    )
    assert isinstance(msg, Message)
    changes = send(p, msg)
    [monitor] = {c.dialog_id for c in changes}
    return p, call, monitor


def test_silent_monitor_is_a_supervise_call_req_and_a_dialog_of_the_supervisor_only() -> None:
    p, call = on_a_call()
    msg = supervision.supervise(
        DIRECTORY, p.finesse, 5000, USERS[SUP], post("SILENT_MONITOR", EXT[SUP], EXT[A])
    )
    assert isinstance(msg, Message) and msg.type == M.SUPERVISE_CALL_REQ
    assert msg["SupervisoryAction"] == SupervisoryAction.MONITOR and msg["AgentConnectionCallID"] == int(call)
    assert (msg.get_str(Tag.SUPERVISOR_INSTRUMENT), msg.get_str(Tag.AGENT_CONNECTION_DEVID)) == (
        EXT[SUP],
        EXT[A],
    )
    changes = send(p, msg)
    assert changes and {c.user_id for c in changes} == {SUP}  # the agent sees nothing new
    monitor = changes[0].dialog_id
    assert p.finesse.dialogs[monitor].call_type == "SUPERVISOR_MONITOR"
    assert parts(p, monitor) == {EXT[SUP]: ("ACTIVE", ("BARGE_CALL", "DROP")), EXT[A]: ("ACTIVE", ())}
    assert set(parts(p, call)) == {CALLER, EXT[A]}  # the agent's dialog does not show the supervisor
    assert [d.id for d in p.finesse.dialogs_of(A)] == [call] and p.finesse.users[SUP].state == "TALKING"


def test_who_may_monitor_whom() -> None:
    p, _ = on_a_call()
    # "Supervisors can use this API": an agent is refused.
    refused = supervision.supervise(
        DIRECTORY, p.finesse, 5000, USERS[B], post("SILENT_MONITOR", EXT[B], EXT[A])
    )
    assert isinstance(refused, X.ErrorResponse)
    assert (refused.status, refused.error.error_type) == (401, "Authorization Failure")
    # A supervisor of another team.
    refused = supervision.supervise(
        DIRECTORY, p.finesse, 5000, USERS[SUP2], post("SILENT_MONITOR", EXT[SUP2], EXT[A])
    )
    assert isinstance(refused, X.ErrorResponse)
    assert (refused.status, refused.error.error_type) == (401, "Invalid Authorization User Specified")
    # Not from its own extension; nobody at toAddress.
    bad = supervision.supervise(
        DIRECTORY, p.finesse, 5000, USERS[SUP], post("SILENT_MONITOR", EXT[B], EXT[A])
    )
    assert isinstance(bad, X.ErrorResponse) and bad.error.error_type == "Invalid Input"
    bad = supervision.supervise(DIRECTORY, p.finesse, 5000, USERS[SUP], post("SILENT_MONITOR", EXT[SUP], "9"))
    assert isinstance(bad, X.ErrorResponse) and bad.error.error_type == "Invalid Destination"


def test_the_supervisor_must_be_not_ready() -> None:
    p, _ = on_a_call()
    p.core.admin_set_state(p.now, SUP, AgentState.AVAILABLE, 0)
    p.drain()
    refused = supervision.supervise(
        DIRECTORY, p.finesse, 5000, USERS[SUP], post("SILENT_MONITOR", EXT[SUP], EXT[A])
    )
    assert isinstance(refused, X.ErrorResponse) and refused.error.error_type == "Invalid State"


def test_barge_in_makes_the_supervisor_a_participant_the_agent_sees() -> None:
    """The barged call "becomes a conference call": the supervisor joins it (CALL_CONFERENCED_EVENT)
    and its callType turns CONFERENCE (the CALL_DATA_UPDATE_EVENT that follows) [UNCERTAIN: the
    guide says the call becomes a conference, not which callType the dialog then shows]."""
    p, call, monitor = monitoring()
    uri = f"{X.API}/Dialog/{monitor}"
    msg = supervision.supervise(
        DIRECTORY, p.finesse, 5000, USERS[SUP], post("BARGE_CALL", EXT[SUP], EXT[A], uri)
    )
    assert isinstance(msg, Message) and msg["SupervisoryAction"] == SupervisoryAction.BARGE_IN
    assert (msg["AgentConnectionCallID"], msg["SupervisorConnectionCallID"]) == (int(call), int(monitor))
    changes = send(p, msg)
    assert DialogChange(monitor, SUP, "DELETE") in changes
    assert [(c.user_id, c.event) for c in changes if c.dialog_id == call] == [
        (A, "PUT"),
        (SUP, "POST"),
        (A, "PUT"),  # the callType CONFERENCE
        (SUP, "PUT"),
    ]
    assert p.finesse.dialogs[call].call_type == "CONFERENCE"
    seen = parts(p, call)
    assert set(seen) == {CALLER, EXT[A], EXT[SUP]}
    assert "PARTICIPANT_DROP" in seen[EXT[SUP]][1] and "PARTICIPANT_DROP" not in seen[EXT[A]][1]


def test_barge_in_only_on_ones_own_monitor_dialog() -> None:
    p, call, _ = monitoring()
    for uri in (f"{X.API}/Dialog/{call}", "/elsewhere/1", f"{X.API}/Dialog/999"):
        bad = supervision.supervise(
            DIRECTORY, p.finesse, 5000, USERS[SUP], post("BARGE_CALL", EXT[SUP], EXT[A], uri)
        )
        assert isinstance(bad, X.ErrorResponse) and bad.error.error_data == "associatedDialogUri", uri


def test_the_supervisor_drops_the_agent_from_the_call() -> None:
    p, call, monitor = monitoring()
    uri = f"{X.API}/Dialog/{monitor}"
    barge = supervision.supervise(
        DIRECTORY, p.finesse, 5000, USERS[SUP], post("BARGE_CALL", EXT[SUP], EXT[A], uri)
    )
    assert isinstance(barge, Message)
    send(p, barge)
    drop = X.DialogAction(X.DialogActionName.PARTICIPANT_DROP, target_media_address=EXT[A])
    # The agent may not drop its supervisor (enableDropParticipantFor supervisor_only).
    refused = supervision.participant_drop(5000, p.finesse.dialogs[call], drop, USERS[A])
    assert isinstance(refused, X.ErrorResponse)
    msg = supervision.participant_drop(5000, p.finesse.dialogs[call], drop, USERS[SUP])
    assert isinstance(msg, Message) and msg.type == M.CLEAR_CONNECTION_REQ
    assert msg.get_str(Tag.CONNECTION_DEVID) == EXT[A]
    send(p, msg)
    seen = parts(p, call)
    assert seen[EXT[A]][0] == "DROPPED" and seen[EXT[SUP]][0] == seen[CALLER][0] == "ACTIVE"
    assert p.finesse.dialogs[call].state == "ACTIVE"


def test_the_monitor_dialog_goes_when_the_agent_hangs_up() -> None:
    p, call, monitor = monitoring()
    p.core.end_call(p.now, int(call))
    changes = [c for c in p.drain() if isinstance(c, DialogChange)]
    assert DialogChange(monitor, SUP, "DELETE") in changes and monitor not in p.finesse.dialogs
    assert p.finesse.users[SUP].state == "NOT_READY"


def test_a_barged_call_is_a_conference_the_conference_glitch_reaches() -> None:
    """The opt-in conference_glitch fault (chapter "Finesse Failover Mechanisms": "An agent or
    supervisor who signs in after being on an active conference call with other devices (which are
    not associated with any other agent or supervisor)"): a barged call is such a conference (the
    caller is no agent), so the supervisor signing in again sees it wrongly until it drops off."""
    p, call, monitor = monitoring()
    barge = supervision.supervise(
        DIRECTORY,
        p.finesse,
        5000,
        USERS[SUP],
        post("BARGE_CALL", EXT[SUP], EXT[A], f"{X.API}/Dialog/{monitor}"),
    )
    assert isinstance(barge, Message)
    send(p, barge)
    p.finesse.conference_glitch = True
    p.finesse.signed_in_again(SUP)
    assert p.finesse.dialogs[call].glitched == {SUP}
    p.core.data_received(p.now, p.sid, encode(supervision_drop(p, call)))
    p.drain()
    assert not p.finesse.dialogs[call].glitched  # "returns to usual after [it] drops off"


def supervision_drop(p: Pipe, call: str) -> Message:
    """The supervisor's own DROP of its participant in the barged call (CLEAR_CONNECTION_REQ)."""
    drop = X.DialogAction(X.DialogActionName.DROP, EXT[SUP])
    msg = requests.dialog_action(DIRECTORY, 5000, p.finesse.dialogs[call], drop, p.finesse.user(SUP))
    assert isinstance(msg, Message)
    return msg
