"""The asyncio shell around :class:`~finesse_emu.server.cti.link.CtiLink`: sockets, futures.

All protocol decisions live in the core; this module only opens and closes TCP connections when
the core asks, feeds it bytes and time (always ``clock.now()``), writes what it produces with one
``writer.write`` per batch, and turns its outputs into futures, queues and JSON log lines. The
core's timer is kept by the shared :class:`emu_base.sansio.Driver`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from emu_base.clock import Clock, LoopClock
from emu_base.logs import get_logger
from emu_base.sansio import Driver
from finesse_emu.server.cti.config import CtiLinkConfig, CtiSide
from finesse_emu.server.cti.connection import LinkConnection
from finesse_emu.server.cti.link import CtiLink, LinkNotOpenError, LinkState
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
from ged188 import Message, MessageType

PublicEvent: TypeAlias = LinkUp | LinkDown | AttemptFailed | HeartbeatResult | Unsolicited


class CtiRequestError(Exception):
    """A request that got FAILURE_CONF / CONTROL_FAILURE_CONF, timed out, or lost its link."""

    def __init__(self, reason: str, *, invoke_id: int | None = None, reply: Message | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.invoke_id = invoke_id
        self.reply = reply

    @property
    def status(self) -> int | None:
        """FAILURE_CONF Status or CONTROL_FAILURE_CONF FailureCode, when the server answered."""
        if self.reply is None:
            return None
        if self.reply.type == MessageType.CONTROL_FAILURE_CONF:
            return self.reply["FailureCode"]
        return self.reply.fields.get("Status")


def _failure_text(msg: Message) -> str:
    if msg.type == MessageType.CONTROL_FAILURE_CONF:
        code, peripheral = msg["FailureCode"], msg["PeripheralErrorCode"]
        return f"CONTROL_FAILURE_CONF FailureCode={code} PeripheralErrorCode={peripheral}"
    return f"FAILURE_CONF {status_name(msg['Status'])}"


@dataclass(frozen=True, slots=True)
class _Transmit:
    data: bytes


class _Wire:
    """The link as the driver sees it: its bytes come out first in each drain, then its outputs,
    so that one driver carries both (and a heartbeat sent from the timer is written too)."""

    def __init__(self, link: CtiLink) -> None:
        self.link = link

    def outputs(self) -> list[_Transmit | Output]:
        data = self.link.data_to_send()
        outputs = self.link.outputs()
        return [_Transmit(data), *outputs] if data else list(outputs)

    def next_deadline(self) -> float | None:
        return self.link.next_deadline()

    def handle_timer(self, now: float) -> None:
        self.link.handle_timer(now)


class _Feed:
    """The connection's reports, fed to the core with the clock's ``now``, each followed by a pump."""

    def __init__(self, link: CtiLink, clock: Clock, pump: Callable[[], None]) -> None:
        self._link = link
        self._clock = clock
        self._pump = pump

    def connection_made(self) -> None:
        self._link.connection_made(self._clock.now())
        self._pump()

    def connection_failed(self, reason: str) -> None:
        self._link.connection_failed(self._clock.now(), reason)
        self._pump()

    def data_received(self, data: bytes) -> None:
        self._link.data_received(self._clock.now(), data)
        self._pump()

    def connection_lost(self, reason: str) -> None:
        self._link.connection_lost(self._clock.now(), reason)
        self._pump()


class CtiClient:
    """Finesse's CTI connection: alternates between sides A and B until one accepts, keeps it alive.

    ``start()`` returns at once; watch ``subscribe()`` or ``wait_in_service()`` for the link.
    """

    def __init__(
        self,
        config: CtiLinkConfig,
        clock: Clock | None = None,
        *,
        on_event: Callable[[PublicEvent], object] | None = None,
    ) -> None:
        self.config = config
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._core = CtiLink(config)
        self._driver = Driver(_Wire(self._core), self._clock, self._on_output)
        self._on_event = on_event
        self._log = get_logger()
        self._connection = LinkConnection(_Feed(self._core, self._clock, self._pump), config.open_timeout)
        self._waiters: dict[int, asyncio.Future[Message]] = {}
        self._subscribers: list[asyncio.Queue[PublicEvent]] = []
        self._in_service = asyncio.Event()
        self._closed = asyncio.Event()
        self._started = False
        self._attempts = 0
        self._down_since: float | None = None
        self._up_side: str | None = None  # the core forgets the side before its last events are read

    # --- public API -------------------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self._core.state

    @property
    def active_side(self) -> str | None:
        return self._core.active_side

    @property
    def in_service(self) -> bool:
        return self._core.state is LinkState.OPEN

    @property
    def last_heartbeat_ok(self) -> bool | None:
        return self._core.last_heartbeat_ok

    @property
    def last_heartbeat_success_wall(self) -> float | None:
        """Epoch seconds of the last HEARTBEAT_CONF (Finesse's lastCTIHeartbeatSuccessTime)."""
        at = self._core.last_heartbeat_success_at
        if at is None:
            return None
        return self._clock.wall() - (self._clock.now() - at)

    @property
    def attempts(self) -> int:
        """Connection attempts so far (each side tried counts one)."""
        return self._attempts

    @property
    def link(self) -> CtiLink:
        """The sans-IO core, for inspection."""
        return self._core

    @property
    def sides(self) -> tuple[CtiSide, ...]:
        """The CTI servers the next attempt chooses from (A first)."""
        return self._core.config.side_list

    def set_sides(self, sides: Sequence[tuple[str, str, int]]) -> None:
        """New CTI servers for the next connection attempt (:meth:`CtiLink.set_sides`)."""
        self._core.set_sides(self._clock.now(), sides)
        self.config = self._core.config
        self._log.info("cti_sides_changed", sides=[list(s) for s in self.config.side_list])
        self._pump()

    def subscribe(self) -> asyncio.Queue[PublicEvent]:
        """A queue receiving every LinkUp, LinkDown, AttemptFailed, HeartbeatResult and Unsolicited."""
        queue: asyncio.Queue[PublicEvent] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[PublicEvent]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("CtiClient already started")
        self._started = True
        self._core.start(self._clock.now())
        self._pump()

    # The timeouts below run on the injected Clock, which asyncio.timeout() would bypass.
    async def wait_in_service(self, timeout: float | None = None) -> bool:
        """Wait until the link is OPEN; False if ``timeout`` (seconds, on the clock) passes first."""
        if self.in_service:
            return True
        waiter = asyncio.ensure_future(self._in_service.wait())
        try:
            if timeout is None:
                await waiter
                return True
            return await self._wait(waiter, timeout)
        finally:
            waiter.cancel()

    async def request(self, msg: Message, timeout: float | None = None) -> Message:
        """Send a request and return its CONF; raise :class:`CtiRequestError` on failure or timeout."""
        try:
            invoke_id = self._core.request(self._clock.now(), msg)
        except LinkNotOpenError as exc:
            raise CtiRequestError(str(exc)) from None
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiters[invoke_id] = fut
        self._pump()
        try:
            if timeout is not None and not await self._wait(fut, timeout):
                raise CtiRequestError(
                    f"no reply to {msg.name} within {timeout:g} s", invoke_id=invoke_id
                ) from None
            return await fut
        finally:
            self._waiters.pop(invoke_id, None)
            if not fut.done():
                fut.cancel()
                self._core.cancel_request(self._clock.now(), invoke_id)
            elif not fut.cancelled():
                fut.exception()  # mark retrieved: the caller may be gone

    async def close(self) -> None:
        """Graceful close (CLOSE_REQ, wait for CLOSE_CONF up to close_timeout); stops every task."""
        self._core.close(self._clock.now())
        if self._started:
            self._pump()
            closed = asyncio.ensure_future(self._closed.wait())
            try:
                # The core's timer ends CLOSING after close_timeout; the margin only guards against a bug.
                if not await self._wait(closed, 2 * self.config.close_timeout + 0.1):
                    self._log.error("cti_close_stuck", state=self._core.state.value)
                    self._connection.drop()
            finally:
                closed.cancel()
        self._closed.set()
        self._driver.close()
        await self._connection.shutdown()

    # --- core driving -----------------------------------------------------------------------------

    def _pump(self) -> None:
        """After every input fed to the core."""
        self._driver.pump()
        if self._core.state is LinkState.CLOSED:
            self._closed.set()

    def _on_output(self, output: _Transmit | Output) -> None:
        if isinstance(output, _Transmit):
            self._connection.write(output.data)
            return
        self._dispatch(output)
        if self._core.state is LinkState.CLOSED:  # the close may end on the timer, with no input
            self._closed.set()

    def _dispatch(self, event: Output) -> None:
        now = self._clock.now()
        if isinstance(event, ConnectRequested):
            self._attempts += 1
            self._log.info(
                "cti_connect", side=event.side, host=event.host, port=event.port, attempt=self._attempts
            )
            self._connection.open(event.host, event.port)
        elif isinstance(event, CloseRequested):
            self._connection.drop()
        elif isinstance(event, Reply):
            fut = self._waiters.get(event.invoke_id)
            if fut is not None and not fut.done():
                if event.ok:
                    fut.set_result(event.message)
                else:
                    reason = _failure_text(event.message)
                    fut.set_exception(CtiRequestError(reason, invoke_id=event.invoke_id, reply=event.message))
        elif isinstance(event, RequestFailed):
            fut = self._waiters.get(event.invoke_id)
            if fut is not None and not fut.done():
                fut.set_exception(CtiRequestError(event.reason, invoke_id=event.invoke_id))
        else:
            if isinstance(event, LinkUp):
                conf = event.open_conf
                down_for = None if self._down_since is None else round(now - self._down_since, 3)
                self._log.info(
                    "cti_link_up",
                    side=event.side,
                    attempts=self._attempts,
                    out_of_service_seconds=down_for,
                    services_granted=conf.fields.get("ServicesGranted"),
                    pg_status=conf.fields.get("PGStatus"),
                    peripheral_online=conf.fields.get("PeripheralOnline"),
                )
                self._down_since = None
                self._up_side = event.side
                self._in_service.set()
            elif isinstance(event, LinkDown):
                last_ok = self._core.last_heartbeat_success_at
                # A close we asked for is routine; any other loss is what failover tests look for.
                level = self._log.info if self._core.state is LinkState.CLOSING else self._log.warning
                level(
                    "cti_link_down",
                    side=event.side,
                    reason=event.reason,
                    detection_seconds=round(event.detection_seconds, 3),
                    since_last_heartbeat_ok=None if last_ok is None else round(now - last_ok, 3),
                )
                self._down_since = now
                self._in_service.clear()
            elif isinstance(event, AttemptFailed):
                self._log.info("cti_connect_failed", side=event.side, reason=event.reason)
            elif isinstance(event, HeartbeatResult) and not event.ok:
                self._log.warning(
                    "cti_heartbeat_missed",
                    side=self._up_side,
                    consecutive=event.consecutive_misses,
                    limit=self.config.missed_heartbeats,
                )
            self._publish(event)

    def _publish(self, event: PublicEvent) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception as exc:  # a broken callback must not break the link
                self._log.error("cti_callback_failed", error=repr(exc))

    # --- waiting on the clock ----------------------------------------------------------------------

    async def _wait(self, fut: asyncio.Future[Any], seconds: float) -> bool:
        """Wait for ``fut`` at most ``seconds`` on the clock; True if it is done."""
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({fut, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        return fut.done()
