"""Desktop content a node serves to desktops: gadget specs and desktop resources.

Cisco's failover timings are dominated by what desktops load after signing in again ("Gadget-
initiated requests constitute the bulk of the requests made during Finesse desktop failover"; JSP
gadgets load about three times slower than XML ones). XML gadgets and resources are static bytes,
rendered once; a JSP gadget is rendered for every request, three times the work, so the cost shows
up in the node's CPU the way it does on a real server. Sizes are configurable per node.

The desktop URL's two cache parameters are distinct, as the chapter has them: "The
**bypassServerCache** is to bypass Webproxy cache, and **nocache** is to bypass Shindig cache."
``nocache`` (present, any value) makes the node render the gadget spec again instead of serving
its rendered copy (real work, counted in the node's ``content_renders`` and
``content_rendered_bytes``); ``bypassServerCache=true`` denies the cached answer (no 304: the
content travels in full). Either alone, or both as the chapter's URL has them.

Served while the node is OUT_OF_SERVICE too (no 503): the chapter's 503 is for the requests Finesse
"entertains", its REST API ("usual operations result in a 503 Service Unavailable response", Cisco's
SystemInfo.Statuses); the web server that serves the desktop stays up (docs/finesse.md, Service
status, has the evidence).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from functools import lru_cache

from aiohttp import web

from finesse_emu.server import xml as X
from finesse_emu.server.reload import ReloadGate

GADGET_KINDS = ("xml", "jsp")
XML_GADGET_BYTES = 24_000
RESOURCE_BYTES = 60_000
JSP_COST_FACTOR = 3  # "JSP gadgets ... three times"
# The node's counters (its ``stats``, shown in /emu/health): set by the app that serves these routes.
STATS_KEY: web.AppKey[Counter[str]] = web.AppKey("content_stats", Counter)


@lru_cache(maxsize=256)
def _static(name: str, size: int) -> bytes:
    return _render(name, size, salt=b"")


@lru_cache(maxsize=256)
def _static_etag(name: str, size: int) -> str:
    # A web server's ETag of a static file comes from its metadata, not a hash per request.
    return _etag(_static(name, size))


def _render(name: str, size: int, salt: bytes) -> bytes:
    # Content derived by hashing, so producing it is real work proportional to its size.
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<Module><ModulePrefs title="{name}"/><Content><![CDATA['
    tail = "]]></Content></Module>\n"
    chunks: list[bytes] = []
    seed = hashlib.sha256(name.encode() + salt).digest()
    total = len(head) + len(tail)
    while total < size:
        seed = hashlib.sha256(seed).digest()
        chunk = seed.hex().encode()
        chunks.append(chunk)
        total += len(chunk)
    return head.encode() + b"".join(chunks)[: max(0, size - len(head) - len(tail))] + tail.encode()


def gadget(
    kind: str,
    name: str,
    size: int = XML_GADGET_BYTES,
    request_salt: bytes = b"",
    stats: Counter[str] | None = None,
    nocache: bool = False,
) -> bytes:
    """The gadget spec: an XML one from the rendered copy (rendered again with ``nocache``), a JSP
    one rendered for the request; every render is counted in ``stats``."""
    if kind == "xml":
        if not nocache:
            return _static(name, size)
        body = _render(name, size, salt=b"")  # the same spec, produced again: the work, not a copy
        renders = 1
    else:
        body = b""
        for i in range(JSP_COST_FACTOR):  # rendered per request, JSP_COST_FACTOR times the work
            body = _render(name, size, request_salt + bytes([i]))
        renders = JSP_COST_FACTOR
    if stats is not None:
        stats["content_renders"] += renders
        stats["content_rendered_bytes"] += renders * len(body)
    return body


def _safe(name: str) -> bool:
    return 0 < len(name) <= 64 and name.isascii() and all(c.isalnum() or c in "-_." for c in name)


def _not_found(name: str) -> web.Response:
    problem = X.not_found(X.NotFound.OTHER, name[:64], "Desktop content not found")
    return web.Response(status=404, body=problem.body, content_type="application/xml", charset="utf-8")


# Reload distribution (server/reload.py): the node installs its gate here unless it is switched off.
RELOAD_KEY: web.AppKey[ReloadGate] = web.AppKey("reload_gate", ReloadGate)


async def _paced(request: web.Request) -> None:
    gate = request.app.get(RELOAD_KEY)
    if gate is not None:
        wait = gate.delay(asyncio.get_running_loop().time())
        if wait > 0:
            stats = _stats(request)
            if stats is not None:
                stats["content_paced"] += 1  # held by the gate: what a test observes, not a time
            await asyncio.sleep(wait)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def _bypass(request: web.Request) -> bool:
    """The desktop URL's ``bypassServerCache=true``: "to bypass Webproxy cache", no cached answer."""
    return request.query.get("bypassServerCache", "").lower() == "true"


def _nocache(request: web.Request) -> bool:
    """The desktop URL's ``nocache`` (a bare flag, or with a value): "to bypass Shindig cache", the
    gadget spec is rendered again."""
    return "nocache" in request.query


def _stats(request: web.Request) -> Counter[str] | None:
    return request.app.get(STATS_KEY)


def _cached_answer(request: web.Request, etag: str) -> web.Response | None:
    """304 Not Modified when the desktop still holds this version (the web proxy / browser cache
    of a real deployment): a reload then costs a round trip, not the content."""
    if _bypass(request):
        return None
    wanted = request.headers.get("If-None-Match", "")
    if etag in [t.strip() for t in wanted.split(",")]:
        stats = _stats(request)
        if stats is not None:
            stats["content_not_modified"] += 1
        return web.Response(status=304, headers={"ETag": etag})
    return None


async def get_gadget(request: web.Request) -> web.Response:
    kind, name = request.match_info["kind"], request.match_info["name"]
    if kind not in GADGET_KINDS or not _safe(name):
        return _not_found(name)
    await _paced(request)
    stats = _stats(request)
    if kind == "xml":  # static: cacheable; a JSP gadget is rendered for every request
        # nocache: rendered again before the web proxy's answer (a 304 is still possible).
        body = gadget(kind, name, stats=stats, nocache=_nocache(request))
        etag = _static_etag(name, XML_GADGET_BYTES)
        cached = _cached_answer(request, etag)
        if cached is not None:
            return cached
        return web.Response(body=body, content_type="application/xml", headers={"ETag": etag})
    body = gadget(kind, name, request_salt=str(id(request)).encode(), stats=stats)
    return web.Response(body=body, content_type="application/xml", headers={"Cache-Control": "no-cache"})


async def get_resource(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not _safe(name):
        return _not_found(name)
    await _paced(request)
    body = _static(name, RESOURCE_BYTES)
    etag = _static_etag(name, RESOURCE_BYTES)
    cached = _cached_answer(request, etag)
    if cached is not None:
        return cached
    return web.Response(body=body, content_type="application/javascript", headers={"ETag": etag})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/desktop/gadgets/{kind}/{name}", get_gadget)
    router.add_get("/desktop/resources/{name}", get_resource)
