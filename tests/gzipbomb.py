"""Compression bombs for tests, made with zlib here (no file in the repository), and a raw sender.

:func:`gzip_bomb` gives a gzip body of ``inflated`` zero bytes as parts to stream: the DEFLATE
blocks of one MiB of zeros after a full flush are the same bytes every time, so 1 GiB of zeros
(about 1 MB of gzip) costs one MiB of compression and a CRC pass, not a gigabyte of deflate.
"""

from __future__ import annotations

import asyncio
import struct
import zlib

MIB = 1 << 20
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, unknown OS


def gzip_bomb(inflated: int) -> list[bytes]:
    """A valid gzip stream of ``inflated`` zeros (a multiple of 1 MiB), as parts in order."""
    if inflated <= 0 or inflated % MIB:
        raise ValueError("inflated must be a positive multiple of 1 MiB")
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(MIB)
    block = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
    count = inflated // MIB
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    tail = deflater.flush(zlib.Z_FINISH) + struct.pack("<II", crc, inflated & 0xFFFFFFFF)
    return [GZIP_HEADER, *([block] * count), tail]


def gzip(data: bytes) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return deflater.compress(data) + deflater.flush()


async def send_raw(
    host: str, port: int, head: str, parts: list[bytes], timeout: float = 30.0
) -> tuple[int, bytes]:
    """``head`` (request line and headers, without the blank line) with Content-Length, then the
    body streamed part by part; returns (status, response body). Connection: close. A server
    that answers and closes before the body is all sent is read all the same; a reset without an
    answer is status 0."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        length = sum(len(p) for p in parts)
        writer.write(f"{head}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n".encode())
        try:
            for part in parts:
                writer.write(part)
                await writer.drain()
        except ConnectionError:  # answered and closed before the whole body was sent: read the answer
            pass
        async with asyncio.timeout(timeout):
            try:
                data = await reader.read()
            except ConnectionError:  # reset: no answer
                return 0, b""
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]
