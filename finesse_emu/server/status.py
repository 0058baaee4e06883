"""A Finesse node's service status, pure: IN_SERVICE only while every dependency is healthy.

Cisco, "CTI Failover": "While failover is in progress, Finesse transitions to OUT_OF_SERVICE state.
During this period, Finesse does not entertain client requests or send out events. Any request made
during this time receives a 503 Service Unavailable error message. After reconnecting to a CTI
server and transitioning to IN_SERVICE state, Finesse responds to client requests and publishes
events." The one event sent while going out of service is the SystemInfo notification that says so
(the desktops' first failover trigger).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ServiceStatus(StrEnum):
    IN_SERVICE = "IN_SERVICE"
    OUT_OF_SERVICE = "OUT_OF_SERVICE"


class Dependency(StrEnum):
    CTI = "cti"  # the CTI link (heartbeats answered)
    NOTIFICATION = "notification"  # the node's own session to its Notification Service
    WEBAPP = "webapp"  # Finesse Tomcat, the web server itself (the webapp_down fault)
    REST_API = "rest_api"  # the REST API web application inside a running Tomcat (rest_api_down)


REASONS = {
    Dependency.CTI: "CTI server connection lost",
    Dependency.NOTIFICATION: "Notification Service unavailable",
    Dependency.WEBAPP: "Finesse web application unavailable",
    Dependency.REST_API: "Finesse REST API service unavailable",
}
# Up from the start: only a fault takes them down.
STARTS_UP = frozenset({Dependency.WEBAPP, Dependency.REST_API})


@dataclass(frozen=True)
class StatusChange:
    status: ServiceStatus
    reason: str
    at: float
    # True when the node comes back: the last agent, call and call-data state goes out to everyone.
    republish: bool


class ServiceState:
    def __init__(self, now: float, required: tuple[Dependency, ...] = tuple(Dependency)) -> None:
        self.required = required
        self._down: set[Dependency] = set(required) - STARTS_UP
        self.status = ServiceStatus.OUT_OF_SERVICE
        self.since = now
        self.transitions = 0
        self._ever_in_service = False

    @property
    def in_service(self) -> bool:
        return self.status is ServiceStatus.IN_SERVICE

    @property
    def reason(self) -> str:
        if self.in_service:
            return ""
        if not self._ever_in_service and self._down == set(self.required) - STARTS_UP:
            return "Finesse is starting"
        return "; ".join(REASONS[d] for d in Dependency if d in self._down)

    def down(self, dep: Dependency, now: float) -> StatusChange | None:
        if dep not in self.required:
            return None
        self._down.add(dep)
        return self._evaluate(now)

    def up(self, dep: Dependency, now: float) -> StatusChange | None:
        self._down.discard(dep)
        return self._evaluate(now)

    def is_up(self, dep: Dependency) -> bool:
        return dep not in self._down

    def _evaluate(self, now: float) -> StatusChange | None:
        status = ServiceStatus.OUT_OF_SERVICE if self._down else ServiceStatus.IN_SERVICE
        if status is self.status:
            return None
        self.status, self.since = status, now
        self.transitions += 1
        republish = status is ServiceStatus.IN_SERVICE and self._ever_in_service
        if status is ServiceStatus.IN_SERVICE:
            self._ever_in_service = True
        return StatusChange(status, self.reason, now, republish)
