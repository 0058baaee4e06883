"""Request bodies on every HTTP server of the emulator: never inflated unless read, never past a cap.

aiohttp's server inflates a body sent with ``Content-Encoding: gzip`` (or deflate, br) as the bytes
arrive, whether or not a handler ever reads it: one unauthenticated 1 MB gzip body of zeros sent to
SystemInfo cost a node about 3 s of CPU inflating 1 GB nobody wanted. So every server of the
project is built with :func:`app_runner` (``auto_decompress=False``: bodies stay as sent), and the
few handlers that read a body decode it with :func:`read_body`, which inflates through
``zlib.decompressobj`` with ``max_length`` and so stops one byte past the cap.

What a body reader answers, whatever the server (each maps it to its own error document):

- raw body over the application's ``client_max_size``: aiohttp's ``HTTPRequestEntityTooLarge``;
- inflated body over the cap: :class:`BodyTooLarge` (413);
- a content coding other than ``identity``, ``gzip``/``x-gzip`` or ``deflate``, or more than one:
  :class:`UnsupportedEncoding` (415, as RFC 9110 section 8.4.1 allows);
- a body that does not decode as its coding says: :class:`BadEncoding` (400).
"""

from __future__ import annotations

import zlib
from typing import Any

from aiohttp import hdrs, web

from emu_base.timers import Timers

GZIP_MAGIC = b"\x1f\x8b"
# A body of many empty gzip members inflates to nothing but costs a decompressor each.
MAX_GZIP_MEMBERS = 64


class BodyError(Exception):
    """A request body that cannot be read; ``status`` is the HTTP answer."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BodyTooLarge(BodyError):
    status = 413


class UnsupportedEncoding(BodyError):
    status = 415


class BadEncoding(BodyError):
    status = 400


def app_runner(app: web.Application, **kwargs: Any) -> web.AppRunner:
    """An ``AppRunner`` whose HTTP parser never inflates request bodies (see the module docstring).
    Every aiohttp server of the project is made here."""
    # A stopping component (a kill -TERM, a test's teardown) does not wait aiohttp's 60 s for a
    # handler still in flight, such as a relayed WebSocket: a real server going down drops them.
    kwargs.setdefault("shutdown_timeout", Timers.build(1.0).http_shutdown_grace)
    return web.AppRunner(app, auto_decompress=False, **kwargs)


def content_coding(header: str | None) -> str:
    """The one content coding of a ``Content-Encoding`` header (``""`` for none or identity), or
    :class:`UnsupportedEncoding`."""
    codings = [c.strip().lower() for c in (header or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return ""
    if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
        shown = (header or "")[:64]
        raise UnsupportedEncoding(f"Content-Encoding {shown!r} is not supported (gzip or deflate only)")
    return "gzip" if codings[0] == "x-gzip" else codings[0]


def decode_body(raw: bytes, header: str | None, limit: int) -> bytes:
    """``raw`` decoded as the ``Content-Encoding`` header says, never inflating past ``limit`` + 1
    bytes (then :class:`BodyTooLarge`). Pure: no I/O."""
    coding = content_coding(header)
    if not coding:
        return raw
    out = bytearray()
    data = raw
    for _member in range(MAX_GZIP_MEMBERS if coding == "gzip" else 1):
        if coding == "gzip":
            wbits = 16 + zlib.MAX_WBITS
        elif len(data) >= 2 and (data[0] & 0x0F) == 8 and int.from_bytes(data[:2], "big") % 31 == 0:
            wbits = zlib.MAX_WBITS  # RFC 9110's deflate: a zlib stream
        else:
            wbits = -zlib.MAX_WBITS  # what many clients send as deflate: a raw DEFLATE stream
        inflater = zlib.decompressobj(wbits)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise BadEncoding(f"body is not valid {coding}: {exc}") from None
        if len(out) > limit:
            raise BodyTooLarge(f"body exceeds {limit} bytes once inflated")
        if not inflater.eof:
            raise BadEncoding(f"body is truncated {coding}")
        data = inflater.unused_data
        if not data:
            return bytes(out)
        if coding != "gzip" or not data.startswith(GZIP_MAGIC):
            raise BadEncoding(f"unexpected bytes after the {coding} stream")
    raise BadEncoding(f"more than {MAX_GZIP_MEMBERS} gzip members")


async def read_body(request: web.BaseRequest, limit: int | None = None) -> bytes:
    """The request body, decoded (:func:`decode_body`) and capped at ``limit`` (default: the
    application's ``client_max_size``, which also caps the raw body: ``HTTPRequestEntityTooLarge``)."""
    raw = await request.read()
    cap = request.client_max_size if limit is None else limit
    return decode_body(raw, request.headers.get(hdrs.CONTENT_ENCODING), cap)
