"""Finesse's service status and its user/dialog model, fed with the CTI stub core's real events."""

from __future__ import annotations

from cti_stub.core import CoreConfig, CtiServerCore, Send
from cti_stub.model import PeripheralModel
from emu_base.directory import CHAT_AND_EMAIL, generate
from finesse_emu.server.model import DialogChange, FinesseModel, MediaChange, UserChange
from finesse_emu.server.status import Dependency, ServiceState, ServiceStatus
from ged188 import AgentState, FrameDecoder, Message, decode_body, encode
from tests.unit.test_cti_core import open_req


def test_status_needs_every_dependency_and_reports_why() -> None:
    s = ServiceState(now=0)
    assert s.status is ServiceStatus.OUT_OF_SERVICE and s.reason == "Finesse is starting"
    assert s.up(Dependency.CTI, 1) is None
    change = s.up(Dependency.NOTIFICATION, 2)
    assert change is not None and change.status is ServiceStatus.IN_SERVICE and not change.republish
    change = s.down(Dependency.CTI, 3)
    assert change is not None and change.status is ServiceStatus.OUT_OF_SERVICE
    assert change.reason == "CTI server connection lost"
    assert s.down(Dependency.WEBAPP, 4) is None  # already out of service: no new transition
    assert s.reason == "CTI server connection lost; Finesse web application unavailable"
    assert s.up(Dependency.CTI, 5) is None
    change = s.up(Dependency.WEBAPP, 6)
    assert change is not None and change.republish and s.since == 6 and s.transitions == 3


def test_tomcat_and_the_rest_api_are_two_dependencies() -> None:
    """Two of the chapter's desktop failover reasons: either takes the node OUT_OF_SERVICE on its
    own, and the node comes back only when both are back."""
    s = ServiceState(now=0)
    s.up(Dependency.CTI, 1)
    s.up(Dependency.NOTIFICATION, 1)
    change = s.down(Dependency.REST_API, 2)
    assert change is not None and change.reason == "Finesse REST API service unavailable"
    s.down(Dependency.WEBAPP, 3)
    assert s.up(Dependency.REST_API, 4) is None  # Tomcat still down
    assert s.reason == "Finesse web application unavailable"
    change = s.up(Dependency.WEBAPP, 5)
    assert change is not None and change.status is ServiceStatus.IN_SERVICE


class Pipe:
    """CTI stub core -> bytes -> decoded messages -> Finesse model."""

    def __init__(self) -> None:
        self.pg = PeripheralModel(generate(4, non_voice_mrds=CHAT_AND_EMAIL))
        self.core = CtiServerCore(self.pg, CoreConfig())
        self.core.become_active(0, "test", takeover=False)
        self.sid = self.core.open_session(0)
        self.core.data_received(0, self.sid, encode(open_req()))
        self.finesse = FinesseModel()
        self.now = 100.0
        self.drain()

    def drain(self) -> list[object]:
        dec = FrameDecoder()
        for out in self.core.outputs():
            if isinstance(out, Send) and out.sid == self.sid:
                dec.feed(out.data)
        changes: list[object] = []
        while (frame := dec.next_frame()) is not None:
            msg: Message = decode_body(frame[0], frame[1])
            changes += self.finesse.apply(self.now, msg)
        return changes


def test_agent_state_events_become_user_changes() -> None:
    p = Pipe()
    p.core.admin_set_state(p.now, "1000", AgentState.LOGIN, 0, extension="2000")
    p.finesse.user("1000").request_id = "req-1"
    changes = p.drain()
    assert changes[0] == UserChange("1000", "req-1")  # LOGIN itself is skipped; NOT_READY carries the id
    user = p.finesse.users["1000"]
    assert (user.state, user.extension) == ("NOT_READY", "2000")
    assert {c.mrd for c in changes if isinstance(c, MediaChange)} == {5000, 5001}
    p.core.admin_set_state(p.now, "1000", AgentState.AVAILABLE, 0)
    assert p.drain() == [UserChange("1000", "")]
    assert user.state == "READY" and user.reason_code == 0
    p.core.admin_set_state(p.now, "1000", AgentState.NOT_READY, 32)
    p.drain()
    assert (user.state, user.reason_code) == ("NOT_READY", 32)
    p.core.admin_set_state(p.now, "1000", AgentState.LOGOUT, 5)
    p.drain()
    assert (user.state, user.extension, user.reason_code) == ("LOGOUT", "", 5)


def test_call_events_become_dialogs() -> None:
    p = Pipe()
    p.core.admin_set_state(p.now, "1001", AgentState.LOGIN, 0, extension="2001")
    p.core.admin_set_state(p.now, "1001", AgentState.AVAILABLE, 0)
    p.drain()
    call_id = p.core.inject_call(p.now, "1001", ani="5551000", dnis="8000", variables={"callVariable2": "v2"})
    changes = p.drain()
    dialog_id = str(call_id)
    assert DialogChange(dialog_id, "1001", "POST") in changes
    dialog = p.finesse.dialogs[dialog_id]
    assert (dialog.state, dialog.from_address, dialog.to_address) == ("ALERTING", "5551000", "8000")
    assert dialog.variables == {"callVariable2": "v2"}
    assert p.finesse.users["1001"].state == "RESERVED"
    p.core.answer_call(p.now, call_id)
    assert DialogChange(dialog_id, "1001", "PUT") in p.drain()
    assert dialog.state == "ACTIVE" and p.finesse.users["1001"].state == "TALKING"
    p.core.update_call_data(p.now, call_id, {"callVariable1": "acct"})
    assert p.drain() == [DialogChange(dialog_id, "1001", "PUT")]
    assert dialog.variables["callVariable1"] == "acct"
    p.core.end_call(p.now, call_id)
    changes = p.drain()
    assert changes[-1] == DialogChange(dialog_id, "1001", "DELETE")
    assert dialog_id not in p.finesse.dialogs and p.finesse.users["1001"].state == "READY"


def test_republish_after_failover_deletes_calls_that_ended_meanwhile() -> None:
    p = Pipe()
    for agent, ext in (("1000", "2000"), ("1001", "2001")):
        p.core.admin_set_state(p.now, agent, AgentState.LOGIN, 0, extension=ext)
        p.core.admin_set_state(p.now, agent, AgentState.AVAILABLE, 0)
    ended = p.core.inject_call(p.now, "1000")
    kept = p.core.inject_call(p.now, "1001")
    p.core.answer_call(p.now, kept)
    p.drain()
    p.finesse.cti_lost()
    # During the outage the first call ends; no session hears it.
    p.core.session_lost(p.now, p.sid)
    p.core.outputs()
    p.core.end_call(p.now, ended)
    p.core.outputs()
    # Reconnect: the CTI server announces the call still in progress.

    p.sid = p.core.open_session(p.now)
    p.core.data_received(p.now, p.sid, encode(open_req()))
    p.drain()
    changes = p.finesse.republish()
    assert DialogChange(str(ended), "1000", "DELETE") in changes
    assert DialogChange(str(kept), "1001", "PUT") in changes
    assert UserChange("1000") in changes and UserChange("1001") in changes
    assert str(ended) not in p.finesse.dialogs and not p.finesse.dialogs[str(kept)].stale


def test_query_resync_updates_state() -> None:
    from ged188 import MessageType, Tag, make

    f = FinesseModel()
    conf = make(
        MessageType.QUERY_AGENT_STATE_CONF, [(Tag.AGENT_EXTENSION, "2003")], AgentState=AgentState.AVAILABLE
    )
    assert f.apply_query(5, "1003", conf) == [UserChange("1003")]
    assert (f.users["1003"].state, f.users["1003"].extension) == ("READY", "2003")
    assert f.apply_query(6, "1003", conf) == []


def test_pending_states_are_lost_with_the_cti_link_and_at_a_sign_in_again() -> None:
    """Chapter "Finesse Failover Mechanisms": "The pending state change is lost during the failover,
    as the agent will be logged out, and logged in again." """
    f = FinesseModel()
    for user_id in ("1000", "1001"):
        f.user(user_id).state, f.user(user_id).pending_state = "TALKING", "NOT_READY"
    f.signed_in_again("1000")
    assert (f.users["1000"].pending_state, f.users["1001"].pending_state) == ("", "NOT_READY")
    f.cti_lost()
    assert f.users["1001"].pending_state == ""
    assert UserChange("1001") in f.republish()  # the last state, without it, goes out again
