"""What a check produces (violations, outcomes) and the bounds it uses, in emulated seconds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from emu_base.history_events import AnyEntry
from emu_base.timers import Timers

# Cisco's own numbers: a Timers at time_scale 1 holds them unscaled.
DEFAULTS = Timers()

# Not in Cisco's chapter: the pause between the desktop's three Notification Service attempts.
NOTIFICATION_RETRY = DEFAULTS.notification_reconnect_pause
# Not in Cisco's chapter either: what a sign-in and a desktop reload may take once a node is found healthy
# in a small swarm. Cisco's failover table gives 50-110 s for 1000-2000 agents: pass --bound for those.
SIGN_IN_ALLOWANCE = 20.0


def default_bound() -> float:
    """Three Notification Service attempts, one SystemInfo poll, one sign-in: 15 + 20 + 20 = 55 s."""
    attempts = DEFAULTS.notification_reconnect_attempts * NOTIFICATION_RETRY
    return attempts + DEFAULTS.desktop_systeminfo_poll + SIGN_IN_ALLOWANCE


@dataclass(frozen=True)
class Options:
    """Every bound in emulated seconds (the history's ``t`` divided by the run's time_scale)."""

    # A desktop has converged this long after the last disturbance (fault, heal, status change,
    # browser action on it); an unfinished failover is late after this long too.
    bound: float = field(default_factory=default_bound)
    # Node status comes from the observer's polls, so an OUT_OF_SERVICE edge can be late by about
    # half a second; events this close to an edge are not held against the node.
    margin: float = 1.0
    # The network-glitch / browser-crash race: up to 120 s to notice the silent client, then 60 s
    # before the forced logout ("Finesse can take up to 180 seconds to sign out the agent").
    race_window: float = DEFAULTS.browser_crash_detection + DEFAULTS.forced_logout_after_unavailable
    cache_ttl: float = DEFAULTS.awdb_credential_cache
    ippa_poll: float = DEFAULTS.ippa_poll_interval
    ippa_attempts: int = DEFAULTS.ippa_attempts
    reason_code: int = DEFAULTS.forced_logout_reason_code
    # Timer-exact comparisons (IPPA's 3 x 5 s) allow this much for rounding of ``t``.
    tolerance: float = 0.05
    time_scale: float | None = None  # None: the scenario's start event (1 without one)


@dataclass(frozen=True)
class Violation:
    invariant: str
    message: str
    events: tuple[AnyEntry, ...]  # the events that prove it, in time order


class NotCheckable(Exception):
    """The history lacks the events an invariant needs; the message says which."""


@dataclass(frozen=True)
class Checked:
    """What one invariant found, and what it was checked on: ``on`` things (``what``, a plural:
    "forced logouts"). ``on == 0`` with no violation means the run never put the rule to the test
    (no phone lost its node, no forced logout happened): it held on nothing, and says so."""

    violations: list[Violation]
    on: int
    what: str


def proof(*events: AnyEntry | None) -> tuple[AnyEntry, ...]:
    """The given events without Nones and duplicates, in time order."""
    seen: set[int] = set()
    out: list[AnyEntry] = []
    for ev in events:
        if ev is not None and id(ev) not in seen:
            seen.add(id(ev))
            out.append(ev)
    return tuple(sorted(out, key=lambda e: e.t))


BRIEF_FIELDS = ("agent", "target", "action", "status", "role", "health", "node", "from", "to", "trigger")
HIDDEN_FIELDS = frozenset({"t", "wall", "source", "event"})
MAX_VALUE = 80


def brief(ev: AnyEntry | None) -> str:
    """A few words for a message: ``scenario heal target=xmpp-a action=start``."""
    if ev is None:
        return "the run's start"
    words = [ev.source, ev.name]
    words += [f"{k}={ev.line[k]}" for k in BRIEF_FIELDS if k in ev.line]
    return " ".join(words)


def key_fields(ev: AnyEntry) -> str:
    """Every field of the line as written but t/wall/source/event, as ``k=v``, long values cut."""
    parts = []
    for k, v in ev.line.items():
        if k in HIDDEN_FIELDS:
            continue
        text = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
        if len(text) > MAX_VALUE:
            text = text[: MAX_VALUE - 3] + "..."
        parts.append(f"{k}={text}")
    return " ".join(parts)
