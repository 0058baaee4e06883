"""Reload distribution: how a node spreads the desktop content requests of a failover.

Cisco's "Finesse Failover Mechanisms": "Finesse is IN_SERVICE, coordinates the distribution of
desktop reloads, such that failover and consequent desktop reloads are evenly distributed to prevent
overwhelming of the Finesse server." How the real server does it is not documented. The emulator's
policy, on by default (docs/finesse.md, "Reload distribution"), is a token bucket over desktop
content (gadget specs and desktop resources; REST requests are never held):

- the node is sized for its agents, so its rate derives from them: the content of every agent's
  desktop (``CONTENT_PER_DESKTOP`` requests) spread over ``Timers.reload_spread``;
- a burst of ``Timers.reload_burst`` worth of that rate (and never less than one desktop's content)
  is served at once, so a quiet node, or one desktop reloading, never waits;
- past the burst, requests are served in turn, first come first served, and none waits longer
  than ``reload_spread``.

``reload_spread`` is shorter than a desktop's request timeout, so even when every desktop of the
node reloads at once the last request is served before its browser gives up.

``ReloadDistribution`` is pure: it never reads a clock (every input takes ``now``, the loop time of
the request's arrival) and does no I/O; the HTTP handlers (server/gadgets.py) await the delay it
returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# What one desktop loads on a reload: the seed's out-of-the-box 6 gadgets and the desktop's 4
# resources (desktop/rest.py LoadPlan's default). The node cannot see a desktop's layout, so the
# policy assumes this one.
CONTENT_PER_DESKTOP = 10
EPSILON = 1e-9  # seconds: float rounding of the bucket's arithmetic


@dataclass
class ReloadDistribution:
    """A token bucket (GCRA) over desktop content requests.

    ``spread`` and ``burst`` are effective seconds (Timers, scaled by time_scale). ``rate``, when
    set, is an explicit rate in requests per effective second that replaces the derived one, with no
    burst (the fixed pacing of ``reload_rate``)."""

    spread: float
    burst: float
    rate: float | None = None
    _tat: float = 0.0  # theoretical arrival time: when the bucket would be full again

    def rate_for(self, desktops: int) -> float:
        """Requests per effective second a node serving ``desktops`` desktops admits."""
        if self.rate is not None:
            return self.rate
        return max(desktops, 1) * CONTENT_PER_DESKTOP / self.spread

    def burst_for(self, desktops: int) -> float:
        """Requests served at once from a full bucket (never less than one desktop's reload)."""
        if self.rate is not None:
            return 1.0
        return max(self.rate_for(desktops) * self.burst, float(CONTENT_PER_DESKTOP))

    def delay(self, now: float, desktops: int) -> float:
        """Seconds the request arriving at ``now`` waits (and books its turn)."""
        rate = self.rate_for(desktops)
        if rate <= 0:
            return 0.0
        interval = 1.0 / rate
        tolerance = (self.burst_for(desktops) - 1.0) * interval
        tat = max(self._tat, now)
        # A request due within rounding error of now is in the burst, not one more wait.
        start = now if tat - tolerance <= now + EPSILON else tat - tolerance
        # Never longer than the spread: a desktop whose content outgrows CONTENT_PER_DESKTOP still
        # gets every answer before its browser gives up (the bucket then stops running ahead).
        start = min(start, now + self.spread)
        self._tat = min(tat, start + tolerance) + interval
        return start - now


@dataclass
class ReloadGate:
    """What the node installs in its web app: the policy and how many desktops it serves (its
    directory's agents, read at each request: the directory is loaded after the app starts)."""

    policy: ReloadDistribution
    desktops: Callable[[], int]

    def delay(self, now: float) -> float:
        return self.policy.delay(now, self.desktops())
