"""What Finesse is configured with for its CTI link: the two CTI servers and the session parameters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from emu_base.timers import Timers
from ged188 import MAX_SUPPORTED_VERSION, MIN_IDLE_TIMEOUT, MIN_SUPPORTED_VERSION, Service

DEFAULT_SERVICES = int(Service.ALL_EVENTS | Service.CLIENT_CONTROL | Service.CALL_DATA_UPDATE)
_DEFAULTS = Timers()


class CtiSide(NamedTuple):
    name: str
    host: str
    port: int


def default_idle_timeout(heartbeat_interval: float) -> int:
    """IdleTimeout for OPEN_REQ: 4 x heartbeat interval (Cisco's advice), never below the server's 20 s."""
    return max(MIN_IDLE_TIMEOUT, math.ceil(4 * heartbeat_interval))


@dataclass(frozen=True)
class CtiLinkConfig:
    """The two CTI servers and the session parameters.

    Times are effective seconds (already multiplied by ``time_scale``); :meth:`from_timers` takes
    them from a :class:`~emu_base.timers.Timers`.
    """

    sides: Sequence[tuple[str, str, int]]
    version: int = 24
    client_id: str = "Finesse"
    client_password: bytes = b""
    services: int = DEFAULT_SERVICES
    call_msg_mask: int = 0xFFFFFFFF
    agent_state_mask: int = 0x3FFF
    # None: derive from heartbeat_interval (see default_idle_timeout).
    idle_timeout: int | None = None
    heartbeat_interval: float = _DEFAULTS.cti_heartbeat_interval
    missed_heartbeats: int = _DEFAULTS.cti_missed_heartbeats
    reconnect_pause: float = _DEFAULTS.cti_reconnect_pause
    open_timeout: float = _DEFAULTS.cti_open_timeout
    # Cisco: "Client waits <= 5 s for CLOSE_CONF, then resets TCP".
    close_timeout: float = _DEFAULTS.cti_close_timeout
    old_pg: bool = False
    old_pg_extra_detection: float = _DEFAULTS.cti_old_pg_extra_detection

    def __post_init__(self) -> None:
        sides = tuple(CtiSide(str(n), str(h), int(p)) for n, h, p in self.sides)
        if not sides:
            raise ValueError("at least one CTI side is required")
        if len({s.name for s in sides}) != len(sides):
            raise ValueError("CTI side names must be unique")
        object.__setattr__(self, "sides", sides)
        if not MIN_SUPPORTED_VERSION <= self.version <= MAX_SUPPORTED_VERSION:
            raise ValueError(f"unsupported protocol version {self.version}")
        if self.heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be > 0")
        if self.missed_heartbeats < 1:
            raise ValueError("missed_heartbeats must be >= 1")
        for name in ("reconnect_pause", "open_timeout", "close_timeout", "old_pg_extra_detection"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.idle_timeout is None:
            object.__setattr__(self, "idle_timeout", default_idle_timeout(self.heartbeat_interval))
        elif self.idle_timeout < MIN_IDLE_TIMEOUT:
            # The server would answer E_CTI_INVALID_TIMEOUT: fail at configuration time instead.
            raise ValueError(f"idle_timeout must be >= {MIN_IDLE_TIMEOUT} s, got {self.idle_timeout}")

    @classmethod
    def from_timers(
        cls, sides: Sequence[tuple[str, str, int]], timers: Timers, *, old_pg: bool = False, **overrides: Any
    ) -> CtiLinkConfig:
        values: dict[str, Any] = {
            "heartbeat_interval": timers.cti_heartbeat_interval,
            "missed_heartbeats": timers.cti_missed_heartbeats,
            "reconnect_pause": timers.cti_reconnect_pause,
            "open_timeout": timers.cti_open_timeout,
            "close_timeout": timers.cti_close_timeout,
            "old_pg": old_pg,
            "old_pg_extra_detection": timers.cti_old_pg_extra_detection,
        }
        values.update(overrides)
        return cls(sides, **values)

    @property
    def side_list(self) -> tuple[CtiSide, ...]:
        return tuple(CtiSide(*s) for s in self.sides)

    @property
    def open_idle_timeout(self) -> int:
        """The IdleTimeout sent in OPEN_REQ."""
        assert self.idle_timeout is not None  # resolved in __post_init__
        return self.idle_timeout
