"""The TCP side of Finesse's CTI link: one connection at a time, opened and dropped when the core
asks, its bytes and its end reported back.

Every connect and every drop starts a new generation, so a late callback of an abandoned attempt
(a connect that completes after its timeout, a read after a drop) is ignored rather than fed to
the core as if it came from the current connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Coroutine
from typing import Any, Protocol

from emu_base.logs import get_logger

_READ_SIZE = 64 * 1024


class ConnectionListener(Protocol):
    """What the connection reports (the client feeds each to the core with ``now``)."""

    def connection_made(self) -> None: ...

    def connection_failed(self, reason: str) -> None: ...

    def data_received(self, data: bytes) -> None: ...

    def connection_lost(self, reason: str) -> None: ...


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _tune_socket(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    # Cisco asks CTI clients for TCP_NODELAY and SO_LINGER 0 (a dropped session is reset, not lingered).
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class LinkConnection:
    def __init__(self, listener: ConnectionListener, connect_timeout: float) -> None:
        self._listener = listener
        self._connect_timeout = connect_timeout
        self._log = get_logger()
        self._writer: asyncio.StreamWriter | None = None
        self._gen = 0
        self._connect_task: asyncio.Task[None] | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closers: set[asyncio.Task[None]] = set()

    def open(self, host: str, port: int) -> None:
        self._gen += 1
        self._connect_task = self._spawn(self._connect(self._gen, host, port))

    def write(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)

    def drop(self) -> None:
        self._gen += 1
        current = asyncio.current_task()
        for task in (self._connect_task, self._reader_task):
            if task is not None and task is not current and not task.done():
                task.cancel()
        self._connect_task = self._reader_task = None
        if self._writer is not None:
            self._close_writer(self._writer)
            self._writer = None

    async def shutdown(self) -> None:
        """Stop every task (but the caller's) and wait for the sockets to close."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *self._closers, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log.error("cti_task_failed", error=repr(exc))

    async def _connect(self, gen: int, host: str, port: int) -> None:
        try:
            # The core enforces open_timeout too; this bound keeps a stuck connect from outliving it.
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            if gen == self._gen:
                self._listener.connection_failed(describe(exc))
            return
        if gen != self._gen:  # abandoned while connecting
            self._close_writer(writer)
            return
        _tune_socket(writer)
        self._writer = writer
        self._reader_task = self._spawn(self._read(gen, reader))
        self._listener.connection_made()

    async def _read(self, gen: int, reader: asyncio.StreamReader) -> None:
        reason = "closed by peer"
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if gen != self._gen:
                    return
                if not data:
                    break
                self._listener.data_received(data)
        except OSError as exc:
            reason = describe(exc)
        if gen == self._gen:
            self._listener.connection_lost(reason)

    def _close_writer(self, writer: asyncio.StreamWriter) -> None:
        writer.close()

        async def closed() -> None:
            with contextlib.suppress(Exception):
                await writer.wait_closed()

        task = asyncio.get_running_loop().create_task(closed())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)
