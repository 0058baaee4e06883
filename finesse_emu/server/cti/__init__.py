"""Finesse's CTI link: a sans-IO GED-188 client core (:mod:`.link`, with its configuration in
:mod:`.config`, its outputs in :mod:`.outputs` and its heartbeat and request bookkeeping in
:mod:`.session`) and its asyncio shell (:mod:`.client`)."""

from finesse_emu.server.cti.client import CtiClient, CtiRequestError, PublicEvent
from finesse_emu.server.cti.config import CtiLinkConfig, CtiSide, default_idle_timeout
from finesse_emu.server.cti.link import CtiLink, LinkNotOpenError, LinkState
from finesse_emu.server.cti.outputs import (
    Action,
    AttemptFailed,
    CloseRequested,
    ConnectRequested,
    HeartbeatResult,
    LinkDown,
    LinkUp,
    Output,
    Reply,
    RequestFailed,
    Unsolicited,
)

__all__ = [
    "Action",
    "AttemptFailed",
    "CloseRequested",
    "ConnectRequested",
    "CtiClient",
    "CtiLink",
    "CtiLinkConfig",
    "CtiRequestError",
    "CtiSide",
    "HeartbeatResult",
    "LinkDown",
    "LinkNotOpenError",
    "LinkState",
    "LinkUp",
    "Output",
    "PublicEvent",
    "Reply",
    "RequestFailed",
    "Unsolicited",
    "default_idle_timeout",
]
