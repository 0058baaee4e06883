"""The sans-IO CTI link core, driven with explicit ``now`` values and codec-built bytes."""

from __future__ import annotations

from typing import Any

import pytest

from emu_base.timers import Timers
from finesse_emu.server.cti import (
    AttemptFailed,
    CloseRequested,
    ConnectRequested,
    CtiLink,
    CtiLinkConfig,
    HeartbeatResult,
    LinkDown,
    LinkNotOpenError,
    LinkState,
    LinkUp,
    Output,
    Reply,
    RequestFailed,
    Unsolicited,
)
from ged188 import (
    NULL_ID,
    FrameDecoder,
    Message,
    MessageType,
    Service,
    Status,
    SystemEventID,
    Tag,
    decode_body,
    encode,
    make,
)

M = MessageType
SIDE_A = ("A", "127.0.0.1", 42027)
SIDE_B = ("B", "127.0.0.1", 43027)
CONNECT_A = ConnectRequested("A", "127.0.0.1", 42027)
CONNECT_B = ConnectRequested("B", "127.0.0.1", 43027)
HB_LOSS = "heartbeat timeout: 3 consecutive heartbeats unanswered"


def config(time_scale: float = 1.0, **overrides: Any) -> CtiLinkConfig:
    return CtiLinkConfig.from_timers([SIDE_A, SIDE_B], Timers.build(time_scale=time_scale), **overrides)


def state(link: CtiLink) -> LinkState:
    # A call, not an attribute, so mypy does not carry a narrowed state across link inputs.
    return link.state


def wire(msg: Message) -> bytes:
    return encode(msg, 24)


def sent(link: CtiLink) -> list[Message]:
    """Decode everything the link wants to send."""
    decoder = FrameDecoder()
    decoder.feed(link.data_to_send())
    out = []
    while (frame := decoder.next_frame()) is not None:
        out.append(decode_body(frame[0], frame[1], 24))
    return out


def open_conf(invoke_id: int) -> Message:
    return make(
        M.OPEN_CONF,
        InvokeID=invoke_id,
        ServicesGranted=0x16,
        PeripheralOnline=1,
        PeripheralType=17,
        AgentState=9,
        SessionType=1,
    )


def bring_up(link: CtiLink, now: float, *, start: bool = True) -> Message:
    """start (optionally), connect, answer OPEN_REQ; return the OPEN_CONF that was fed."""
    if start:
        link.start(now)
        assert link.outputs() == [CONNECT_A]
    link.connection_made(now)
    (req,) = sent(link)
    assert req.type == M.OPEN_REQ
    conf = open_conf(req["InvokeID"])
    link.data_received(now, wire(conf))
    assert state(link) is LinkState.OPEN
    return conf


def heartbeat_ids(link: CtiLink) -> list[int]:
    msgs = sent(link)
    assert all(m.type == M.HEARTBEAT_REQ for m in msgs), msgs
    return [m["InvokeID"] for m in msgs]


def answer(link: CtiLink, now: float, invoke_id: int) -> None:
    link.data_received(now, wire(make(M.HEARTBEAT_CONF, InvokeID=invoke_id)))


# --- configuration and OPEN_REQ ----------------------------------------------------------------------


def test_start_connects_to_side_a_first() -> None:
    link = CtiLink(config())
    assert state(link) is LinkState.IDLE
    assert link.next_deadline() is None
    link.start(100.0)
    assert link.outputs() == [CONNECT_A]
    assert state(link) is LinkState.CONNECTING
    assert link.active_side == "A"
    assert link.next_deadline() == 110.0  # open_timeout bounds the TCP connect too
    with pytest.raises(RuntimeError):
        link.start(100.0)


def test_open_req_content() -> None:
    link = CtiLink(config())
    link.start(0.0)
    link.outputs()
    link.connection_made(1.0)
    (req,) = sent(link)
    assert req.type == M.OPEN_REQ
    assert req["InvokeID"] == 1
    assert req["VersionNumber"] == 24
    assert req["IdleTimeout"] == 20
    assert req["PeripheralID"] == NULL_ID
    assert req["ServicesRequested"] == Service.ALL_EVENTS | Service.CLIENT_CONTROL | Service.CALL_DATA_UPDATE
    assert req["CallMsgMask"] == 0xFFFFFFFF
    assert req["AgentStateMask"] == 0x3FFF
    assert (req["ConfigMsgMask"], req["Reserved1"], req["Reserved2"], req["Reserved3"]) == (0, 0, 0, 0)
    assert req.floating == ((Tag.CLIENT_ID, "Finesse"), (Tag.CLIENT_PASSWORD, b""))
    assert state(link) is LinkState.OPENING
    assert link.next_deadline() == 11.0
    assert link.outputs() == []


def test_open_req_bytes_match_the_reference_example() -> None:
    # The CTI Server Message Reference Guide's OPEN_REQ example; only ServicesRequested differs (0x16 here).
    link = CtiLink(config())
    link.start(0.0)
    link.connection_made(0.0)
    data = link.data_to_send()
    assert data[:8] == bytes.fromhex("0000003c00000003")
    assert data[8:24] == bytes.fromhex("0000000100000018 00000014 ffffffff")
    assert data[-16:] == bytes.fromhex("00010008 46696e6573736500 00020000")


def test_idle_timeout_is_four_heartbeats_but_never_below_20() -> None:
    assert config().open_idle_timeout == 20
    assert config(time_scale=0.01).open_idle_timeout == 20  # 4 x 0.05 s would be rejected by the server
    assert config(heartbeat_interval=7.5).open_idle_timeout == 30
    assert config(idle_timeout=45).open_idle_timeout == 45
    with pytest.raises(ValueError, match="idle_timeout"):
        config(idle_timeout=19)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        CtiLinkConfig([])
    with pytest.raises(ValueError):
        CtiLinkConfig([SIDE_A, ("A", "127.0.0.1", 1)])
    with pytest.raises(ValueError):
        CtiLinkConfig([SIDE_A], version=99)
    cfg = config(time_scale=0.02, old_pg=True)
    assert cfg.heartbeat_interval == pytest.approx(0.1)
    assert cfg.old_pg_extra_detection == pytest.approx(0.8)
    assert cfg.close_timeout == pytest.approx(0.1)
    assert cfg.missed_heartbeats == 3


# --- OPEN --------------------------------------------------------------------------------------------


def test_link_up_on_open_conf() -> None:
    link = CtiLink(config())
    conf = bring_up(link, 2.0)
    (event,) = link.outputs()
    assert isinstance(event, LinkUp)
    assert event.side == "A"
    assert event.open_conf == conf.for_version(24)
    assert link.active_side == "A"
    assert link.next_deadline() == 7.0  # first heartbeat one interval after OPEN_CONF
    assert link.last_heartbeat_ok is None


def test_events_after_open_conf_in_the_same_chunk_are_unsolicited() -> None:
    link = CtiLink(config())
    link.start(0.0)
    link.connection_made(0.0)
    (req,) = sent(link)
    online = make(M.SYSTEM_EVENT, SystemEventID=SystemEventID.PERIPHERAL_ONLINE, SystemEventArg1=5000)
    link.data_received(0.0, wire(online)[:5])  # a frame split across reads
    link.data_received(0.0, wire(online)[5:] + wire(open_conf(req["InvokeID"])) + wire(online))
    events = link.outputs()
    # The SYSTEM_EVENT before OPEN_CONF is not for an unopened session; the one after is delivered.
    assert [type(e) for e in events] == [ConnectRequested, LinkUp, Unsolicited]
    assert isinstance(events[2], Unsolicited)
    assert events[2].message["SystemEventArg1"] == 5000


def test_mismatched_open_conf_is_ignored_then_open_times_out() -> None:
    link = CtiLink(config())
    link.start(0.0)
    link.outputs()
    link.connection_made(0.0)
    (req,) = sent(link)
    link.data_received(1.0, wire(open_conf(req["InvokeID"] + 7)))
    assert state(link) is LinkState.OPENING
    link.handle_timer(10.0)
    assert link.outputs() == [AttemptFailed("A", "open timeout: no OPEN_CONF"), CloseRequested()]


# --- heartbeats --------------------------------------------------------------------------------------


def test_heartbeat_cadence_and_success() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    assert link.data_to_send() == b""
    link.handle_timer(4.999)
    assert link.data_to_send() == b""
    seen = []
    for k in range(1, 5):
        now = 5.0 * k
        assert link.next_deadline() == now
        link.handle_timer(now)
        (hb,) = heartbeat_ids(link)
        seen.append(hb)
        answer(link, now + 0.01, hb)
        assert link.outputs() == [HeartbeatResult(True, 0)]
        assert link.last_heartbeat_ok is True
        assert link.last_heartbeat_success_at == now + 0.01
    assert seen == [2, 3, 4, 5]  # InvokeID 1 was OPEN_REQ; the counter is shared
    assert link.consecutive_misses == 0


def test_silent_side_lost_after_three_missed_heartbeats() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    link.handle_timer(5.0)
    (hb,) = heartbeat_ids(link)
    answer(link, 5.002, hb)  # the last answered heartbeat
    assert link.outputs() == [HeartbeatResult(True, 0)]
    # From here the server is silent. HB at 10 goes unanswered; each later timer finds it unconfirmed.
    timeline: list[tuple[float, list[Output], int]] = []
    for now in (10.0, 15.0, 20.0, 24.999, 25.0):
        link.handle_timer(now)
        timeline.append((now, link.outputs(), len(sent(link))))
    assert timeline == [
        (10.0, [], 1),
        (15.0, [HeartbeatResult(False, 1)], 1),
        (20.0, [HeartbeatResult(False, 2)], 1),
        (24.999, [], 0),
        (25.0, [HeartbeatResult(False, 3), LinkDown("A", HB_LOSS, 15.0), CloseRequested()], 0),
    ]
    assert state(link) is LinkState.WAITING
    assert link.last_heartbeat_ok is False
    assert link.last_heartbeat_success_at == 5.002
    assert link.active_side is None
    assert link.next_deadline() == 26.0  # reconnect_pause
    link.handle_timer(26.0)
    assert link.outputs() == [CONNECT_B]


def test_session_never_answering_heartbeats_is_lost_at_15s_after_the_first() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    for now in (5.0, 10.0, 15.0):
        link.handle_timer(now)
    assert state(link) is LinkState.OPEN
    link.handle_timer(20.0)
    events = link.outputs()
    assert events[-2:] == [LinkDown("A", HB_LOSS, 15.0), CloseRequested()]
    assert [e for e in events if isinstance(e, HeartbeatResult)] == [
        HeartbeatResult(False, 1),
        HeartbeatResult(False, 2),
        HeartbeatResult(False, 3),
    ]


def test_detection_scales_with_time_scale() -> None:
    link = CtiLink(config(time_scale=0.01))
    bring_up(link, 1000.0)
    link.outputs()
    down: list[tuple[float, LinkDown]] = []
    now = 1000.0
    while not down:
        now = link.next_deadline() or 0.0
        link.handle_timer(now)
        down += [(now, e) for e in link.outputs() if isinstance(e, LinkDown)]
    at, event = down[0]
    assert at == pytest.approx(1000.20)  # heartbeats at .05, .10, .15 unanswered, loss at .20
    assert event.detection_seconds == pytest.approx(0.15)
    assert event.reason == HB_LOSS


def test_heartbeat_conf_for_a_later_heartbeat_confirms_earlier_ones() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    link.handle_timer(5.0)
    (hb1,) = heartbeat_ids(link)
    link.handle_timer(10.0)
    (hb2,) = heartbeat_ids(link)
    assert link.outputs() == [HeartbeatResult(False, 1)]
    answer(link, 10.1, hb2)
    assert link.outputs() == [HeartbeatResult(True, 0)]
    answer(link, 10.2, hb1)  # a stale CONF changes nothing
    answer(link, 10.3, 9999)  # nor does one we never sent
    assert link.outputs() == []
    link.handle_timer(15.0)
    assert link.outputs() == []  # hb1 and hb2 both answered: no miss
    assert link.consecutive_misses == 0


def test_old_pg_delays_heartbeat_detection_by_40s() -> None:
    link = CtiLink(config(old_pg=True))
    bring_up(link, 0.0)
    link.outputs()
    for now in (5.0, 10.0, 15.0, 20.0):
        link.handle_timer(now)
    events = link.outputs()
    assert events[-1] == HeartbeatResult(False, 3)
    assert state(link) is LinkState.OPEN  # the third miss opens the 40 s window instead
    assert len(heartbeat_ids(link)) == 4
    for now in (25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 59.999):
        assert link.next_deadline() == (now if now % 5 == 0 else 60.0)
        link.handle_timer(now)
    assert state(link) is LinkState.OPEN
    assert len(heartbeat_ids(link)) == 7  # heartbeats keep going so a recovered server can answer
    assert link.consecutive_misses == 10
    link.handle_timer(60.0)
    events = link.outputs()
    reason = HB_LOSS + " (+40 s old PG delay)"
    assert events[-2:] == [LinkDown("A", reason, 55.0), CloseRequested()]


def test_old_pg_window_cancelled_by_a_late_heartbeat_conf() -> None:
    link = CtiLink(config(old_pg=True))
    bring_up(link, 0.0)
    for now in (5.0, 10.0, 15.0, 20.0, 25.0):
        link.handle_timer(now)
    ids = heartbeat_ids(link)
    link.outputs()
    answer(link, 27.0, ids[-1])  # the server comes back inside the window
    assert link.outputs() == [HeartbeatResult(True, 0)]
    assert link.next_deadline() == 30.0
    for now in (30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0):
        link.handle_timer(now)
        (hb,) = heartbeat_ids(link)
        answer(link, now + 0.01, hb)
    assert state(link) is LinkState.OPEN
    assert not any(isinstance(e, LinkDown) for e in link.outputs())


def test_failure_conf_to_heartbeat_loses_the_link_at_once_even_with_old_pg() -> None:
    link = CtiLink(config(old_pg=True))
    bring_up(link, 0.0)
    link.outputs()
    link.handle_timer(5.0)
    (hb,) = heartbeat_ids(link)
    offline = make(M.FAILURE_CONF, InvokeID=hb, Status=Status.E_CTI_CTI_SERVER_OFFLINE)
    link.data_received(5.5, wire(offline))
    assert link.outputs() == [
        LinkDown("A", "heartbeat rejected: E_CTI_CTI_SERVER_OFFLINE", 0.5),
        CloseRequested(),
    ]
    assert state(link) is LinkState.WAITING


# --- alternation -------------------------------------------------------------------------------------


def test_alternates_a_b_a_b_through_refusals_and_offline_sides() -> None:
    link = CtiLink(config())
    link.start(0.0)
    log: list[tuple[float, Output]] = [(0.0, e) for e in link.outputs()]
    now = 0.0
    # A refuses TCP, B accepts TCP but is the idle side, A refuses, B offline again, then A accepts.
    for outcome in ("refused", "offline", "refused", "offline"):
        if outcome == "refused":
            link.connection_failed(now, "ConnectionRefusedError")
        else:
            link.connection_made(now)
            (req,) = sent(link)
            rejected = make(M.FAILURE_CONF, InvokeID=req["InvokeID"], Status=Status.E_CTI_CTI_SERVER_OFFLINE)
            link.data_received(now, wire(rejected))
        log += [(now, e) for e in link.outputs()]
        assert state(link) is LinkState.WAITING
        now = link.next_deadline() or 0.0
        link.handle_timer(now)
        log += [(now, e) for e in link.outputs()]
    bring_up(link, now, start=False)
    log += [(now, e) for e in link.outputs()]
    refused = "connect failed: ConnectionRefusedError"
    offline = "open rejected: E_CTI_CTI_SERVER_OFFLINE"
    assert [(t, type(e).__name__, getattr(e, "side", None), getattr(e, "reason", None)) for t, e in log] == [
        (0.0, "ConnectRequested", "A", None),
        (0.0, "AttemptFailed", "A", refused),
        (1.0, "ConnectRequested", "B", None),
        (1.0, "AttemptFailed", "B", offline),
        (1.0, "CloseRequested", None, None),
        (2.0, "ConnectRequested", "A", None),
        (2.0, "AttemptFailed", "A", refused),
        (3.0, "ConnectRequested", "B", None),
        (3.0, "AttemptFailed", "B", offline),
        (3.0, "CloseRequested", None, None),
        (4.0, "ConnectRequested", "A", None),
        (4.0, "LinkUp", "A", None),
    ]


def test_first_retry_after_a_lost_session_goes_to_the_other_side() -> None:
    link = CtiLink(config())
    link.start(0.0)
    link.connection_failed(0.0, "refused")
    link.handle_timer(1.0)
    assert link.outputs()[-1] == CONNECT_B
    bring_up(link, 1.0, start=False)
    assert link.active_side == "B"
    link.connection_lost(3.0, "ConnectionResetError")
    assert link.outputs()[-2:] == [
        LinkDown("B", "connection lost: ConnectionResetError", 0.0),
        CloseRequested(),
    ]
    link.handle_timer(4.0)
    assert link.outputs() == [CONNECT_A]
    bring_up(link, 4.0, start=False)
    link.connection_lost(5.0, "closed by peer")
    link.handle_timer(6.0)
    assert link.outputs()[-1] == CONNECT_B


def test_single_side_retries_the_same_side() -> None:
    link = CtiLink(CtiLinkConfig([SIDE_A], reconnect_pause=2.0))
    link.start(0.0)
    link.connection_failed(0.0, "refused")
    link.handle_timer(2.0)
    assert link.outputs()[-1] == CONNECT_A


def test_connect_timeout() -> None:
    link = CtiLink(config())
    link.start(0.0)
    link.outputs()
    link.handle_timer(9.99)
    assert link.outputs() == []
    link.handle_timer(10.0)
    assert link.outputs() == [AttemptFailed("A", "connect timeout"), CloseRequested()]
    link.connection_made(10.5)  # a connect that completes after we gave up is ignored
    assert link.data_to_send() == b""
    assert state(link) is LinkState.WAITING


def test_open_timeout() -> None:
    link = CtiLink(config(time_scale=0.1))
    link.start(0.0)
    link.outputs()
    link.connection_made(0.2)
    link.data_to_send()
    assert link.next_deadline() == pytest.approx(1.2)
    link.handle_timer(1.2)
    assert link.outputs() == [AttemptFailed("A", "open timeout: no OPEN_CONF"), CloseRequested()]
    assert link.next_deadline() == pytest.approx(1.3)
    link.handle_timer(1.3)
    assert link.outputs() == [CONNECT_B]


def test_connection_lost_while_opening_is_an_attempt_failure() -> None:
    link = CtiLink(config())
    link.start(0.0)
    link.outputs()
    link.connection_made(0.0)
    link.connection_lost(0.5, "closed by peer")
    assert link.outputs() == [AttemptFailed("A", "connection lost: closed by peer"), CloseRequested()]


def test_failure_event_loses_the_link() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    event = make(M.FAILURE_EVENT, Status=Status.E_CTI_CTI_SERVER_OFFLINE)
    agent = make(M.AGENT_STATE_EVENT, AgentState=2)
    link.data_received(2.0, wire(event) + wire(agent))  # nothing after the FAILURE_EVENT is delivered
    assert link.outputs() == [LinkDown("A", "FAILURE_EVENT: E_CTI_CTI_SERVER_OFFLINE", 0.0), CloseRequested()]
    link.handle_timer(3.0)
    assert link.outputs() == [CONNECT_B]


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff" * 16,  # MessageLength beyond the protocol maximum: cannot be framed
        bytes.fromhex("00000002 00000006 0000"),  # HEARTBEAT_CONF with a 2-byte body
        bytes.fromhex("00000008 0000001e 00000000 00000000"),  # AGENT_STATE_EVENT too short
    ],
)
def test_garbage_from_the_server_drops_the_link_once(garbage: bytes) -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    link.data_received(1.0, garbage)
    events = link.outputs()
    assert [type(e) for e in events] == [LinkDown, CloseRequested]
    assert isinstance(events[0], LinkDown)
    assert events[0].reason.startswith("protocol error: ")
    link.data_received(1.1, garbage)  # more bytes from the dead connection are ignored
    link.connection_lost(1.2, "closed")
    assert link.outputs() == []
    link.handle_timer(2.0)
    assert link.outputs() == [CONNECT_B]


def test_garbage_while_opening_fails_the_attempt() -> None:
    link = CtiLink(config())
    link.start(0.0)
    link.outputs()
    link.connection_made(0.0)
    link.data_received(0.1, b"\x7f" * 12)
    events = link.outputs()
    assert [type(e) for e in events] == [AttemptFailed, CloseRequested]


# --- requests ----------------------------------------------------------------------------------------


def set_agent_state(agent_id: str = "1001") -> Message:
    return make(M.SET_AGENT_STATE_REQ, [(Tag.AGENT_ID, agent_id)], PeripheralID=5000, AgentState=3)


def test_request_and_reply_matching() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    first = link.request(0.5, set_agent_state())
    second = link.request(0.5, make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, "1002")], PeripheralID=5000))
    third = link.request(0.5, set_agent_state("1003"))
    reqs = sent(link)
    assert [(m.type, m["InvokeID"]) for m in reqs] == [
        (M.SET_AGENT_STATE_REQ, first),
        (M.QUERY_AGENT_STATE_REQ, second),
        (M.SET_AGENT_STATE_REQ, third),
    ]
    assert reqs[0].get(Tag.AGENT_ID) == "1001"
    assert len({first, second, third}) == 3
    assert link.pending_requests == 3
    # Replies out of order; an event in between; a CONF of the wrong type is not a reply.
    query_conf = make(M.QUERY_AGENT_STATE_CONF, InvokeID=second, AgentState=2)
    agent_event = make(M.AGENT_STATE_EVENT, AgentState=3)
    wrong_type = make(M.CLIENT_EVENT_REPORT_CONF, InvokeID=first)
    failure = make(M.CONTROL_FAILURE_CONF, InvokeID=third, FailureCode=256, PeripheralErrorCode=0)
    link.data_received(1.0, wire(query_conf) + wire(agent_event) + wire(wrong_type) + wire(failure))
    link.data_received(1.1, wire(make(M.SET_AGENT_STATE_CONF, InvokeID=first)))
    events = link.outputs()
    assert events == [
        Reply(second, query_conf.for_version(24)),
        Unsolicited(agent_event.for_version(24)),
        Unsolicited(wrong_type),
        Reply(third, failure),
        Reply(first, make(M.SET_AGENT_STATE_CONF, InvokeID=first)),
    ]
    assert isinstance(events[3], Reply)
    assert not events[3].ok
    assert link.pending_requests == 0


def test_failure_conf_answers_a_request() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    invoke_id = link.request(0.5, set_agent_state())
    link.data_to_send()
    failure = make(M.FAILURE_CONF, InvokeID=invoke_id, Status=Status.E_CTI_INVALID_AGENT_DATA)
    link.data_received(1.0, wire(failure))
    assert link.outputs() == [Reply(invoke_id, failure)]
    assert state(link) is LinkState.OPEN


def test_cancelled_request_reply_is_dropped() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    invoke_id = link.request(0.5, set_agent_state())
    link.cancel_request(0.5, invoke_id)
    link.data_received(1.0, wire(make(M.SET_AGENT_STATE_CONF, InvokeID=invoke_id)))
    assert link.outputs() == []


def test_pending_requests_fail_when_the_link_is_lost() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    first = link.request(0.5, set_agent_state())
    second = link.request(0.5, set_agent_state("1002"))
    link.handle_timer(5.0)  # a heartbeat goes out with them
    link.connection_lost(6.0, "ConnectionResetError")
    reason = "connection lost: ConnectionResetError"
    assert link.outputs() == [
        LinkDown("A", reason, 1.0),
        RequestFailed(first, f"CTI link lost: {reason}"),
        RequestFailed(second, f"CTI link lost: {reason}"),
        CloseRequested(),
    ]
    assert link.data_to_send() == b""  # unsent bytes of the dead connection are discarded
    assert link.pending_requests == 0


def test_request_rules() -> None:
    link = CtiLink(config())
    with pytest.raises(LinkNotOpenError):
        link.request(0.5, set_agent_state())
    bring_up(link, 0.0)
    with pytest.raises(ValueError):
        link.request(0.5, make(M.HEARTBEAT_REQ))
    with pytest.raises(ValueError):
        link.request(0.5, make(M.AGENT_STATE_EVENT))
    with pytest.raises(ValueError):  # too long for AGENT_ID: never left pending
        link.request(0.5, set_agent_state("x" * 40))
    assert link.pending_requests == 0
    raw = link.request(0.5, Message(M.SNAPSHOT_DEVICE_REQ, raw=bytes(4) + b"\x00\x00\x13\x88"))
    (msg,) = sent(link)
    assert msg.raw == raw.to_bytes(4, "big") + b"\x00\x00\x13\x88"
    conf = Message(M.SNAPSHOT_DEVICE_REQ + 1, raw=raw.to_bytes(4, "big") + b"\x00\x01")
    link.data_received(1.0, wire(conf))
    assert link.outputs()[-1] == Reply(raw, conf)


# --- close -------------------------------------------------------------------------------------------


def test_close_handshake() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    pending = link.request(0.5, set_agent_state())
    link.data_to_send()
    link.close(2.0)
    (close_req,) = sent(link)
    assert close_req.type == M.CLOSE_REQ
    assert close_req["Status"] == Status.E_CTI_NO_ERROR
    assert state(link) is LinkState.CLOSING
    assert link.outputs() == [
        LinkDown("A", "closed by client", 0.0),
        RequestFailed(pending, "link closed by client"),
    ]
    assert link.next_deadline() == 7.0
    link.handle_timer(5.0)  # no heartbeats while closing
    assert link.data_to_send() == b""
    link.data_received(2.1, wire(make(M.CLOSE_CONF, InvokeID=close_req["InvokeID"])))
    assert link.outputs() == [CloseRequested()]
    assert state(link) is LinkState.CLOSED
    assert link.next_deadline() is None
    link.close(3.0)  # idempotent
    assert link.outputs() == []


def test_close_without_close_conf_times_out() -> None:
    link = CtiLink(config())
    bring_up(link, 0.0)
    link.outputs()
    link.close(2.0)
    link.data_to_send()
    link.handle_timer(6.999)
    assert link.outputs() == [LinkDown("A", "closed by client", 0.0)]
    link.handle_timer(7.0)
    assert link.outputs() == [CloseRequested()]
    assert state(link) is LinkState.CLOSED


def test_close_while_waiting_or_connecting() -> None:
    link = CtiLink(config())
    link.start(0.0)
    link.connection_failed(0.0, "refused")
    link.outputs()
    link.close(0.5)
    assert link.outputs() == []
    assert state(link) is LinkState.CLOSED
    link.handle_timer(10.0)
    assert link.outputs() == []  # no further attempts

    link = CtiLink(config())
    link.start(0.0)
    link.outputs()
    link.close(0.1)
    assert link.outputs() == [CloseRequested()]
    assert state(link) is LinkState.CLOSED
