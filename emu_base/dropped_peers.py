"""Peers that go away mid-request: counted, logged once per kind, never a traceback each.

aiohttp logs a full traceback ("Error handling request") for every handler that meets a connection
reset: a desktop whose page closed while its request body was still arriving, or every desktop of a
node whose web application goes down under load (hundreds of tracebacks in one benchmark). The
house rule for bad input and dropped peers: the peer gets what the real product gives, the error
is logged once, and the process keeps serving everyone else. A peer that is gone gets nothing (there
is no one to answer), so :class:`DroppedPeers`, a middleware put first on a server's application,
turns a connection error raised while the request's own connection is closing into a count, in the
component's counters (its ``/emu/health`` ``stats``: ``peer_dropped_<kind>``), and one log line per
kind, the first time.

A connection error while the request's connection is still open is not the peer's doing (an
upstream that failed): it goes on to aiohttp as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from emu_base.logs import get_logger

log = get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Which kind a request is (its application, or a part of it such as a relay): a counter each.
Kinds = Callable[[web.Request], str]
# What aiohttp records for a request whose client went away (nginx's code): never sent, the
# connection is gone; it only ends the handler quietly.
CLIENT_CLOSED = 499


class DroppedPeers:
    """Counts, in ``counts`` (``peer_dropped_<kind>``), the requests whose peer went away mid-request.

    ``kind_of(request)`` names the kind (e.g. ``rest``, ``ws_relay``, ``admin``); one log line per
    kind, at the first one, with the counter where the next ones are counted.
    """

    def __init__(self, counts: Counter[str], component: str) -> None:
        self.counts = counts
        self.component = component
        self._logged: set[str] = set()

    @staticmethod
    def counter(kind: str) -> str:
        return f"peer_dropped_{kind}"

    def dropped(self, kind: str, request: web.BaseRequest, error: BaseException) -> None:
        key = self.counter(kind)
        self.counts[key] += 1
        if kind in self._logged:
            return
        self._logged.add(kind)
        log.info(
            "peer_dropped",
            component=self.component,
            kind=kind,
            count=self.counts[key],
            counter=key,
            method=request.method,
            path=request.path,
            error=f"{type(error).__name__}: {error}",
            note="logged once per kind; the next ones are counted only",
        )

    def middleware(self, kind_of: Kinds) -> Middleware:
        """The middleware to put first on an application (``app.middlewares.insert(0, ...)``)."""

        @web.middleware
        async def peer_gone(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                return await handler(request)
            except ConnectionError as exc:  # ConnectionResetError, BrokenPipeError, aiohttp's
                transport = request.transport
                if transport is not None and not transport.is_closing():
                    raise  # the peer is still there: not a dropped peer
                self.dropped(kind_of(request), request, exc)
                return web.Response(status=CLIENT_CLOSED, reason="Client Closed Request")

        return peer_gone
