"""Wrap-up and call data on the Finesse node core, fed with what the CTI stub's pure model says.

Finesse: "Finesse desktop users can enter a WrapUp reason during a call or while you are in WrapUp
state after the call ends"; "If wrap-up is enabled, an agent enters WORK_READY state after a call is
dropped"; Dialog—Update Call Variable Data: "the call variable name [...] is invalid or not
recognized, or there are duplicate call variable names": 400 Invalid Input.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cti_stub.events import agent_state_event, call_data_of, call_event
from cti_stub.model import AgentChange, Change, ControlError, DeskSettings, PeripheralModel
from emu_base.directory import generate
from finesse_emu.server import xml as X
from finesse_emu.server.core import CtiPurpose, Directory, SendToCti, views
from finesse_emu.server.cti.outputs import Unsolicited
from finesse_emu.server.model import FINESSE_STATE, FinesseModel
from ged188 import AgentState, MessageType, Tag, decode, encode, make, named_variable
from tests.unit.test_node_core import API, REASONS, Node, agent, publishes
from tests.unit.test_node_core_commands import requests_of

M = MessageType
WRAPUPS = [X.WrapUpReasonView(1, "Sales"), X.WrapUpReasonView(2, "Team Two Only", for_all=False)]


def node() -> Node:
    n = Node(agents=[agent("1000"), agent("1001")])
    directory = Directory("emu.test", n.agents, {1: "Team One"}, {5000: "Chat"}, REASONS, WRAPUPS)
    directory.wrapup_reason_teams[2] = {2}
    n.core.directory_loaded(n.now, directory)
    n.link_up(states={"1000": AgentState.AVAILABLE})
    n.take()
    return n


class Pg:
    """The CTI stub's model, its changes handed to the node as the wire carries them."""

    def __init__(self, n: Node) -> None:
        self.n = n
        self.model = PeripheralModel(generate(2), desk=DeskSettings("REQUIRED", "NOT_ALLOWED", 30.0))
        self.model.set_state(0.0, "1000", AgentState.LOGIN, extension="2000")
        self.model.set_state(0.0, "1000", AgentState.AVAILABLE)

    def feed(self, changes: list[Change]) -> None:
        for change in changes:
            if isinstance(change, AgentChange):
                msg = agent_state_event(change, 5000, None)
            else:
                msg = call_event(change, 5000, (100,))
            self.n.cti(Unsolicited(decode(encode(msg))))


def test_a_dropped_call_stays_for_the_wrap_up_and_offers_update_call_data() -> None:
    n = node()
    pg = Pg(n)
    call, changes = pg.model.offer_call(1.0, "1000", ani="5551234", dnis="8000")
    pg.feed(changes)
    pg.feed(pg.model.answer_call(2.0, call.call_id))
    dialog_id = str(call.call_id)
    actions = n.core.dialog_view(dialog_id).participants[0].actions
    assert "UPDATE_CALL_DATA" in actions and "DROP" in actions
    n.take()
    pg.feed(pg.model.end_call(3.0, call.call_id))
    out = n.take()
    assert n.core.user_view("1000").state == "WORK_READY"
    view = n.core.dialog_view(dialog_id)
    assert view.state == "DROPPED" and view.participants[0].actions == ("UPDATE_CALL_DATA",)
    # The user's WORK_READY, then the dialog's new action list, each published.
    [*_, user] = publishes(out, f"{API}/User/1000")
    assert "<state>WORK_READY</state>" in user.text
    [*_, last] = publishes(out, f"{API}/User/1000/Dialogs")
    assert "<action>UPDATE_CALL_DATA</action>" in last.text and "<state>DROPPED</state>" in last.text
    # The timer ends the wrap-up: READY, and the dialog goes.
    pg.feed(pg.model.wrapup_expired(33.0))
    out = n.take()
    assert n.core.user_view("1000").state == "READY" and dialog_id not in n.core.model.dialogs
    assert any("<event>DELETE</event>" in p.text for p in publishes(out, f"{API}/User/1000/Dialogs"))


def test_ready_or_not_ready_during_work_goes_to_the_cti_server_at_once() -> None:
    n = node()
    n.cti(
        Unsolicited(make(M.AGENT_STATE_EVENT, [(Tag.AGENT_ID, "1000")], AgentState=AgentState.WORK_NOT_READY))
    )
    update = X.UserUpdate(X.UserState.READY)
    assert n.core.change_user_state(n.now, n.agents[0], update, "r1", None) is None
    n.driver.pump()
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    assert request.message["AgentState"] == AgentState.AVAILABLE
    assert n.core.user_view("1000").pending_state == ""  # not pending: "changes [...] occur immediately"


def update_call_data(
    variables: tuple[tuple[str, str], ...] = (), wrap_up: str | None = None
) -> X.DialogAction:
    return X.DialogAction(
        X.DialogActionName.UPDATE_CALL_DATA,
        call_variables=tuple(X.CallVariable(k, v) for k, v in variables),
        wrap_up_reason=wrap_up,
    )


def talking(n: Node) -> tuple[Pg, str]:
    pg = Pg(n)
    call, changes = pg.model.offer_call(1.0, "1000")
    pg.feed(changes)
    pg.feed(pg.model.answer_call(2.0, call.call_id))
    n.take()
    return pg, str(call.call_id)


def test_update_call_data_is_a_set_call_data_req_and_its_event_updates_the_dialog() -> None:
    n = node()
    pg, dialog_id = talking(n)
    action = update_call_data((("callVariable3", "acct-9"), ("user.case", "C-1")), wrap_up="Sales")
    assert n.core.dialog_action(n.now, n.agents[0], dialog_id, action, "u1") is None
    n.driver.pump()
    [request] = [o for o in n.take() if isinstance(o, SendToCti)]
    msg = decode(encode(request.message))  # it goes on the wire as it is
    assert msg.type == M.SET_CALL_DATA_REQ and msg["ConnectionCallID"] == int(dialog_id)
    assert msg["NumNamedVariables"] == 1
    data = call_data_of(msg)
    assert data == {"callVariable3": "acct-9", "CallWrapupData": "Sales", "user.case": "C-1"}
    # The CTI server's CALL_DATA_UPDATE_EVENT: the dialog's mediaProperties, with the requestId.
    pg.feed(pg.model.update_call_data(int(dialog_id), data))
    [update] = publishes(n.take(), f"{API}/User/1000/Dialogs")
    assert "<requestId>u1</requestId>" in update.text
    assert "<wrapUpReason>Sales</wrapUpReason>" in update.text
    assert "<name>callVariable3</name><value>acct-9</value>" in update.text
    assert "<name>user.case</name><value>C-1</value>" in update.text
    assert named_variable("user.case", "C-1").endswith(b"\0")


def test_update_call_data_refusals_are_invalid_input() -> None:
    n = node()
    _, dialog_id = talking(n)
    bad = {
        "unknown wrap-up reason": update_call_data(wrap_up="Nope"),
        "another team's wrap-up reason": update_call_data(wrap_up="Team Two Only"),
        "too long": update_call_data((("callVariable1", "x" * 41),)),
        "not ASCII": update_call_data((("callVariable1", "caf\u00e9"),)),
        "unknown name": update_call_data((("callVariable11", "x"),)),
        "duplicate": update_call_data((("callVariable1", "a"), ("callVariable1", "b"))),
    }
    for why, action in bad.items():
        refused = n.core.dialog_action(n.now, n.agents[0], dialog_id, action, "")
        assert refused is not None and (refused.status, refused.errors[0].error_type) == (
            400,
            "Invalid Input",
        ), why
    n.driver.pump()
    assert not [o for o in n.take() if isinstance(o, SendToCti)]  # nothing reached the CTI server
    # Forty bytes is the limit, not over it.
    ok = update_call_data((("callVariable1", "x" * 40),))
    assert n.core.dialog_action(n.now, n.agents[0], dialog_id, ok, "") is None


def dtmf(digits: str) -> X.DialogAction:
    return X.DialogAction(
        X.DialogActionName.SEND_DTMF, "2000", action_params=(X.ActionParam("dtmfString", digits),)
    )


def test_send_dtmf_goes_as_send_dtmf_signal_req_only_while_active() -> None:
    n = node()
    pg = Pg(n)
    call, changes = pg.model.offer_call(1.0, "1000")
    pg.feed(changes)
    dialog_id = str(call.call_id)
    refused = n.core.dialog_action(n.now, n.agents[0], dialog_id, dtmf("1"), "")
    assert refused is not None and (refused.status, refused.errors[0].error_type) == (400, "Invalid State")
    pg.feed(pg.model.answer_call(2.0, call.call_id))
    for bad in ("", "12x", "1 2", "1" * 32):
        refused = n.core.dialog_action(n.now, n.agents[0], dialog_id, dtmf(bad), "")
        assert refused is not None and (refused.status, refused.errors[0].error_data) == (
            400,
            "dtmfString",
        ), bad
    n.take()
    assert n.core.dialog_action(n.now, n.agents[0], dialog_id, dtmf("0123456789*#ABCD"), "t1") is None
    n.driver.pump()
    [request] = [o for o in n.take() if isinstance(o, SendToCti)]
    msg = decode(encode(request.message))
    assert msg.type == M.SEND_DTMF_SIGNAL_REQ and msg.get_str(Tag.DTMF_STRING) == "0123456789*#ABCD"
    assert msg["ConnectionCallID"] == call.call_id and msg.get_str(Tag.CONNECTION_DEVID) == "2000"
    # DTMF changes no dialog: the next dialog event is not this request's.
    assert n.core.model.dialogs[dialog_id].request_id == ""


# -- the node mirrors the CTI server through wrap-ups (property) ------------------------------------
OPS = st.lists(
    st.sampled_from(["offer", "answer", "end", "ready", "not_ready", "data", "tick", "lost"]), max_size=30
)


@settings(max_examples=120, deadline=None)
@given(OPS, st.sampled_from(["REQUIRED", "REQUIRED_WITH_WRAP_UP_DATA", "OPTIONAL", "NOT_ALLOWED"]))
def test_the_node_model_mirrors_the_cti_server_through_wrap_ups(ops: list[str], mode: str) -> None:
    """Whatever the CTI server does, the node's user state is the agent's, it holds a dialog for
    each call the server still holds (a wrapped-up one DROPPED, offering only UPDATE_CALL_DATA), and
    none once every wrap-up has ended."""
    pg = PeripheralModel(generate(2), desk=DeskSettings(mode, mode, 30.0))
    node = FinesseModel()
    now = 1.0

    def feed(changes: list[Change]) -> None:
        for change in changes:
            if isinstance(change, AgentChange):
                msg = agent_state_event(change, 5000, None)
            else:
                msg = call_event(change, 5000, (100,))
            node.apply(now, decode(encode(msg)))

    feed(pg.set_state(now, "1000", AgentState.LOGIN, extension="2000", controller=1))
    feed(pg.set_state(now, "1000", AgentState.AVAILABLE))
    for op in ops:
        now += 7.0
        agent = pg.agents["1000"]
        try:
            if op == "offer":
                feed(pg.offer_call(now, "1000")[1])
            elif op == "answer" and agent.call_ids:
                feed(pg.answer_call(now, agent.call_ids[0]))
            elif op == "end" and agent.call_ids:
                feed(pg.end_call(now, agent.call_ids[0]))
            elif op in ("ready", "not_ready"):
                state = AgentState.AVAILABLE if op == "ready" else AgentState.NOT_READY
                feed(pg.set_state(now, "1000", state, 7))
            elif op == "data" and agent.wrapup_call is not None:
                feed(pg.update_call_data(agent.wrapup_call, {"CallWrapupData": "Sale"}))
            elif op == "tick":
                feed(pg.wrapup_expired(now))
            elif op == "lost":
                feed(pg.client_lost(now, 1))
        except ControlError:
            pass
        user = node.user("1000")
        assert user.state == FINESSE_STATE[agent.state]
        assert set(node.dialogs) == {str(c) for c in pg.calls}
        for dialog_id, dialog in node.dialogs.items():
            wrapped_up = pg.calls[int(dialog_id)].phase == "ended"
            assert (dialog.state == "DROPPED") == wrapped_up
            if wrapped_up:
                view = views.dialog_view(node, dialog_id)
                assert view.participants[0].actions == ("UPDATE_CALL_DATA",)
    now += 31.0
    feed(pg.wrapup_expired(now))
    assert set(node.dialogs) == {str(c) for c in pg.calls if pg.calls[c].phase != "ended"}
    assert node.user("1000").state not in ("WORK", "WORK_READY")
