"""The private link between the two PG sides, one side's end of it: JSON lines over TCP.

Side A listens and side B dials (and dials again every ping interval while the link is down); one
link at a time. While it is up, :class:`~cti_stub.duplex.PeerWatch` pings the peer and drops a hung
one (a dead peer shows as EOF at once). What the lines say (roles, takeover, the state the active
side streams) is the shell's business: it hears of the link through three callbacks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from cti_stub.duplex import PeerSilent, PeerWatch, PeerWatchOutput, Ping
from emu_base.clock import Clock
from emu_base.logs import get_logger
from emu_base.sansio import Driver
from emu_base.timers import Timers

log = get_logger()

LINK_MAX_LINE = 64 * 1024 * 1024
# Floors under the scaled private-link timers: at small time scales the event loop's own jitter
# would otherwise read as a hung peer.
MIN_PEER_PING_INTERVAL = 0.05
MIN_PEER_LINK_TIMEOUT = 1.0
_PING = b'{"t":"ping"}\n'


class PeerLink:
    def __init__(
        self,
        side: str,
        clock: Clock,
        timers: Timers,
        *,
        on_up: Callable[[], None],
        on_message: Callable[[dict[str, Any]], Awaitable[None]],
        on_down: Callable[[], Awaitable[None]],
    ) -> None:
        self.side = side
        self.clock = clock
        self._on_up = on_up
        self._on_message = on_message
        self._on_down = on_down
        self.ping_interval = max(MIN_PEER_PING_INTERVAL, timers.cti_peer_ping_interval)
        self.timeout = max(MIN_PEER_LINK_TIMEOUT, timers.cti_peer_link_timeout)
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def up(self) -> bool:
        return self._writer is not None

    def send(self, payload: dict[str, Any]) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        writer.write(json.dumps(payload, separators=(",", ":")).encode() + b"\n")

    async def listen(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(
            self._run, host, port, limit=LINK_MAX_LINE, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def dial(self, peer: tuple[str, int]) -> None:
        """Keep a link to ``peer`` up, for ever (cancel the task to stop)."""
        while True:
            try:
                reader, writer = await asyncio.open_connection(peer[0], peer[1], limit=LINK_MAX_LINE)
            except OSError:
                await self.clock.sleep(self.ping_interval)
                continue
            await self._run(reader, writer)
            await self.clock.sleep(self.ping_interval)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._server is not None:
            self._server.close()

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None and not self._writer.is_closing():
            writer.close()  # one link at a time
            return
        self._writer = writer
        log.info("cti_peer_link_up", side=self.side)
        self._on_up()
        watch = PeerWatch(self.clock.now(), self.ping_interval, self.timeout)
        watcher = Driver(watch, self.clock, lambda out: self._on_watch_output(writer, out))
        watcher.pump()
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                watch.line_received(self.clock.now())
                watcher.pump()
                await self._on_message(json.loads(line))
        except (ConnectionError, ValueError, KeyError) as exc:
            log.warning("cti_peer_link_error", side=self.side, error=repr(exc))
        finally:
            watcher.close()
            writer.close()
            if self._writer is writer:
                self._writer = None
                log.info("cti_peer_link_down", side=self.side)
                await self._on_down()

    def _on_watch_output(self, writer: asyncio.StreamWriter, out: PeerWatchOutput) -> None:
        if writer.is_closing():
            return
        if isinstance(out, Ping):
            writer.write(_PING)
        elif isinstance(out, PeerSilent):
            log.warning("cti_peer_link_error", side=self.side, error=f"peer silent for {out.seconds:.3f} s")
            # Abort, not close: a hung peer may never drain what is queued for it. The reader then
            # sees EOF and the link goes down.
            writer.transport.abort()
