"""A minimal raw GED-188 client for integration tests: send messages, read messages."""

from __future__ import annotations

import asyncio
import contextlib

from ged188 import FrameDecoder, Message, MessageType, Service, Tag, decode_body, encode, make

M = MessageType
FINESSE_SERVICES = Service.ALL_EVENTS | Service.CLIENT_CONTROL | Service.CALL_DATA_UPDATE


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, version: int = 24) -> None:
        self.reader, self.writer, self.version = reader, writer, version
        self.decoder = FrameDecoder()
        self.invoke = 100

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1", version: int = 24) -> RawClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, version)

    def send(self, msg: Message | bytes) -> None:
        self.writer.write(msg if isinstance(msg, bytes) else encode(msg, self.version))

    async def recv(self, timeout: float = 2.0) -> Message:
        async with asyncio.timeout(timeout):
            while True:
                frame = self.decoder.next_frame()
                if frame is not None:
                    return decode_body(frame[0], frame[1], self.version)
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionResetError("server closed the connection")
                self.decoder.feed(data)

    async def recv_until(self, mtype: int, timeout: float = 2.0) -> list[Message]:
        out = []
        while True:
            msg = await self.recv(timeout)
            out.append(msg)
            if msg.type == mtype:
                return out

    async def closed(self, timeout: float = 2.0) -> bool:
        """True once the server has closed the connection (messages still queued are dropped)."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except ConnectionResetError:
            return True
        return True

    async def open(self, services: int = FINESSE_SERVICES, idle: int = 20) -> Message:
        self.send(
            make(
                M.OPEN_REQ,
                [(Tag.CLIENT_ID, "Finesse"), (Tag.CLIENT_PASSWORD, b"")],
                InvokeID=1,
                VersionNumber=self.version,
                IdleTimeout=idle,
                PeripheralID=0xFFFFFFFF,
                ServicesRequested=services,
                CallMsgMask=0xFFFFFFFF,
                AgentStateMask=0x3FFF,
            )
        )
        return await self.recv()

    async def request(self, msg: Message, reply: int) -> list[Message]:
        self.send(msg)
        return await self.recv_until(reply)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
