"""The history as the checker reads it: events in time order, emulated seconds, who was signed in where,
and when a node or a client was in trouble.

Times handed out by :class:`RunView` are **emulated seconds** (history ``t`` divided by the run's
time_scale, as the report does), so every bound of the checker is written with Cisco's numbers.
The events themselves are kept untouched: a violation shows them as the history has them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from emu_base.history_events import (
    AgentSignedIn,
    AgentSignedOut,
    AnyEntry,
    BrowserRefresh,
    ClientAction,
    Entry,
    FailoverDone,
    Fault,
    ForcedLogout,
    Heal,
    Health,
    HistoryEvent,
    NetworkGlitch,
    Role,
    ScenarioEnd,
    SignedIn,
    SignedOut,
    State,
    Status,
)
from finesse_emu.runs.report import run_time_scale
from finesse_emu.runs.report.history import Line, entries

E = TypeVar("E", bound=HistoryEvent)

CLIENT_SOURCES = ("desktop", "ippa")
NODE_PREFIX = "finesse-"
IN_SERVICE = "IN_SERVICE"
OUT_OF_SERVICE = "OUT_OF_SERVICE"
SIGNED_IN = "SIGNED_IN"
UNKNOWN_NODE = "unknown"

# States in which a client is still signed in on its node although it is not SIGNED_IN: a desktop
# retrying its Notification Service keeps its REST session; an IP Phone Agent that retries or shows
# "server unavailable" is still "signed into the current service" (Cisco, IPPA failover).
KEEPS_NODE = {
    "desktop": frozenset({"RECONNECTING_NOTIFICATION"}),
    "ippa": frozenset({"RETRYING", "SERVER_UNAVAILABLE"}),
}

# Component events the observer writes on every change: each one is a moment the deployment moved.
COMPONENT_CHANGES: tuple[type[HistoryEvent], ...] = (Status, Role, Health)

# Browser actions that put a client's session in doubt on its node (the race-window openers).
SESSION_BREAKERS = frozenset({"glitch", "crash", "close", "back", "refresh"})


@dataclass(frozen=True)
class Span:
    """A client (or a node's view of an agent) signed in on ``node`` from ``start`` to ``end``."""

    who: str  # "desktop", "ippa", or a node name for the node's own view
    node: str
    start: float
    end: float
    opened_by: AnyEntry
    closed_by: AnyEntry | None  # None: still signed in when the run ended


@dataclass(frozen=True)
class Interval:
    """A stretch of trouble (a node OUT_OF_SERVICE, a fault in force, a glitch)."""

    start: float
    end: float
    opened_by: AnyEntry
    closed_by: AnyEntry | None


def is_node(source: object) -> bool:
    return isinstance(source, str) and source.startswith(NODE_PREFIX)


def node_of(ev: AnyEntry) -> str | None:
    """The node a client's event names (its ``node`` field)."""
    return ev.node


class RunView:
    def __init__(self, events: Sequence[AnyEntry | Line], time_scale: float | None = None) -> None:
        ordered = sorted(entries(events), key=lambda e: e.t)  # stable: interleaved writers are fine
        self.scale = time_scale if time_scale and time_scale > 0 else run_time_scale(ordered)
        # Events after the scenario's `end` are the teardown (the swarm stopping, the deployment
        # going down): not part of the run under test.
        ends = [e for e in ordered if e.source == "scenario" and isinstance(e.event, ScenarioEnd)]
        if ends:
            cut = ends[-1].t
            ordered = [e for e in ordered if e.t <= cut]
        self.events = ordered
        self.start = min(0.0, self.at(ordered[0])) if ordered else 0.0
        self.end = self.at(ordered[-1]) if ordered else 0.0
        # Indexes (a soak history has 10^5+ events and 2000 agents: no per-agent full scans).
        self._by_client: dict[tuple[str, str], list[AnyEntry]] = defaultdict(list)
        self._by_agent: dict[str, list[AnyEntry]] = defaultdict(list)
        for e in ordered:
            agent = e.agent
            if agent is not None:
                self._by_client[(e.source, agent)].append(e)
                self._by_agent[agent].append(e)
        self._down: dict[str, list[Interval]] = {}
        self._faults: dict[str, list[Interval]] = {}

    # -- time ---------------------------------------------------------------------------------------
    def at(self, ev: AnyEntry) -> float:
        """The event's time in emulated seconds."""
        return ev.t / self.scale

    def emulated(self, real_seconds: float) -> float:
        return real_seconds / self.scale

    # -- selections ---------------------------------------------------------------------------------
    def of(self, event: type[E], source: str | None = None) -> list[Entry[E]]:
        """The entries of one event class (exactly that class: a heal is not a fault)."""
        return [x for e in self.events if (x := e.of(event)) is not None and source in (None, e.source)]

    def node_events(self, event: type[E]) -> list[Entry[E]]:
        """Events a Finesse node wrote about itself (source ``finesse-*``)."""
        return [x for e in self.events if (x := e.of(event)) is not None and is_node(e.source)]

    def agents(self, source: str) -> list[str]:
        return sorted({agent for (src, agent) in self._by_client if src == source})

    def client_events(self, source: str, agent: str) -> list[AnyEntry]:
        return self._by_client.get((source, agent), [])

    def agent_events(self, agent: str) -> list[AnyEntry]:
        """Every event naming the agent, whoever wrote it, in time order."""
        return self._by_agent.get(agent, [])

    @cached_property
    def _nodes(self) -> list[str]:
        names = {e.source for e in self.events if is_node(e.source)}
        names.update(n for e in self.events if e.source in CLIENT_SOURCES and is_node(n := node_of(e)) and n)
        return sorted(names)

    def nodes(self) -> list[str]:
        """The Finesse nodes: those that reported something, and those clients named."""
        return self._nodes

    # -- where clients are signed in ---------------------------------------------------------------------
    def client_spans(self, source: str, agent: str) -> list[Span]:
        """Where one client was signed in, by the report's rules (docs/reports.md): ``signed_in``,
        ``failover_done`` and ``state`` to SIGNED_IN put it on ``node``; ``signed_out`` and any other
        ``state`` take it off, except the states of KEEPS_NODE."""
        keeps = KEEPS_NODE.get(source, frozenset())
        changes: list[tuple[AnyEntry, str | None]] = []
        current: str | None = None
        for ev in self.client_events(source, agent):
            e = ev.event
            new: str | None
            if isinstance(e, SignedIn | FailoverDone) or (isinstance(e, State) and e.to == SIGNED_IN):
                new = node_of(ev) or current or UNKNOWN_NODE
            elif isinstance(e, SignedOut) or (isinstance(e, State) and e.to not in keeps):
                new = None
            else:
                continue
            if new != current:
                changes.append((ev, new))
                current = new
        return self._spans(source, changes)

    def node_view_spans(self, agent: str) -> list[Span]:
        """Where the nodes themselves think the agent is signed in (``finesse-*`` events
        ``agent_signed_in``; ``agent_signed_out`` or ``forced_logout`` end it). A node going
        OUT_OF_SERVICE ends its view too: it serves nobody then, its desktops leave on purpose, and
        those that come back sign in again (a new ``agent_signed_in``). A node logs each change once,
        so a second ``agent_signed_in`` with no end between comes from a restarted process (a killed
        node writes nothing): it opens a new span. Empty while nodes do not write these events.

        A client of the agent signing in on the node again while the node's view is open (back from
        the other node before the forced logout fired, which cancels it) renews the node's session:
        the node logs nothing, since for it the agent never left, but from then on its view is the
        client's current session again, not a leftover. So the view is split there, and the new
        piece starts with the client's event: an overlap with the other node's view is then judged
        from the moment it really began, not from the node's first sign-in."""
        spans: list[Span] = []
        clients = self.client_spans("desktop", agent) + self.client_spans("ippa", agent)
        for node in self.nodes():
            changes: list[tuple[AnyEntry, str | None]] = []
            current: str | None = None
            for ev in self.client_events(node, agent):
                if isinstance(ev.event, AgentSignedIn):
                    new: str | None = node
                elif isinstance(ev.event, AgentSignedOut | ForcedLogout):
                    new = None
                else:
                    continue
                if new != current or new is not None:
                    changes.append((ev, new))
                    current = new
            down = self.out_of_service(node)
            returns = sorted((c for c in clients if c.node == node), key=lambda c: c.start)
            for span in self._spans(node, changes):
                spans.extend(self._renewed(self._cut(span, down), returns))
        return [s for s in spans if s.end > s.start]

    @staticmethod
    def _renewed(span: Span, returns: list[Span]) -> list[Span]:
        """A node's view split where a client of the agent signed in on that node again (a client
        span on the node starting strictly inside the view)."""
        out: list[Span] = []
        for client in returns:
            if span.start < client.start < span.end:
                out.append(
                    Span(span.who, span.node, span.start, client.start, span.opened_by, client.opened_by)
                )
                span = Span(span.who, span.node, client.start, span.end, client.opened_by, span.closed_by)
        out.append(span)
        return out

    def _spans(self, who: str, changes: list[tuple[AnyEntry, str | None]]) -> list[Span]:
        spans: list[Span] = []
        for i, (ev, node) in enumerate(changes):
            if node is None:
                continue
            closer = changes[i + 1][0] if i + 1 < len(changes) else None
            end = self.at(closer) if closer is not None else self.end
            spans.append(Span(who, node, self.at(ev), end, ev, closer))
        return spans

    @staticmethod
    def _cut(span: Span, down: Iterable[Interval]) -> Span:
        """The span ended by the node's first OUT_OF_SERVICE stretch that starts or holds inside it."""
        for hole in down:
            if hole.start < span.end and hole.end > span.start:
                at = max(hole.start, span.start)
                return Span(span.who, span.node, span.start, at, span.opened_by, hole.opened_by)
        return span

    # -- nodes and faults ------------------------------------------------------------------------------
    def out_of_service(self, node: str) -> list[Interval]:
        """The node's OUT_OF_SERVICE stretches, from its ``status`` events (sampled by the observer:
        each edge can be late by one observer period)."""
        if node in self._down:
            return self._down[node]
        out: list[Interval] = []
        opened: AnyEntry | None = None
        for ev in self.of(Status, node):
            down = isinstance(ev.event, Status) and ev.event.status == OUT_OF_SERVICE
            if down and opened is None:
                opened = ev
            elif not down and opened is not None:
                out.append(Interval(self.at(opened), self.at(ev), opened, ev))
                opened = None
        if opened is not None:
            out.append(Interval(self.at(opened), self.end, opened, None))
        self._down[node] = out
        return out

    def in_service_at(self, node: str, t: float) -> bool:
        """The node's last reported status at ``t`` is not OUT_OF_SERVICE (no report: assumed up)."""
        return not any(i.start <= t and (t < i.end or i.closed_by is None) for i in self.out_of_service(node))

    def fault_intervals(self, node: str) -> list[Interval]:
        """Faults that hit ``node``: on the node itself or its Prosody (``xmpp-<side>``), and any CTI
        fault (both nodes use the same PG: "a CTI failure can cause both Finesse servers to
        disconnect"). Each lasts until the next heal of the same target, or the run's end."""
        if node in self._faults:
            return self._faults[node]
        side = node.removeprefix(NODE_PREFIX)
        out: list[Interval] = []
        open_faults: dict[str, AnyEntry] = {}
        for ev in self.events:
            if ev.source != "scenario" or not isinstance(ev.event, Fault):
                continue
            for target in ev.event.targets:
                if not (target in (node, f"xmpp-{side}") or target.startswith("cti-")):
                    continue
                if not isinstance(ev.event, Heal):
                    open_faults.setdefault(target, ev)
                elif target in open_faults:
                    start = open_faults.pop(target)
                    out.append(Interval(self.at(start), self.at(ev), start, ev))
        out.extend(Interval(self.at(ev), self.end, ev, None) for ev in open_faults.values())
        self._faults[node] = sorted(out, key=lambda i: i.start)
        return self._faults[node]

    def glitches(self, agent: str) -> list[tuple[Interval, str | None]]:
        """The desktop's network glitches: ``network_glitch`` with ``seconds`` (real seconds) and the
        node it lost."""
        out: list[tuple[Interval, str | None]] = []
        for ev in self.client_events("desktop", agent):
            if isinstance(ev.event, NetworkGlitch):
                real = ev.event.seconds or 0.0
                start = self.at(ev)
                out.append((Interval(start, start + self.emulated(real), ev, None), node_of(ev)))
        return out

    # -- the last disturbance ---------------------------------------------------------------------------
    @cached_property
    def global_disturbances(self) -> list[AnyEntry]:
        """Scenario faults and heals, and every change a component reported (node status, CTI role,
        AWDB/Prosody health): after the last of these, the deployment holds still."""
        return [
            e
            for e in self.events
            if (e.source == "scenario" and isinstance(e.event, Fault))
            or (isinstance(e.event, COMPONENT_CHANGES) and e.source not in CLIENT_SOURCES)
        ]

    def anchor(self, agent: str, source: str = "desktop") -> tuple[float, AnyEntry | None]:
        """When the last thing that could move this client happened: the last global disturbance, or
        the last browser action on it (a glitch counts from its end)."""
        last = self.global_disturbances[-1] if self.global_disturbances else None
        best: tuple[float, AnyEntry | None] = (
            (self.at(last), last) if last is not None else (self.start, None)
        )
        for ev in self.agent_events(agent):
            # A browser action: its client_action, or a refresh the desktop reports itself.
            acted = isinstance(ev.event, ClientAction) or (
                isinstance(ev.event, BrowserRefresh) and ev.source == source
            )
            if acted and self.at(ev) >= best[0]:
                best = (self.at(ev), ev)
        for interval, _ in self.glitches(agent):
            if interval.end >= best[0]:
                best = (min(interval.end, self.end), interval.opened_by)
        return best
