"""Finesse's dialogs of calls agents place and control: participants, their actions, and the PUT
Dialog / POST Dialogs checks, fed with the CTI stub core's real events (tests.unit.test_finesse_model's
Pipe)."""

from __future__ import annotations

import pytest

from cti_stub.model import DeskSettings
from finesse_emu.server import xml as X
from finesse_emu.server.core import requests
from finesse_emu.server.core.directory import Directory
from finesse_emu.server.core.views import dialog_view
from finesse_emu.server.model import DialogChange
from ged188 import AgentState, MessageType, Tag, encode
from tests.unit.test_cti_core import open_req
from tests.unit.test_finesse_model import Pipe

M = MessageType
A, B = "1000", "1001"
OUTSIDE = "5550100"


# An active agent participant: call control, and the call data actions (UPDATE_CALL_DATA, SEND_DTMF).
ACTIVE_ACTIONS = ("HOLD", "DROP", "UPDATE_CALL_DATA", "SEND_DTMF", "CONSULT_CALL", "TRANSFER_SST")


def pipe(ready: bool = False) -> Pipe:
    p = Pipe()
    for agent, ext in ((A, "2000"), (B, "2001")):
        p.core.admin_set_state(p.now, agent, AgentState.LOGIN, 0, extension=ext)
        if ready:
            p.core.admin_set_state(p.now, agent, AgentState.AVAILABLE, 0)
    p.drain()
    return p


def parts(p: Pipe, dialog_id: str) -> list[tuple[str, str, tuple[str, ...], str]]:
    """Each participant as a client sees it: mediaAddress, state, actions, mediaAddressType."""
    view = dialog_view(p.finesse, dialog_id)
    return [(v.media_address, v.state, v.actions, v.media_address_type) for v in view.participants]


def action(
    name: str, target: str | None = None, to: str | None = None, frm: str | None = None
) -> X.DialogAction:
    return X.DialogAction(X.DialogActionName(name), target, frm, to)


def test_agent_calls_agent_both_desktops_see_one_dialog_step_by_step() -> None:
    p = pipe()
    call_id = p.core.make_call(p.now, A, "2001")
    d = str(call_id)
    changes = p.drain()
    # Each agent gets the dialog POSTed once, on its own Dialogs node, then PUTs.
    dialog_changes = [c for c in changes if isinstance(c, DialogChange)]
    assert [(c.user_id, c.event) for c in dialog_changes] == [
        (A, "POST"),  # INITIATING
        (A, "PUT"),  # INITIATED
        (A, "PUT"),  # ALERTING at B
        (B, "POST"),
    ]
    view = dialog_view(p.finesse, d)
    assert (view.state, view.from_address, view.to_address) == ("ALERTING", "2000", "2001")
    assert view.media_properties.call_type == "AGENT_INSIDE"
    assert parts(p, d) == [
        ("2000", "INITIATED", ("DROP",), "AGENT_DEVICE"),
        ("2001", "ALERTING", ("ANSWER",), "AGENT_DEVICE"),
    ]
    assert p.finesse.users[A].state == "TALKING"
    p.core.answer_call(p.now, call_id)
    p.drain()
    assert dialog_view(p.finesse, d).state == "ACTIVE"
    assert parts(p, d) == [
        ("2000", "ACTIVE", ACTIVE_ACTIONS, "AGENT_DEVICE"),
        ("2001", "ACTIVE", ACTIVE_ACTIONS, "AGENT_DEVICE"),
    ]
    p.core.hold_call(p.now, call_id, "2000")
    assert [(c.user_id, c.event) for c in p.drain() if isinstance(c, DialogChange)] == [
        (A, "PUT"),
        (B, "PUT"),
    ]
    assert parts(p, d)[0][:3] == ("2000", "HELD", ("RETRIEVE", "DROP"))
    assert p.finesse.users[A].state == "HOLD" and p.finesse.users[B].state == "TALKING"
    p.core.retrieve_call(p.now, call_id, "2000")
    p.drain()
    assert parts(p, d)[0][:3] == ("2000", "ACTIVE", ACTIVE_ACTIONS)
    p.core.clear_connection(p.now, call_id, "2000")
    changes = [c for c in p.drain() if isinstance(c, DialogChange)]
    assert changes[-2:] == [DialogChange(d, A, "DELETE"), DialogChange(d, B, "DELETE")]
    assert d not in p.finesse.dialogs


def test_a_call_to_an_outside_number_has_one_agent_participant() -> None:
    p = pipe()
    p.core.config.outside_answer_after = 0.0
    call_id = p.core.make_call(p.now, A, OUTSIDE)
    p.drain()
    d = str(call_id)
    view = dialog_view(p.finesse, d)
    assert (view.state, view.media_properties.call_type) == ("ACTIVE", "AGENT_OUT")
    assert parts(p, d) == [
        ("2000", "ACTIVE", ACTIVE_ACTIONS, "AGENT_DEVICE"),
        (OUTSIDE, "ACTIVE", (), ""),
    ]
    assert p.finesse.dialogs_of(A) and not p.finesse.dialogs_of(B)


def test_an_inbound_call_shows_the_caller_initiated_until_answered() -> None:
    p = pipe(ready=True)
    call_id = p.core.inject_call(p.now, A, ani="5551234", dnis="8000")
    p.drain()
    assert parts(p, str(call_id)) == [  # the agent first, as in Cisco's capture
        ("2000", "ALERTING", ("ANSWER",), "AGENT_DEVICE"),
        ("5551234", "INITIATED", (), ""),
    ]
    p.core.answer_call(p.now, call_id)
    p.drain()
    assert [s for _, s, _, _ in parts(p, str(call_id))] == ["ACTIVE", "ACTIVE"]


def test_a_held_call_is_republished_held_after_a_cti_failover() -> None:
    p = pipe()
    call_id = p.core.make_call(p.now, A, "2001")
    p.core.answer_call(p.now, call_id)
    p.core.hold_call(p.now, call_id, "2000")
    p.drain()
    p.finesse.cti_lost()
    p.core.session_lost(p.now, p.sid)
    p.core.outputs()
    p.sid = p.core.open_session(p.now)  # the reconnect: the CTI server replays the call
    p.core.data_received(p.now, p.sid, encode(open_req()))
    p.drain()
    changes = p.finesse.republish()
    d = str(call_id)
    assert DialogChange(d, A, "PUT") in changes and DialogChange(d, B, "PUT") in changes
    assert [s for _, s, _, _ in parts(p, d)] == ["HELD", "ACTIVE"]


NO_DIRECTORY = Directory("emu.test")  # no wrap-up reasons: these actions do not read them


# -- PUT Dialog and POST Dialogs checks ---------------------------------------------------------------
def test_put_dialog_checks_target_and_the_participants_actions() -> None:
    p = pipe()
    call_id = p.core.make_call(p.now, A, "2001")
    p.drain()
    dialog, a, b = p.finesse.dialogs[str(call_id)], p.finesse.users[A], p.finesse.users[B]
    # B answers its own participant: ANSWER_CALL_REQ on B's connection.
    msg = requests.dialog_action(NO_DIRECTORY, 5000, dialog, action("ANSWER", "2001"), b)
    assert not isinstance(msg, X.ErrorResponse)
    assert (msg.type, msg["ConnectionCallID"], msg.get(Tag.CONNECTION_DEVID)) == (
        M.ANSWER_CALL_REQ,
        call_id,
        "2001",
    )
    # HOLD is not among A's actions while dialling; ANSWER not either.
    for name in ("HOLD", "ANSWER", "RETRIEVE"):
        err = requests.dialog_action(NO_DIRECTORY, 5000, dialog, action(name, "2000"), a)
        assert isinstance(err, X.ErrorResponse) and err.status == 400, name
    # A may not act on B's participant, nor on a device that is no participant.
    for target in ("2001", "7777"):
        err = requests.dialog_action(NO_DIRECTORY, 5000, dialog, action("DROP", target), a)
        assert isinstance(err, X.ErrorResponse) and err.status == 400
    drop = requests.dialog_action(NO_DIRECTORY, 5000, dialog, action("DROP", "2000"), a)
    assert not isinstance(drop, X.ErrorResponse) and drop.type == M.CLEAR_CONNECTION_REQ
    # MAKE_CALL belongs to POST Dialogs; actions not emulated (and the CCX-only ones) answer 501.
    # So do a supervisor's SILENT_MONITOR and BARGE_CALL (emulated there, so no 501 here).
    for name in ("MAKE_CALL", "SILENT_MONITOR", "BARGE_CALL"):
        err = requests.dialog_action(NO_DIRECTORY, 5000, dialog, action(name, to="2001", frm="2000"), a)
        assert isinstance(err, X.ErrorResponse) and err.status == 400, name
    for name in ("ACCEPT", "REJECT", "CLOSE", "RECLASSIFY", "START_RECORDING"):
        err = requests.dialog_action(NO_DIRECTORY, 5000, dialog, action(name, "2000", to="2001"), a)
        assert isinstance(err, X.ErrorResponse) and err.status == 501, name
    # Consult, transfer and conference are emulated, but none is listed while dialling.
    for name in ("CONSULT_CALL", "TRANSFER_SST", "TRANSFER", "CONFERENCE"):
        err = requests.dialog_action(NO_DIRECTORY, 5000, dialog, action(name, "2000", to="2001"), a)
        assert isinstance(err, X.ErrorResponse) and err.status == 400, name


@pytest.mark.parametrize(
    ("frm", "to", "status"),
    [("2000", "2001", None), ("2001", "2002", 400), ("2000", "2000", 400), ("2000", "x" * 40, 400)],
)
def test_make_call_request(frm: str, to: str, status: int | None) -> None:
    p = pipe()
    a = p.finesse.users[A]
    msg = requests.make_call(5000, a, action("MAKE_CALL", to=to, frm=frm))
    if status is None:
        assert not isinstance(msg, X.ErrorResponse)
        assert (msg.type, msg.get(Tag.AGENT_INSTRUMENT), msg.get(Tag.DIALED_NUMBER)) == (
            M.MAKE_CALL_REQ,
            frm,
            to,
        )
    else:
        assert isinstance(msg, X.ErrorResponse) and msg.status == status


def test_make_call_needs_a_signed_in_user() -> None:
    p = pipe()
    p.core.admin_set_state(p.now, A, AgentState.LOGOUT, 0)
    p.drain()
    err = requests.make_call(5000, p.finesse.users[A], action("MAKE_CALL", to="2001", frm="2000"))
    assert isinstance(err, X.ErrorResponse) and err.status == 400


def test_after_a_made_call_the_caller_in_wrap_up_may_only_set_the_call_data() -> None:
    """1000 (wrap-up on outgoing calls) called 1001 (none on incoming); the call is dropped. The
    dialog stays DROPPED for 1000's wrap-up: its participant lists UPDATE_CALL_DATA only (sent without
    a targetMediaAddress, from its own device), 1001's nothing; SEND_DTMF is refused."""
    p = pipe(ready=True)
    p.pg.desk = DeskSettings("NOT_ALLOWED", "REQUIRED", 60.0)
    call_id = p.core.make_call(p.now, A, "2001")
    p.core.answer_call(p.now, call_id)
    p.drain()
    p.core.end_call(p.now, call_id)
    changes = p.drain()
    d = str(call_id)
    a, b = p.finesse.users[A], p.finesse.users[B]
    assert (a.state, b.state) == ("WORK_READY", "READY")
    assert DialogChange(d, A, "PUT") in changes  # published again on entering WORK_READY
    assert parts(p, d) == [
        ("2000", "DROPPED", ("UPDATE_CALL_DATA",), "AGENT_DEVICE"),
        ("2001", "DROPPED", (), "AGENT_DEVICE"),
    ]
    dialog = p.finesse.dialogs[d]
    wrapup = X.DialogAction(X.DialogActionName.UPDATE_CALL_DATA, wrap_up_reason="Sale")
    directory = Directory("emu.test", wrapup_reasons=[X.WrapUpReasonView(1, "Sale")])
    msg = requests.dialog_action(directory, 5000, dialog, wrapup, a)
    assert not isinstance(msg, X.ErrorResponse)
    assert (msg.type, msg.get(Tag.CONNECTION_DEVID), msg.get(Tag.CALL_WRAPUP_DATA)) == (
        M.SET_CALL_DATA_REQ,
        "2000",
        "Sale",
    )
    for user, act in ((b, wrapup), (a, action("SEND_DTMF", "2000")), (a, action("DROP", "2000"))):
        err = requests.dialog_action(directory, 5000, dialog, act, user)
        assert isinstance(err, X.ErrorResponse) and err.status == 400
