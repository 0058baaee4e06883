"""The node's journal: every REST request with its answer, and every notification published.

A test asks "did the desktop PUT the agent's state, how many times, with what answer?" and "which
Updates went out for agent 1001?" of the node itself, as WireMock's request journal answers it for
a stubbed server. :class:`Journal` is a pure ring buffer (no clock read, no I/O: ``t`` is given by
the shell): it keeps the newest ``size`` entries (``journal_size`` in the node's config, 10 000 by
default; 0 turns it off) and counts the ones it had to drop. Each entry is a JSON object with
``seq`` (1, 2, ... for the node's lifetime, never reused, not even after a clear), ``t`` (wall-clock
seconds) and ``kind``:

- ``rest``: ``method``, ``path``, ``query`` (the raw query string), ``status``, ``agent`` (the
  authenticated user's id, null when the request had none), ``duration_ms`` (on the node's clock),
  ``request_body`` and ``response_body`` (decoded as UTF-8, the first :data:`BODY_LIMIT`
  characters, then ``...[truncated]``; null when there is none, or for a request body the node
  answered without reading), ``fault`` (the id of the REST fault rule that answered, else null).
- ``notification``: ``node`` (the pubsub node), ``verb`` (the Update's event verb: POST, PUT,
  DELETE), ``agents`` (the agent whose User node it is published on; empty for a team's or
  SystemInfo's node), ``error`` (an ApiErrors published after a 202), ``body`` (truncated as above).

``GET /emu/journal`` on the node's control plane answers the entries a :class:`Query` selects
(kind, agent, method, path glob, status, since, after, limit);
``DELETE /emu/journal`` clears them (:func:`add_routes`).
"""

from __future__ import annotations

import fnmatch
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from emu_base.control_openapi import ControlOperation, describe
from finesse_emu.server.paths import API

__all__ = [
    "BODY_LIMIT",
    "DEFAULT_SIZE",
    "FAULT_KEY",
    "KINDS",
    "Journal",
    "Query",
    "add_routes",
    "agents_of_node",
    "truncate",
]

DEFAULT_SIZE = 10_000
BODY_LIMIT = 4096  # characters of a body kept in an entry
TRUNCATED = "...[truncated]"
KINDS = ("rest", "notification")
MAX_LIMIT = 100_000
# The REST fault rule that answered a request (server/rest_rules.py), for its journal entry.
FAULT_KEY = web.RequestKey("finesse_rest_rule", str)

Entry = dict[str, Any]


def truncate(data: bytes | str | None, limit: int = BODY_LIMIT) -> str | None:
    """A body as the journal keeps it: text, at most ``limit`` characters and the marker."""
    if data is None:
        return None
    # Only the head of a large body is decoded (desktop content runs to hundreds of KB): a
    # character takes at most 4 bytes, so `limit` of them are within the first 4 * limit bytes.
    if isinstance(data, bytes):
        head = data[: 4 * limit]
        text = head.decode("utf-8", "replace")
        cut = len(data) > len(head) or len(text) > limit
    else:
        text, cut = data, len(data) > limit
    return text[:limit] + TRUNCATED if cut else text


class _Body:
    """A body of at most :data:`BODY_LIMIT` bytes, kept as received and made text when the journal
    is read: most entries are never read, and decoding every answer on the REST path cost the node
    a share of each request. No longer than the text it becomes (a byte is at most a character)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


def _kept(data: bytes | str | None) -> str | _Body | None:
    """What an entry keeps of a body: short bytes as they are (the same object, no copy), else the
    text :func:`truncate` makes of it now."""
    if isinstance(data, bytes) and len(data) <= BODY_LIMIT:
        return _Body(data)
    return truncate(data)


def _text(value: Any) -> Any:
    return truncate(value.raw) if isinstance(value, _Body) else value


def agents_of_node(node: str) -> list[str]:
    """The agent a pubsub node belongs to: ``/finesse/api/User/1001[/...]`` is agent 1001's."""
    prefix = f"{API}/User/"
    if not node.startswith(prefix):
        return []
    agent = node[len(prefix) :].split("/", 1)[0]
    return [agent] if agent else []


@dataclass(frozen=True)
class Query:
    """Which entries ``GET /emu/journal`` answers: every filter given must hold (``path`` is a glob,
    as :func:`fnmatch.fnmatchcase` reads it, on the REST path or the notification's node)."""

    kind: str | None = None
    agent: str | None = None
    method: str | None = None
    path: str | None = None
    since: float | None = None  # t >= since
    after: int | None = None  # seq > after
    limit: int | None = None  # the newest `limit` of those selected
    status: int | None = None  # REST entries answered with this status

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Query:
        """The query of a request's parameters; ValueError with the reason for a bad one."""
        known = {"kind", "agent", "method", "path", "since", "after", "limit", "status"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; known: {sorted(known)}")
        kind = params.get("kind")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind: one of {', '.join(KINDS)}, got {kind!r}")
        since = _number(params, "since", float)
        after = _number(params, "after", int)
        limit = _number(params, "limit", int)
        status = _number(params, "status", int)
        if limit is not None and not 0 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit: 0..{MAX_LIMIT}, got {limit}")
        if after is not None and after < 0:
            raise ValueError(f"after: a sequence number >= 0, got {after}")
        method = params.get("method")
        return cls(
            kind,
            params.get("agent"),
            method.upper() if method else None,
            params.get("path"),
            since,
            after,
            limit,
            status,
        )

    def matches(self, entry: Entry) -> bool:
        if self.kind is not None and entry["kind"] != self.kind:
            return False
        if self.after is not None and entry["seq"] <= self.after:
            return False
        if self.since is not None and entry["t"] < self.since:
            return False
        rest = entry["kind"] == "rest"
        if self.method is not None and (not rest or entry["method"] != self.method):
            return False
        if self.status is not None and (not rest or entry["status"] != self.status):
            return False
        if self.path is not None and not fnmatch.fnmatchcase(
            entry["path"] if rest else entry["node"], self.path
        ):
            return False
        if self.agent is not None:
            return entry["agent"] == self.agent if rest else self.agent in entry["agents"]
        return True


def _number(params: Mapping[str, str], name: str, kind: type[int] | type[float]) -> Any:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}: {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if not math.isfinite(value):  # NaN and infinities select nothing sane
        raise ValueError(f"{name}: a finite number, got {raw!r}")
    return value


class Journal:
    """The newest ``size`` entries, oldest first; ``dropped`` counts the ones pushed out (and those
    not kept at all with ``size`` 0). Pure: every input carries its wall-clock ``t``."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 0:
            raise ValueError(f"journal size: >= 0, got {size}")
        self.size = size
        self._entries: deque[Entry] = deque(maxlen=size or None)
        self.dropped = 0
        self.last_seq = 0

    def _add(self, entry: Entry) -> Entry:
        self.last_seq += 1
        entry = {"seq": self.last_seq, **entry}
        if self.size == 0:
            self.dropped += 1
            return entry
        if len(self._entries) == self.size:
            self.dropped += 1
        self._entries.append(entry)
        return entry

    def rest(
        self,
        t: float,
        method: str,
        path: str,
        query: str,
        status: int,
        agent: str | None,
        duration_ms: float,
        request_body: bytes | str | None = None,
        response_body: bytes | str | None = None,
        fault: str | None = None,
    ) -> None:
        self._add(
            {
                "t": t,
                "kind": "rest",
                "method": method,
                "path": path,
                "query": query,
                "status": status,
                "agent": agent,
                "duration_ms": round(duration_ms, 3),
                "request_body": _kept(request_body),
                "response_body": _kept(response_body),
                "fault": fault,
            }
        )

    def notification(self, t: float, node: str, verb: str, body: str, error: bool = False) -> Entry:
        return self._add(
            {
                "t": t,
                "kind": "notification",
                "node": node,
                "verb": verb,
                "agents": agents_of_node(node),
                "error": error,
                "body": truncate(body),
            }
        )

    def entries(self, query: Query = Query()) -> list[Entry]:
        found = [e for e in self._entries if query.matches(e)]
        if query.limit is not None:
            found = found[len(found) - query.limit :] if query.limit else []
        for entry in found:  # bodies kept as received become text once, on their first read
            if entry["kind"] == "rest":
                entry["request_body"] = _text(entry["request_body"])
                entry["response_body"] = _text(entry["response_body"])
        return found

    def clear(self) -> int:
        """Forget every entry (``seq`` goes on; ``dropped`` restarts at 0); how many were kept."""
        cleared = len(self._entries)
        self._entries.clear()
        self.dropped = 0
        return cleared

    def to_json(self, query: Query = Query()) -> dict[str, Any]:
        return {"entries": self.entries(query), "dropped": self.dropped, "last_seq": self.last_seq}


# -- the shell: the REST middleware and the control-plane routes ----------------------------------
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def rest_middleware(
    journal: Journal,
    now: Callable[[], float],
    wall: Callable[[], float],
    agent: Callable[[web.Request], str | None],
) -> Middleware:
    """The REST shell's journal: outermost, so it sees the answer the client gets (a 503 of the
    service gate, a 401, an injected fault) and the agent authentication found (``agent``)."""

    async def record(request: web.Request, start: float, status: int, body: bytes | str | None) -> None:
        # The request body is awaited only when there is one (no coroutine for a GET).
        sent = await _request_body(request) if request.body_exists else None
        enter(request, start, status, body, sent)

    def enter(
        request: web.Request, start: float, status: int, body: bytes | str | None, sent: bytes | None
    ) -> None:
        journal.rest(
            wall(),
            request.method,
            request.path,
            request.query_string,
            status,
            agent(request),
            (now() - start) * 1000.0,
            sent,
            body,
            request.get(FAULT_KEY),
        )

    @web.middleware
    async def journal_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not journal.size:  # journal_size 0: the journal is off, and costs nothing
            return await handler(request)
        start = now()
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # aiohttp's own 404/405 outside /finesse/api
            await record(request, start, exc.status, exc.text)
            raise
        except Exception:  # answered 500 by aiohttp (a cancelled request, gone, is not journaled)
            await record(request, start, 500, None)
            raise
        body = response.body if isinstance(response, web.Response) else None
        body = body if isinstance(body, bytes) else None
        if request.body_exists:
            await record(request, start, response.status, body)
        else:
            enter(request, start, response.status, body, None)
        return response

    return journal_requests


async def _request_body(request: web.Request) -> bytes | None:
    """The body as received (not inflated) when the handler read it; None when there is none or
    the node answered without reading it (a 401, an injected fault, a body over the cap): the
    journal never waits for a body the node did not (a slow client would hold the answer)."""
    if not request.body_exists or not request.content.at_eof():
        return None
    try:
        return await request.read()  # cached by aiohttp once a handler has read it
    except Exception:  # a body cut short or over the cap: the entry goes without it
        return None


JOURNAL_OPERATIONS = {
    ("GET", "/emu/journal"): ControlOperation(
        "The node's journal: REST requests and answers, notifications published (newest last)",
        (200, 400),
        query=tuple(
            {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
            for name, schema, text in (
                ("kind", {"type": "string", "enum": list(KINDS)}, "rest or notification"),
                ("agent", {"type": "string"}, "the authenticated agent, or an agent a notification concerns"),
                ("method", {"type": "string"}, "the REST method (GET, PUT, POST, DELETE)"),
                (
                    "path",
                    {"type": "string"},
                    "a glob on the REST path or the pubsub node, e.g. /finesse/api/User/*",
                ),
                ("since", {"type": "number"}, "entries at or after this wall-clock t"),
                ("after", {"type": "integer"}, "entries after this seq"),
                ("status", {"type": "integer"}, "REST entries answered with this status"),
                ("limit", {"type": "integer"}, f"the newest N of those selected (0..{MAX_LIMIT})"),
            )
        ),
    ),
    ("DELETE", "/emu/journal"): ControlOperation("Clear the journal (seq numbers go on)", (200,)),
}


def add_routes(app: web.Application, journal: Journal) -> None:
    """``GET /emu/journal`` and ``DELETE /emu/journal`` on the node's control plane (its token)."""

    async def get_journal(request: web.Request) -> web.Response:
        try:
            query = Query.parse(request.query)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(journal.to_json(query))

    async def delete_journal(_: web.Request) -> web.Response:
        return web.json_response({"cleared": journal.clear(), "last_seq": journal.last_seq})

    app.router.add_get("/emu/journal", get_journal)
    app.router.add_delete("/emu/journal", delete_journal)
    describe(app, JOURNAL_OPERATIONS)
