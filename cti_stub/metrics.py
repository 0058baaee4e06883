"""The CTI stub side's Prometheus metrics (docs/metrics.md), served at ``GET /metrics`` on its control
plane: one registry per side, so sides A and B in one process never mix their series.

All read at scrape time from the side's core and model: its role (active, idle, starting), the
sessions connected and open, heartbeats received, GED-188 messages received and sent by type, bad
frames, refused opens, agents logged in and calls in progress.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric

from cti_stub.core import CtiServerCore, Role
from cti_stub.model import FIRST_CALL_ID, PeripheralModel
from emu_base.metrics import SnapshotCollector, counter, gauge, state_gauge

PREFIX = "cti_stub"


class SideView(Protocol):
    """What the metrics read of a side (:class:`~cti_stub.server.CtiServer`)."""

    side: str
    core: CtiServerCore
    model: PeripheralModel


def _by_type(name: str, doc: str, counts: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["type"])
    for mtype, n in sorted(counts.items()):
        family.add_metric([mtype], n)
    return family


class CtiMetrics:
    def __init__(self, server: SideView) -> None:
        self.registry = CollectorRegistry()
        self._server = server
        self.registry.register(SnapshotCollector(self._snapshot))

    def _snapshot(self) -> Iterable[Metric]:
        core = self._server.core
        sessions = list(core.sessions.values())
        yield state_gauge(
            f"{PREFIX}_role",
            f"this side's role (1: the current one); side {self._server.side}",
            "role",
            [r.value for r in Role],
            core.role.value,
        )
        yield gauge(
            f"{PREFIX}_active",
            "1 while this side is the active one",
            1.0 if core.role is Role.ACTIVE else 0.0,
        )
        yield gauge(
            f"{PREFIX}_sessions", "TCP sessions connected to this side (opened or not)", len(sessions)
        )
        yield gauge(
            f"{PREFIX}_open_sessions",
            "sessions opened (OPEN_CONF sent)",
            sum(1 for s in sessions if s.opened),
        )
        yield counter(f"{PREFIX}_heartbeats_received", "HEARTBEAT_REQ received", core.stats["heartbeats"])
        yield counter(
            f"{PREFIX}_bad_frames", "frames or messages that could not be decoded", core.stats["bad_frames"]
        )
        yield counter(f"{PREFIX}_rejected_opens", "OPEN_REQ refused", core.stats["rejected_opens"])
        yield _by_type(f"{PREFIX}_messages_received", "GED-188 messages received, by type", core.received)
        yield _by_type(f"{PREFIX}_messages_sent", "GED-188 messages sent, by type", core.sent)
        yield gauge(
            f"{PREFIX}_logged_in_agents",
            "agents logged in on the peripheral",
            self._server.model.logged_in_count(),
        )
        yield gauge(f"{PREFIX}_calls", "calls in progress on the peripheral", len(self._server.model.calls))
        yield counter(
            f"{PREFIX}_calls_started",
            "calls started on the peripheral (the active side's count, replicated to the idle side)",
            self._server.model.next_call_id - FIRST_CALL_ID,
        )
