"""REST fault rules: per route and method, an error answer, a delay, or both (fault ``rest_rule``).

``POST /emu/faults {"kind": "rest_rule", "path": "/finesse/api/User/*", "method": "PUT",
"status": 503, "count": 2}`` makes the node answer the next two PUTs of a User with 503, then pass
them again, as WireMock's stubs and Toxiproxy's toxics do for a server they stand in front of.
Several rules may be active at once, each a fault of its own (its id from ``POST /emu/faults``):
the oldest rule that matches a request decides it. ``DELETE /emu/faults/{id}`` removes one,
``DELETE /emu/faults`` (and ``finesse-emu chaos heal``) every one. A rule whose ``count`` is spent
stays listed until removed but answers nothing more.

A rule matches a request by ``method`` (``*``: any) and ``path`` (a glob, :func:`fnmatch.fnmatchcase`,
on the path without its query), then fires with ``probability`` drawn from the rule's own
:class:`random.Random` seeded with ``seed`` (the same seed, the same requests hit: deterministic in
tests). A firing rule waits ``delay_ms`` (real milliseconds, on the node's clock), then answers
``status`` with ``body``, or, without a body, an ApiErrors document as Finesse's own errors are
(503 is Finesse's SERVER_OUT_OF_SERVICE); ``status`` 0 only delays and lets the request through.
Rules act after authentication, so the journal names the agent of a faulted request; the service
gate's 503 and a 401 come first.

:class:`RestRules` is pure (no clock, no I/O); :func:`middleware` is its shell.
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from emu_base.clock import Clock
from finesse_emu.server import xml as X
from finesse_emu.server.journal import FAULT_KEY

__all__ = ["Firing", "RestRule", "RestRules", "error_answer", "middleware"]


@dataclass
class RestRule:
    """One rule, from the fault's validated parameters (emu_base/faults.py, ``rest_rule``)."""

    id: str
    path: str
    method: str = "*"
    status: int = 503
    delay_ms: float = 0.0
    probability: float = 1.0
    count: int = 0  # 0: no limit
    body: str = ""
    seed: int = 0
    fired: int = 0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.rng = random.Random(self.seed)

    @classmethod
    def of(cls, rule_id: str, params: Mapping[str, Any]) -> RestRule:
        return cls(rule_id, **params)

    @property
    def spent(self) -> bool:
        return self.count > 0 and self.fired >= self.count

    def applies(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())) and fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class Firing:
    """What a rule does to one request: wait, then answer ``status`` (0: let it through)."""

    rule: str
    delay_ms: float
    status: int
    body: str


class RestRules:
    """The active rules, oldest first."""

    def __init__(self) -> None:
        self._rules: dict[str, RestRule] = {}

    def add(self, rule: RestRule) -> None:
        self._rules[rule.id] = rule

    def remove(self, rule_id: str) -> None:
        self._rules.pop(rule_id, None)

    def __len__(self) -> int:
        return len(self._rules)

    def match(self, method: str, path: str) -> Firing | None:
        """The firing for one request, or None. Only a matching, unspent rule draws from its RNG,
        and a rule that draws no hit lets the next one decide."""
        for rule in self._rules.values():
            if rule.spent or not rule.applies(method, path):
                continue
            if rule.probability < 1.0 and rule.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            return Firing(rule.id, rule.delay_ms, rule.status, rule.body)
        return None


def error_answer(status: int, body: str = "") -> web.Response:
    """An injected error: the given body, else ApiErrors as Finesse's own errors (503 is what an
    out-of-service Finesse answers, SERVER_OUT_OF_SERVICE)."""
    if body:
        return web.Response(
            status=status, body=body.encode(), content_type="application/xml", charset="utf-8"
        )
    if status == 503:
        resp = X.service_unavailable()
    else:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:  # a status Python does not name (e.g. 599)
            phrase = "Error"
        resp = X.error_response(status, phrase, phrase.upper().replace(" ", "_").replace("-", "_"))
    return web.Response(status=resp.status, body=resp.body, content_type="application/xml", charset="utf-8")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(rules: RestRules, clock: Clock) -> Middleware:
    """The rules on the REST shell (innermost: after authentication)."""

    @web.middleware
    async def rest_fault_rules(request: web.Request, handler: Handler) -> web.StreamResponse:
        firing = rules.match(request.method, request.path) if len(rules) else None
        if firing is None:
            return await handler(request)
        request[FAULT_KEY] = firing.rule
        if firing.delay_ms > 0:
            await clock.sleep(firing.delay_ms / 1000.0)
        if firing.status == 0:
            return await handler(request)
        return error_answer(firing.status, firing.body)

    return rest_fault_rules
