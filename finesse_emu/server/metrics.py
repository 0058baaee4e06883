"""The Finesse node's Prometheus metrics (docs/metrics.md), served at ``GET /metrics`` on its control
plane: one registry per node, so two nodes in one process never mix their series.

Moved by events: REST requests by route template, method and status with their latency
(:meth:`NodeMetrics.rest_middleware`, the REST application's outermost middleware) and publishes by
kind (:meth:`NodeMetrics.published`). Read at scrape time from the node's state: the service state
(``IN_SERVICE``/``OUT_OF_SERVICE``, as SystemInfo reports it), the CTI link's state and active side,
the AWDB in use and the node's AWDB failovers, the Notification Service session, the agents signed
in, and the node's own counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import Metric

from emu_base.metrics import HttpMetrics, Middleware, SnapshotCollector, counter, gauge, state_gauge
from finesse_emu.server.auth import AwdbClient
from finesse_emu.server.cti.link import LinkState
from finesse_emu.server.status import ServiceStatus

PREFIX = "finesse_emu_node"
API_PREFIX = "/finesse/api/"


class NodeView(Protocol):
    """What the metrics read of a node at scrape time (:class:`~finesse_emu.server.node.FinesseNode`)."""

    awdb: AwdbClient

    def health(self) -> dict[str, Any]: ...


def publish_kind(node: str) -> str:
    """The kind of a pubsub node, its ids dropped: ``/finesse/api/User/1001/Dialogs`` is ``User/Dialogs``
    (Finesse's nodes alternate resource and id), a bounded label value."""
    if not node.startswith(API_PREFIX):
        return "other"
    parts = node[len(API_PREFIX) :].split("/")
    return "/".join(parts[0::2]) or "other"


class NodeMetrics:
    def __init__(self, node: NodeView) -> None:
        self.registry = CollectorRegistry()
        self._node = node
        self.rest = HttpMetrics(self.registry, "finesse_emu_rest")
        self.publishes = Counter(
            f"{PREFIX}_publishes",
            "notifications published to the Notification Service, by kind of pubsub node"
            " (ApiErrors: a request refused after its 202)",
            ["kind"],
            registry=self.registry,
        )
        self.registry.register(SnapshotCollector(self._snapshot))

    def rest_middleware(self) -> Middleware:
        return self.rest.middleware()

    def published(self, node: str, error: bool) -> None:
        self.publishes.labels("ApiErrors" if error else publish_kind(node)).inc()

    def _snapshot(self) -> Iterable[Metric]:
        h = self._node.health()
        cti = h["cti"]
        notification = h["notification"]
        stats = h["stats"]
        awdb = self._node.awdb
        yield state_gauge(
            f"{PREFIX}_service_state",
            "the node's service state as SystemInfo reports it (1: the current state)",
            "state",
            [s.value for s in ServiceStatus],
            h["state"],
        )
        yield state_gauge(
            f"{PREFIX}_cti_link_state",
            "the node's CTI link state (1: the current state)",
            "state",
            [s.value for s in LinkState],
            cti["state"],
        )
        yield state_gauge(
            f"{PREFIX}_cti_active_side",
            "the CTI server side the node's link is open to (1: that side; all 0: none)",
            "side",
            ["A", "B"],
            cti["side"],
        )
        yield state_gauge(
            f"{PREFIX}_awdb_current",
            "the AWDB the node queries first (1: that AWDB)",
            "awdb",
            awdb.failover.names,
            awdb.current,
        )
        yield counter(
            f"{PREFIX}_awdb_failovers",
            "switches of the node from one AWDB to the other",
            awdb.failover.switches,
        )
        yield gauge(
            f"{PREFIX}_notification_connected",
            "1 while the node's own session to its Notification Service is up (absent: no XMPP)",
            1.0 if notification and notification["connected"] else 0.0,
        )
        yield gauge(
            f"{PREFIX}_signed_in_agents",
            "agents with a live desktop session on this node (XMPP presence available)",
            h["signed_in_agents"],
        )
        yield gauge(
            f"{PREFIX}_logged_in_agents",
            "agents logged in to the contact center, as the node knows",
            h["logged_in_agents"],
        )
        yield counter(
            f"{PREFIX}_publish_failures",
            "notifications the Notification Service did not take",
            stats.get("publish_failed", 0),
        )
