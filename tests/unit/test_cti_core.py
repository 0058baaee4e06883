"""The CTI Server core, driven with bytes and explicit times (no sockets)."""

from __future__ import annotations

import pytest

from cti_stub.core import Close, CoreConfig, CtiServerCore, IdleMode, Notice, Replicate, Role, Send
from cti_stub.model import PeripheralModel
from emu_base.directory import CHAT_AND_EMAIL, generate
from ged188 import (
    AgentState,
    ArmError,
    FrameDecoder,
    MediaAction,
    Message,
    MessageType,
    ReasonCode,
    Service,
    Status,
    Tag,
    decode_body,
    encode,
    make,
)

M = MessageType
FINESSE_SERVICES = Service.ALL_EVENTS | Service.CLIENT_CONTROL | Service.CALL_DATA_UPDATE


def open_req(version: int = 24, services: int = FINESSE_SERVICES, idle: int = 20, **extra: int) -> Message:
    fields = {
        "InvokeID": 1,
        "VersionNumber": version,
        "IdleTimeout": idle,
        "PeripheralID": 0xFFFFFFFF,
        "ServicesRequested": services,
        "CallMsgMask": 0xFFFFFFFF,
        "AgentStateMask": 0x3FFF,
        **extra,
    }
    return make(M.OPEN_REQ, [(Tag.CLIENT_ID, "Finesse"), (Tag.CLIENT_PASSWORD, b"")], **fields)


class Harness:
    def __init__(
        self,
        role: Role = Role.ACTIVE,
        idle_mode: IdleMode = IdleMode.NOT_LISTENING,
        load: int = 0,
        mrd_auto_restore: bool = False,
    ):
        self.model = PeripheralModel(generate(5, non_voice_mrds=CHAT_AND_EMAIL), load=load)
        config = CoreConfig(idle_mode=idle_mode, idle_scan_interval=0.0, mrd_auto_restore=mrd_auto_restore)
        self.core = CtiServerCore(self.model, config)
        if role is Role.ACTIVE:
            self.core.become_active(0.0, "test", takeover=False)
        elif role is Role.IDLE:
            self.core.become_idle(0.0, "test")
        self.core.outputs()
        self.now = 1000.0

    def connect(self) -> int:
        return self.core.open_session(self.now, "test")

    def send(self, sid: int, msg: Message | bytes, version: int = 24) -> list[Message]:
        data = msg if isinstance(msg, bytes) else encode(msg, version)
        self.core.data_received(self.now, sid, data)
        return self.received(sid, version)

    def received(self, sid: int, version: int = 24) -> list[Message]:
        dec = FrameDecoder()
        for out in self.core.outputs():
            if isinstance(out, Send) and out.sid == sid:
                dec.feed(out.data)
        msgs = []
        while (frame := dec.next_frame()) is not None:
            msgs.append(decode_body(frame[0], frame[1], version))
        return msgs

    def opened(self, version: int = 24) -> int:
        sid = self.connect()
        replies = self.send(sid, open_req(version), version)
        assert [m.type for m in replies] == [M.OPEN_CONF, M.SYSTEM_EVENT]
        return sid

    def login(self, sid: int, agent_id: str = "1000", ext: str = "2000") -> list[Message]:
        req = make(
            M.SET_AGENT_STATE_REQ,
            [
                (Tag.AGENT_INSTRUMENT, ext),
                (Tag.AGENT_ID, agent_id),
                (Tag.AGENT_PASSWORD, f"pass{agent_id}".encode()),
            ],
            InvokeID=7,
            AgentState=AgentState.LOGIN,
        )
        return self.send(sid, req)

    def set_state(self, sid: int, agent_id: str, state: AgentState, reason: int = 0) -> list[Message]:
        req = make(
            M.SET_AGENT_STATE_REQ,
            [(Tag.AGENT_ID, agent_id)],
            InvokeID=8,
            AgentState=state,
            EventReasonCode=reason,
        )
        return self.send(sid, req)


def test_open_conf_fields_and_system_event() -> None:
    h = Harness()
    sid = h.connect()
    conf, sysev = h.send(sid, open_req())
    assert conf.type == M.OPEN_CONF
    assert conf["InvokeID"] == 1
    assert conf["ServicesGranted"] == FINESSE_SERVICES
    assert conf["PGStatus"] == 0
    assert conf["PeripheralOnline"] == 1
    assert conf["PeripheralType"] == 17
    assert conf["SessionType"] == 1
    assert conf.get(Tag.NUM_PERIPHERALS) == 1
    assert conf.get(Tag.FLT_PERIPHERAL_ID) == 5000
    assert sysev["SystemEventID"] == 3 and sysev["SystemEventArg1"] == 5000


def test_heartbeat_echoes_invoke_id() -> None:
    h = Harness()
    sid = h.opened()
    (conf,) = h.send(sid, make(M.HEARTBEAT_REQ, InvokeID=0xDEADBEEF))
    assert conf.type == M.HEARTBEAT_CONF and conf["InvokeID"] == 0xDEADBEEF


def test_open_rejections_use_documented_status_codes() -> None:
    cases = [
        (open_req(version=8), Status.E_CTI_INVALID_VERSION),
        (open_req(version=26), Status.E_CTI_INVALID_VERSION),
        (open_req(idle=19), Status.E_CTI_INVALID_TIMEOUT),
        (open_req(Reserved2=1), Status.E_CTI_INVALID_RESERVED_FIELD),
        (open_req(services=0x00004000), Status.E_CTI_INVALID_SERVICE_MASK),
        (open_req(services=Service.CLIENT_EVENTS), Status.E_CTI_REQUIRED_DATA_MISSING),
        (
            make(M.OPEN_REQ, [(Tag.CLIENT_ID, "x")], InvokeID=1, VersionNumber=24, IdleTimeout=20),
            Status.E_CTI_REQUIRED_DATA_MISSING,
        ),
    ]
    for req, status in cases:
        h = Harness()
        sid = h.connect()
        version = req["VersionNumber"] if 9 <= req["VersionNumber"] <= 25 else 24
        (fail,) = h.send(sid, req, version)
        assert fail.type == M.FAILURE_CONF, req
        assert fail["Status"] == status, (req, Status(fail["Status"]))
        assert sid not in h.core.sessions


def test_disabled_idle_timeout_and_undocumented_service_bits_are_accepted() -> None:
    h = Harness()
    sid = h.connect()
    replies = h.send(sid, open_req(idle=0xFFFFFFFF, services=0x001C0296))
    assert replies[0].type == M.OPEN_CONF
    assert h.core.sessions[sid].idle_timeout is None


def test_request_before_open_and_second_open() -> None:
    h = Harness()
    sid = h.connect()
    (fail,) = h.send(sid, make(M.HEARTBEAT_REQ, InvokeID=3))
    assert (fail.type, fail["InvokeID"], fail["Status"]) == (M.FAILURE_CONF, 3, Status.E_CTI_SESSION_NOT_OPEN)
    h.send(sid, open_req())
    (fail,) = h.send(sid, open_req())
    assert fail["Status"] == Status.E_CTI_SESSION_ALREADY_OPEN
    assert sid in h.core.sessions  # the first session is still good


def test_unknown_and_unsupported_message_types() -> None:
    h = Harness()
    sid = h.opened()
    (fail,) = h.send(sid, (4).to_bytes(4, "big") + (999).to_bytes(4, "big") + (42).to_bytes(4, "big"))
    assert (fail["InvokeID"], fail["Status"]) == (42, Status.E_CTI_INVALID_MSG_TYPE_FOR_VERSION)
    (fail,) = h.send(
        sid, (4).to_bytes(4, "big") + int(M.DEFLECT_CALL_REQ).to_bytes(4, "big") + (43).to_bytes(4, "big")
    )
    assert (fail["InvokeID"], fail["Status"]) == (43, Status.E_CTI_FUNCTION_NOT_AVAILABLE)


def test_oversized_length_closes_only_that_session() -> None:
    h = Harness()
    bad, good = h.opened(), h.opened()
    h.core.data_received(h.now, bad, (12493).to_bytes(4, "big") + (5).to_bytes(4, "big"))
    outs = h.core.outputs()
    assert any(isinstance(o, Close) and o.sid == bad for o in outs)
    assert any(isinstance(o, Notice) and o.event == "cti_bad_frame" for o in outs)
    sent = [o for o in outs if isinstance(o, Send) and o.sid == bad]
    assert decode_body(M.FAILURE_EVENT, sent[0].data[8:])["Status"] == Status.E_CTI_INVALID_MESSAGE_LENGTH
    (conf,) = h.send(good, make(M.HEARTBEAT_REQ, InvokeID=1))
    assert conf.type == M.HEARTBEAT_CONF


def test_short_fixed_part_gets_failure_conf_and_session_survives() -> None:
    h = Harness()
    sid = h.opened()
    (fail,) = h.send(sid, (6).to_bytes(4, "big") + int(M.SET_AGENT_STATE_REQ).to_bytes(4, "big") + bytes(6))
    assert fail["Status"] == Status.E_CTI_INVALID_MESSAGE_LENGTH
    (conf,) = h.send(sid, make(M.HEARTBEAT_REQ, InvokeID=2))
    assert conf.type == M.HEARTBEAT_CONF


def test_idle_timeout_resets_the_session_and_applies_load() -> None:
    h = Harness()
    sid = h.opened()
    h.login(sid)
    h.now += 19.9
    h.core.handle_timer(h.now)
    assert sid in h.core.sessions
    h.now += 0.2
    h.core.handle_timer(h.now)
    assert sid not in h.core.sessions
    agent = h.model.agents["1000"]
    assert (agent.state, agent.reason_code) == (AgentState.NOT_READY, ReasonCode.CONNECTION_FAILURE)


def test_timers_are_one_deadline() -> None:
    """The idle scan runs while there are sessions; an injected call's steps only while active."""
    model = PeripheralModel(generate(5))
    core = CtiServerCore(model, CoreConfig(idle_scan_interval=1.0))
    assert core.next_deadline() is None
    core.become_active(0.0, "test", takeover=False)
    sid = core.open_session(10.0, "test")
    assert core.next_deadline() == 0.0  # never scanned yet: due at once
    core.handle_timer(10.0)
    assert core.next_deadline() == 11.0
    core.admin_set_state(10.0, "1000", AgentState.LOGIN, 0, extension="2000")
    core.admin_set_state(10.0, "1000", AgentState.AVAILABLE, 0)
    core.session_lost(10.5, sid)
    call_id = core.inject_call(10.5, "1000", answer_after=2.0, talk_time=3.0)

    def phase() -> str:
        return model.calls[call_id].phase

    assert core.next_deadline() == 12.5
    core.handle_timer(12.5)
    assert phase() == "talking"
    assert core.next_deadline() == 15.5
    core.become_idle(13.0, "test")
    assert core.next_deadline() is None  # the active side progresses calls, not this one
    core.become_active(14.0, "back", takeover=False)
    assert core.next_deadline() == 15.5  # the replicated call goes on where it was left
    core.handle_timer(15.5)
    assert call_id not in model.calls  # ended
    assert core.next_deadline() is None


def test_login_ready_not_ready_events() -> None:
    h = Harness()
    sid = h.opened()
    replies = h.login(sid)
    assert replies[0].type == M.SET_AGENT_STATE_CONF and replies[0]["InvokeID"] == 7
    states = [m["AgentState"] for m in replies[1:] if m["MRDID"] == 1]
    assert states == [AgentState.LOGIN, AgentState.NOT_READY]
    event = replies[1]
    assert event.get(Tag.AGENT_ID) == "1000" and event.get(Tag.AGENT_EXTENSION) == "2000"
    assert event.get(Tag.CLIENT_SIGNATURE) == "Finesse"
    replies = h.set_state(sid, "1000", AgentState.AVAILABLE)
    assert [m.type for m in replies] == [M.SET_AGENT_STATE_CONF, M.AGENT_STATE_EVENT]
    assert replies[1]["AgentState"] == AgentState.AVAILABLE
    replies = h.set_state(sid, "1000", AgentState.NOT_READY, reason=42)
    assert (replies[1]["AgentState"], replies[1]["EventReasonCode"]) == (AgentState.NOT_READY, 42)


def test_agent_control_failures() -> None:
    h = Harness()
    sid = h.opened()
    (fail,) = h.set_state(sid, "1000", AgentState.AVAILABLE)
    assert (fail.type, fail["Status"]) == (M.FAILURE_CONF, Status.E_CTI_AGENT_NOT_LOGGED_ON)
    (fail,) = h.set_state(sid, "nobody", AgentState.AVAILABLE)
    assert (fail.type, fail["FailureCode"]) == (M.CONTROL_FAILURE_CONF, 256)
    req = make(
        M.SET_AGENT_STATE_REQ,
        [(Tag.AGENT_INSTRUMENT, "2000"), (Tag.AGENT_ID, "1000"), (Tag.AGENT_PASSWORD, b"wrong")],
        InvokeID=9,
        AgentState=AgentState.LOGIN,
    )
    (fail,) = h.send(sid, req)
    assert (fail.type, fail["FailureCode"]) == (M.CONTROL_FAILURE_CONF, 257)
    h.login(sid, "1000", "2000")
    (fail,) = h.login(sid, "1001", "2000")
    assert (fail.type, fail["Status"]) == (M.FAILURE_CONF, Status.E_CTI_DEVICE_IN_USE)


def test_query_agent_state() -> None:
    h = Harness()
    sid = h.opened()
    h.login(sid)
    (conf,) = h.send(sid, make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, "1000")], InvokeID=5, MRDID=1))
    assert conf.type == M.QUERY_AGENT_STATE_CONF
    assert (conf["InvokeID"], conf["AgentState"], conf["NumSkillGroups"]) == (5, AgentState.NOT_READY, 1)
    assert conf.get(Tag.AGENT_EXTENSION) == "2000"
    assert conf.get_all(Tag.SKILL_GROUP_NUMBER) == [101]


def test_agent_state_mask_filters_events() -> None:
    h = Harness()
    sid = h.connect()
    h.send(sid, open_req(AgentStateMask=0x8))  # AVAILABLE only
    h.login(sid)
    replies = h.set_state(sid, "1000", AgentState.AVAILABLE)
    assert [m["AgentState"] for m in replies if m.type == M.AGENT_STATE_EVENT] == [AgentState.AVAILABLE]


def test_injected_call_event_sequence_and_pending_state() -> None:
    h = Harness()
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", AgentState.AVAILABLE)
    call_id = h.core.inject_call(
        h.now, "1000", ani="5551234", dnis="8000", variables={"callVariable1": "acct-7"}
    )
    msgs = h.received(sid)
    assert [m.type for m in msgs] == [M.BEGIN_CALL_EVENT, M.CALL_DELIVERED_EVENT, M.AGENT_STATE_EVENT]
    assert msgs[0]["ConnectionCallID"] == call_id
    assert msgs[0].get(Tag.CALL_VAR_1) == "acct-7" and msgs[1].get(Tag.ANI) == "5551234"
    h.core.answer_call(h.now, call_id)
    msgs = h.received(sid)
    assert [m.type for m in msgs] == [M.CALL_ESTABLISHED_EVENT, M.AGENT_STATE_EVENT]
    assert msgs[1]["AgentState"] == AgentState.TALKING
    # NOT_READY during the call is pending: applied when the call ends.
    replies = h.set_state(sid, "1000", AgentState.NOT_READY, reason=7)
    assert [m["AgentState"] for m in replies if m.type == M.AGENT_STATE_EVENT] == [AgentState.TALKING]
    h.core.end_call(h.now, call_id)
    msgs = h.received(sid)
    assert [m.type for m in msgs] == [
        M.CALL_CONNECTION_CLEARED_EVENT,  # the agent's connection
        M.CALL_CONNECTION_CLEARED_EVENT,  # the caller's: every connection of an ended call clears
        M.CALL_CLEARED_EVENT,
        M.AGENT_STATE_EVENT,
        M.END_CALL_EVENT,
    ]
    assert [m.get(Tag.CONNECTION_DEVID) for m in msgs[:2]] == ["2000", "5551234"]
    assert (msgs[3]["AgentState"], msgs[3]["EventReasonCode"]) == (AgentState.NOT_READY, 7)


def test_call_progresses_by_itself_when_scheduled() -> None:
    h = Harness()
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", AgentState.AVAILABLE)
    h.core.inject_call(h.now, "1000", answer_after=2.0, talk_time=10.0)
    h.received(sid)
    h.now += 2.0
    h.core.handle_timer(h.now)
    assert M.CALL_ESTABLISHED_EVENT in [m.type for m in h.received(sid)]
    h.now += 10.0
    h.core.handle_timer(h.now)
    assert M.END_CALL_EVENT in [m.type for m in h.received(sid)]
    assert h.model.agents["1000"].state is AgentState.AVAILABLE


def test_client_loss_load0_not_ready_and_non_voice_work() -> None:
    """ "If agent is in Not Ready State before Failover, agent moves to Not Ready — Connection
    Failure after CTI Disconnect or Reconnect." """
    h = Harness(load=0)
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", AgentState.NOT_READY, reason=7)
    h.core.session_lost(h.now, sid)
    agent = h.model.agents["1000"]
    assert (agent.state, agent.reason_code) == (AgentState.NOT_READY, 50002)
    assert set(agent.mrd_states.values()) == {AgentState.WORK_NOT_READY}


def test_client_loss_load0_ready_agent_fails_at_its_next_not_ready() -> None:
    """ "If agent is in Ready State before Failover, agent moves to Not Ready — Connection Failure
    upon his next state change to Not Ready." """
    h = Harness(load=0)
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", AgentState.AVAILABLE)
    h.core.session_lost(h.now, sid)
    agent = h.model.agents["1000"]
    assert agent.state is AgentState.AVAILABLE
    sid2 = h.connect()  # Finesse reconnects
    h.send(sid2, open_req(24))
    h.set_state(sid2, "1000", AgentState.NOT_READY, reason=7)
    assert (agent.state, agent.reason_code) == (AgentState.NOT_READY, 50002)
    # Once only: the next Not Ready keeps the reason asked for.
    h.set_state(sid2, "1000", AgentState.AVAILABLE)
    h.set_state(sid2, "1000", AgentState.NOT_READY, reason=7)
    assert (agent.state, agent.reason_code) == (AgentState.NOT_READY, 7)


def test_pg_side_switch_is_a_cti_disconnect_for_the_agents() -> None:
    """A PG side switch (the idle side taking over) applies the same rule as a dropped session."""
    h = Harness(load=0)
    sid = h.opened()
    h.login(sid, "1000", "9000")
    h.login(sid, "1001", "9001")
    h.set_state(sid, "1000", AgentState.NOT_READY, reason=7)
    h.set_state(sid, "1001", AgentState.AVAILABLE)
    idle = CtiServerCore(PeripheralModel(generate(5), load=0), CoreConfig(side="B"))
    idle.become_idle(h.now, "test")
    idle.apply_replica(h.now, h.core.snapshot())
    idle.become_active(h.now, "peer lost", takeover=True)
    nr, ready = idle.model.agents["1000"], idle.model.agents["1001"]
    assert (nr.state, nr.reason_code) == (AgentState.NOT_READY, 50002)
    assert ready.state is AgentState.AVAILABLE and ready.connection_failure_next
    idle.admin_set_state(h.now, "1001", AgentState.NOT_READY, 7)
    assert (ready.state, ready.reason_code) == (AgentState.NOT_READY, 50002)


def test_pending_state_is_lost_when_the_desktop_signs_in_again() -> None:
    """ "The pending state change is lost during the failover, as the agent will be logged out, and
    logged in again." The PG's own Connection Failure after a call is not a pending request."""
    h = Harness(load=0)
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", AgentState.AVAILABLE)
    call_id = h.core.inject_call(h.now, "1000")
    h.core.answer_call(h.now, call_id)
    h.set_state(sid, "1000", AgentState.NOT_READY, reason=7)
    agent = h.model.agents["1000"]
    assert agent.pending == (AgentState.NOT_READY, 7)
    h.login(sid)  # the desktop, failed over, signs in again on the same extension
    assert agent.pending is None
    h.core.end_call(h.now, call_id)
    assert agent.state is AgentState.AVAILABLE


def test_client_loss_load1_logs_out_even_on_a_call() -> None:
    h = Harness(load=1)
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", AgentState.AVAILABLE)
    call_id = h.core.inject_call(h.now, "1000")
    h.core.answer_call(h.now, call_id)
    h.core.session_lost(h.now, sid)
    agent = h.model.agents["1000"]
    assert (agent.state, agent.reason_code) == (AgentState.LOGOUT, 50002)


def test_client_loss_load0_talking_agent_goes_not_ready_after_the_call() -> None:
    h = Harness(load=0)
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", AgentState.AVAILABLE)
    call_id = h.core.inject_call(h.now, "1000")
    h.core.answer_call(h.now, call_id)
    h.core.session_lost(h.now, sid)
    assert h.model.agents["1000"].state is AgentState.TALKING
    h.core.end_call(h.now, call_id)
    agent = h.model.agents["1000"]
    assert (agent.state, agent.reason_code) == (AgentState.NOT_READY, 50002)


def test_graceful_close_keeps_agent_state() -> None:
    h = Harness()
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", AgentState.AVAILABLE)
    (conf,) = h.send(sid, make(M.CLOSE_REQ, InvokeID=11, Status=0))
    assert (conf.type, conf["InvokeID"]) == (M.CLOSE_CONF, 11)
    assert sid not in h.core.sessions
    assert h.model.agents["1000"].state is AgentState.AVAILABLE


def test_idle_side_refuses_open_and_standby_mode() -> None:
    h = Harness(role=Role.IDLE)
    sid = h.connect()
    (fail,) = h.send(sid, open_req())
    assert fail["Status"] == Status.E_CTI_CTI_SERVER_OFFLINE
    h = Harness(role=Role.IDLE, idle_mode=IdleMode.STANDBY)
    sid = h.connect()
    (fail,) = h.send(sid, open_req(version=23), 23)
    assert fail["Status"] == Status.E_CTI_CTI_SERVER_OFFLINE
    sid = h.connect()
    (fail,) = h.send(sid, open_req(version=24))
    assert fail["Status"] == Status.E_CTI_INVALID_CLIENT_FOR_STANDBY
    sid = h.connect()
    conf, _ = h.send(sid, open_req(services=FINESSE_SERVICES | Service.ACTIVE_STANDBY))
    assert conf["SessionType"] == 2
    (fail,) = h.set_state(sid, "1000", AgentState.AVAILABLE)
    assert fail["Status"] == Status.E_CTI_FUNCTION_NOT_AVAILABLE
    h.core.become_active(h.now, "test", takeover=True)
    assert [m.type for m in h.received(sid)] == [M.STANDBY_ACTIVE_EVENT_MSG]


def test_going_idle_closes_every_session() -> None:
    h = Harness()
    a, b = h.opened(), h.opened()
    h.core.become_idle(h.now, "deactivated")
    closed = {o.sid for o in h.core.outputs() if isinstance(o, Close)}
    assert closed == {a, b}
    assert h.core.role is Role.IDLE


def test_replication_snapshot_restores_agents_on_the_other_side() -> None:
    active = Harness()
    sid = active.opened()
    active.login(sid, "1002", "2002")
    active.set_state(sid, "1002", AgentState.AVAILABLE)
    idle = Harness(role=Role.IDLE)
    idle.core.apply_replica(idle.now, active.core.snapshot())
    agent = idle.model.agents["1002"]
    assert (agent.state, agent.extension) == (AgentState.AVAILABLE, "2002")
    active.core.admin_set_state(active.now, "1002", AgentState.NOT_READY, 3)
    for out in active.core.outputs():
        if isinstance(out, Replicate):
            idle.core.apply_replica(idle.now, out.payload)
    assert (agent.state, agent.reason_code) == (AgentState.NOT_READY, 3)
    # An active side ignores replicas (split-brain guard).
    active.core.apply_replica(active.now, {"t": "agent", "agent": {**agent.to_json(), "state": "LOGOUT"}})
    assert active.model.agents["1002"].state is AgentState.NOT_READY


def test_silent_and_failing_heartbeat_faults() -> None:
    h = Harness()
    sid = h.opened()
    h.core.silent_clients.add("Finesse")
    assert h.send(sid, make(M.HEARTBEAT_REQ, InvokeID=1)) == []
    h.core.silent_clients.clear()
    h.core.fail_heartbeats = True
    (fail,) = h.send(sid, make(M.HEARTBEAT_REQ, InvokeID=2))
    assert (fail.type, fail["Status"]) == (M.FAILURE_CONF, Status.E_CTI_CTI_SERVER_OFFLINE)


def test_offline_drop_sends_failure_event() -> None:
    h = Harness()
    sid = h.opened()
    h.core.offline = True
    h.core.drop_all(h.now, "offline", failure_event=True)
    outs = h.core.outputs()
    sends = [o for o in outs if isinstance(o, Send)]
    assert decode_body(M.FAILURE_EVENT, sends[0].data[8:])["Status"] == Status.E_CTI_CTI_SERVER_OFFLINE
    assert any(isinstance(o, Close) and o.sid == sid for o in outs)
    (fail,) = h.send(h.connect(), open_req())
    assert fail["Status"] == Status.E_CTI_CTI_SERVER_OFFLINE


def test_one_byte_tag_session_v15() -> None:
    h = Harness()
    sid = h.connect()
    conf, _ = h.send(sid, open_req(version=15), 15)
    assert conf.type == M.OPEN_CONF and conf.get(Tag.FLT_PERIPHERAL_ID) == 5000
    assert h.core.sessions[sid].version == 15


# -- non-voice MRDs: the emulator-private media request ------------------------------------------
def media_req(agent_id: str, mrd: int, action: MediaAction, **fields: int) -> Message:
    return make(
        M.EMU_SET_MEDIA_STATE_REQ, [(Tag.AGENT_ID, agent_id)], InvokeID=9, MRDID=mrd, Action=action, **fields
    )


def refusal(replies: list[Message]) -> tuple[int, int]:
    (conf,) = [m for m in replies if m.type == M.CONTROL_FAILURE_CONF]
    return conf["FailureCode"], conf["PeripheralErrorCode"]


def test_media_sign_in_state_routable_and_their_errors() -> None:
    h = Harness()
    sid = h.opened()
    h.login(sid)
    mrd = h.model.agents["1000"].record.non_voice_mrds[0]
    h.send(sid, media_req("1000", mrd, MediaAction.SET_STATE, AgentState=AgentState.LOGOUT))
    # Signed out of the MRD: a state change is refused with the ARM "not logged in" code.
    replies = h.send(sid, media_req("1000", mrd, MediaAction.SET_STATE, AgentState=AgentState.AVAILABLE))
    assert refusal(replies) == (260, ArmError.E_ARM_STAT_AGENT_NOT_LOGGED_IN)
    replies = h.send(sid, media_req("1000", mrd, MediaAction.SET_STATE, AgentState=AgentState.LOGIN))
    assert replies[0].type == M.EMU_SET_MEDIA_STATE_CONF
    (event,) = [m for m in replies if m.type == M.AGENT_STATE_EVENT]
    assert (event["MRDID"], event["AgentState"], event["AgentMode"]) == (mrd, AgentState.NOT_READY, 1)
    replies = h.send(sid, media_req("1000", mrd, MediaAction.SET_STATE, AgentState=AgentState.LOGIN))
    assert refusal(replies) == (260, ArmError.E_ARM_STAT_AGENT_ALREADY_LOGGED_IN)
    replies = h.send(sid, media_req("1000", mrd, MediaAction.SET_ROUTABLE, AgentMode=1))
    assert refusal(replies) == (260, ArmError.E_ARM_STAT_ALREADY_IN_REQUESTED_AGENT_MODE)
    replies = h.send(sid, media_req("1000", mrd, MediaAction.SET_ROUTABLE, AgentMode=0))
    (event,) = [m for m in replies if m.type == M.AGENT_STATE_EVENT]
    assert event["AgentMode"] == 0
    # NOT_READY with a reason, then READY makes the agent routable again.
    replies = h.send(
        sid, media_req("1000", mrd, MediaAction.SET_STATE, AgentState=AgentState.NOT_READY, EventReasonCode=7)
    )
    (event,) = [m for m in replies if m.type == M.AGENT_STATE_EVENT]
    assert (event["AgentState"], event["EventReasonCode"], event["AgentMode"]) == (AgentState.NOT_READY, 7, 0)
    replies = h.send(sid, media_req("1000", mrd, MediaAction.SET_STATE, AgentState=AgentState.AVAILABLE))
    (event,) = [m for m in replies if m.type == M.AGENT_STATE_EVENT]
    assert (event["AgentState"], event["AgentMode"]) == (AgentState.AVAILABLE, 1)
    # The voice state is untouched by all this.
    assert h.model.agents["1000"].state is AgentState.NOT_READY


def test_media_work_to_active_only_in_work_and_bad_requests() -> None:
    h = Harness()
    sid = h.opened()
    h.login(sid)
    mrd = h.model.agents["1000"].record.non_voice_mrds[0]
    h.send(sid, media_req("1000", mrd, MediaAction.SET_STATE, AgentState=AgentState.AVAILABLE))
    replies = h.send(sid, media_req("1000", mrd, MediaAction.WORK_TO_ACTIVE))
    assert refusal(replies) == (260, ArmError.E_ARM_STAT_INVALID_AGENT_STATE)
    h.core.session_lost(h.now, sid)  # the CTI client drops: WORK on every non-voice MRD
    assert h.model.agents["1000"].mrd_states[mrd] is AgentState.WORK_NOT_READY
    assert h.model.agents["1000"].mrd_routable[mrd] is True  # the agent's mode survives the WORK
    sid = h.connect()
    h.send(sid, open_req())  # OPEN_CONF, SYSTEM_EVENT and the announcement of logged-in agents
    replies = h.send(sid, media_req("1000", mrd, MediaAction.WORK_TO_ACTIVE))
    assert replies[0].type == M.EMU_SET_MEDIA_STATE_CONF
    # Computed by the PG: back to the state it had before the forced WORK (READY), routable.
    assert h.model.agents["1000"].mrd_states[mrd] is AgentState.AVAILABLE
    assert h.model.agents["1000"].mrd_routable[mrd] is True
    # Unknown MRD, unknown agent, unknown action: refused, nothing changes, the session lives on.
    assert refusal(h.send(sid, media_req("1000", 4242, MediaAction.SET_ROUTABLE, AgentMode=1)))[0] == 260
    assert refusal(h.send(sid, media_req("nobody", mrd, MediaAction.SET_ROUTABLE, AgentMode=1)))[0] == 256
    assert (
        refusal(h.send(sid, make(M.EMU_SET_MEDIA_STATE_REQ, [(Tag.AGENT_ID, "1000")], MRDID=mrd, Action=9)))[
            0
        ]
        == 260
    )
    assert h.model.agents["1000"].mrd_states[mrd] is AgentState.AVAILABLE
    assert sid in h.core.sessions


@pytest.mark.parametrize("auto_restore", [False, True])
def test_mrds_after_the_cti_client_reconnects(auto_restore: bool) -> None:
    """12.5(1) keeps the forced WORK until the desktop asks (Work to Active); "Previous releases of
    Unified CCE used to change the agent states back to an available state when the CTI connection
    is re-established": that is ``mrd_auto_restore`` (``--mrd-auto-restore``)."""
    h = Harness(mrd_auto_restore=auto_restore)
    sid = h.opened()
    h.login(sid)
    mrd = h.model.agents["1000"].record.non_voice_mrds[0]
    h.send(sid, media_req("1000", mrd, MediaAction.SET_STATE, AgentState=AgentState.AVAILABLE))
    h.core.session_lost(h.now, sid)
    assert h.model.agents["1000"].mrd_states[mrd] is AgentState.WORK_NOT_READY
    sid = h.connect()
    replies = h.send(sid, open_req())
    media_events = [m for m in replies if m.type == M.AGENT_STATE_EVENT and m.fields.get("MRDID") == mrd]
    want = AgentState.AVAILABLE if auto_restore else AgentState.WORK_NOT_READY
    assert h.model.agents["1000"].mrd_states[mrd] is want
    assert media_events and media_events[-1]["AgentState"] == want


def test_media_states_replicate_to_the_idle_side() -> None:
    h = Harness()
    sid = h.opened()
    h.login(sid)
    mrd = h.model.agents["1000"].record.non_voice_mrds[0]
    h.send(
        sid, media_req("1000", mrd, MediaAction.SET_STATE, AgentState=AgentState.NOT_READY, EventReasonCode=3)
    )
    h.send(sid, media_req("1000", mrd, MediaAction.SET_ROUTABLE, AgentMode=0))
    twin = PeripheralModel(generate(5, non_voice_mrds=CHAT_AND_EMAIL))
    twin.apply_agent(h.model.agents["1000"].to_json())
    agent = twin.agents["1000"]
    assert (agent.mrd_states[mrd], agent.mrd_reasons[mrd], agent.mrd_routable[mrd]) == (
        AgentState.NOT_READY,
        3,
        False,
    )


def test_finesse_forced_logout_255_follows_load() -> None:
    """Cisco: Finesse sends 255; "the actual behavior ... depends on the setting for LOAD"."""
    for load, expected in ((0, AgentState.NOT_READY), (1, AgentState.LOGOUT)):
        h = Harness(load=load)
        sid = h.opened()
        h.login(sid)
        h.set_state(sid, "1000", AgentState.AVAILABLE)
        h.set_state(sid, "1000", AgentState.LOGOUT, reason=255)
        agent = h.model.agents["1000"]
        assert (agent.state, agent.reason_code) == (expected, 50002), load
    # On a call, LOAD 0: Not Ready - Connection Failure when the call ends.
    h = Harness(load=0)
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", AgentState.AVAILABLE)
    call_id = h.core.inject_call(h.now, "1000")
    h.core.answer_call(h.now, call_id)
    h.set_state(sid, "1000", AgentState.LOGOUT, reason=255)
    assert h.model.agents["1000"].state is AgentState.TALKING
    h.core.end_call(h.now, call_id)
    assert (h.model.agents["1000"].state, h.model.agents["1000"].reason_code) == (AgentState.NOT_READY, 50002)


def _agent_in(h: Harness, sid: int, state: str) -> None:
    h.login(sid)
    if state == "ready":
        h.set_state(sid, "1000", AgentState.AVAILABLE)
    elif state == "not_ready":
        h.set_state(sid, "1000", AgentState.NOT_READY, reason=7)
    else:  # wrap-up: WORK_NOT_READY requested during a call, entered when it ends
        h.set_state(sid, "1000", AgentState.AVAILABLE)
        call_id = h.core.inject_call(h.now, "1000")
        h.core.answer_call(h.now, call_id)
        h.set_state(sid, "1000", AgentState.WORK_NOT_READY)
        h.core.end_call(h.now, call_id)
        assert h.model.agents["1000"].state is AgentState.WORK_NOT_READY


@pytest.mark.parametrize("state", ["ready", "not_ready", "wrap_up"])
@pytest.mark.parametrize("load", [0, 1])
def test_forced_logout_255_from_not_ready_ready_or_wrap_up(load: int, state: str) -> None:
    """LOAD 0: "When the agent's current state is Not Ready, Ready, or Wrap-Up, the agent's state
    after force logout is changed to Not Ready - Connection Failure." LOAD 1: "... the agent goes
    to Logged Out - System Failure." (50002 on both: the reason code a desktop shows.)"""
    h = Harness(load=load)
    sid = h.opened()
    _agent_in(h, sid, state)
    h.received(sid)
    replies = h.set_state(sid, "1000", AgentState.LOGOUT, reason=255)
    want = AgentState.NOT_READY if load == 0 else AgentState.LOGOUT
    agent = h.model.agents["1000"]
    assert (agent.state, agent.reason_code, agent.pending) == (want, 50002, None)
    assert (want, 50002) in [
        (m["AgentState"], m["EventReasonCode"]) for m in replies if m.type == M.AGENT_STATE_EVENT
    ]


def test_forced_logout_255_load1_talking_logs_out_at_once() -> None:
    """LOAD parameter = 1: "When the agent's current state is Talking, the Agent goes to Logged Out -
    System Failure immediately even though the call is still active." """
    h = Harness(load=1)
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", AgentState.AVAILABLE)
    call_id = h.core.inject_call(h.now, "1000")
    h.core.answer_call(h.now, call_id)
    h.received(sid)
    replies = h.set_state(sid, "1000", AgentState.LOGOUT, reason=255)
    agent = h.model.agents["1000"]
    assert (agent.state, agent.reason_code, agent.pending) == (AgentState.LOGOUT, 50002, None)
    assert (AgentState.LOGOUT, 50002) in [
        (m["AgentState"], m["EventReasonCode"]) for m in replies if m.type == M.AGENT_STATE_EVENT
    ]
    assert h.model.calls[call_id].phase == "talking"  # the call is still active
    h.core.end_call(h.now, call_id)
    assert agent.state is AgentState.LOGOUT and not agent.call_ids
