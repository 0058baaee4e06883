"""The AWDB stub's Prometheus metrics (docs/metrics.md), served at ``GET /metrics`` on its control
plane: one registry per stub, so AWDB A and B in one process never mix their series.

Moved by events: queries by kind (the route template under ``/awdb/v1/``: ``authenticate``,
``agents/{key}``, ...) and status, with their latency in seconds, faults included (a ``slow`` query
is counted with its delay, an injected error with its status). Read at scrape time: the stub's
state (``up`` or the most drastic fault: ``refusing``, ``hanging``, ``erroring``, ``slow``) and the
queries held by a ``hang`` fault. The Finesse side's AWDB failovers are the node's
(``finesse_emu_node_awdb_failovers_total``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from emu_base.metrics import UNMATCHED, HttpMetrics, Middleware, SnapshotCollector, gauge, state_gauge

PREFIX = "awdb_stub"
API = "/awdb/v1/"
STATES = ("up", "slow", "erroring", "hanging", "refusing")


class StubView(Protocol):
    """What the metrics read of a stub (:class:`~awdb_stub.server.AwdbServer`)."""

    held: int

    @property
    def state(self) -> str: ...


def query_kind(template: str) -> str:
    """``/awdb/v1/agents/{key}`` is ``agents/{key}``; a path no route matched is ``unmatched``."""
    return template[len(API) :] if template.startswith(API) else UNMATCHED


class AwdbMetrics:
    def __init__(self, server: StubView) -> None:
        self.registry = CollectorRegistry()
        self._server = server
        self.queries = HttpMetrics(self.registry, PREFIX, "queries", "query", "query", query_kind)
        self.registry.register(SnapshotCollector(self._snapshot))

    def middleware(self) -> Middleware:
        return self.queries.middleware()

    def _snapshot(self) -> Iterable[Metric]:
        yield state_gauge(
            f"{PREFIX}_state",
            "the stub's state: up or its most drastic active fault (1: the current one)",
            "state",
            STATES,
            self._server.state,
        )
        yield gauge(f"{PREFIX}_held_queries", "queries held by an active hang fault", self._server.held)
