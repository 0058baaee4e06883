"""Fault kinds: one object each, the one place that says what a fault is (docs/design.md, "Where to add").

A :class:`FaultKind` names the fault, the component kinds whose control plane accepts it
(``cti``, ``awdb``, ``finesse``), its parameters with their validation, its help text and the
``finesse-emu chaos`` verb it serves. Every kind lives in :data:`KINDS`; the control plane
(:mod:`emu_base.admin`) validates a request against it, ``finesse-emu chaos`` and the scenario's
``fault`` step derive their verbs from it, and a component binds what the fault does
(:class:`FaultRegistry`), so that an unknown kind or a bad parameter is the same clear 400 error
on every component.

The stubs may import this module (it is the shared floor); it imports no component.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from emu_base.logs import get_logger

log = get_logger()

# The component kinds that serve a control plane with faults (the launcher's roles ``publisher``
# and ``subscriber`` are both ``finesse``).
CTI = "cti"
AWDB = "awdb"
FINESSE = "finesse"
# The client-path proxy in front of a node's client-facing ports (finesse_emu/edge/): its faults are
# Toxiproxy's toxics on the bytes between a client and the node or its Notification Service.
EDGE = "edge"
COMPONENT_KINDS = (CTI, AWDB, FINESSE, EDGE)


class FaultError(ValueError):
    """A fault request that cannot be honoured (unknown kind, bad parameter)."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a parameter a request must give


@dataclass(frozen=True)
class Param:
    """One parameter of a fault: its JSON type, its default (or :data:`REQUIRED`), its range."""

    type: type
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    choices: tuple[str, ...] = ()  # a string parameter's allowed values (empty: any)

    def shown(self) -> str:
        """``FLOAT 0..600000 (milliseconds)``: the type, the range, the help."""
        text = "|".join(self.choices) if self.choices else self.type.__name__.upper()
        if self.minimum is not None or self.maximum is not None:
            low = "" if self.minimum is None else f"{self.minimum:g}"
            text += f" {low}..{'' if self.maximum is None else f'{self.maximum:g}'}"
        return text + (f" ({self.help})" if self.help else "")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, fault: str, name: str, value: Any) -> Any:
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (isinstance(value, bool) and self.type is not bool):
            raise FaultError(f"fault {fault!r}: {name} must be {self.type.__name__}")
        low = -float("inf") if self.minimum is None else self.minimum
        high = float("inf") if self.maximum is None else self.maximum
        if isinstance(value, int | float) and not low <= value <= high:
            raise FaultError(f"fault {fault!r}: {name} must be {low:g}..{high:g}")
        if self.choices and value not in self.choices:
            raise FaultError(f"fault {fault!r}: {name} must be one of {list(self.choices)}")
        return value


@dataclass(frozen=True, eq=False)  # a kind is itself: hashed by identity, a key of bindings
class FaultKind:
    """What one fault is. ``chaos`` is the ``finesse-emu chaos`` verb that posts it (``hang``,
    ``latency``; None: only through ``inject``); ``chaos_value`` the parameter the verb's number
    (``--ms N``) fills."""

    name: str
    components: tuple[str, ...]
    description: str
    params: Mapping[str, Param] = field(default_factory=dict)
    # A one-shot fault is an action (drop sessions, hand over): applied once, never listed as active.
    one_shot: bool = False
    chaos: str | None = None
    chaos_value: str | None = None

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(raw) - set(self.params)
        if unknown:
            raise FaultError(f"fault {self.name!r} takes no parameter(s) {sorted(unknown)}")
        out: dict[str, Any] = {}
        for pname, param in self.params.items():
            if pname in raw:
                out[pname] = param.check(self.name, pname, raw[pname])
            elif param.required:
                raise FaultError(f"fault {self.name!r}: {pname} is required")
            else:
                out[pname] = param.default
        return out

    def usage(self) -> str:
        """One line for a help text: ``slow ms=FLOAT 0..600000 (milliseconds): delay every ...``."""
        params = " ".join(f"{n}={p.shown()}" for n, p in self.params.items())
        return f"{self.name}{' ' + params if params else ''}: {self.description}"

    def describe(self) -> dict[str, Any]:
        """What ``GET /emu/faults`` says about the kind."""
        return {"description": self.description, "params": sorted(self.params), "one_shot": self.one_shot}


class FaultKinds:
    """Every fault kind by name (:data:`KINDS`)."""

    def __init__(self) -> None:
        self._kinds: dict[str, FaultKind] = {}

    def register(self, kind: FaultKind) -> FaultKind:
        if kind.name in self._kinds:
            raise ValueError(f"fault kind {kind.name!r} is registered twice")
        bad = set(kind.components) - set(COMPONENT_KINDS)
        if bad or not kind.components:
            raise ValueError(f"fault kind {kind.name!r}: components are some of {COMPONENT_KINDS}")
        if kind.chaos_value is not None and kind.chaos_value not in kind.params:
            raise ValueError(f"fault kind {kind.name!r}: chaos_value {kind.chaos_value!r} is no parameter")
        self._kinds[kind.name] = kind
        return kind

    def unregister(self, kind: FaultKind) -> None:
        self._kinds.pop(kind.name, None)

    @contextmanager
    def registered(self, kind: FaultKind) -> Iterator[FaultKind]:
        """A kind registered for the time of a ``with`` block (tests)."""
        self.register(kind)
        try:
            yield kind
        finally:
            self.unregister(kind)

    def get(self, name: str) -> FaultKind | None:
        return self._kinds.get(name)

    def __iter__(self) -> Iterator[FaultKind]:
        return iter(list(self._kinds.values()))

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def of(self, component: str) -> list[FaultKind]:
        """The kinds a component kind's control plane accepts."""
        return [k for k in self if component in k.components]

    def chaos_verbs(self) -> list[str]:
        """The ``finesse-emu chaos`` verbs the kinds serve, in registration order."""
        return list(dict.fromkeys(k.chaos for k in self if k.chaos is not None))

    def for_verb(self, verb: str, component: str) -> FaultKind | None:
        """The kind that ``finesse-emu chaos VERB`` posts to a component kind (None: not available)."""
        return next((k for k in self.of(component) if k.chaos == verb), None)

    def validate(
        self, body: Mapping[str, Any], component: str | None = None
    ) -> tuple[FaultKind, dict[str, Any]]:
        """A fault request (``{"kind": ..., <params>}``) checked, for a component kind or any."""
        name = body.get("kind")
        known = sorted(k.name for k in (self.of(component) if component else self))
        if not isinstance(name, str):
            raise FaultError(f"'kind' is required; known: {known}")
        kind = self._kinds.get(name)
        if kind is None or (component is not None and component not in kind.components):
            raise FaultError(f"unknown fault kind {name!r}; known: {known}")
        return kind, kind.validate({k: v for k, v in body.items() if k != "kind"})


KINDS = FaultKinds()

# -- the CTI Server stub (cti_stub/server.py) ------------------------------------------------------
IGNORE_HEARTBEATS = KINDS.register(
    FaultKind(
        "ignore_heartbeats",
        (CTI,),
        "stop answering HEARTBEAT_REQ (the socket stays open); client='' means every client",
        {"client": Param(str, "", help="the client's ClientID; '' every client")},
        chaos="hang",
    )
)
FAIL_HEARTBEATS = KINDS.register(
    FaultKind("fail_heartbeats", (CTI,), "answer HEARTBEAT_REQ with FAILURE_CONF E_CTI_CTI_SERVER_OFFLINE")
)
OFFLINE = KINDS.register(
    FaultKind(
        "offline",
        (CTI,),
        "FAILURE_EVENT E_CTI_CTI_SERVER_OFFLINE to every session, close them; refuse OPEN_REQ while set",
    )
)
REFUSE_SESSIONS = KINDS.register(
    FaultKind("refuse_sessions", (CTI,), "close the listening socket: new connections are refused")
)
DROP_SESSIONS = KINDS.register(
    FaultKind(
        "drop_sessions",
        (CTI,),
        "reset every client session now",
        {"client": Param(str, "", help="the client's ClientID; '' every client")},
        one_shot=True,
    )
)
DEACTIVATE = KINDS.register(
    FaultKind("deactivate", (CTI,), "go idle and hand over to the other PG side now", one_shot=True)
)
LATENCY = KINDS.register(
    FaultKind(
        "latency",
        (CTI,),
        "delay every message sent to clients",
        {"ms": Param(float, help="milliseconds")},
        chaos="latency",
        chaos_value="ms",
    )
)

# -- the AWDB stub (awdb_stub/server.py) -----------------------------------------------------------
MAX_SLOW_MS = 600_000.0
AWDB_HANG = KINDS.register(
    FaultKind(
        "hang",
        (AWDB,),
        "accept connections and read requests, answer nothing until removed (timeouts)",
        chaos="hang",
    )
)
AWDB_REFUSE = KINDS.register(
    FaultKind("refuse", (AWDB,), "close the query listener and drop its connections (connection refused)")
)
AWDB_SLOW = KINDS.register(
    FaultKind(
        "slow",
        (AWDB,),
        "delay every answer by ms milliseconds",
        {"ms": Param(float, minimum=0, maximum=MAX_SLOW_MS, help="milliseconds")},
        chaos="latency",
        chaos_value="ms",
    )
)
AWDB_ERROR = KINDS.register(
    FaultKind(
        "error",
        (AWDB,),
        "answer every query with HTTP status and a JSON error",
        {"status": Param(int, 500, minimum=400, maximum=599, help="the HTTP status")},
    )
)

# -- the Finesse node (finesse_emu/server/node.py) -------------------------------------------------
# The Finesse Failover Mechanisms chapter lists two of the desktop's failover reasons apart: "When the
# Finesse Tomcat Service becomes Unavailable" and "When the Finesse REST API Service becomes
# Unavailable". Cisco's Finesse developer guide tells them apart as a client sees them: "If the Cisco
# Finesse Tomcat is running, Finesse rejects any API requests and returns an HTTP 503 error ... If the
# Cisco Finesse Tomcat service is not running, Finesse returns a Connection Timeout error"; in both
# the 'finesse' user's presence becomes UNAVAILABLE ("Cisco Finesse Tomcat goes down", "Finesse web
# app goes down", its Failure Scenarios).
WEBAPP_DOWN = KINDS.register(
    FaultKind(
        "webapp_down",
        (FINESSE,),
        "Finesse Tomcat stops: nothing answers on the node's web ports (REST, SystemInfo, desktop"
        " content refused), the finesse user turns Unavailable, the node goes OUT_OF_SERVICE",
        chaos="hang",
    )
)
REST_API_DOWN = KINDS.register(
    FaultKind(
        "rest_api_down",
        (FINESSE,),
        "the Finesse REST API service stops inside a running Tomcat: the API answers 503, SystemInfo"
        " says OUT_OF_SERVICE, desktop content is still served, the finesse user turns Unavailable",
    )
)

# Opt-in (never part of a default chaos run): chapter "Finesse Failover Mechanisms", CTI Failover:
# "An agent or supervisor who signs in after being on an active conference with other devices
# (which are not associated with another agent or supervisor) may experience unpredictable
# behavior with the Finesse desktop due to incorrect call notifications from Unified CCE. These
# limitations also encompass failover scenarios where a failover occurs while the agent or
# supervisor is participating in a conference call." ... "The Finesse desktop does not show all
# participants in a conference call. The Finesse desktop does not show that the signed-in agent or
# supervisor is in an active call. The Finesse receives inconsistent call notifications from
# Unified CCE." ... "Desktop behavior returns to usual after the agent or supervisor drops off the
# conference call."
CONFERENCE_GLITCH = KINDS.register(
    FaultKind(
        "conference_glitch",
        (FINESSE,),
        "the chapter's conference note: after a failover (or a sign-in) during a conference with a"
        " device that is no agent, until the agent drops off it, the agent's desktop does not list the"
        " conference (DELETE, absent from GET Dialogs), then gets PUTs of it without the devices that"
        " are no agent and without itself",
    )
)


# -- the client-path proxy (finesse_emu/edge/server.py) --------------------------------------------
# Toxiproxy's toxics, on the bytes between a client and one node's client-facing ports; ``port``
# picks the port kind, ``direction`` the way the bytes go (upstream: client to node, downstream:
# node to client; Toxiproxy's default is downstream). They reach new and existing connections.
EDGE_PORTS = ("all", "rest", "rest_https", "xmpp", "xmpp_tls", "bosh", "bosh_https")
EDGE_DIRECTIONS = ("downstream", "upstream", "both")
_EDGE_WHERE = {
    "port": Param(str, "all", help="the node's port kind, or all", choices=EDGE_PORTS),
    "direction": Param(
        str,
        "downstream",
        help="upstream: client to node; downstream: node to client",
        choices=EDGE_DIRECTIONS,
    ),
}
CLIENT_LATENCY = KINDS.register(
    FaultKind(
        "client_latency",
        (EDGE,),
        "delay the bytes between clients and the node by ms milliseconds, plus or minus jitter_ms",
        {
            "ms": Param(float, minimum=0, maximum=MAX_SLOW_MS, help="milliseconds"),
            "jitter_ms": Param(float, 0.0, minimum=0, maximum=MAX_SLOW_MS, help="milliseconds, uniform +-"),
            **_EDGE_WHERE,
        },
        chaos="latency",
        chaos_value="ms",
    )
)
CLIENT_BANDWIDTH = KINDS.register(
    FaultKind(
        "client_bandwidth",
        (EDGE,),
        "limit the bytes between clients and the node to rate_kb_s kilobytes per second",
        {"rate_kb_s": Param(float, minimum=0.001, help="kilobytes (1000 bytes) per second"), **_EDGE_WHERE},
        chaos="bandwidth",
        chaos_value="rate_kb_s",
    )
)
CLIENT_SLICER = KINDS.register(
    FaultKind(
        "client_slicer",
        (EDGE,),
        "cut the bytes between clients and the node in pieces of size_bytes, delay_ms apart",
        {
            "size_bytes": Param(int, minimum=1, help="bytes per piece"),
            "delay_ms": Param(float, 0.0, minimum=0, maximum=MAX_SLOW_MS, help="milliseconds between pieces"),
            **_EDGE_WHERE,
        },
        chaos="slicer",
        chaos_value="size_bytes",
    )
)
CLIENT_TIMEOUT = KINDS.register(
    FaultKind(
        "client_timeout",
        (EDGE,),
        "black hole: the bytes between clients and the node are dropped; connections are closed"
        " close_after_ms milliseconds after the fault reaches them (0: held open until healed)",
        {
            "close_after_ms": Param(float, 0.0, minimum=0, maximum=MAX_SLOW_MS, help="milliseconds"),
            **_EDGE_WHERE,
        },
        chaos="timeout",
    )
)
CLIENT_RESET = KINDS.register(
    FaultKind(
        "client_reset",
        (EDGE,),
        "reset (TCP RST) the connections between clients and the node after_ms milliseconds after the"
        " fault reaches them, new ones included",
        {"after_ms": Param(float, 0.0, minimum=0, maximum=MAX_SLOW_MS, help="milliseconds"), **_EDGE_WHERE},
        chaos="reset",
    )
)


@dataclass(frozen=True)
class _AnswerStatus(Param):
    """An HTTP status a fault answers with, or 0 for none (only the delay)."""

    def check(self, fault: str, name: str, value: Any) -> Any:
        value = super().check(fault, name, value)
        if value != 0 and not 100 <= value <= 599:
            raise FaultError(f"fault {fault!r}: {name} must be 0 (no answer, only the delay) or 100..599")
        return value


# "REST fault rules per route and method (status code, delay, probability, count)": WireMock's
# faults and Toxiproxy's toxics for the REST API of one node (finesse_emu/server/rest_rules.py;
# docs/finesse.md, "REST fault rules"). Several may be active at once; the oldest matching one fires.
REST_RULE = KINDS.register(
    FaultKind(
        "rest_rule",
        (FINESSE,),
        "answer the REST requests matching method and path (a glob) with status (ApiErrors XML, or"
        " body) after delay_ms, with probability (seeded RNG), count times (0: until removed)",
        {
            "path": Param(str, help="a glob on the request path, e.g. /finesse/api/User/*"),
            "method": Param(str, "*", help="GET, PUT, POST, DELETE; * any"),
            "status": _AnswerStatus(int, 503, minimum=0, maximum=599, help="the HTTP status; 0: only delay"),
            "delay_ms": Param(float, 0.0, minimum=0, maximum=MAX_SLOW_MS, help="milliseconds"),
            "probability": Param(float, 1.0, minimum=0, maximum=1, help="0..1 per matching request"),
            "count": Param(int, 0, minimum=0, help="how many times it fires; 0 no limit"),
            "body": Param(str, "", help="the answer's body; '' an ApiErrors document"),
            "seed": Param(int, 0, help="the rule's random seed (probability)"),
        },
    )
)


@dataclass(frozen=True)
class Fault:
    id: str
    kind: str
    params: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, **self.params}


# What a component does when one of its faults becomes active (True) or is removed (False).
FaultHandler = Callable[[Fault, bool], Awaitable[None] | None]


class FaultRegistry:
    """Active faults of one component, and what each of its kinds does there.

    ``bindings`` maps each fault kind the component accepts to its handler, called on add and on
    remove; a kind of the component left unbound, or bound on the wrong component, is a
    programming error caught at construction. ``after`` runs after every handler (a shell that
    re-arms its listener or flushes once whatever changed)."""

    def __init__(
        self,
        component: str,
        bindings: Mapping[FaultKind, FaultHandler],
        after: Callable[[], Awaitable[None] | None] | None = None,
        kinds: FaultKinds = KINDS,
    ) -> None:
        wrong = sorted(k.name for k in bindings if component not in k.components)
        if wrong:
            raise ValueError(f"{component}: fault kinds {wrong} are not for this component")
        unbound = sorted(k.name for k in kinds.of(component) if k not in bindings)
        if unbound:
            raise ValueError(f"{component}: fault kinds {unbound} have no handler")
        self.component = component
        self.kinds = {k.name: k for k in bindings}
        self._handlers = {k.name: h for k, h in bindings.items()}
        self._after = after
        self._faults: dict[str, Fault] = {}
        self._ids = itertools.count(1)

    def active(self, kind: FaultKind | str | None = None) -> list[Fault]:
        name = kind.name if isinstance(kind, FaultKind) else kind
        return [f for f in self._faults.values() if name is None or f.kind == name]

    def has(self, kind: FaultKind | str) -> bool:
        return bool(self.active(kind))

    def first(self, kind: FaultKind | str) -> Fault | None:
        return next(iter(self.active(kind)), None)

    async def add(self, name: str, params: Mapping[str, Any]) -> Fault:
        spec = self.kinds.get(name)
        if spec is None:
            other = KINDS.get(name)
            where = f" here (a fault of {', '.join(other.components)})" if other else ""
            raise FaultError(f"unknown fault kind {name!r}{where}; known: {sorted(self.kinds)}")
        fault = Fault(id=f"{name}-{next(self._ids)}", kind=name, params=spec.validate(params))
        if not spec.one_shot:
            self._faults[fault.id] = fault
        log.info("fault_added", fault=fault.to_json(), one_shot=spec.one_shot)
        await self._notify(fault, True)
        return fault

    async def remove(self, fault_id: str) -> Fault | None:
        fault = self._faults.pop(fault_id, None)
        if fault is not None:
            log.info("fault_removed", fault=fault.to_json())
            await self._notify(fault, False)
        return fault

    async def clear(self) -> int:
        ids = list(self._faults)
        for fid in ids:
            await self.remove(fid)
        return len(ids)

    async def _notify(self, fault: Fault, active: bool) -> None:
        for call in (lambda: self._handlers[fault.kind](fault, active), self._after):
            if call is None:
                continue
            result = call()
            if inspect.isawaitable(result):
                await result
