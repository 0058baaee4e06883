"""Fuzzing the sans-IO CTI Server core with several sessions at once.

Random bytes, valid frames, broken frames and every message type arrive in arbitrary chunks on three
sessions, interleaved with clock ticks and admin operations; whatever arrives, the core must not raise,
every byte it sends must frame and decode, and a well-behaved session must be served undisturbed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cti_stub.core import Close, CoreConfig, CtiServerCore, Output, Send, Session
from cti_stub.model import ControlError, PeripheralModel
from emu_base.directory import generate
from ged188 import (
    FIRST_TWO_BYTE_TAG_VERSION,
    FIXED,
    FLOAT_TYPES,
    HEADER_SIZE,
    IDLE_TIMEOUT_DISABLED,
    MAX_BODY_SIZE,
    MAX_MESSAGE_SIZE,
    MAX_SUPPORTED_VERSION,
    MIN_SUPPORTED_VERSION,
    AgentState,
    ControlFailure,
    FloatValue,
    FrameDecoder,
    Message,
    MessageType,
    Service,
    Status,
    Tag,
    decode_body,
    encode,
    fixed_layout,
    make,
)

M = MessageType
VERSIONS = list(range(MIN_SUPPORTED_VERSION, MAX_SUPPORTED_VERSION + 1))
AGENT_IDS = [r.id for r in generate(5)]
EXTENSIONS = ["2000", "2001", "2002"]
FINESSE_SERVICES = Service.ALL_EVENTS | Service.CLIENT_CONTROL | Service.CALL_DATA_UPDATE
SLOTS = 3
CODE_RANGE = {"B": (0, 0xFF), "H": (0, 0xFFFF), "I": (0, 0xFFFFFFFF), "i": (-(2**31), 2**31 - 1)}
INT_RANGE = {"u16": (0, 0xFFFF), "u32": (0, 0xFFFFFFFF), "i32": (-(2**31), 2**31 - 1)}
LATIN1_NO_NUL = st.characters(min_codepoint=1, max_codepoint=255)
u32 = st.integers(0, 0xFFFFFFFF)
STATUS_CODES = {s.value for s in Status}
FAILURE_CODES = {f.value for f in ControlFailure}


# -- the core under test, remembering which version each message was encoded with ---------------------
class RecordingCore(CtiServerCore):
    def __init__(self, model: PeripheralModel, config: CoreConfig) -> None:
        super().__init__(model, config)
        self.sent_version: dict[int, int] = {}  # id(Send) -> Session.version when it was encoded

    def _send(self, s: Session, msg: Message) -> None:
        super()._send(s, msg)
        self.sent_version[id(self._out[-1])] = s.version


@dataclass
class Rig:
    """The core plus what every session has been sent, checked as it goes."""

    load: int = 0
    now: float = 1000.0
    core: RecordingCore = field(init=False)
    sessions: dict[int, Session] = field(default_factory=dict)  # every session ever created
    slots: list[int] = field(default_factory=list)
    closed: set[int] = field(default_factory=set)
    sent: dict[int, list[tuple[bytes, int]]] = field(default_factory=dict)  # sid -> [(frame, version)]

    def __post_init__(self) -> None:
        model = PeripheralModel(generate(5), load=self.load)
        self.core = RecordingCore(model, CoreConfig(idle_scan_interval=0.0))
        self.core.become_active(self.now, "test", takeover=False)
        self.collect()
        self.slots = [self.connect() for _ in range(SLOTS)]

    def connect(self) -> int:
        sid = self.core.open_session(self.now, "fuzz")
        self.sessions[sid] = self.core.sessions[sid]
        self.sent[sid] = []
        return sid

    def collect(self) -> list[Output]:
        """Drain the outputs and check the ones that name sessions."""
        outs = self.core.outputs()
        for out in outs:
            if isinstance(out, Send):
                assert out.sid in self.sessions, f"Send to a session that never existed: {out.sid}"
                assert out.sid not in self.closed, f"Send to session {out.sid} after its Close"
                version = self.core.sent_version.pop(id(out), self.sessions[out.sid].version)
                self.sent[out.sid].append((out.data, version))
            elif isinstance(out, Close):
                assert out.sid in self.sessions, f"Close of a session that never existed: {out.sid}"
                assert out.sid not in self.closed, f"second Close of session {out.sid}"
                assert out.sid not in self.core.sessions
                self.closed.add(out.sid)
        self.core.sent_version.clear()
        return outs

    def feed(self, slot: int, data: bytes) -> None:
        if self.slots[slot] in self.closed:
            self.slots[slot] = self.connect()  # the client reconnects
        self.core.data_received(self.now, self.slots[slot], data)
        self.collect()

    def advance(self, dt: float) -> None:
        self.now += dt
        self.core.handle_timer(self.now)
        self.collect()

    def received(self, sid: int) -> list[Message]:
        """Decode what ``sid`` was sent, as a client reads it: one byte stream, framed by the header."""
        frames = self.sent[sid]
        decoder = FrameDecoder()
        decoder.feed(b"".join(data for data, _ in frames))
        msgs: list[Message] = []
        for data, version in frames:
            frame = decoder.next_frame()
            assert frame is not None, f"session {sid}: stream ends inside a frame"
            mtype, body = frame
            assert len(data) == HEADER_SIZE + len(body) and data.endswith(body), "a Send is one frame"
            assert len(data) <= MAX_MESSAGE_SIZE
            assert mtype in FIXED, f"server sent a type without a layout: {mtype}"
            msg = decode_body(mtype, body, version)
            assert encode(msg, version) == data, f"{msg.name} does not re-encode to the same bytes"
            if mtype in (M.FAILURE_CONF, M.FAILURE_EVENT):
                assert msg["Status"] in STATUS_CODES, msg
            if mtype == M.CONTROL_FAILURE_CONF:
                assert msg["FailureCode"] in FAILURE_CODES, msg
            msgs.append(msg)
        assert decoder.buffered == 0
        return msgs


# -- strategies --------------------------------------------------------------------------------------
def open_req(
    version: int,
    services: int,
    idle: int,
    invoke: int = 1,
    floating: Iterable[tuple[int, FloatValue]] = (),
    **extra: int,
) -> Message:
    return make(
        M.OPEN_REQ,
        [(Tag.CLIENT_ID, "Fuzz"), (Tag.CLIENT_PASSWORD, b""), *floating],
        InvokeID=invoke,
        VersionNumber=version,
        IdleTimeout=idle,
        PeripheralID=0xFFFFFFFF,
        ServicesRequested=services,
        CallMsgMask=0xFFFFFFFF,
        AgentStateMask=0x3FFF,
        **extra,
    )


@st.composite
def open_reqs(draw: st.DrawFn) -> tuple[Message, int]:
    version = draw(st.sampled_from([*VERSIONS, 8, 26]))
    services = draw(
        st.sampled_from(
            [FINESSE_SERVICES, Service.ALL_EVENTS, Service.CLIENT_EVENTS | Service.CLIENT_CONTROL, 0x4000]
        )
        | u32
    )
    idle = draw(st.sampled_from([20, 60, IDLE_TIMEOUT_DISABLED, 5]))
    floating: list[tuple[int, FloatValue]] = []
    if draw(st.booleans()):
        floating.append((Tag.AGENT_ID, draw(st.sampled_from([*AGENT_IDS, "9"]))))
    msg = open_req(
        version, services, idle, draw(u32), floating=floating, Reserved1=draw(st.sampled_from([0, 1]))
    )
    return msg, min(max(version, MIN_SUPPORTED_VERSION), MAX_SUPPORTED_VERSION)


# Up to AgentInstrument's 63 characters: longer than AgentExtension's 15 must work too.
instruments = (
    st.sampled_from(EXTENSIONS)
    | st.text(LATIN1_NO_NUL, max_size=15)
    | st.text(LATIN1_NO_NUL, min_size=16, max_size=63)
)


@st.composite
def agent_requests(draw: st.DrawFn) -> Message:
    agent_id = draw(st.sampled_from([*AGENT_IDS, "4242"]))
    kind = draw(st.sampled_from(["set", "set", "query", "report", "call"]))
    if kind == "call":
        # Call control on the calls the admin actions inject (ids from 0x1000), by device or not.
        mtype = draw(st.sampled_from([M.ANSWER_CALL_REQ, M.CLEAR_CALL_REQ, M.CLEAR_CONNECTION_REQ]))
        devices = draw(st.lists(st.sampled_from(EXTENSIONS), max_size=1))
        call_id = draw(st.integers(0x1000, 0x1003) | u32)
        return make(
            mtype, [(Tag.CONNECTION_DEVID, d) for d in devices], InvokeID=draw(u32), ConnectionCallID=call_id
        )
    if kind == "query":
        floating: list[tuple[int, FloatValue]] = [(Tag.AGENT_ID, agent_id)]
        mrd = draw(st.sampled_from([1, 5000, 0, -1, 77]))
        return make(M.QUERY_AGENT_STATE_REQ, floating, InvokeID=draw(u32), MRDID=mrd, ICMAgentID=-1)
    if kind == "report":
        text = draw(st.text(LATIN1_NO_NUL, max_size=20))
        return make(M.CLIENT_EVENT_REPORT_REQ, [(Tag.TEXT, text)], InvokeID=draw(u32), State=1)
    common = st.sampled_from(
        [AgentState.LOGIN, AgentState.AVAILABLE, AgentState.NOT_READY, AgentState.LOGOUT]
    )
    state = draw(common | common | st.sampled_from(list(AgentState)) | st.integers(0, 0xFFFF))
    floating = [(Tag.AGENT_ID, agent_id)]
    if state == AgentState.LOGIN or not draw(st.integers(0, 3)):
        floating.append((Tag.AGENT_INSTRUMENT, draw(instruments)))
    password = draw(st.sampled_from([None, f"pass{agent_id}".encode(), f"pass{agent_id}".encode(), b"wrong"]))
    if password is not None:
        floating.append((Tag.AGENT_PASSWORD, password))
    reason = draw(st.sampled_from([0, 7, 50002]))
    return make(M.SET_AGENT_STATE_REQ, floating, InvokeID=draw(u32), AgentState=state, EventReasonCode=reason)


@st.composite
def any_layout_messages(draw: st.DrawFn, version: int) -> Message:
    """Any message type with a layout, random fixed fields and floating fields of the right kind."""
    mtype = draw(st.sampled_from(sorted(FIXED)))
    fields = {f.name: draw(st.integers(*CODE_RANGE[f.code])) for f in fixed_layout(mtype, version)}
    wide = version >= FIRST_TWO_BYTE_TAG_VERSION
    tags = sorted(t for t in FLOAT_TYPES if wide or t <= 0xFF)
    floating: list[tuple[int, FloatValue]] = []
    for tag in draw(st.lists(st.sampled_from(tags), max_size=3)):
        kind, max_len = FLOAT_TYPES[tag]
        value: FloatValue
        if kind == "str":
            value = draw(st.text(LATIN1_NO_NUL, max_size=min(max_len - 1, 15)))
        elif kind == "bytes":
            value = draw(st.binary(max_size=min(max_len, 20)))
        else:
            value = draw(st.integers(*INT_RANGE[kind]))
        floating.append((tag, value))
    return make(mtype, floating, **fields)


@st.composite
def valid_frames(draw: st.DrawFn, version: int) -> bytes:
    """A well-formed frame in ``version`` (the script's) or, for some, any protocol version."""
    kind = draw(st.sampled_from(["open", "heartbeat", "close", "agent", "agent", "agent", "any"]))
    if kind == "open":
        msg, open_version = draw(open_reqs())
        return encode(msg, open_version)
    if kind == "agent":
        return encode(draw(agent_requests()), version)
    version = draw(st.just(version) | st.sampled_from(VERSIONS))
    if kind == "heartbeat":
        return encode(make(M.HEARTBEAT_REQ, InvokeID=draw(u32)), version)
    if kind == "close":
        return encode(make(M.CLOSE_REQ, InvokeID=draw(u32), Status=0), version)
    return encode(draw(any_layout_messages(version)), version)


@st.composite
def truncated_frames(draw: st.DrawFn, version: int) -> bytes:
    frame = draw(valid_frames(version))
    return frame[: draw(st.integers(0, len(frame) - 1))]


@st.composite
def mutated_frames(draw: st.DrawFn, version: int) -> bytes:
    frame = bytearray(draw(valid_frames(version)))
    for _ in range(draw(st.integers(1, 4))):
        frame[draw(st.integers(0, len(frame) - 1))] = draw(st.integers(0, 0xFF))
    return bytes(frame)


@st.composite
def oversize_headers(draw: st.DrawFn) -> bytes:
    length = draw(st.integers(MAX_BODY_SIZE + 1, 0xFFFFFFFF))
    return (
        length.to_bytes(4, "big") + draw(st.integers(0, 300)).to_bytes(4, "big") + draw(st.binary(max_size=8))
    )


@st.composite
def any_type_frames(draw: st.DrawFn) -> bytes:
    """Every message type number, known or not, with a random body."""
    body = draw(st.binary(max_size=48))
    return len(body).to_bytes(4, "big") + draw(st.integers(0, 300)).to_bytes(4, "big") + body


def chunks(version: int) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(min_size=1, max_size=40),
        valid_frames(version),
        valid_frames(version),
        valid_frames(version),
        st.lists(valid_frames(version), min_size=2, max_size=4).map(b"".join),
        truncated_frames(version),
        mutated_frames(version),
        oversize_headers(),
        any_type_frames(),
    )


@st.composite
def finesse_open(draw: st.DrawFn, version: int) -> bytes:
    """A valid OPEN_REQ that is accepted: sessions need one to get anywhere."""
    return encode(open_req(version, FINESSE_SERVICES, draw(st.sampled_from([20, 60]))), version)


Action = tuple[Any, ...]
admin_actions = st.one_of(
    st.tuples(st.just("ready"), st.sampled_from(AGENT_IDS), st.sampled_from(EXTENSIONS)),
    st.tuples(
        st.just("call"),
        st.sampled_from(AGENT_IDS),
        st.none() | st.floats(0, 5),
        st.none() | st.floats(0, 10),
    ),
    st.tuples(st.just("end"), st.integers(0, 3)),
)


def actions(version: int, slots: st.SearchStrategy[int], max_tick: float) -> st.SearchStrategy[Action]:
    data = st.tuples(st.just("data"), slots, chunks(version))
    return st.one_of(
        data,
        data,
        data,
        data,
        st.tuples(st.just("data"), slots, finesse_open(version)),
        st.tuples(st.just("data"), slots, agent_requests().map(lambda m: encode(m, version))),
        st.tuples(st.just("tick"), st.floats(0, max_tick)),
        admin_actions,
    )


def scripts(
    slots: st.SearchStrategy[int], max_tick: float, max_size: int
) -> st.SearchStrategy[tuple[int, list[Action]]]:
    """A protocol version for the well-formed frames, and the actions."""
    return st.sampled_from(VERSIONS).flatmap(
        lambda v: st.tuples(
            st.just(v), st.lists(actions(v, slots, max_tick), min_size=max_size // 2, max_size=max_size)
        )
    )


def run_admin(rig: Rig, action: Action) -> None:
    """The shell's admin API: ControlError is its documented rejection (an HTTP error)."""
    core, now = rig.core, rig.now
    try:
        if action[0] == "ready":
            core.admin_set_state(now, action[1], AgentState.LOGIN, 0, extension=action[2])
            core.admin_set_state(now, action[1], AgentState.AVAILABLE, 0)
        elif action[0] == "call":
            core.inject_call(now, action[1], ani="5551234", answer_after=action[2], talk_time=action[3])
        elif action[0] == "end":
            calls = sorted(core.model.calls)
            if calls:
                core.end_call(now, calls[action[1] % len(calls)])
    except ControlError:
        pass
    rig.collect()


def run(rig: Rig, action: Action) -> None:
    if action[0] == "data":
        rig.feed(action[1], action[2])
    elif action[0] == "tick":
        rig.advance(action[1])
    else:
        run_admin(rig, action)


# -- tests -------------------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    load=st.sampled_from([0, 1]),
    script=scripts(st.integers(0, SLOTS - 1), max_tick=12.0, max_size=40),
    lost=st.lists(st.tuples(st.integers(0, 40), st.integers(0, SLOTS - 1)), max_size=3),
)
def test_any_input_on_any_session_keeps_the_core_sound(
    load: int, script: tuple[int, list[Action]], lost: list[tuple[int, int]]
) -> None:
    rig = Rig(load=load)
    drops = dict(lost)
    for step, action in enumerate(script[1]):
        if step in drops:
            # That slot's TCP connection goes away; a new one takes the slot.
            rig.core.session_lost(rig.now, rig.slots[drops[step]])
            rig.collect()
            rig.slots[drops[step]] = rig.connect()
        run(rig, action)  # no exception escapes
    rig.advance(0.5)
    for sid, session in rig.sessions.items():
        rig.received(sid)  # every Send frames and decodes with the session's version
        if sid in rig.closed:
            assert sid not in rig.core.sessions
        else:
            assert rig.core.sessions.get(sid) is session


@settings(max_examples=100, deadline=None)
@given(
    version=st.sampled_from([15, 19, 20, 24, 25]),
    invokes=st.lists(u32, min_size=1, max_size=15),
    cuts=st.lists(st.integers(0, 15 * 12), max_size=8),
    script=scripts(st.integers(1, SLOTS - 1), max_tick=0.5, max_size=35),
    heartbeat_steps=st.lists(st.integers(0, 35), max_size=15),
)
def test_well_behaved_session_gets_every_heartbeat_answered(
    version: int,
    invokes: list[int],
    cuts: list[int],
    script: tuple[int, list[Action]],
    heartbeat_steps: list[int],
) -> None:
    """Slot 0 opens, then sends only HEARTBEAT_REQs (in arbitrary chunks); the others send anything.

    Time advances by at most 35 ticks of 0.5 s, less than slot 0's 20 s IdleTimeout.
    """
    rig = Rig()
    sid = rig.slots[0]
    rig.feed(0, encode(open_req(version, FINESSE_SERVICES, 20), version))
    stream = b"".join(encode(make(M.HEARTBEAT_REQ, InvokeID=i), version) for i in invokes)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    pieces = [stream[a:b] for a, b in pairwise(bounds)]
    for step, action in enumerate(script[1]):
        for _ in range(heartbeat_steps.count(step)):
            if pieces:
                rig.feed(0, pieces.pop(0))
        run(rig, action)
    for piece in pieces:
        rig.feed(0, piece)
    assert sid not in rig.closed and sid in rig.core.sessions
    msgs = rig.received(sid)
    assert [m.type for m in msgs[:2]] == [M.OPEN_CONF, M.SYSTEM_EVENT]
    assert [m["InvokeID"] for m in msgs if m.type == M.HEARTBEAT_CONF] == invokes
    assert not [m for m in msgs if m.type in (M.FAILURE_CONF, M.FAILURE_EVENT, M.CONTROL_FAILURE_CONF)]
    for other in rig.sessions:
        rig.received(other)


# -- regressions: core bugs this fuzzing found (fixed in core.py) ----------------------------------
def test_long_instrument_login_keeps_agent_events_sendable() -> None:
    """A 16+ character instrument does not fit AgentExtension (STRING 16): it used to raise ValueError
    out of data_received and leave the agent logged in with events nobody could be sent."""
    rig = Rig()
    rig.feed(0, encode(open_req(24, FINESSE_SERVICES, 20), 24))
    device = "SEP0123456789ABCDEF"
    login = make(
        M.SET_AGENT_STATE_REQ,
        [(Tag.AGENT_ID, "1001"), (Tag.AGENT_INSTRUMENT, device)],
        InvokeID=2,
        AgentState=AgentState.LOGIN,
    )
    rig.feed(0, encode(login, 24))
    msgs = rig.received(rig.slots[0])
    assert [m.type for m in msgs if m.invoke_id == 2] == [M.SET_AGENT_STATE_CONF]
    events = [m for m in msgs if m.type == M.AGENT_STATE_EVENT]
    assert events and all(m.get(Tag.AGENT_INSTRUMENT) == device for m in events)


def test_second_open_req_does_not_change_the_negotiated_version() -> None:
    """A rejected second OPEN_REQ (E_CTI_SESSION_ALREADY_OPEN) in another version used to switch the open
    session to that version: the client's next requests no longer decoded."""
    rig = Rig()
    rig.feed(0, encode(open_req(24, FINESSE_SERVICES, 20), 24))
    rig.feed(0, encode(open_req(15, FINESSE_SERVICES, 20), 15))
    assert rig.core.sessions[rig.slots[0]].version == 24
    rig.feed(0, encode(make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, "1000")], InvokeID=3, MRDID=1), 24))
    assert rig.received(rig.slots[0])[-1].type == M.QUERY_AGENT_STATE_CONF
