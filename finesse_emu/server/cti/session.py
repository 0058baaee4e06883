"""The bookkeeping beside the CTI link's state machine: one session's heartbeats, and the requests
in flight.

Heartbeats (Cisco, "CTI Failover"): while OPEN, a HEARTBEAT_REQ goes out every
``heartbeat_interval``; each heartbeat has one interval to be answered, and ``missed_heartbeats``
consecutive unanswered ones lose the link ("Finesse misses three consecutive heartbeats ...
heartbeat interval is five seconds"). With ``old_pg`` the loss is declared
``old_pg_extra_detection`` later, unless a HEARTBEAT_CONF arrives in the meantime.

Requests: every request gets a fresh InvokeID; its answer is the CONF numbered REQ + 1, or a
FAILURE_CONF / CONTROL_FAILURE_CONF with the same InvokeID. A request the caller gave up on is
remembered (boundedly) so that its late answer is dropped rather than reported as unsolicited.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from finesse_emu.server.cti.config import CtiLinkConfig, CtiSide
from ged188 import FrameDecoder, Message, MessageType

M = MessageType
_MAX_INVOKE_ID = 0xFFFFFFFF
_MAX_CANCELLED = 1024


@dataclass(slots=True)
class _Heartbeat:
    invoke_id: int
    sent_at: float


class Heartbeats:
    """The heartbeat schedule of one OPEN session and its consecutive misses."""

    def __init__(self, config: CtiLinkConfig, opened_at: float) -> None:
        self._config = config
        self._base = opened_at  # heartbeats go out at base + k * interval
        self._k = 1
        self._outstanding: list[_Heartbeat] = []
        self.misses = 0
        self._loss_at: float | None = None  # old-PG window: the loss is declared then unless a CONF arrives
        self._loss_reason = ""

    def next_at(self) -> float:
        # Multiplying, not accumulating, keeps scaled intervals (0.05 s) free of float drift.
        return self._base + self._k * self._config.heartbeat_interval

    def deadline(self) -> float:
        loss = self._loss_at
        return self.next_at() if loss is None else min(self.next_at(), loss)

    def loss_due(self, now: float) -> str | None:
        """The reason, once the old-PG window after the last miss has run out."""
        if self._loss_at is not None and now >= self._loss_at:
            return self._loss_reason
        return None

    @property
    def unanswered(self) -> bool:
        return bool(self._outstanding)

    def miss(self, now: float) -> str | None:
        """The previous heartbeat had its whole interval and got no HEARTBEAT_CONF: count a miss.

        Returns the reason when the link is lost now.
        """
        cfg = self._config
        self.misses += 1
        if self.misses < cfg.missed_heartbeats or self._loss_at is not None:
            return None
        reason = f"heartbeat timeout: {self.misses} consecutive heartbeats unanswered"
        if cfg.old_pg and cfg.old_pg_extra_detection > 0:
            # Agent PG 11.6/12.0: detection "incurs a delay of up to 40 seconds".
            self._loss_at = now + cfg.old_pg_extra_detection
            self._loss_reason = f"{reason} (+{cfg.old_pg_extra_detection:g} s old PG delay)"
            return None
        return reason

    def sent(self, now: float, invoke_id: int) -> None:
        self._outstanding.append(_Heartbeat(invoke_id, now))
        self._k += 1
        while self.next_at() <= now:
            self._k += 1  # the caller was late: skip slots rather than burst heartbeats

    def is_outstanding(self, invoke_id: int | None) -> bool:
        return any(hb.invoke_id == invoke_id for hb in self._outstanding)

    def answered(self, invoke_id: int) -> bool:
        """A HEARTBEAT_CONF: it answers its heartbeat and every earlier one. False if not ours."""
        ids = [hb.invoke_id for hb in self._outstanding]
        if invoke_id not in ids:
            return False
        del self._outstanding[: ids.index(invoke_id) + 1]
        self.misses = 0
        self._loss_at = None
        return True

    def detection_seconds(self, now: float) -> float:
        """How long the oldest heartbeat has gone unanswered (0 when none is outstanding)."""
        return now - self._outstanding[0].sent_at if self._outstanding else 0.0


@dataclass(slots=True)
class Session:
    """State of one TCP connection; replaced on every attempt so nothing leaks between sessions."""

    side: CtiSide
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    open_invoke_id: int | None = None
    close_invoke_id: int | None = None
    heartbeats: Heartbeats | None = None  # from OPEN_CONF on


class Answer(enum.Enum):
    NOT_AN_ANSWER = "not an answer"
    DROPPED = "dropped"  # the answer to a request the caller gave up on


def answers(mtype: int, req_type: int) -> bool:
    # GED-188 numbers every CONF as its REQ + 1; any request may instead get a failure.
    return mtype in (M.FAILURE_CONF, M.CONTROL_FAILURE_CONF, req_type + 1)


class Requests:
    """InvokeIDs: the link-wide counter, and the requests waiting for an answer."""

    def __init__(self) -> None:
        self._next_id = 1
        self._pending: dict[int, int] = {}  # InvokeID -> request message type
        self._cancelled: dict[int, int] = {}  # given up by the caller: InvokeID -> request type

    def __len__(self) -> int:
        return len(self._pending)

    def new_invoke_id(self) -> int:
        invoke_id = self._next_id
        self._next_id = 1 if invoke_id >= _MAX_INVOKE_ID else invoke_id + 1
        return invoke_id

    def add(self, invoke_id: int, req_type: int) -> None:
        self._pending[invoke_id] = req_type

    def cancel(self, invoke_id: int) -> None:
        req_type = self._pending.pop(invoke_id, None)
        if req_type is not None:
            self._cancelled[invoke_id] = req_type
            if len(self._cancelled) > _MAX_CANCELLED:  # a server that never answers must not grow this
                del self._cancelled[next(iter(self._cancelled))]

    def match(self, msg: Message) -> int | Answer:
        """The InvokeID of the pending request ``msg`` answers (and forget it), or why not."""
        invoke_id = msg.invoke_id
        if invoke_id is None:
            return Answer.NOT_AN_ANSWER
        req_type = self._pending.get(invoke_id)
        if req_type is not None and answers(msg.type, req_type):
            del self._pending[invoke_id]
            return invoke_id
        req_type = self._cancelled.get(invoke_id)
        if req_type is not None and answers(msg.type, req_type):
            del self._cancelled[invoke_id]
            return Answer.DROPPED
        return Answer.NOT_AN_ANSWER

    def fail_all(self) -> list[int]:
        """Every pending InvokeID, forgotten (the session they were sent on is gone)."""
        ids = list(self._pending)
        self._pending.clear()
        self._cancelled.clear()
        return ids
