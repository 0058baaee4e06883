"""The CTI Server as a sans-IO state machine: bytes in per session, outputs out.

It speaks the emulator's one vocabulary (:mod:`emu_base.sansio`): every input takes ``now`` first
(``open_session``, ``data_received``, ``session_lost``, the role changes and admin operations),
:meth:`CtiServerCore.outputs` drains what it produced, and :meth:`CtiServerCore.next_deadline` /
:meth:`CtiServerCore.handle_timer` carry its timers (idle timeouts, the PG answering and ending
injected calls). The events it broadcasts about agents and calls are built in
:mod:`cti_stub.events`. The asyncio shell (``cti_stub.server``) owns sockets and runs it with a
:class:`~emu_base.sansio.Driver`. ``now`` is wall-clock seconds, because agent and call times are
streamed to the other PG side.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cti_stub.events import agent_state_event, call_data_of, call_event, device_fields
from cti_stub.model import AgentChange, Call, CallChange, Change, ControlError, PeripheralModel
from emu_base.directory import VOICE_MRD
from emu_base.timers import Timers
from ged188 import (
    AGENT_STATE_MASK_BIT,
    CALL_MSG_BIT,
    IDLE_TIMEOUT_DISABLED,
    KNOWN_SERVICES,
    MAX_SUPPORTED_VERSION,
    MIN_IDLE_TIMEOUT,
    MIN_SUPPORTED_VERSION,
    NONE_16,
    NULL_ID,
    PT_ENTERPRISE_AGENT,
    AgentState,
    ControlFailure,
    DecodeError,
    EventCause,
    FrameDecoder,
    FramingError,
    LineType,
    LocalConnectionState,
    MediaAction,
    Message,
    MessageType,
    Service,
    SessionType,
    Status,
    SupervisoryAction,
    SystemEventID,
    Tag,
    decode_body,
    encode,
    make,
)

M = MessageType
# HEARTBEAT_REQ is most of the traffic (every client, every few seconds): it has a fast path.
_HEARTBEAT_REQ = struct.Struct(">III")
_HEARTBEAT_CONF_HEAD = struct.pack(">II", 4, M.HEARTBEAT_CONF)
_DEFAULTS = Timers()
LCS = LocalConnectionState
# Requests on a connection of an existing call: ConnectionCallID and ConnectionDeviceID name it.
_CALL_CONTROL = (
    M.ANSWER_CALL_REQ,
    M.CLEAR_CALL_REQ,
    M.CLEAR_CONNECTION_REQ,
    M.HOLD_CALL_REQ,
    M.RETRIEVE_CALL_REQ,
)


class Role(StrEnum):
    STARTING = "starting"
    ACTIVE = "active"
    IDLE = "idle"


class IdleMode(StrEnum):
    """How the idle PG side answers clients (the reference leaves pre-12.6 behaviour open)."""

    NOT_LISTENING = "not-listening"  # TCP refused: the classic, pre-12.6 client experience (default)
    OFFLINE = "offline"  # TCP accepted, OPEN_REQ answered FAILURE_CONF E_CTI_CTI_SERVER_OFFLINE
    STANDBY = "standby"  # v24 Active/Standby: v24+ clients with CTI_SERVICE_ACTIVE_STANDBY may open


@dataclass
class CoreConfig:
    side: str = "A"
    peripheral_id: int = 5000
    idle_mode: IdleMode = IdleMode.NOT_LISTENING
    # Pre-12.5 UCCE put non-voice MRDs back to their old state when the CTI client reconnects.
    mrd_auto_restore: bool = False
    pre_open_timeout: float = _DEFAULTS.cti_pre_open_timeout
    # idle_timeout_scale lets a scaled deployment honour a client's IdleTimeout in scaled seconds.
    idle_timeout_scale: float = 1.0
    # IdleTimeouts are >= 20 s, so scanning every session once a second is precise enough and keeps
    # thousands of idle sessions cheap (one deadline for all of them, not one per session).
    idle_scan_interval: float = _DEFAULTS.cti_idle_scan_interval
    # How long an outside number dialled with MAKE_CALL_REQ rings before the far end answers.
    outside_answer_after: float = _DEFAULTS.cti_outside_answer_after

    @classmethod
    def from_timers(cls, timers: Timers, **values: Any) -> CoreConfig:
        return cls(
            pre_open_timeout=timers.cti_pre_open_timeout,
            idle_timeout_scale=timers.time_scale,
            idle_scan_interval=timers.cti_idle_scan_interval,
            outside_answer_after=timers.cti_outside_answer_after,
            **values,
        )


@dataclass
class Session:
    sid: int
    peer: str
    created: float
    last_rx: float
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    opened: bool = False
    standby: bool = False
    version: int = MAX_SUPPORTED_VERSION
    services: int = 0
    call_mask: int = 0
    agent_mask: int = 0
    idle_timeout: float | None = None
    client_id: str = ""
    signature: str = ""
    agent_id: str | None = None  # Client Events sessions: the agent they are for
    rx_messages: int = 0
    tx_messages: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "peer": self.peer,
            "opened": self.opened,
            "standby": self.standby,
            "version": self.version,
            "services": self.services,
            "client_id": self.client_id,
            "signature": self.signature,
            "idle_timeout": self.idle_timeout,
            "rx_messages": self.rx_messages,
            "tx_messages": self.tx_messages,
        }


# -- outputs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Send:
    sid: int
    data: bytes


@dataclass(frozen=True)
class Close:
    sid: int
    reason: str


@dataclass(frozen=True)
class Replicate:
    """A record for the other PG side (the active side streams its state to the idle side)."""

    payload: dict[str, Any]


@dataclass(frozen=True)
class Notice:
    """Something worth one log line."""

    event: str
    fields: dict[str, Any]


Output = Send | Close | Replicate | Notice


class CtiServerCore:
    def __init__(self, model: PeripheralModel, config: CoreConfig | None = None) -> None:
        self.model = model
        self.config = config or CoreConfig()
        self.role = Role.STARTING
        self.sessions: dict[int, Session] = {}
        self._sids = itertools.count(1)
        self._out: list[Output] = []
        # Faults (set by the shell from /emu/faults).
        # ClientIDs whose heartbeats go unanswered ("*": everyone).
        self.silent_clients: set[str] = set()
        self.fail_heartbeats = False
        self.offline = False
        self.stats = {"bad_frames": 0, "rejected_opens": 0, "heartbeats": 0}
        # GED-188 messages by type name, received and sent (the shell's /metrics reads them).
        self.received: collections.Counter[str] = collections.Counter()
        self.sent: collections.Counter[str] = collections.Counter()
        self._next_idle_scan = 0.0
        # When an injected call is due to be answered or ended by the PG (a heap of wall times;
        # entries made stale by an admin answer or end are harmless: the sweep finds nothing due).
        self._call_deadlines: list[float] = []

    # -- plumbing ----------------------------------------------------------------------------------
    def outputs(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    def _send(self, s: Session, msg: Message) -> None:
        s.tx_messages += 1
        self.sent[msg.name] += 1
        self._out.append(Send(s.sid, encode(msg, s.version)))

    def _notice(self, event: str, **fields: Any) -> None:
        self._out.append(Notice(event, fields))

    def _fail(self, s: Session, invoke_id: int, status: Status) -> None:
        self._send(s, make(M.FAILURE_CONF, InvokeID=invoke_id, Status=status))

    def _close(self, s: Session, reason: str, *, client_failure: bool, now: float) -> None:
        if self.sessions.pop(s.sid, None) is None:
            return
        self._out.append(Close(s.sid, reason))
        self._notice("cti_session_closed", sid=s.sid, peer=s.peer, reason=reason, client=s.client_id)
        if client_failure and s.opened and not s.standby and self.role is Role.ACTIVE:
            self._apply(self.model.client_lost(now, s.sid))

    # -- session lifecycle -------------------------------------------------------------------------
    def open_session(self, now: float, peer: str = "") -> int:
        sid = next(self._sids)
        self.sessions[sid] = Session(sid, peer, now, now)
        return sid

    def session_lost(self, now: float, sid: int) -> None:
        """The TCP connection went away without CLOSE_REQ (E_CTI_CLIENT_DISCONNECTED)."""
        s = self.sessions.get(sid)
        if s is not None:
            self._close(s, "client disconnected", client_failure=True, now=now)

    def data_received(self, now: float, sid: int, data: bytes) -> None:
        s = self.sessions.get(sid)
        if s is None:
            return
        s.last_rx = now
        if len(data) == 12 and s.opened and not s.decoder.buffered and self._answers_heartbeats(s):
            length, mtype, invoke = _HEARTBEAT_REQ.unpack(data)
            if length == 4 and mtype == M.HEARTBEAT_REQ:
                s.rx_messages += 1
                s.tx_messages += 1
                self.stats["heartbeats"] += 1
                self.received["HEARTBEAT_REQ"] += 1
                self.sent["HEARTBEAT_CONF"] += 1
                self._out.append(Send(sid, _HEARTBEAT_CONF_HEAD + invoke.to_bytes(4, "big")))
                return
        s.decoder.feed(data)
        while sid in self.sessions:
            try:
                frame = s.decoder.next_frame()
            except FramingError as exc:
                # The stream cannot be resynchronised: tell the client why, then reset it.
                self.stats["bad_frames"] += 1
                self._notice("cti_bad_frame", sid=sid, peer=s.peer, error=str(exc), status=exc.status.name)
                self._send(s, make(M.FAILURE_EVENT, Status=exc.status))
                self._close(s, f"bad frame: {exc}", client_failure=True, now=now)
                return
            if frame is None:
                return
            mtype, body = frame
            s.rx_messages += 1
            name = M.name_of(mtype)  # a label value: every unknown type is one "UNKNOWN"
            self.received["UNKNOWN" if name.startswith("UNKNOWN_") else name] += 1
            try:
                msg = decode_body(mtype, body, s.version)
            except DecodeError as exc:
                self.stats["bad_frames"] += 1
                invoke = int.from_bytes(body[:4], "big") if len(body) >= 4 else 0
                self._notice(
                    "cti_bad_message", sid=sid, type=M.name_of(mtype), error=str(exc), status=exc.status.name
                )
                self._fail(s, invoke, exc.status)
                continue
            self._handle(s, msg, now)

    # -- timers ------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """The next idle scan while there are sessions; the next call step while active."""
        deadlines: list[float] = []
        if self.sessions:
            deadlines.append(self._next_idle_scan)
        if self.role is Role.ACTIVE and self._call_deadlines:
            deadlines.append(self._call_deadlines[0])
        wrapup = self.model.next_wrapup_deadline() if self.role is Role.ACTIVE else None
        if wrapup is not None:
            deadlines.append(wrapup)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Idle timeouts, and the PG's own progress of injected calls."""
        if self.sessions and now >= self._next_idle_scan:
            self._next_idle_scan = now + self.config.idle_scan_interval
            self._scan_idle(now)
        if self.role is Role.ACTIVE:
            self._apply(self.model.wrapup_expired(now))  # the wrap-up timers
        if self.role is not Role.ACTIVE or not self._call_deadlines or now < self._call_deadlines[0]:
            return
        while self._call_deadlines and self._call_deadlines[0] <= now:
            heapq.heappop(self._call_deadlines)
        for call in list(self.model.calls.values()):
            due = [
                c
                for c in call.live
                if c.state is LCS.ALERTING and c.answer_at is not None and now >= c.answer_at
            ]
            if due:  # an outside number the agent dialled answers
                try:
                    self._apply(self.model.answer_call(now, call.call_id, due[0].device))
                except ControlError as exc:  # cannot happen (an outside number is in one call)
                    self._notice("cti_outside_answer_failed", call=call.call_id, error=str(exc))
            elif call.phase == "alerting" and call.answer_at is not None and now >= call.answer_at:
                self._apply(self.model.answer_call(now, call.call_id))
            elif call.phase == "talking" and call.end_at is not None and now >= call.end_at:
                self._apply(self.model.end_call(now, call.call_id))

    def _schedule_call(self, answer_at: float | None, end_at: float | None) -> None:
        for when in (answer_at, end_at):
            if when is not None:
                heapq.heappush(self._call_deadlines, when)

    def _schedule_connections(self, call: Call) -> None:
        for conn in call.live:
            if conn.state is LCS.ALERTING and conn.answer_at is not None:
                heapq.heappush(self._call_deadlines, conn.answer_at)

    def _scan_idle(self, now: float) -> None:
        for s in list(self.sessions.values()):
            if not s.opened:
                if now - s.created > self.config.pre_open_timeout:
                    self._close(s, "no OPEN_REQ", client_failure=False, now=now)
            elif s.idle_timeout is not None and now - s.last_rx > s.idle_timeout:
                # "if it receives no message at all for IdleTimeout seconds it declares the session failed"
                self._send(s, make(M.FAILURE_EVENT, Status=Status.E_CTI_TIMEOUT))
                self._close(s, "idle timeout", client_failure=True, now=now)

    # -- role changes (driven by the duplex logic in the shell) --------------------------------------
    def become_active(self, now: float, reason: str, takeover: bool) -> None:
        if self.role is Role.ACTIVE:
            return
        self.role = Role.ACTIVE
        self._notice("cti_role", role=self.role.value, reason=reason)
        # Calls replicated from the side that was active go on from where it left them.
        self._call_deadlines = []
        for call in self.model.calls.values():
            self._schedule_connections(call)
            if call.phase == "alerting":
                self._schedule_call(call.answer_at, call.end_at)
            elif call.phase == "talking":
                self._schedule_call(None, call.end_at)
        if takeover:
            # A PG side switch disconnected every CTI client from the agents' point of view.
            self._apply(self.model.cti_disconnected_all(now))
        self._dispatch_queue()  # calls left waiting by the side that was active, agents Ready here
        for s in self.sessions.values():
            if s.standby:
                s.standby = False
                self._send(s, make(M.STANDBY_ACTIVE_EVENT_MSG))

    def become_idle(self, now: float, reason: str) -> None:
        if self.role is Role.IDLE:
            return
        self.role = Role.IDLE
        self._notice("cti_role", role=self.role.value, reason=reason)
        # Classic duplex: the CTI Server that stops being active closes every client connection.
        for s in list(self.sessions.values()):
            self._close(s, f"side going idle: {reason}", client_failure=False, now=now)

    def drop_all(
        self, now: float, reason: str, failure_event: bool = False, client: str | None = None
    ) -> int:
        sessions = [s for s in self.sessions.values() if client is None or s.client_id == client]
        for s in sessions:
            if failure_event and s.opened:
                self._send(s, make(M.FAILURE_EVENT, Status=Status.E_CTI_CTI_SERVER_OFFLINE))
            self._close(s, reason, client_failure=not failure_event, now=now)
        return len(sessions)

    # -- message handling ----------------------------------------------------------------------------
    def _handle(self, s: Session, msg: Message, now: float) -> None:
        invoke = msg.invoke_id or 0
        if msg.type == M.OPEN_REQ:
            self._open(s, msg, now)
            return
        if not s.opened:
            self._notice("cti_request_before_open", sid=s.sid, type=msg.name)
            self._fail(s, invoke, Status.E_CTI_SESSION_NOT_OPEN)
            return
        if msg.type == M.HEARTBEAT_REQ:
            self.stats["heartbeats"] += 1
            if self.fail_heartbeats or self.offline:
                self._fail(s, invoke, Status.E_CTI_CTI_SERVER_OFFLINE)
            elif self._answers_heartbeats(s):
                self._send(s, make(M.HEARTBEAT_CONF, InvokeID=invoke))
        elif msg.type == M.CLOSE_REQ:
            self._send(s, make(M.CLOSE_CONF, InvokeID=invoke))
            self._close(s, "CLOSE_REQ", client_failure=False, now=now)
        elif s.standby:
            # "The standby accepts only OPEN_REQ, HEARTBEAT_REQ and CLOSE_REQ."
            self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
        elif self.offline:
            self._fail(s, invoke, Status.E_CTI_CTI_SERVER_OFFLINE)
        elif msg.type == M.CLIENT_EVENT_REPORT_REQ:
            self._notice("cti_client_event_report", sid=s.sid, state=msg["State"], text=msg.get_str(Tag.TEXT))
            self._send(s, make(M.CLIENT_EVENT_REPORT_CONF, InvokeID=invoke))
        elif msg.type == M.QUERY_AGENT_STATE_REQ:
            self._query_agent(s, msg)
        elif msg.type == M.SET_AGENT_STATE_REQ:
            self._set_agent_state(s, msg, now)
        elif msg.type in _CALL_CONTROL:
            self._call_control(s, msg, now)
        elif msg.type == M.MAKE_CALL_REQ:
            self._make_call(s, msg, now)
        elif msg.type in (M.CONSULTATION_CALL_REQ, M.TRANSFER_CALL_REQ, M.CONFERENCE_CALL_REQ):
            self._consult_transfer_conference(s, msg, now)
        elif msg.type == M.EMU_SET_MEDIA_STATE_REQ:
            self._set_media_state(s, msg)
        elif msg.type == M.SET_CALL_DATA_REQ:
            self._set_call_data(s, msg)
        elif msg.type == M.SEND_DTMF_SIGNAL_REQ:
            self._send_dtmf(s, msg)
        elif msg.type == M.SUPERVISE_CALL_REQ:
            self._supervise_call(s, msg, now)
        elif msg.type in M.__members__.values() and M(msg.type).name.endswith("_REQ"):
            self._notice("cti_unsupported_request", sid=s.sid, type=msg.name)
            self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
        else:
            self._notice("cti_invalid_message_type", sid=s.sid, type=msg.name)
            self._fail(s, invoke, Status.E_CTI_INVALID_MSG_TYPE_FOR_VERSION)

    def _answers_heartbeats(self, s: Session) -> bool:
        if self.fail_heartbeats or self.offline:
            return False
        silent = self.silent_clients
        return not silent or ("*" not in silent and s.client_id not in silent)

    def _open_status(self, s: Session, msg: Message) -> Status | None:
        version = msg["VersionNumber"]
        if s.opened:
            return Status.E_CTI_SESSION_ALREADY_OPEN
        if not MIN_SUPPORTED_VERSION <= version <= MAX_SUPPORTED_VERSION:
            return Status.E_CTI_INVALID_VERSION
        if msg["Reserved1"] or msg["Reserved2"] or msg["Reserved3"]:
            return Status.E_CTI_INVALID_RESERVED_FIELD
        timeout = msg["IdleTimeout"]
        if timeout != IDLE_TIMEOUT_DISABLED and timeout < MIN_IDLE_TIMEOUT:
            return Status.E_CTI_INVALID_TIMEOUT
        if msg.get(Tag.CLIENT_ID) is None or msg.get(Tag.CLIENT_PASSWORD) is None:
            return Status.E_CTI_REQUIRED_DATA_MISSING
        services = msg["ServicesRequested"]
        if services & ~KNOWN_SERVICES:
            return Status.E_CTI_INVALID_SERVICE_MASK
        if services & Service.CLIENT_EVENTS:
            ids = [msg.get_str(t) for t in (Tag.AGENT_EXTENSION, Tag.AGENT_ID, Tag.AGENT_INSTRUMENT)]
            if not any(ids):
                return Status.E_CTI_REQUIRED_DATA_MISSING
            if self.model.find(ids[1], ids[0] or ids[2], None) is None:
                return Status.E_CTI_INVALID_AGENT_DATA
        if self.offline or self.role is Role.STARTING:
            return Status.E_CTI_CTI_SERVER_OFFLINE
        if self.role is Role.IDLE:
            if self.config.idle_mode is not IdleMode.STANDBY or version < 24:
                return Status.E_CTI_CTI_SERVER_OFFLINE
            if not services & Service.ACTIVE_STANDBY:
                return Status.E_CTI_INVALID_CLIENT_FOR_STANDBY
        return None

    def _open(self, s: Session, msg: Message, now: float) -> None:
        invoke = msg["InvokeID"]
        status = self._open_status(s, msg)
        if status is not None:
            self.stats["rejected_opens"] += 1
            self._notice(
                "cti_open_rejected", sid=s.sid, peer=s.peer, status=status.name, version=msg["VersionNumber"]
            )
            # Answer with the client's own version so it can parse the reply.
            if not s.opened and MIN_SUPPORTED_VERSION <= msg["VersionNumber"] <= MAX_SUPPORTED_VERSION:
                s.version = msg["VersionNumber"]
            self._fail(s, invoke, status)
            if status is not Status.E_CTI_SESSION_ALREADY_OPEN:
                self._close(s, f"OPEN_REQ rejected: {status.name}", client_failure=False, now=now)
            return
        s.opened = True
        s.version = msg["VersionNumber"]
        s.services = msg["ServicesRequested"] & KNOWN_SERVICES
        s.call_mask = msg["CallMsgMask"]
        s.agent_mask = msg["AgentStateMask"]
        timeout = msg["IdleTimeout"]
        s.idle_timeout = (
            None if timeout == IDLE_TIMEOUT_DISABLED else timeout * self.config.idle_timeout_scale
        )
        s.client_id = msg.get_str(Tag.CLIENT_ID) or ""
        s.signature = msg.get_str(Tag.CLIENT_SIGNATURE) or s.client_id
        s.standby = self.role is Role.IDLE
        agent_state = AgentState.UNKNOWN
        if s.services & Service.CLIENT_EVENTS:
            agent = self.model.find(
                msg.get_str(Tag.AGENT_ID),
                msg.get_str(Tag.AGENT_EXTENSION) or msg.get_str(Tag.AGENT_INSTRUMENT),
                None,
            )
            if agent is not None:
                s.agent_id, agent_state = agent.id, agent.state
        floating: list[tuple[int, Any]] = []
        if s.version >= 14 and msg["PeripheralID"] == NULL_ID:
            floating = [
                (Tag.NUM_PERIPHERALS, 1),
                (Tag.FLT_PERIPHERAL_ID, self.model.peripheral_id),
                (Tag.MULTI_LINE_AGENT_CONTROL, 0),
            ]
        self._send(
            s,
            make(
                M.OPEN_CONF,
                floating,
                InvokeID=invoke,
                ServicesGranted=s.services,
                PGStatus=0,
                ICMCentralControllerTime=int(now),
                PeripheralOnline=1,
                PeripheralType=PT_ENTERPRISE_AGENT,
                AgentState=agent_state,
                SessionType=SessionType.STANDBY if s.standby else SessionType.ACTIVE,
            ),
        )
        self._notice(
            "cti_session_opened",
            sid=s.sid,
            peer=s.peer,
            client=s.client_id,
            version=s.version,
            services=hex(s.services),
            standby=s.standby,
        )
        if s.services & Service.ALL_EVENTS:
            self._send(
                s,
                make(
                    M.SYSTEM_EVENT,
                    ICMCentralControllerTime=int(now),
                    SystemEventID=SystemEventID.PERIPHERAL_ONLINE,
                    SystemEventArg1=self.model.peripheral_id,
                    EventDeviceType=NONE_16,
                ),
            )
        if s.standby:
            return
        if self.config.mrd_auto_restore and s.services & (
            Service.CLIENT_CONTROL | Service.AGENT_STATE_CONTROL_ONLY
        ):
            for agent in self.model.agents.values():
                self._apply(self.model.restore_non_voice(agent))
        # Every logged-in agent's current state (voice and non-voice MRDs), so that a client that
        # (re)connects learns reason codes too, which QUERY_AGENT_STATE_CONF does not carry.
        for agent in self.model.agents.values():
            if agent.logged_in:
                for change in [AgentChange.of(agent), *(AgentChange.of(agent, m) for m in agent.mrd_states)]:
                    if self._wants_agent(s, change):
                        self._send(s, self._agent_message(change))
        # Calls in progress are announced again so the client can rebuild its view
        # (EventCause CEC_CALL_PARTY_UPDATE_IND, as after a graceful v24 switchover); a call that
        # ended and waits for its agent's wrap-up is announced cleared (its END_CALL comes later).
        for call in list(self.model.calls.values()):
            for step in self._call_replay(call):
                msg_out = self._call_message(step, EventCause.CALL_PARTY_UPDATE_IND)
                if self._wants_call(s, msg_out.type, call):
                    self._send(s, msg_out)

    @staticmethod
    def _call_replay(call: Call) -> list[CallChange]:
        """A call in progress as a (re)connecting client learns it: BEGIN_CALL, then each live
        connection in its state (a held one as established, then held)."""
        changes = [CallChange("begin", call)]
        if call.phase == "ended":
            return [*changes, CallChange("cleared", call)]  # waits for its agents' wrap-up
        queued = next((c for c in call.live if c.state is LCS.QUEUED), None)
        if queued is not None:  # a caller waiting in the queue
            return [
                CallChange("begin", call, queued.device),
                CallChange("queued", call, queued.device, LCS.QUEUED),
            ]
        for conn in call.live:
            if conn.state is LCS.INITIATE:
                changes.append(CallChange("originated", call, conn.device, conn.state))
            elif conn.state is LCS.ALERTING:
                changes.append(CallChange("delivered", call, conn.device, conn.state))
            else:
                changes.append(CallChange("established", call, conn.device, LCS.CONNECT))
                if conn.state is LCS.HOLD:
                    changes.append(CallChange("held", call, conn.device, LCS.HOLD))
        return changes

    def _query_agent(self, s: Session, msg: Message) -> None:
        invoke = msg["InvokeID"]
        agent = self.model.find(
            msg.get_str(Tag.AGENT_ID),
            msg.get_str(Tag.AGENT_EXTENSION) or msg.get_str(Tag.AGENT_INSTRUMENT),
            msg["ICMAgentID"],
        )
        if agent is None:
            self._no_agent(s, invoke)
            return
        mrd = msg["MRDID"]
        state = agent.mrd_states.get(mrd, agent.state) if mrd not in (0, -1, VOICE_MRD) else agent.state
        floating: list[tuple[int, Any]] = []
        if agent.logged_in:
            floating += [(Tag.AGENT_ID, agent.id), *device_fields(agent.extension)]
        for sg in agent.record.skill_groups:
            floating += [
                (Tag.SKILL_GROUP_NUMBER, sg),
                (Tag.SKILL_GROUP_ID, sg),
                (Tag.SKILL_GROUP_PRIORITY, 0),
                (Tag.SKILL_GROUP_STATE, state),
            ]
        self._send(
            s,
            make(
                M.QUERY_AGENT_STATE_CONF,
                floating,
                InvokeID=invoke,
                AgentState=state,
                NumSkillGroups=len(agent.record.skill_groups),
                MRDID=mrd if mrd not in (0, -1) else VOICE_MRD,
                NumTasks=len(agent.call_ids),
                AgentMode=int(agent.mrd_routable.get(mrd, False)) if mrd in agent.mrd_states else 1,
                MaxTaskLimit=1,
                ICMAgentID=agent.record.icm_agent_id,
                AgentAvailabilityStatus=1 if state is AgentState.AVAILABLE else 0,
            ),
        )

    def _set_agent_state(self, s: Session, msg: Message, now: float) -> None:
        invoke = msg["InvokeID"]
        if not s.services & (Service.CLIENT_CONTROL | Service.AGENT_STATE_CONTROL_ONLY):
            self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
            return
        try:
            requested = AgentState(msg["AgentState"])
        except ValueError:
            self._send(s, make(M.CONTROL_FAILURE_CONF, InvokeID=invoke, FailureCode=260))
            return
        instrument = msg.get_str(Tag.AGENT_INSTRUMENT)
        agent = self.model.find(msg.get_str(Tag.AGENT_ID) or s.agent_id, instrument, None)
        if agent is None:
            self._no_agent(s, invoke)
            return
        password = msg.get(Tag.AGENT_PASSWORD)
        try:
            changes = self.model.set_state(
                now,
                agent.id,
                requested,
                msg["EventReasonCode"],
                extension=instrument or msg.get_str(Tag.AGENT_EXTENSION),
                password=password if isinstance(password, bytes) else None,
                controller=s.sid,
            )
        except ControlError as exc:
            self._notice(
                "cti_set_agent_state_rejected",
                sid=s.sid,
                agent=agent.id,
                state=requested.name,
                error=str(exc),
            )
            self._refuse(s, invoke, exc)
            return
        self._send(s, make(M.SET_AGENT_STATE_CONF, InvokeID=invoke))
        self._apply(changes)

    def _no_agent(self, s: Session, invoke: int) -> None:
        """The request names no agent the PG knows (by id, extension or instrument)."""
        self._refuse(
            s, invoke, ControlError("no agent", failure=ControlFailure.CF_INVALID_AGENT_ID_SPECIFIED)
        )

    def _refuse(self, s: Session, invoke: int, exc: ControlError) -> None:
        if exc.failure is not None:
            conf = make(
                M.CONTROL_FAILURE_CONF,
                InvokeID=invoke,
                FailureCode=exc.failure,
                PeripheralErrorCode=exc.peripheral_error,
            )
            self._send(s, conf)
        else:
            self._fail(s, invoke, exc.status or Status.E_CTI_UNSPECIFIED_FAILURE)

    def _set_media_state(self, s: Session, msg: Message) -> None:
        """Finesse's non-voice MRD request (emulator-private message, see constants.py)."""
        invoke = msg["InvokeID"]
        if not s.services & (Service.CLIENT_CONTROL | Service.AGENT_STATE_CONTROL_ONLY):
            self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
            return
        agent = self.model.find(msg.get_str(Tag.AGENT_ID), None, None)
        if agent is None:
            self._no_agent(s, invoke)
            return
        mrd = msg["MRDID"]
        try:
            action = MediaAction(msg["Action"])
            if action is MediaAction.SET_STATE:
                changes = self.model.set_media_state(
                    agent.id, mrd, AgentState(msg["AgentState"]), msg["EventReasonCode"]
                )
            elif action is MediaAction.SET_ROUTABLE:
                changes = self.model.set_media_routable(agent.id, mrd, bool(msg["AgentMode"]))
            else:
                changes = self.model.work_to_active(agent.id, mrd)
        except ValueError:  # an Action or AgentState number that does not exist
            self._send(s, make(M.CONTROL_FAILURE_CONF, InvokeID=invoke, FailureCode=260))
            return
        except ControlError as exc:
            self._notice("cti_media_request_rejected", sid=s.sid, agent=agent.id, mrd=mrd, error=str(exc))
            self._refuse(s, invoke, exc)
            return
        self._send(s, make(M.EMU_SET_MEDIA_STATE_CONF, InvokeID=invoke))
        self._apply(changes)

    def _call_control(self, s: Session, msg: Message, now: float) -> None:
        """ANSWER, CLEAR_CALL, CLEAR_CONNECTION, HOLD and RETRIEVE on a connection of a call."""
        invoke = msg["InvokeID"]
        if not s.services & Service.CLIENT_CONTROL:
            self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
            return
        call = self.model.calls.get(msg["ConnectionCallID"])
        device = msg.get_str(Tag.CONNECTION_DEVID) or None
        if msg.type == M.ANSWER_CALL_REQ:
            # "Since there is no formal connection between a call and an alerting device, the
            # ConnectionDeviceID of the calling connection is used here": AgentInstrument, when
            # given, names the device that answers.
            device = msg.get_str(Tag.AGENT_INSTRUMENT) or device
        if call is None or (device is not None and all(c.device != device for c in call.live)):
            self._notice("cti_call_control_rejected", sid=s.sid, type=msg.name, call=msg["ConnectionCallID"])
            self._fail(s, invoke, Status.E_CTI_INVALID_CALLID)
            return
        try:
            if msg.type == M.ANSWER_CALL_REQ:
                alerting = call.connection(device) if device else None
                answer_at = device if alerting is not None and alerting.state is LCS.ALERTING else None
                changes = self.model.answer_call(now, call.call_id, answer_at)
            elif msg.type == M.HOLD_CALL_REQ:
                changes = self.model.hold_call(now, call.call_id, device)
            elif msg.type == M.RETRIEVE_CALL_REQ:
                changes = self.model.retrieve_call(now, call.call_id, device)
            elif msg.type == M.CLEAR_CONNECTION_REQ:
                changes = self.model.clear_connection(now, call.call_id, device)
            else:
                changes = self.model.end_call(now, call.call_id)
        except ControlError as exc:
            self._notice("cti_call_control_rejected", sid=s.sid, type=msg.name, error=str(exc))
            self._refuse(s, invoke, exc)
            return
        self._send(s, make(msg.type + 1, InvokeID=invoke))
        self._apply(changes)

    def _make_call(self, s: Session, msg: Message, now: float) -> None:
        """MAKE_CALL_REQ from an agent's instrument: MAKE_CALL_CONF with the new connection, then
        BEGIN_CALL, SERVICE_INITIATED, ORIGINATED, DELIVERED (and ESTABLISHED when answered)."""
        invoke = msg["InvokeID"]
        if not s.services & Service.CLIENT_CONTROL:
            self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
            return
        instrument = msg.get_str(Tag.AGENT_INSTRUMENT) or ""
        agent = self.model.find(None, instrument, None) if instrument else None
        if agent is None:
            self._notice("cti_make_call_rejected", sid=s.sid, instrument=instrument, error="no agent")
            self._no_agent(s, invoke)
            return
        variables = {
            f"callVariable{i + 1}": v for i in range(10) if (v := msg.get_str(Tag.CALL_VAR_1 + i)) is not None
        }
        try:
            call, changes = self.model.make_call(
                now,
                agent.id,
                msg.get_str(Tag.DIALED_NUMBER) or "",
                variables,
                self.config.outside_answer_after,
            )
        except ControlError as exc:
            self._notice("cti_make_call_rejected", sid=s.sid, agent=agent.id, error=str(exc))
            self._refuse(s, invoke, exc)
            return
        self._schedule_connections(call)
        conf = make(
            M.MAKE_CALL_CONF,
            [(Tag.NEW_CONNECTION_DEVID, instrument)],
            InvokeID=invoke,
            NewConnectionCallID=call.call_id,
            NewConnectionDeviceIDType=0,
            LineHandle=NONE_16,
            LineType=LineType.INSIDE,
        )
        self._send(s, conf)
        self._apply(changes)

    # -- consult, transfer, conference -----------------------------------------------------------
    def _consult_transfer_conference(self, s: Session, msg: Message, now: float) -> None:
        """CONSULTATION_CALL_REQ (CONF: the consult's new connection), TRANSFER_CALL_REQ (with no
        active call: a single-step transfer to DialedNumber) and CONFERENCE_CALL_REQ (CONF: the
        surviving call and its parties)."""
        invoke = msg["InvokeID"]
        if not s.services & Service.CLIENT_CONTROL:
            self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
            return
        active_dev = msg.get_str(Tag.ACTIVE_CONN_DEVID) or msg.get_str(Tag.AGENT_INSTRUMENT) or None
        held_dev = msg.get_str(Tag.HELD_CONN_DEVID) or active_dev
        dialed = msg.get_str(Tag.DIALED_NUMBER) or ""
        after = self.config.outside_answer_after
        new_call: Call | None = None
        try:
            if msg.type == M.CONSULTATION_CALL_REQ:
                variables = {
                    f"callVariable{i + 1}": v
                    for i in range(10)
                    if (v := msg.get_str(Tag.CALL_VAR_1 + i)) is not None
                }
                new_call, changes = self.model.consult_call(
                    now, msg["ActiveConnectionCallID"], active_dev, dialed, variables, after
                )
            elif msg.type == M.TRANSFER_CALL_REQ and msg["ActiveConnectionCallID"] == NULL_ID:
                changes = self.model.single_step_transfer(
                    now, msg["HeldConnectionCallID"], held_dev, dialed, after
                )
            elif msg.type == M.TRANSFER_CALL_REQ:
                changes = self.model.transfer_call(
                    now, msg["HeldConnectionCallID"], msg["ActiveConnectionCallID"], held_dev
                )
            else:
                changes = self.model.conference_call(
                    now, msg["HeldConnectionCallID"], msg["ActiveConnectionCallID"], held_dev
                )
        except ControlError as exc:
            self._notice("cti_call_control_rejected", sid=s.sid, type=msg.name, error=str(exc))
            self._refuse(s, invoke, exc)
            return
        if msg.type == M.CONSULTATION_CALL_REQ and new_call is not None:
            self._schedule_connections(new_call)
            conf = make(
                M.CONSULTATION_CALL_CONF,
                [(Tag.NEW_CONNECTION_DEVID, new_call.connections[0].device)],
                InvokeID=invoke,
                NewConnectionCallID=new_call.call_id,
                LineHandle=NONE_16,
                LineType=LineType.INSIDE,
            )
        else:
            primary = self.model.calls.get(msg["HeldConnectionCallID"])
            if primary is not None:
                self._schedule_connections(primary)  # an outside number moved in still rings
            parties = primary.live if primary is not None else []
            floating: list[tuple[int, Any]] = [(Tag.NEW_CONNECTION_DEVID, held_dev or "")]
            for conn in parties:
                floating += [(Tag.PARTY_CALLID, msg["HeldConnectionCallID"]), (Tag.PARTY_DEVID_TYPE, 0),
                             (Tag.PARTY_DEVID, conn.device)]  # fmt: skip
            conf = make(
                msg.type + 1,
                floating,
                InvokeID=invoke,
                NewConnectionCallID=msg["HeldConnectionCallID"],
                NumParties=len(parties),
                LineHandle=NONE_16,
                LineType=LineType.INSIDE,
            )
        self._send(s, conf)
        self._apply(changes)

    def _set_call_data(self, s: Session, msg: Message) -> None:
        """SET_CALL_DATA_REQ: call variables, ECC variables and wrap-up data, during the call or its
        wrap-up; every client hears the CALL_DATA_UPDATE_EVENT."""
        invoke = msg["InvokeID"]
        if not s.services & Service.CLIENT_CONTROL:
            self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
            return
        try:
            changes = self.model.update_call_data(msg["ConnectionCallID"], call_data_of(msg))
        except ControlError as exc:
            self._notice("cti_call_control_rejected", sid=s.sid, type=msg.name, error=str(exc))
            self._fail(s, invoke, exc.status or Status.E_CTI_INVALID_CALLID)
            return
        self._send(s, make(M.SET_CALL_DATA_CONF, InvokeID=invoke))
        self._apply(changes)

    def _send_dtmf(self, s: Session, msg: Message) -> None:
        """SEND_DTMF_SIGNAL_REQ: the CONF for a call in progress at the device, logged; no event."""
        invoke = msg["InvokeID"]
        if not s.services & Service.CLIENT_CONTROL:
            self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
            return
        call_id, digits = msg["ConnectionCallID"], msg.get_str(Tag.DTMF_STRING) or ""
        try:
            self.model.send_dtmf(call_id, msg.get_str(Tag.CONNECTION_DEVID) or "", digits)
        except ControlError as exc:
            self._notice("cti_call_control_rejected", sid=s.sid, type=msg.name, error=str(exc))
            self._fail(s, invoke, exc.status or Status.E_CTI_INVALID_CALLID)
            return
        self._notice("cti_dtmf_sent", sid=s.sid, call=call_id, digits=digits)
        self._send(s, make(M.SEND_DTMF_SIGNAL_CONF, InvokeID=invoke))

    # -- supervisor actions -------------------------------------------------------------------------
    def _supervise_call(self, s: Session, msg: Message, now: float) -> None:
        """SUPERVISE_CALL_REQ: MONITOR starts a silent monitor of the agent's call (the supervisor has
        no call: SupervisorConnectionCallID 0xFFFFFFFF), BARGE_IN joins the call the supervisor
        monitors, CLEAR ends the supervisor's monitor call. SUPERVISE_CALL_CONF names the agent's
        connection ("the connection between the call and the agent device that is being
        supervised"), then the call events. WHISPER and INTERCEPT are not emulated: FAILURE_CONF
        E_CTI_FUNCTION_NOT_AVAILABLE (Finesse offers neither)."""
        invoke = msg["InvokeID"]
        if not s.services & Service.CLIENT_CONTROL:
            self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
            return
        instrument = msg.get_str(Tag.SUPERVISOR_INSTRUMENT) or ""
        supervisor = self.model.find(None, instrument, None) if instrument else None
        agent_device = msg.get_str(Tag.AGENT_CONNECTION_DEVID) or msg.get_str(Tag.AGENT_INSTRUMENT) or ""
        try:
            action = SupervisoryAction(msg["SupervisoryAction"])
        except ValueError:
            action = None
        if supervisor is None:
            self._notice("cti_supervise_rejected", sid=s.sid, instrument=instrument, error="no supervisor")
            self._no_agent(s, invoke)
            return
        try:
            if action is SupervisoryAction.MONITOR:
                monitor, changes = self.model.silent_monitor(now, supervisor.id, agent_device)
                agent_call = monitor.monitored or 0
            elif action is SupervisoryAction.BARGE_IN:
                agent_call = msg["AgentConnectionCallID"]
                changes = self.model.barge_in(
                    now, supervisor.id, agent_call, msg["SupervisorConnectionCallID"]
                )
            elif action is SupervisoryAction.CLEAR:
                agent_call = msg["AgentConnectionCallID"]
                changes = self.model.clear_connection(
                    now, msg["SupervisorConnectionCallID"], supervisor.extension
                )
            else:
                self._notice(
                    "cti_unsupported_request", sid=s.sid, type=msg.name, action=msg["SupervisoryAction"]
                )
                self._fail(s, invoke, Status.E_CTI_FUNCTION_NOT_AVAILABLE)
                return
        except ControlError as exc:
            self._notice("cti_supervise_rejected", sid=s.sid, supervisor=supervisor.id, error=str(exc))
            self._refuse(s, invoke, exc)
            return
        conf = make(
            M.SUPERVISE_CALL_CONF,
            [(Tag.CONNECTION_DEVID, agent_device)],
            InvokeID=invoke,
            ConnectionCallID=agent_call,
            ConnectionDeviceIDType=0,
        )
        self._send(s, conf)
        self._apply(changes)

    # -- admin operations (HTTP admin API of the shell) ------------------------------------------------
    def admin_set_state(
        self, now: float, agent_id: str, state: AgentState, reason: int, extension: str | None = None
    ) -> None:
        self._apply(self.model.set_state(now, agent_id, state, reason, extension=extension))

    def inject_call(
        self,
        now: float,
        agent_id: str | None,
        *,
        ani: str = "",
        dnis: str = "",
        variables: dict[str, str] | None = None,
        answer_after: float | None = None,
        talk_time: float | None = None,
    ) -> int:
        """A call from a caller to ``agent_id``, or (None) to the queue: the agent Ready the longest,
        else the call waits in the queue (:meth:`PeripheralModel.queue_call`)."""
        if agent_id is None:
            call, changes = self.model.queue_call(now, ani, dnis, variables, answer_after, talk_time)
        else:
            call, changes = self.model.offer_call(now, agent_id, ani, dnis, variables)
            call.answer_at = None if answer_after is None else now + answer_after
            call.end_at = None if talk_time is None else (call.answer_at or now) + talk_time
        self._schedule_call(call.answer_at, call.end_at)
        self._apply(changes)
        return call.call_id

    def caller_hangup(self, now: float, call_id: int) -> None:
        self._apply(self.model.caller_hangup(now, call_id))

    def answer_call(self, now: float, call_id: int) -> None:
        self._apply(self.model.answer_call(now, call_id))

    def hold_call(self, now: float, call_id: int, device: str | None = None) -> None:
        self._apply(self.model.hold_call(now, call_id, device))

    def retrieve_call(self, now: float, call_id: int, device: str | None = None) -> None:
        self._apply(self.model.retrieve_call(now, call_id, device))

    def clear_connection(self, now: float, call_id: int, device: str | None = None) -> None:
        self._apply(self.model.clear_connection(now, call_id, device))

    def make_call(self, now: float, agent_id: str, dialed: str) -> int:
        call, changes = self.model.make_call(now, agent_id, dialed, None, self.config.outside_answer_after)
        self._schedule_connections(call)
        self._apply(changes)
        return call.call_id

    def end_call(self, now: float, call_id: int) -> None:
        self._apply(self.model.end_call(now, call_id))

    def update_call_data(self, now: float, call_id: int, variables: dict[str, str]) -> None:
        self._apply(self.model.update_call_data(call_id, variables))

    def work_to_active(self, now: float, agent_id: str, mrd: int) -> None:
        self._apply(self.model.work_to_active(agent_id, mrd))

    # -- replication -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"t": "snapshot", **self.model.snapshot()}

    def apply_replica(self, now: float, payload: dict[str, Any]) -> None:
        """State streamed by the active side; ignored while this side is active (split brain guard)."""
        if self.role is Role.ACTIVE:
            return
        kind = payload.get("t")
        if kind == "snapshot":
            self.model.apply_snapshot(payload)
        elif kind == "agent":
            self.model.apply_agent(payload["agent"])
        elif kind == "call":
            self.model.apply_call(payload["call"], str(payload.get("step", "end")))

    # -- events ------------------------------------------------------------------------------------
    def _apply(self, changes: Iterable[Change]) -> None:
        ready = False
        for change in changes:
            if isinstance(change, AgentChange):
                self._out.append(Replicate({"t": "agent", "agent": change.agent.to_json()}))
                self._broadcast_agent(change)
                ready = ready or (change.mrd == VOICE_MRD and change.state is AgentState.AVAILABLE)
            else:
                payload = {"t": "call", "call": change.call.to_json(), "step": change.step}
                self._out.append(Replicate(payload))
                self._broadcast_call(change)
        if ready:
            self._dispatch_queue()

    def _dispatch_queue(self) -> None:
        """An agent became Ready: the calls waiting in the queue go to it (and the next ones)."""
        if self.role is not Role.ACTIVE:
            return
        changes = self.model.dispatch_queue()
        for change in changes:
            if isinstance(change, CallChange) and change.step == "delivered":
                self._schedule_call(change.call.answer_at, change.call.end_at)
        self._apply(changes)

    def _listeners(self) -> Iterable[Session]:
        return (s for s in self.sessions.values() if s.opened and not s.standby)

    def _agent_message(self, change: AgentChange) -> Message:
        sid = change.agent.controller
        controller = self.sessions.get(sid) if sid is not None else None
        signature = controller.signature if controller is not None else None
        return agent_state_event(change, self.model.peripheral_id, signature)

    def _wants_agent(self, s: Session, change: AgentChange) -> bool:
        bit = AGENT_STATE_MASK_BIT.get(change.state, 0)
        return bool(s.agent_mask & bit and (s.services & Service.ALL_EVENTS or s.agent_id == change.agent.id))

    def _broadcast_agent(self, change: AgentChange) -> None:
        msg = self._agent_message(change)
        for s in self._listeners():
            if self._wants_agent(s, change):
                self._send(s, msg)

    def _wants_call(self, s: Session, mtype: int, call: Call) -> bool:
        """ALL_EVENTS sessions, and the Client Events session of every agent the call has reached."""
        bit = CALL_MSG_BIT.get(M(mtype))
        if not (bit and s.call_mask & bit):
            return False
        if s.services & Service.ALL_EVENTS:
            return True
        return s.agent_id is not None and any(c.agent_id == s.agent_id for c in call.connections)

    def _broadcast_call(self, change: CallChange) -> None:
        msg = self._call_message(change)
        for s in self._listeners():
            if self._wants_call(s, msg.type, change.call):
                self._send(s, msg)

    def _call_message(self, change: CallChange, cause: int = EventCause.NEW_CALL) -> Message:
        agent = self.model.agents.get(change.call.agent_id)
        skill_groups = agent.record.skill_groups if agent is not None else ()
        queued = len(self.model.queued_calls()) if change.step in ("queued", "dequeued") else 0
        return call_event(change, self.model.peripheral_id, skill_groups, cause, queued)
