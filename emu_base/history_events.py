"""The events of a run's history, typed: what the report and the invariant checker read.

One frozen dataclass per event, its history name in ``NAME``. The components build these and emit
them (:func:`emit` into their JSON log, which the run merges into ``history.jsonl``;
:meth:`emu_base.history.History.record` for the scenario, the observer and the clients); the readers
(``finesse_emu.runs``) parse each line back with :func:`parse_entry` and read attributes. The name a
component emits *is* the history's name: there is no table translating one into the other, and
``tests/unit/test_history_events.py`` fails when an event the checker or the report reads has no
emitter left.

The line format is unchanged (docs/reports.md): ``t``, ``wall``, ``source``, ``event`` and the
event's fields, each under its JSON key (a field whose key is a Python keyword, ``from``, is the
attribute ``from_``). A line whose name no class claims, or whose fields do not fit its class,
is kept as :class:`Untyped`: shown in the report's timeline, never read by a rule.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar, Union

import structlog

# The envelope every line carries; no event has a field of these names.
ENVELOPE = frozenset({"t", "wall", "source", "event"})


@dataclass(frozen=True, kw_only=True)
class HistoryEvent:
    """One event of the history; subclasses set ``NAME`` and declare their fields."""

    NAME: ClassVar[str] = ""

    def fields(self) -> dict[str, Any]:
        """The event's fields under their JSON keys, as written to the history (an optional field
        left at None is left out, as the emitters always did)."""
        values = ((f, getattr(self, f.name)) for f in _spec(type(self)))
        return {f.key: v for f, v in values if not (v is None and f.omit_none)}


def _key(f: Any) -> str:
    return str(f.metadata.get("key", f.name))


def _from() -> Any:
    """The ``from`` field (a keyword in Python: the attribute is ``from_``)."""
    return field(default=None, metadata={"key": "from"})


EVENTS: dict[str, type[HistoryEvent]] = {}
E = TypeVar("E", bound=type[HistoryEvent])
E2 = TypeVar("E2", bound=HistoryEvent)


def register(cls: E) -> E:
    """Register a typed event under its ``NAME`` (one class per name)."""
    if not cls.NAME or cls.NAME in EVENTS:
        raise ValueError(f"{cls.__name__}: history event name {cls.NAME!r} missing or taken")
    EVENTS[cls.NAME] = cls
    return cls


# -- the scenario (source ``scenario``; finesse_emu/runs/scenario) ------------------------------------
@register
@dataclass(frozen=True, kw_only=True)
class ScenarioStart(HistoryEvent):
    NAME = "start"
    name: str | None = None
    time_scale: float = 1.0
    agents: int | None = None


@register
@dataclass(frozen=True, kw_only=True)
class ScenarioEnd(HistoryEvent):
    NAME = "end"
    ok: bool = False
    expectations: int | None = None


@register
@dataclass(frozen=True, kw_only=True)
class Phase(HistoryEvent):
    NAME = "phase"
    name: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class Fault(HistoryEvent):
    """A fault the scenario put on one component (``target``; a list of names in merged histories)."""

    NAME = "fault"
    target: str | list[str] = field(default_factory=list)
    action: str | None = None
    detail: str | None = None

    @property
    def targets(self) -> list[str]:
        return [self.target] if isinstance(self.target, str) else list(self.target)


@register
@dataclass(frozen=True, kw_only=True)
class Heal(Fault):
    NAME = "heal"


@register
@dataclass(frozen=True, kw_only=True)
class Expectation(HistoryEvent):
    """Passed only when ``ok`` is JSON ``true``: anything else reads as False."""

    NAME = "expectation"
    name: str | None = None
    ok: bool = False
    detail: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class Call(HistoryEvent):
    """A call routed to the agent; ``talk_time`` and ``answer_after`` in emulated seconds."""

    NAME = "call"
    agent: str
    talk_time: float | None = None
    answer_after: float = 1.0
    cti: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class ClientAction(HistoryEvent):
    """A browser action the swarm performed on a client (source ``desktop`` or ``ippa``)."""

    NAME = "client_action"
    action: str
    agent: str
    node: str | None = None


# -- the observer's polls (source: the component) --------------------------------------------------
@register
@dataclass(frozen=True, kw_only=True)
class Status(HistoryEvent):
    """A Finesse node's service state: IN_SERVICE or OUT_OF_SERVICE."""

    NAME = "status"
    status: str
    reason: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class Role(HistoryEvent):
    """A CTI side's role: active, idle or down."""

    NAME = "role"
    role: str


@register
@dataclass(frozen=True, kw_only=True)
class Health(HistoryEvent):
    """An AWDB's or a Prosody's health: up or down."""

    NAME = "health"
    health: str


@register
@dataclass(frozen=True, kw_only=True)
class Load(HistoryEvent):
    """A node's requests and megabits per emulated second."""

    NAME = "load"
    requests_per_second: float
    mbps: float | None = None


@register
@dataclass(frozen=True, kw_only=True)
class Resources(HistoryEvent):
    """A process's CPU (percent of one core), resident memory and open files, once a emulated second."""

    NAME = "resources"
    cpu_percent: float
    rss_mb: float
    fds: int | None = None


# -- the clients (source ``desktop`` or ``ippa``; finesse_emu/desktop) --------------------------------
@dataclass(frozen=True, kw_only=True)
class ClientEvent(HistoryEvent):
    """An event of one client: the agent it belongs to and the node it is on."""

    agent: str
    node: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class State(HistoryEvent):
    NAME = "state"
    agent: str
    from_: str | None = _from()
    to: str
    node: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class SignedIn(ClientEvent):
    NAME = "signed_in"


@register
@dataclass(frozen=True, kw_only=True)
class SignedOut(ClientEvent):
    NAME = "signed_out"
    reason: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class SignInFailed(ClientEvent):
    NAME = "sign_in_failed"
    error: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class ErrorShown(ClientEvent):
    """An error message the desktop shows its user, derived from what the node put on the wire.

    ``message`` is Cisco's wording ("Invalid user ID or password" on a refused sign-in, "Operation
    timed out" on a signed-in user's refused or unanswered request); ``request`` is what was asked
    (``sign_in`` or the request's method and path); ``status`` its HTTP status (0: no answer in
    time); ``seconds`` how long the answer took (the node's wait on the AWDB shows here).
    """

    NAME = "error_shown"
    message: str
    request: str
    status: int
    seconds: float | None = None


@register
@dataclass(frozen=True, kw_only=True)
class FailoverDetected(ClientEvent):
    """``trigger``: systeminfo, notification or presence (IPPA: its own triggers)."""

    NAME = "failover_detected"
    trigger: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class FailoverDone(ClientEvent):
    """Signed in again after a failover; ``seconds`` from detection (real seconds)."""

    NAME = "failover_done"
    seconds: float | None = None
    trigger: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class Moved(HistoryEvent):
    NAME = "moved"
    agent: str
    from_: str | None = _from()
    to: str


@register
@dataclass(frozen=True, kw_only=True)
class NotificationLost(ClientEvent):
    NAME = "notification_lost"


@register
@dataclass(frozen=True, kw_only=True)
class NotificationRestored(ClientEvent):
    NAME = "notification_restored"
    attempts: int | None = None


@register
@dataclass(frozen=True, kw_only=True)
class NetworkGlitch(ClientEvent):
    """The client lost the network to ``node`` for ``seconds`` (real seconds)."""

    NAME = "network_glitch"
    seconds: float | None = None


@register
@dataclass(frozen=True, kw_only=True)
class BrowserClose(ClientEvent):
    NAME = "browser_close"


@register
@dataclass(frozen=True, kw_only=True)
class BrowserCrash(ClientEvent):
    NAME = "browser_crash"


@register
@dataclass(frozen=True, kw_only=True)
class BrowserRefresh(ClientEvent):
    NAME = "browser_refresh"


@register
@dataclass(frozen=True, kw_only=True)
class TokenWarning(HistoryEvent):
    NAME = "token_warning"
    agent: str
    seconds_left: float | None = None


@register
@dataclass(frozen=True, kw_only=True)
class TokenCountdown(HistoryEvent):
    NAME = "token_countdown"
    agent: str
    seconds_left: float | None = None


@register
@dataclass(frozen=True, kw_only=True)
class TokenExpired(ClientEvent):
    NAME = "token_expired"


@register
@dataclass(frozen=True, kw_only=True)
class ServerUnavailable(ClientEvent):
    """An IP Phone Agent gave up on its node after ``attempts`` failed attempts."""

    NAME = "server_unavailable"
    attempts: int | None = None


@register
@dataclass(frozen=True, kw_only=True)
class HttpError(ClientEvent):
    NAME = "http_error"
    status: int | None = None
    error: str | None = None
    path: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class DialogSeen(ClientEvent):
    """A dialog as one desktop saw it (finesse_emu/desktop/calls.py): ``via`` ``xmpp`` (an Update
    on the user's Dialogs node, ``verb`` POST, PUT or DELETE) or ``rest`` (the GET of
    User/{id}/Dialogs when the desktop loads: ``verb`` GET, or GONE for a dialog the desktop held
    that the load no longer lists). ``mine``: the state of the agent's own participant ("" when it
    has none); ``parties``: ``address=STATE`` of every participant; ``digest``: a hash of what a
    client reads in the dialog (states, actions, call data), equal for two identical publishes."""

    NAME = "dialog_seen"
    dialog: str
    via: str
    verb: str
    state: str
    mine: str = ""
    parties: list[str] = field(default_factory=list)
    digest: str = ""


@register
@dataclass(frozen=True, kw_only=True)
class DialogAction(ClientEvent):
    """A call-control request a desktop made: ``action`` ANSWER, HOLD, ... on ``dialog`` (PUT
    Dialog), or MAKE_CALL to ``to`` (POST User/{id}/Dialogs, ``dialog`` empty); ``status`` the HTTP
    answer (0: none)."""

    NAME = "dialog_action"
    action: str
    dialog: str = ""
    to: str | None = None
    status: int = 0


@register
@dataclass(frozen=True, kw_only=True)
class DialogRefused(ClientEvent):
    """A call-control request the CTI server refused after the node's 202: an ``apiErrors`` Update
    on the user's Dialogs node (finesse_emu/desktop/calls.py). ``dialog``: the dialog it named (""
    for a MAKE_CALL); ``action``: the request the desktop had made on it; ``error_type``,
    ``message`` and ``code`` (the peripheralErrorCode) as the Update gave them."""

    NAME = "dialog_refused"
    action: str
    dialog: str = ""
    error_type: str = ""
    message: str = ""
    code: str = ""


@register
@dataclass(frozen=True, kw_only=True)
class CallsPlaced(HistoryEvent):
    """Desktops put on calls (``Swarm.place_calls``): ``kind`` (finesse_emu/desktop/calls.py, KINDS)
    and its ``agents``, the first one the caller or the called."""

    NAME = "calls_placed"
    kind: str
    agents: list[str] = field(default_factory=list)
    to: str | None = None


# -- the Finesse nodes (source ``finesse-*``; their log, with event_log) ---------------------------
@register
@dataclass(frozen=True, kw_only=True)
class Publish(HistoryEvent):
    """One pubsub item published; ``status`` is the node's own service state at that instant."""

    NAME = "publish"
    node: str
    verb: str | None = None
    status: str | None = None


@register
@dataclass(frozen=True, kw_only=True)
class Request(HistoryEvent):
    """One REST answer; ``service`` is the node's own service state when it answered; ``route`` the
    pattern of the route that matched (``/finesse/api/User/{user}``, ``unmatched`` for none: bounded,
    unlike ``path``); ``ms`` the time the node took to answer (real milliseconds, measured: the work
    is not scaled by the run's time_scale)."""

    NAME = "request"
    method: str
    path: str
    status: int
    service: str | None = None
    route: str | None = None
    ms: float | None = None


@register
@dataclass(frozen=True, kw_only=True)
class Auth(HistoryEvent):
    """One authentication: ``via`` cache or the AWDB that answered; ``reason`` when refused;
    ``cache_ttl`` the node's credential cache lifetime in emulated seconds when configured (None:
    Cisco's 30 minutes)."""

    NAME = "auth"
    agent: str
    ok: bool
    via: str | None = None
    reason: str | None = None
    cache_ttl: float | None = None


@register
@dataclass(frozen=True, kw_only=True)
class ForcedLogout(HistoryEvent):
    """The node forced the agent out (Cisco: reason code 255); ``name`` is the node's."""

    NAME = "forced_logout"
    agent: str
    reason_code: int | None = None
    name: str | None = None
    waited: float | None = None
    call_wait: float | None = None


@dataclass(frozen=True, kw_only=True)
class Session(HistoryEvent):
    """An agent's session through this node began or ended (docs/check.md); ``status`` is the
    node's service state, ``why`` what ended it."""

    agent: str
    name: str | None = None
    status: str | None = None
    why: str | None = None
    reason_code: int | None = None


@register
@dataclass(frozen=True, kw_only=True)
class AgentSignedIn(Session):
    NAME = "agent_signed_in"


@register
@dataclass(frozen=True, kw_only=True)
class AgentSignedOut(Session):
    NAME = "agent_signed_out"


# -- lines that no class claims ------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Untyped(HistoryEvent):
    """A line whose name no class claims (or whose fields do not fit it): kept for display only."""

    name: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        return dict(self.raw)


# -- emitting -------------------------------------------------------------------------------------------
def emit(ev: HistoryEvent, logger: Any = None) -> None:
    """Log ``ev`` as one JSON line (its name as structlog's ``event``, its fields beside it) on the
    component's log, which the run merges into its history under the same name."""
    (logger if logger is not None else structlog.get_logger()).info(ev.NAME, **ev.fields())


# -- reading ---------------------------------------------------------------------------------------------
EV_co = TypeVar("EV_co", bound=HistoryEvent, covariant=True)


@dataclass(frozen=True)
class Entry(Generic[EV_co]):
    """One line of the history: the envelope and the typed event (:class:`Untyped` when no class
    claims it). ``line`` is the object as written (what a violation or the timeline shows)."""

    t: float
    source: str
    event: EV_co
    wall: float | None = None
    line: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return self.event.name if isinstance(self.event, Untyped) else self.event.NAME

    @cached_property
    def agent(self) -> str | None:
        """The agent the line names, whatever the event (indexes are by agent)."""
        agent = self.line.get("agent")
        return None if agent is None else str(agent)

    @cached_property
    def node(self) -> str | None:
        """The node a client event names (its ``node`` field), if any."""
        node = self.line.get("node")
        return node if isinstance(node, str) and node else None

    def of(self, cls: type[E2]) -> Entry[E2] | None:
        """This entry, typed as a ``cls`` one, when its event is exactly a ``cls`` (a heal is not a
        fault); None otherwise."""
        return self if type(self.event) is cls else None  # type: ignore[return-value]


AnyEntry = Entry[HistoryEvent]


Check = Callable[[Any], bool]


# The exact JSON types each simple hint takes (JSON has one number type: an int is a float too).
_SIMPLE: dict[Any, tuple[type, ...]] = {
    type(None): (type(None),),
    bool: (bool,),
    int: (int,),
    str: (str,),
    float: (int, float),
}


def _check(hint: Any) -> Check:
    """A test that a value (from JSON) is of the declared type: bool is not a number, numbers are
    finite. Built once per field: a soak history has 10^5+ lines."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        members = typing.get_args(hint)
        if all(m in _SIMPLE for m in members):  # the common case, ``str | None``: one set lookup
            allowed = frozenset(t for m in members for t in _SIMPLE[m])
            finite = float in members
            return lambda v: type(v) in allowed and not (finite and type(v) is float and not math.isfinite(v))
        parts = [_check(h) for h in members]
        return lambda v: any(p(v) for p in parts)
    if origin is list:
        (item,) = typing.get_args(hint)
        each = _check(item)
        return lambda v: type(v) is list and all(each(x) for x in v)
    if hint is type(None):
        return lambda v: v is None
    if hint is float:
        return lambda v: type(v) in (int, float) and math.isfinite(v)
    if hint in (bool, int, str):
        return lambda v: type(v) is hint
    return lambda v: isinstance(v, hint)


@dataclass(frozen=True)
class _Field:
    name: str  # the attribute
    key: str  # the JSON key
    fits: Check
    required: bool  # no default: a line without a fitting value stays untyped
    to_float: bool  # JSON has one number type: an int where a float is declared becomes one
    omit_none: bool  # optional, None by default: left out of the line when None


_SPECS: dict[type[HistoryEvent], tuple[_Field, ...]] = {}


def _spec(cls: type[HistoryEvent]) -> tuple[_Field, ...]:
    spec = _SPECS.get(cls)
    if spec is None:
        hints = typing.get_type_hints(cls)
        spec = _SPECS[cls] = tuple(
            _Field(
                f.name,
                _key(f),
                _check(hints[f.name]),
                f.default is MISSING and f.default_factory is MISSING,
                hints[f.name] is float or float in typing.get_args(hints[f.name]),
                f.default is None,
            )
            for f in fields(cls)
        )
    return spec


def parse_event(name: str, values: Mapping[str, Any]) -> HistoryEvent:
    """The typed event for one line's name and fields (the envelope's keys, if there, are ignored).
    A field that is missing or of the wrong type takes its default; without a default, the line
    stays :class:`Untyped` (no rule reads it)."""
    cls = EVENTS.get(name)
    if cls is None:
        return _untyped(name, values)
    kwargs: dict[str, Any] = {}
    for f in _spec(cls):
        value = values.get(f.key, MISSING)
        if value is not MISSING and f.fits(value):
            kwargs[f.name] = float(value) if f.to_float and type(value) is int else value
        elif f.required:
            return _untyped(name, values)
    return cls(**kwargs)


def _untyped(name: str, values: Mapping[str, Any]) -> Untyped:
    return Untyped(name=name, raw={k: v for k, v in values.items() if k not in ENVELOPE})


def parse_entry(line: Mapping[str, Any]) -> Entry[HistoryEvent] | None:
    """One history object as an :class:`Entry`, or None when it breaks the envelope: a finite
    numeric ``t`` and string ``source`` and ``event`` (``wall`` only for display, may be missing)."""
    t, source, name = line.get("t"), line.get("source"), line.get("event")
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        return None
    if not isinstance(source, str) or not isinstance(name, str):
        return None
    wall = line.get("wall")
    wall = float(wall) if isinstance(wall, int | float) and not isinstance(wall, bool) else None
    # No event has a field named as the envelope: the line serves as the fields as it is.
    return Entry(float(t), source, parse_event(name, line), wall, line)
