"""Prometheus metrics, one registry per component instance (docs/metrics.md).

Every component serves its own :class:`~prometheus_client.CollectorRegistry` at ``GET /metrics`` on
its control plane (:func:`emu_base.admin.admin_routes`): never prometheus_client's global REGISTRY,
since tests run two nodes and two CTI sides in one process. Two kinds of series:

- counters and histograms moved by events (a request, a publish): :class:`HttpMetrics` counts the
  requests of an aiohttp application by route template (the router's pattern, never the raw path,
  so label values stay bounded), method and status, with their latency in seconds;
- state read at scrape time (service state, sessions open, the active side): a
  :class:`SnapshotCollector` turns a component's current state into metric families, so a gauge can
  never lag behind the state it reports.

Names follow the Prometheus conventions the desktop swarm already uses: a component prefix, the
unit in the name (``_seconds``, ``_total`` for counters), and a state as a label of a 0/1 gauge.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import typedefs as aiohttp_typedefs
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = aiohttp_typedefs.Middleware

UNMATCHED = "unmatched"  # a request no route matched (404/405): one label value for all of them


def metrics_response(registry: CollectorRegistry) -> web.Response:
    """The Prometheus text exposition (prometheus_client's text format) of ``registry``."""
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def route_template(request: web.Request) -> str:
    """The pattern of the route that matched (``/finesse/api/User/{user}``), or ``unmatched``."""
    resource = request.match_info.route.resource
    return UNMATCHED if resource is None else resource.canonical


class HttpMetrics:
    """``<prefix>_<what>_total{<route>, method, status}`` and ``<prefix>_<what_one>_duration_seconds
    {<route>, method}`` of one aiohttp application, moved by :meth:`middleware`."""

    def __init__(
        self,
        registry: CollectorRegistry,
        prefix: str,
        what: str = "requests",
        what_one: str = "request",
        route_label: str = "route",
        route_name: Callable[[str], str] = lambda template: template,
    ) -> None:
        self._route_name = route_name
        # The labelled children by (template, method, status): prometheus_client's labels() takes a
        # lock and validates its arguments on every call; the keys are bounded (route templates).
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.requests = Counter(
            f"{prefix}_{what}",
            f"{what} answered, by {route_label} (route template), method and status",
            [route_label, "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{prefix}_{what_one}_duration_seconds",
            f"time to answer one {what_one} (seconds), by {route_label} and method",
            [route_label, "method"],
            registry=registry,
        )

    def observe(self, template: str, method: str, status: int, seconds: float) -> None:
        key = (template, method, status)
        children = self._children.get(key)
        if children is None:
            route = self._route_name(template)
            children = (self.requests.labels(route, method, str(status)), self.duration.labels(route, method))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def middleware(self) -> Middleware:
        """The outermost middleware of the application it counts: what every inner one answers (a 401,
        a 503 gate) is counted with its status. A request whose client went away is not counted (it
        got no answer)."""

        @web.middleware
        async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
            start = time.perf_counter()  # a latency measured, not a time of day: no emulated clock
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                self.observe(route_template(request), request.method, exc.status, time.perf_counter() - start)
                raise
            except Exception:
                self.observe(route_template(request), request.method, 500, time.perf_counter() - start)
                raise
            self.observe(
                route_template(request), request.method, response.status, time.perf_counter() - start
            )
            return response

        return count_requests


class SnapshotCollector:
    """A collector whose families are built from the component's state at each scrape."""

    def __init__(self, snapshot: Callable[[], Iterable[Metric]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return list(self._snapshot())


def gauge(name: str, doc: str, value: float, labels: Mapping[str, str] | None = None) -> GaugeMetricFamily:
    """One gauge (with one labelled sample when ``labels``)."""
    if not labels:
        return GaugeMetricFamily(name, doc, value=value)
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def state_gauge(
    name: str, doc: str, label: str, states: Iterable[str], current: str | None
) -> GaugeMetricFamily:
    """A 0/1 gauge per state (1 for ``current``): every state is listed, so a panel's series stay."""
    family = GaugeMetricFamily(name, doc, labels=[label])
    for state in states:
        family.add_metric([state], 1.0 if state == current else 0.0)
    return family


def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    """A counter kept by the component itself (``name`` without ``_total``: the family adds it)."""
    return CounterMetricFamily(name, doc, value=value)
