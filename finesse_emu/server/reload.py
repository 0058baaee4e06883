"""Reload distribution: how a node spreads the desktop content requests of a failover.

Cisco's "Finesse Failover Mechanisms": "Finesse is IN_SERVICE, coordinates the distribution of
desktop reloads, such that failover and consequent desktop reloads are evenly distributed to prevent
overwhelming of the Finesse server." How the real server does it is not documented. The emulator's
policy, on by default (docs/finesse.md, "Reload distribution"), is a token bucket over desktop
content (gadget specs and desktop resources; REST requests are never held):

- the node is sized for its agents, so its rate derives from them: the content of every agent's
  desktop spread over ``Timers.reload_spread``. A desktop's content is what the node's own desktop
  layout makes it load (server/layout.py: "Gadget-initiated requests constitute the bulk of the
  requests made during Finesse desktop failover or startup"): the gadgets of its team's layout that
  the node serves, plus the desktop's ``DESKTOP_RESOURCES`` (:func:`desktop_content`);
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

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from finesse_emu.server.layout import GADGET_PREFIX, DesktopLayout

# The desktop's own resources (scripts, styles) it loads besides its gadgets on every reload: the
# 4 of the emulated desktop (desktop/rest.py LoadPlan's default).
DESKTOP_RESOURCES = 4
EPSILON = 1e-9  # seconds: float rounding of the bucket's arithmetic


@dataclass(frozen=True)
class DesktopContent:
    """What the desktops of a node load when each reloads once: how many desktops, the requests
    of all of them, and the requests of the largest one."""

    desktops: int
    requests: int
    largest: int

    @classmethod
    def uniform(cls, desktops: int, per_desktop: int) -> DesktopContent:
        """``desktops`` desktops of ``per_desktop`` content requests each."""
        return cls(desktops, desktops * per_desktop, per_desktop)


def layout_requests(gadgets: Iterable[str]) -> int:
    """Content requests one desktop with these gadget URLs makes to the node on a reload: every
    gadget the node serves (its own ``/desktop/gadgets/{xml|jsp}/...`` paths; an XML and a JSP
    gadget are one request each, however long the node takes to render it) and the desktop's
    resources. A gadget at an absolute URL (a CUIC server's, a third party's) is loaded from that
    server, not from the node."""
    return sum(1 for url in gadgets if url.startswith(GADGET_PREFIX + "/")) + DESKTOP_RESOURCES


def desktop_content(layout: DesktopLayout, user_teams: Iterable[int]) -> DesktopContent:
    """The content of every configured user's desktop, each with its team's layout (the default
    one when the team has none). With no user known yet (the directory is not loaded), one default
    desktop: the bucket then never holds a single desktop's reload."""
    per_team: dict[int, int] = {}
    desktops = requests = largest = 0
    for team in user_teams:
        n = per_team.get(team)
        if n is None:
            n = per_team[team] = layout_requests(layout.for_team(team))
        desktops, requests, largest = desktops + 1, requests + n, max(largest, n)
    if desktops == 0:
        return DesktopContent.uniform(0, layout_requests(layout.default))
    return DesktopContent(desktops, requests, largest)


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

    def rate_for(self, content: DesktopContent) -> float:
        """Requests per effective second a node whose desktops load ``content`` admits."""
        if self.rate is not None:
            return self.rate
        return max(content.requests, content.largest) / self.spread

    def burst_for(self, content: DesktopContent) -> float:
        """Requests served at once from a full bucket (never less than one desktop's reload)."""
        if self.rate is not None:
            return 1.0
        return max(self.rate_for(content) * self.burst, float(content.largest))

    def delay(self, now: float, content: DesktopContent) -> float:
        """Seconds the request arriving at ``now`` waits (and books its turn)."""
        rate = self.rate_for(content)
        if rate <= 0:
            return 0.0
        interval = 1.0 / rate
        tolerance = (self.burst_for(content) - 1.0) * interval
        tat = max(self._tat, now)
        # A request due within rounding error of now is in the burst, not one more wait.
        start = now if tat - tolerance <= now + EPSILON else tat - tolerance
        # Never longer than the spread: desktops loading more than the node's layout says (their
        # own gadget list) still get every answer before the browser gives up (the bucket then
        # stops running ahead).
        start = min(start, now + self.spread)
        self._tat = min(tat, start + tolerance) + interval
        return start - now


@dataclass
class ReloadGate:
    """What the node installs in its web app: the policy and the content of the desktops it serves
    (read at each request: the directory is loaded after the app starts and the layout changes
    live; the node keeps it computed, :class:`~finesse_emu.server.layout_admin.LayoutState`)."""

    policy: ReloadDistribution
    content: Callable[[], DesktopContent]

    def delay(self, now: float) -> float:
        return self.policy.delay(now, self.content())
