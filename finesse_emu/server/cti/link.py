"""Finesse's side of the CTI link (GED-188 client), as a sans-IO state machine.

No sockets, no sleeping, no clock reads. It speaks the emulator's one vocabulary
(:mod:`emu_base.sansio`): every input carries ``now`` (monotonic seconds) first; the caller pulls
:meth:`CtiLink.outputs` (requests to connect or close, and what happened: link up or down,
heartbeat results, replies, unsolicited messages) and :meth:`CtiLink.data_to_send` (the bytes),
and calls :meth:`CtiLink.handle_timer` at :meth:`CtiLink.next_deadline`. The asyncio shell in
:mod:`finesse_emu.server.cti.client` does the I/O.

Behaviour (Cisco, "CTI Failover"): connect to side A first; on any failure wait ``reconnect_pause``
and try the other side ("Finesse alternates between the configured servers until it makes a
successful connection"); a lost session also retries the other side first. While OPEN, heartbeats
keep the session alive (:mod:`.session`: "Finesse misses three consecutive heartbeats ... heartbeat
interval is five seconds"; with ``old_pg`` the loss is declared ``old_pg_extra_detection`` later).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import replace

from finesse_emu.server.cti.config import CtiLinkConfig
from finesse_emu.server.cti.outputs import (
    AttemptFailed,
    CloseRequested,
    ConnectRequested,
    HeartbeatResult,
    LinkDown,
    LinkUp,
    Output,
    Reply,
    RequestFailed,
    Unsolicited,
    status_name,
)
from finesse_emu.server.cti.session import Answer, Heartbeats, Requests, Session
from ged188 import FIXED, NULL_ID, DecodeError, Message, MessageType, Status, Tag, decode_body, encode, make

M = MessageType
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


class LinkNotOpenError(RuntimeError):
    """``request`` while the session is not OPEN (Finesse answers 503 in that case)."""


class CtiLink:
    """The CTI client state machine. See the module docstring."""

    def __init__(self, config: CtiLinkConfig) -> None:
        self.config = config
        self._sides = config.side_list
        self._state = LinkState.IDLE
        self._side_index = 0  # side of the current attempt, or of the next one while WAITING
        self._session: Session | None = None
        self._deadline: float | None = None  # connect/open/retry/close deadline
        self._out = bytearray()
        self._outputs: list[Output] = []
        self._requests = Requests()
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
        session = self._session
        return session.heartbeats.misses if session is not None and session.heartbeats is not None else 0

    @property
    def pending_requests(self) -> int:
        return len(self._requests)

    # --- outputs ----------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def outputs(self) -> list[Output]:
        out, self._outputs = self._outputs, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called (monotonic seconds), or None."""
        if self._state is LinkState.OPEN:
            heartbeats = self._heartbeats()
            return heartbeats.deadline()
        if self._state in (LinkState.CONNECTING, LinkState.OPENING, LinkState.WAITING, LinkState.CLOSING):
            return self._deadline
        return None

    # --- inputs -----------------------------------------------------------------------------------

    def set_sides(self, now: float, sides: Sequence[tuple[str, str, int]]) -> None:
        """New CTI servers (the administration API's SystemConfig), for the next connection
        attempt: the session or attempt under way keeps its side ("The B Side CTI host and port
        must be configured through the Finesse administration console"; a real node reads them at
        its next start, the emulator at its next attempt, so a change of side B shows at the next
        failover). ValueError, nothing changed, when the sides are not valid."""
        config = replace(self.config, sides=sides)
        self.config = config
        self._sides = config.side_list
        if self._side_index >= len(self._sides):
            self._side_index = 0

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
        self._session.open_invoke_id = self._requests.new_invoke_id()
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

    def handle_timer(self, now: float) -> None:
        state = self._state
        if state is LinkState.OPEN:
            heartbeats = self._heartbeats()
            if (reason := heartbeats.loss_due(now)) is not None:
                self._fail(now, reason)
            elif now >= heartbeats.next_at():
                self._heartbeat_due(now, heartbeats)
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
            session.close_invoke_id = self._requests.new_invoke_id()
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

    def request(self, now: float, msg: Message) -> int:
        """Queue a request with a fresh InvokeID and return it; the answer comes as Reply/RequestFailed."""
        if self._state is not LinkState.OPEN:
            raise LinkNotOpenError(f"CTI link is {self._state.value}")
        if msg.type in _SESSION_TYPES:
            raise ValueError(f"{msg.name} is sent by the link itself")
        invoke_id = self._requests.new_invoke_id()
        if msg.type in FIXED:
            if not any(f.name == "InvokeID" for f in FIXED[msg.type]):
                raise ValueError(f"{msg.name} carries no InvokeID: not a request")
            out = Message(msg.type, {**msg.fields, "InvokeID": invoke_id}, msg.floating)
        else:
            if len(msg.raw) < 4:
                raise ValueError(f"{msg.name}: a raw request needs its InvokeID in the first 4 bytes")
            out = Message(msg.type, raw=invoke_id.to_bytes(4, "big") + msg.raw[4:])
        self._send(out)  # encodes first: a message that cannot be sent is never left pending
        self._requests.add(invoke_id, msg.type)
        return invoke_id

    def cancel_request(self, now: float, invoke_id: int) -> None:
        """Forget a request (the caller gave up); a late reply is then dropped silently."""
        self._requests.cancel(invoke_id)

    # --- internals --------------------------------------------------------------------------------

    def _emit(self, output: Output) -> None:
        self._outputs.append(output)

    def _send(self, msg: Message) -> None:
        self._out += encode(msg, self.config.version)

    def _heartbeats(self) -> Heartbeats:
        assert self._session is not None and self._session.heartbeats is not None  # OPEN
        return self._session.heartbeats

    def _connect(self, now: float) -> None:
        side = self._sides[self._side_index]
        self._session = Session(side)
        self._state = LinkState.CONNECTING
        self._deadline = now + self.config.open_timeout
        self._emit(ConnectRequested(side.name, side.host, side.port))

    def _fail(self, now: float, reason: str, *, had_transport: bool = True) -> None:
        """End the current attempt or session and schedule the next attempt on the other side."""
        session = self._session
        assert session is not None
        if self._state is LinkState.OPEN:
            self._emit(LinkDown(session.side.name, reason, self._heartbeats().detection_seconds(now)))
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
        for invoke_id in self._requests.fail_all():
            self._emit(RequestFailed(invoke_id, reason))

    def _heartbeat_due(self, now: float, heartbeats: Heartbeats) -> None:
        if heartbeats.unanswered:
            reason = heartbeats.miss(now)
            self._last_hb_ok = False
            self._emit(HeartbeatResult(False, heartbeats.misses))
            if reason is not None:
                self._fail(now, reason)
                return
        invoke_id = self._requests.new_invoke_id()
        self._send(make(M.HEARTBEAT_REQ, InvokeID=invoke_id))
        heartbeats.sent(now, invoke_id)

    def _handle(self, now: float, msg: Message) -> None:
        session = self._session
        assert session is not None
        mtype = msg.type
        if self._state is LinkState.OPENING:
            if mtype == M.OPEN_CONF and msg.invoke_id == session.open_invoke_id:
                self._state = LinkState.OPEN
                self._deadline = None
                session.heartbeats = Heartbeats(self.config, now)
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
        heartbeats = self._heartbeats()
        if mtype == M.HEARTBEAT_CONF:
            if heartbeats.answered(msg["InvokeID"]):
                self._last_hb_ok = True
                self._last_hb_success_at = now
                self._emit(HeartbeatResult(True, 0))
            return
        if mtype == M.FAILURE_EVENT:
            self._fail(now, f"FAILURE_EVENT: {status_name(msg['Status'])}")
            return
        if mtype == M.FAILURE_CONF and heartbeats.is_outstanding(msg.invoke_id):
            # "The server may answer HEARTBEAT_REQ with FAILURE_CONF to say it is offline."
            self._fail(now, f"heartbeat rejected: {status_name(msg['Status'])}")
            return
        match = self._requests.match(msg)
        if match is Answer.DROPPED:
            return
        if match is Answer.NOT_AN_ANSWER:
            self._emit(Unsolicited(msg))
        else:
            self._emit(Reply(match, msg))
