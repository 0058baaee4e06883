"""One direction of one proxied connection, with its toxics: the sans-IO core of the client-path proxy.

The proxy (:mod:`finesse_emu.edge.server`) stands between a client and a node's client-facing ports
(REST, XMPP, BOSH/WebSocket) and carries bytes untouched, TLS included. A :class:`Pipe` is one
direction of one connection: bytes come in with ``now`` (:meth:`Pipe.data_received`), bytes go out
as :class:`Deliver` outputs when their time comes (:meth:`Pipe.handle_timer`). The toxics follow
Toxiproxy's (latency with jitter, bandwidth, slicer, timeout, reset_peer), so that a user's notion of
them carries over:

- latency: every chunk is held ``latency`` seconds, plus or minus ``jitter`` (uniform, from the
  pipe's seeded RNG, so a run is repeatable); chunks never overtake each other;
- bandwidth: at most ``rate`` bytes per second leave, in pieces of at most a tenth of a second's worth;
- slicer: chunks are cut in pieces of ``slice_size`` bytes with ``slice_delay`` seconds between them;
- timeout (black hole): nothing is delivered and what comes in is dropped (Toxiproxy's ``timeout``);
  with ``close_after`` the connection is closed that long after the toxic reached it;
- reset: the connection is reset (TCP RST) ``reset_after`` seconds after the toxic reached it.

Bytes are never reordered, duplicated or lost but by a black hole or a reset. The core never reads a
clock and does no I/O (emu_base/sansio.py); the durations are the fault's parameters.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

# The bandwidth toxic's quantum: a piece carries at most this many seconds' worth of bytes, so a slow
# rate is smooth rather than a burst then a long wait.
BANDWIDTH_QUANTUM = 0.1


@dataclass(frozen=True)
class Toxics:
    """What one direction of a connection suffers (all off by default). Seconds and bytes/second."""

    latency: float = 0.0
    jitter: float = 0.0
    rate: float | None = None  # bytes per second; None: unlimited
    slice_size: int | None = None  # bytes per piece; None: not sliced
    slice_delay: float = 0.0
    blackhole: bool = False
    close_after: float | None = None  # with blackhole: close the connection this long after
    reset_after: float | None = None  # reset the connection this long after (0: at once)

    @property
    def clean(self) -> bool:
        return self == Toxics()


@dataclass(frozen=True)
class Deliver:
    data: bytes


@dataclass(frozen=True)
class Eof:
    """Every byte before the peer's EOF was delivered: half-close the other side."""


@dataclass(frozen=True)
class Close:
    """The black hole's ``close_after`` is over: close the connection (an orderly FIN)."""


@dataclass(frozen=True)
class Reset:
    """Reset the connection (TCP RST)."""


PipeOutput = Deliver | Eof | Close | Reset


class Pipe:
    """One direction of one connection. ``seed`` makes the jitter repeatable."""

    def __init__(self, now: float, toxics: Toxics | None = None, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._queue: deque[tuple[float, bytes]] = deque()  # (release time, bytes), in order
        self._last_release = -float("inf")
        self._free_at = -float("inf")  # when the bandwidth/slicer stage may send its next piece
        self._eof = False
        self._done = False  # closed or reset: nothing more comes out
        self._close_at: float | None = None
        self._reset_at: float | None = None
        self._outputs: list[PipeOutput] = []
        self.toxics = Toxics()
        self.set_toxics(now, toxics or Toxics())

    # -- inputs ----------------------------------------------------------------------------------
    def set_toxics(self, now: float, toxics: Toxics) -> None:
        """New toxics for this direction, from ``now`` on (bytes already held keep their release)."""
        old, self.toxics = self.toxics, toxics
        if toxics.reset_after is None:
            self._reset_at = None
        elif old.reset_after != toxics.reset_after or self._reset_at is None:
            self._reset_at = now + toxics.reset_after
        if not toxics.blackhole or toxics.close_after is None:
            self._close_at = None
        elif not old.blackhole or old.close_after != toxics.close_after or self._close_at is None:
            self._close_at = now + toxics.close_after
        if toxics.blackhole:
            self._queue.clear()  # a black hole delivers nothing, not even what it was holding
        self.handle_timer(now)

    def data_received(self, now: float, data: bytes) -> None:
        if self._done or not data or self.toxics.blackhole:
            return
        delay = self.toxics.latency
        if self.toxics.jitter:
            delay += self._rng.uniform(-self.toxics.jitter, self.toxics.jitter)
        # Never before an earlier chunk (no reordering), never before it arrived.
        release = max(now + max(delay, 0.0), self._last_release)
        self._last_release = release
        self._queue.append((release, data))
        self.handle_timer(now)

    def eof_received(self, now: float) -> None:
        """The sender half-closed: pass it on once every byte before it is delivered."""
        self._eof = True
        self.handle_timer(now)

    # -- time ------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        if self._done:
            return None
        times = [t for t in (self._reset_at, self._close_at) if t is not None]
        if self._queue:
            times.append(max(self._queue[0][0], self._free_at))
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        if self._done:
            return
        if self._reset_at is not None and now >= self._reset_at:
            self._finish(Reset())
            return
        if self._close_at is not None and now >= self._close_at:
            self._finish(Close())
            return
        while self._queue:
            release, data = self._queue[0]
            due = max(release, self._free_at)
            if due > now:
                return
            piece = data[: self._piece_size(len(data))]
            if len(piece) < len(data):
                self._queue[0] = (release, data[len(piece) :])
            else:
                self._queue.popleft()
            self._outputs.append(Deliver(piece))
            # Paced from the scheduled time, not from ``now``: a late timer catches up, the
            # average rate stays exact.
            gap = 0.0
            if self.toxics.rate is not None:
                gap = len(piece) / self.toxics.rate
            if self.toxics.slice_size is not None:
                gap = max(gap, self.toxics.slice_delay)
            self._free_at = due + gap if gap else -float("inf")
        if self._eof and not self.toxics.blackhole:  # a black hole passes nothing, not even a FIN
            self._finish(Eof())

    # -- outputs ---------------------------------------------------------------------------------
    def outputs(self) -> list[PipeOutput]:
        out, self._outputs = self._outputs, []
        return out

    def data_to_send(self) -> bytes:
        """The bytes due, joined (the other outputs stay for :meth:`outputs`)."""
        keep: list[PipeOutput] = []
        data = bytearray()
        for o in self._outputs:
            if isinstance(o, Deliver):
                data += o.data
            else:
                keep.append(o)
        self._outputs = keep
        return bytes(data)

    @property
    def buffered(self) -> int:
        """Bytes held, not yet delivered."""
        return sum(len(d) for _, d in self._queue)

    def _piece_size(self, available: int) -> int:
        size = available
        if self.toxics.slice_size is not None:
            size = min(size, self.toxics.slice_size)
        if self.toxics.rate is not None:
            size = min(size, max(1, int(self.toxics.rate * BANDWIDTH_QUANTUM)))
        return size

    def _finish(self, output: PipeOutput) -> None:
        self._done = True
        self._queue.clear()
        self._outputs.append(output)
