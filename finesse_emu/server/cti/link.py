"""Finesse's side of the CTI link (GED-188 client), as a sans-IO state machine.

No sockets, no sleeping, no clock reads: every input carries ``now`` (monotonic seconds) and the
caller polls :meth:`CtiLink.data_to_send`, :meth:`CtiLink.events` and :meth:`CtiLink.next_deadline`.
The asyncio shell in :mod:`finesse_emu.server.cti.client` does the I/O.

Behaviour (seed, "CTI Failover"): connect to side A first; on any failure wait ``reconnect_pause``
and try the other side ("Finesse alternates between the configured servers until it makes a
successful connection"); a lost session also retries the other side first. While OPEN, a
HEARTBEAT_REQ goes out every ``heartbeat_interval``; each heartbeat has one interval to be answered,
and ``missed_heartbeats`` consecutive unanswered ones lose the link ("Finesse misses three
consecutive heartbeats ... heartbeat interval is five seconds"). With ``old_pg`` the loss is
declared ``old_pg_extra_detection`` later, unless a HEARTBEAT_CONF arrives in the meantime.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

from emu_base.timers import Timers
from ged188 import (
    FIXED,
    MAX_SUPPORTED_VERSION,
    MIN_IDLE_TIMEOUT,
    MIN_SUPPORTED_VERSION,
    NULL_ID,
    DecodeError,
    FrameDecoder,
    Message,
    MessageType,
    Service,
    Status,
    Tag,
    decode_body,
    encode,
    make,
)

M = MessageType

DEFAULT_SERVICES = int(Service.ALL_EVENTS | Service.CLIENT_CONTROL | Service.CALL_DATA_UPDATE)
# Cisco: "Client waits <= 5 s for CLOSE_CONF, then resets TCP" (unscaled; from_timers scales it).
DEFAULT_CLOSE_TIMEOUT = 5.0
_SEED = Timers()
_MAX_INVOKE_ID = 0xFFFFFFFF
_MAX_CANCELLED = 1024
# Messages the link itself owns; request() refuses them.
_SESSION_TYPES = frozenset({M.OPEN_REQ, M.HEARTBEAT_REQ, M.CLOSE_REQ})


class LinkState(enum.Enum):
    IDLE = "IDLE"
    CONNECTING = "CONNECTING"  # TCP connect to a side requested
    OPENING = "OPENING"  # OPEN_REQ sent, waiting for OPEN_CONF
    OPEN = "OPEN"
    WAITING = "WAITING"  # pause before the next attempt
    CLOSING = "CLOSING"  # CLOSE_REQ sent, waiting for CLOSE_CONF
    CLOSED = "CLOSED"


class CtiSide(NamedTuple):
    name: str
    host: str
    port: int


def default_idle_timeout(heartbeat_interval: float) -> int:
    """IdleTimeout for OPEN_REQ: 4 x heartbeat interval (Cisco's advice), never below the server's 20 s."""
    return max(MIN_IDLE_TIMEOUT, math.ceil(4 * heartbeat_interval))


@dataclass(frozen=True)
class CtiLinkConfig:
    """What Finesse is configured with: the two CTI servers and the session parameters.

    Times are effective seconds (already multiplied by ``time_scale``); :meth:`from_timers` takes
    them from a :class:`~emu_base.timers.Timers`.
    """

    sides: Sequence[tuple[str, str, int]]
    version: int = 24
    client_id: str = "Finesse"
    client_password: bytes = b""
    services: int = DEFAULT_SERVICES
    call_msg_mask: int = 0xFFFFFFFF
    agent_state_mask: int = 0x3FFF
    # None: derive from heartbeat_interval (see default_idle_timeout).
    idle_timeout: int | None = None
    heartbeat_interval: float = _SEED.cti_heartbeat_interval
    missed_heartbeats: int = _SEED.cti_missed_heartbeats
    reconnect_pause: float = _SEED.cti_reconnect_pause
    open_timeout: float = _SEED.cti_open_timeout
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    old_pg: bool = False
    old_pg_extra_detection: float = _SEED.cti_old_pg_extra_detection

    def __post_init__(self) -> None:
        sides = tuple(CtiSide(str(n), str(h), int(p)) for n, h, p in self.sides)
        if not sides:
            raise ValueError("at least one CTI side is required")
        if len({s.name for s in sides}) != len(sides):
            raise ValueError("CTI side names must be unique")
        object.__setattr__(self, "sides", sides)
        if not MIN_SUPPORTED_VERSION <= self.version <= MAX_SUPPORTED_VERSION:
            raise ValueError(f"unsupported protocol version {self.version}")
        if self.heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be > 0")
        if self.missed_heartbeats < 1:
            raise ValueError("missed_heartbeats must be >= 1")
        for name in ("reconnect_pause", "open_timeout", "close_timeout", "old_pg_extra_detection"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.idle_timeout is None:
            object.__setattr__(self, "idle_timeout", default_idle_timeout(self.heartbeat_interval))
        elif self.idle_timeout < MIN_IDLE_TIMEOUT:
            # The server would answer E_CTI_INVALID_TIMEOUT: fail at configuration time instead.
            raise ValueError(f"idle_timeout must be >= {MIN_IDLE_TIMEOUT} s, got {self.idle_timeout}")

    @classmethod
    def from_timers(
        cls, sides: Sequence[tuple[str, str, int]], timers: Timers, *, old_pg: bool = False, **overrides: Any
    ) -> CtiLinkConfig:
        values: dict[str, Any] = {
            "heartbeat_interval": timers.cti_heartbeat_interval,
            "missed_heartbeats": timers.cti_missed_heartbeats,
            "reconnect_pause": timers.cti_reconnect_pause,
            "open_timeout": timers.cti_open_timeout,
            "close_timeout": DEFAULT_CLOSE_TIMEOUT * timers.time_scale,
            "old_pg": old_pg,
            "old_pg_extra_detection": timers.cti_old_pg_extra_detection,
        }
        values.update(overrides)
        return cls(sides, **values)

    @property
    def side_list(self) -> tuple[CtiSide, ...]:
        return tuple(CtiSide(*s) for s in self.sides)

    @property
    def open_idle_timeout(self) -> int:
        """The IdleTimeout sent in OPEN_REQ."""
        assert self.idle_timeout is not None  # resolved in __post_init__
        return self.idle_timeout


# --- actions for the shell ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectRequested:
    """Open TCP to this side, then call ``connection_made`` or ``connection_failed``."""

    side: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class CloseRequested:
    """Drop the current connection (or cancel the connect in progress); expect no more input from it."""


# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkUp:
    side: str
    open_conf: Message


@dataclass(frozen=True, slots=True)
class LinkDown:
    """An OPEN session ended. ``detection_seconds``: how long the oldest heartbeat had gone
    unanswered when the loss was declared (0 when none was outstanding, e.g. a socket reset)."""

    side: str
    reason: str
    detection_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """A connection attempt failed before the session opened (refused, timed out, rejected)."""

    side: str
    reason: str


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    ok: bool
    consecutive_misses: int = 0


@dataclass(frozen=True, slots=True)
class Unsolicited:
    message: Message


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to ``request``: the matching CONF, or FAILURE_CONF / CONTROL_FAILURE_CONF."""

    invoke_id: int
    message: Message

    @property
    def ok(self) -> bool:
        return self.message.type not in (M.FAILURE_CONF, M.CONTROL_FAILURE_CONF)


@dataclass(frozen=True, slots=True)
class RequestFailed:
    invoke_id: int
    reason: str


Action: TypeAlias = ConnectRequested | CloseRequested
Event: TypeAlias = (
    ConnectRequested
    | CloseRequested
    | LinkUp
    | LinkDown
    | AttemptFailed
    | HeartbeatResult
    | Unsolicited
    | Reply
    | RequestFailed
)


class LinkNotOpenError(RuntimeError):
    """``request`` while the session is not OPEN (Finesse answers 503 in that case)."""


def _answers(mtype: int, req_type: int) -> bool:
    # GED-188 numbers every CONF as its REQ + 1; any request may instead get a failure.
    return mtype in (M.FAILURE_CONF, M.CONTROL_FAILURE_CONF, req_type + 1)


def status_name(code: int) -> str:
    try:
        return Status(code).name
    except ValueError:
        return f"status {code}"


@dataclass(slots=True)
class _Heartbeat:
    invoke_id: int
    sent_at: float


@dataclass(slots=True)
class _Session:
    """State of one TCP connection; replaced on every attempt so nothing leaks between sessions."""

    side: CtiSide
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    open_invoke_id: int | None = None
    close_invoke_id: int | None = None
    hb_base: float = 0.0  # heartbeats go out at hb_base + k * interval
    hb_k: int = 0
    outstanding: list[_Heartbeat] = field(default_factory=list)
    misses: int = 0
    loss_at: float | None = None  # old-PG window: the loss is declared then unless a CONF arrives
    loss_reason: str = ""


class CtiLink:
    """The CTI client state machine. See the module docstring."""

    def __init__(self, config: CtiLinkConfig) -> None:
        self.config = config
        self._sides = config.side_list
        self._state = LinkState.IDLE
        self._side_index = 0  # side of the current attempt, or of the next one while WAITING
        self._session: _Session | None = None
        self._deadline: float | None = None  # connect/open/retry/close deadline
        self._out = bytearray()
        self._events: list[Event] = []
        self._next_id = 1
        self._pending: dict[int, int] = {}  # InvokeID -> request message type
        self._cancelled: dict[int, int] = {}  # given up by the caller: InvokeID -> request type
        self._last_hb_ok: bool | None = None
        self._last_hb_success_at: float | None = None

    # --- public state -----------------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def active_side(self) -> str | None:
        """The side connected or being tried; None while IDLE, WAITING or CLOSED."""
        return self._session.side.name if self._session is not None else None

    @property
    def next_side(self) -> str:
        """The side of the current attempt, or of the next one."""
        return self._sides[self._side_index].name

    @property
    def last_heartbeat_ok(self) -> bool | None:
        """Finesse's lastCTIHeartbeatStatus: None before the first heartbeat result."""
        return self._last_hb_ok

    @property
    def last_heartbeat_success_at(self) -> float | None:
        return self._last_hb_success_at

    @property
    def consecutive_misses(self) -> int:
        return self._session.misses if self._session is not None else 0

    @property
    def pending_requests(self) -> int:
        return len(self._pending)

    # --- outputs ----------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called (monotonic seconds), or None."""
        if self._state is LinkState.OPEN:
            assert self._session is not None
            hb = self._next_heartbeat_at(self._session)
            loss = self._session.loss_at
            return hb if loss is None else min(hb, loss)
        if self._state in (LinkState.CONNECTING, LinkState.OPENING, LinkState.WAITING, LinkState.CLOSING):
            return self._deadline
        return None

    # --- inputs -----------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        if self._state is not LinkState.IDLE:
            raise RuntimeError(f"start() in state {self._state.value}")
        self._connect(now)

    def connection_made(self, now: float) -> None:
        if self._state is not LinkState.CONNECTING:
            return  # stale: the attempt was already given up
        assert self._session is not None
        self._state = LinkState.OPENING
        self._deadline = now + self.config.open_timeout
        self._session.open_invoke_id = self._new_invoke_id()
        cfg = self.config
        self._send(
            make(
                M.OPEN_REQ,
                [(Tag.CLIENT_ID, cfg.client_id), (Tag.CLIENT_PASSWORD, cfg.client_password)],
                InvokeID=self._session.open_invoke_id,
                VersionNumber=cfg.version,
                IdleTimeout=cfg.open_idle_timeout,
                PeripheralID=NULL_ID,
                ServicesRequested=cfg.services,
                CallMsgMask=cfg.call_msg_mask,
                AgentStateMask=cfg.agent_state_mask,
            )
        )

    def connection_failed(self, now: float, reason: str) -> None:
        if self._state is not LinkState.CONNECTING:
            return
        self._fail(now, f"connect failed: {reason}", had_transport=False)

    def connection_lost(self, now: float, reason: str) -> None:
        if self._state is LinkState.CLOSING:
            self._finish_close()
        elif self._state in (LinkState.OPENING, LinkState.OPEN):
            self._fail(now, f"connection lost: {reason}")

    def data_received(self, now: float, data: bytes) -> None:
        if self._state not in (LinkState.OPENING, LinkState.OPEN, LinkState.CLOSING):
            return  # bytes from a connection we already gave up
        session = self._session
        assert session is not None
        session.decoder.feed(data)
        # Stop as soon as a message ends the session: what follows belongs to a dead connection.
        while self._session is session:
            try:
                frame = session.decoder.next_frame()
                if frame is None:
                    return
                msg = decode_body(frame[0], frame[1], self.config.version)
            except DecodeError as exc:
                # A broken stream cannot be trusted or resynchronised: drop it and alternate.
                if self._state is LinkState.CLOSING:
                    self._finish_close()
                else:
                    self._fail(now, f"protocol error: {exc}")
                return
            self._handle(now, msg)

    def tick(self, now: float) -> None:
        state = self._state
        if state is LinkState.OPEN:
            session = self._session
            assert session is not None
            if session.loss_at is not None and now >= session.loss_at:
                self._fail(now, session.loss_reason)
            elif now >= self._next_heartbeat_at(session):
                self._heartbeat_tick(now, session)
            return
        if self._deadline is None or now < self._deadline:
            return
        if state is LinkState.CONNECTING:
            self._fail(now, "connect timeout")
        elif state is LinkState.OPENING:
            self._fail(now, "open timeout: no OPEN_CONF")
        elif state is LinkState.WAITING:
            self._connect(now)
        elif state is LinkState.CLOSING:
            self._finish_close()

    def close(self, now: float) -> None:
        """Graceful close: CLOSE_REQ when a session is open, then CLOSED (after CLOSE_CONF or a timeout)."""
        state = self._state
        if state in (LinkState.CLOSING, LinkState.CLOSED):
            return
        if state is LinkState.OPEN:
            session = self._session
            assert session is not None
            self._emit(LinkDown(session.side.name, "closed by client", 0.0))
            self._fail_pending("link closed by client")
            session.close_invoke_id = self._new_invoke_id()
            self._send(make(M.CLOSE_REQ, InvokeID=session.close_invoke_id, Status=Status.E_CTI_NO_ERROR))
            self._state = LinkState.CLOSING
            self._deadline = now + self.config.close_timeout
            return
        if state in (LinkState.CONNECTING, LinkState.OPENING):
            self._out.clear()
            self._emit(CloseRequested())
        self._session = None
        self._deadline = None
        self._state = LinkState.CLOSED

    def request(self, msg: Message) -> int:
        """Queue a request with a fresh InvokeID and return it; the answer comes as Reply/RequestFailed."""
        if self._state is not LinkState.OPEN:
            raise LinkNotOpenError(f"CTI link is {self._state.value}")
        if msg.type in _SESSION_TYPES:
            raise ValueError(f"{msg.name} is sent by the link itself")
        invoke_id = self._new_invoke_id()
        if msg.type in FIXED:
            if not any(f.name == "InvokeID" for f in FIXED[msg.type]):
                raise ValueError(f"{msg.name} carries no InvokeID: not a request")
            out = Message(msg.type, {**msg.fields, "InvokeID": invoke_id}, msg.floating)
        else:
            if len(msg.raw) < 4:
                raise ValueError(f"{msg.name}: a raw request needs its InvokeID in the first 4 bytes")
            out = Message(msg.type, raw=invoke_id.to_bytes(4, "big") + msg.raw[4:])
        self._send(out)  # encodes first: a message that cannot be sent is never left pending
        self._pending[invoke_id] = msg.type
        return invoke_id

    def cancel_request(self, invoke_id: int) -> None:
        """Forget a request (the caller gave up); a late reply is then dropped silently."""
        req_type = self._pending.pop(invoke_id, None)
        if req_type is not None:
            self._cancelled[invoke_id] = req_type
            if len(self._cancelled) > _MAX_CANCELLED:  # a server that never answers must not grow this
                del self._cancelled[next(iter(self._cancelled))]

    # --- internals --------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _send(self, msg: Message) -> None:
        self._out += encode(msg, self.config.version)

    def _new_invoke_id(self) -> int:
        invoke_id = self._next_id
        self._next_id = 1 if invoke_id >= _MAX_INVOKE_ID else invoke_id + 1
        return invoke_id

    def _connect(self, now: float) -> None:
        side = self._sides[self._side_index]
        self._session = _Session(side)
        self._state = LinkState.CONNECTING
        self._deadline = now + self.config.open_timeout
        self._emit(ConnectRequested(side.name, side.host, side.port))

    def _fail(self, now: float, reason: str, *, had_transport: bool = True) -> None:
        """End the current attempt or session and schedule the next attempt on the other side."""
        session = self._session
        assert session is not None
        if self._state is LinkState.OPEN:
            oldest = session.outstanding[0].sent_at if session.outstanding else now
            self._emit(LinkDown(session.side.name, reason, now - oldest))
            self._fail_pending(f"CTI link lost: {reason}")
        else:
            self._emit(AttemptFailed(session.side.name, reason))
        self._out.clear()  # unsent bytes were meant for the dead connection
        if had_transport:
            self._emit(CloseRequested())
        self._session = None
        self._side_index = (self._side_index + 1) % len(self._sides)
        self._state = LinkState.WAITING
        self._deadline = now + self.config.reconnect_pause

    def _finish_close(self) -> None:
        self._out.clear()
        self._emit(CloseRequested())
        self._session = None
        self._deadline = None
        self._state = LinkState.CLOSED

    def _fail_pending(self, reason: str) -> None:
        for invoke_id in self._pending:
            self._emit(RequestFailed(invoke_id, reason))
        self._pending.clear()
        self._cancelled.clear()

    def _next_heartbeat_at(self, session: _Session) -> float:
        # Multiplying, not accumulating, keeps scaled intervals (0.05 s) free of float drift.
        return session.hb_base + session.hb_k * self.config.heartbeat_interval

    def _heartbeat_tick(self, now: float, session: _Session) -> None:
        cfg = self.config
        if session.outstanding:
            # The previous heartbeat had its whole interval and got no HEARTBEAT_CONF: a miss.
            session.misses += 1
            self._last_hb_ok = False
            self._emit(HeartbeatResult(False, session.misses))
            if session.misses >= cfg.missed_heartbeats and session.loss_at is None:
                reason = f"heartbeat timeout: {session.misses} consecutive heartbeats unanswered"
                if cfg.old_pg and cfg.old_pg_extra_detection > 0:
                    # Agent PG 11.6/12.0: detection "incurs a delay of up to 40 seconds".
                    session.loss_at = now + cfg.old_pg_extra_detection
                    session.loss_reason = f"{reason} (+{cfg.old_pg_extra_detection:g} s old PG delay)"
                else:
                    self._fail(now, reason)
                    return
        invoke_id = self._new_invoke_id()
        self._send(make(M.HEARTBEAT_REQ, InvokeID=invoke_id))
        session.outstanding.append(_Heartbeat(invoke_id, now))
        session.hb_k += 1
        while self._next_heartbeat_at(session) <= now:
            session.hb_k += 1  # the caller was late: skip slots rather than burst heartbeats

    def _heartbeat_conf(self, now: float, session: _Session, invoke_id: int) -> None:
        ids = [hb.invoke_id for hb in session.outstanding]
        if invoke_id not in ids:
            return  # not one of this session's unanswered heartbeats
        # A CONF answers its heartbeat and every earlier one.
        del session.outstanding[: ids.index(invoke_id) + 1]
        session.misses = 0
        session.loss_at = None
        self._last_hb_ok = True
        self._last_hb_success_at = now
        self._emit(HeartbeatResult(True, 0))

    def _handle(self, now: float, msg: Message) -> None:
        session = self._session
        assert session is not None
        mtype = msg.type
        if self._state is LinkState.OPENING:
            if mtype == M.OPEN_CONF and msg.invoke_id == session.open_invoke_id:
                self._state = LinkState.OPEN
                self._deadline = None
                session.hb_base, session.hb_k = now, 1
                self._emit(LinkUp(session.side.name, msg))
            elif mtype == M.FAILURE_CONF and msg.invoke_id == session.open_invoke_id:
                self._fail(now, f"open rejected: {status_name(msg['Status'])}")
            elif mtype == M.FAILURE_EVENT:
                self._fail(now, f"FAILURE_EVENT: {status_name(msg['Status'])}")
            # Anything else before OPEN_CONF is not for us yet.
            return
        if self._state is LinkState.CLOSING:
            if mtype in (M.CLOSE_CONF, M.FAILURE_CONF) and msg.invoke_id == session.close_invoke_id:
                self._finish_close()
            return
        # OPEN
        if mtype == M.HEARTBEAT_CONF:
            self._heartbeat_conf(now, session, msg["InvokeID"])
            return
        if mtype == M.FAILURE_EVENT:
            self._fail(now, f"FAILURE_EVENT: {status_name(msg['Status'])}")
            return
        invoke_id = msg.invoke_id
        if mtype == M.FAILURE_CONF and any(hb.invoke_id == invoke_id for hb in session.outstanding):
            # "The server may answer HEARTBEAT_REQ with FAILURE_CONF to say it is offline."
            self._fail(now, f"heartbeat rejected: {status_name(msg['Status'])}")
            return
        if invoke_id is not None:
            req_type = self._pending.get(invoke_id)
            if req_type is not None and _answers(mtype, req_type):
                del self._pending[invoke_id]
                self._emit(Reply(invoke_id, msg))
                return
            req_type = self._cancelled.get(invoke_id)
            if req_type is not None and _answers(mtype, req_type):
                del self._cancelled[invoke_id]
                return
        self._emit(Unsolicited(msg))
