"""What the capacity model knows of a deployment: request kinds, their costs, the link, the vCPUs.

The constants are the planner's calibration against Cisco's table in "Cisco Finesse Failover
Mechanisms" ("Failover Planning"); ``finesse_emu/planner/calibration.py`` says how each was chosen
and docs/planner.md how they were fitted. They live here, once, so that the planner and the live
node run the same figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """What a request asks for; each kind has a service time and a response size (``Costs``)."""

    SYSTEMINFO = "systeminfo"
    REST = "rest"  # User, Dialogs, ReasonCodes, WrapUpReasons
    SIGN_IN = "sign_in"  # PUT User LOGIN: REST work on the node, then the Agent PG
    XML_GADGET = "xml_gadget"
    JSP_GADGET = "jsp_gadget"
    RESOURCE = "resource"  # a desktop resource the browser holds: revalidated (304)
    RESOURCE_FULL = "resource_full"  # one it does not hold: fetched whole
    XMPP = "xmpp"  # a Notification Service session (BOSH session, SASL, bind, subscriptions)
    RESYNC = "resync"  # CTI failover: the node rebuilds one agent's state after reconnecting


@dataclass(frozen=True)
class Costs:
    """Per-request service time (CPU seconds on one vCPU) and response size (bytes) by kind.

    JSP gadgets cost ``jsp_factor`` times an XML gadget: Cisco's "The JSP-based gadgets take
    thrice the time to load than the XML-based gadgets"."""

    systeminfo: float
    rest: float
    sign_in: float
    xml_gadget: float
    jsp_factor: float
    resource: float
    resource_full: float
    xmpp: float
    resync: float
    pg_sign_in: float  # Agent PG seconds per login (serial, shared by both nodes)
    systeminfo_bytes: int
    rest_bytes: int
    sign_in_bytes: int
    gadget_bytes: int
    resource_bytes: int  # a 304 revalidation
    resource_full_bytes: int
    xmpp_bytes: int

    def service(self, kind: Kind) -> float:
        if kind is Kind.XML_GADGET:
            return self.xml_gadget
        if kind is Kind.JSP_GADGET:
            return self.xml_gadget * self.jsp_factor
        return float(getattr(self, kind.value))

    def size(self, kind: Kind) -> int:
        if kind in (Kind.XML_GADGET, Kind.JSP_GADGET):
            return self.gadget_bytes
        if kind is Kind.RESYNC:
            return 0  # stays inside the node
        return int(getattr(self, f"{kind.value}_bytes"))


# "fitted": solved from Cisco's figures (docs/planner.md, "How it was calibrated");
# "chosen": a plausible value fixed beforehand and left alone; "Cisco"/"emulator": taken from there.
COSTS = Costs(
    systeminfo=0.002,  # chosen: a small cached document
    rest=0.004,  # chosen: User, Dialogs (an XML document built per agent)
    sign_in=0.004,  # chosen: the node's part of PUT User LOGIN
    xml_gadget=0.011,  # fitted: the 2000-agent LAN row (a desktop costs 111 ms of CPU in all)
    jsp_factor=3.0,  # Cisco: "JSP-based gadgets take thrice the time to load"
    resource=0.001,  # chosen: a 304 revalidation
    resource_full=0.004,  # chosen
    xmpp=0.015,  # chosen: TLS, BOSH session, SASL, bind, presence, subscriptions
    resync=0.140,  # fitted loosely: CTI failover 35-75 s for 0-2000 agents
    pg_sign_in=0.0203,  # fitted: the 8-vCPU 20% (what vCPUs cannot speed up)
    systeminfo_bytes=1_200,
    rest_bytes=2_500,
    sign_in_bytes=300,
    gadget_bytes=112_000,  # fitted: ~250 Mbps peak for 2000 agents (a rendered gadget)
    resource_bytes=400,
    resource_full_bytes=60_000,  # the emulator's RESOURCE_BYTES
    xmpp_bytes=12_000,
)

INITIAL_WINDOW = 14_600  # RFC 6928: 10 segments of 1460 bytes
LAN_RTT = 0.001  # the table's "LAN" (the planner's LAN rows use a 1 ms round trip)
BANDWIDTH_MBPS = 1000.0  # each node's egress (the planner's default)


@dataclass(frozen=True)
class Link:
    """The desktops' path to a node: the same for every desktop of a run."""

    rtt: float = LAN_RTT  # seconds
    initial_window: int = INITIAL_WINDOW  # bytes of TCP's first flight

    @property
    def one_way(self) -> float:
        return self.rtt / 2

    def window_delay(self, size: int) -> float:
        """Extra round trips for a response bigger than TCP's first flight.

        A reload's requests go out on keep-alive connections that sat idle since the desktop's
        last sign-in, and TCP restarts slow start after idle (RFC 5681 section 4.1; Linux's
        tcp_slow_start_after_idle=1): the first flight is ``initial_window`` bytes and each further
        one doubles, so ``size`` bytes need log2(size / initial_window + 1) flights. Continuous
        (no rounding up), so that more RTT or more bytes are never faster."""
        flights = math.log2(size / self.initial_window + 1.0)
        return self.rtt * (flights - 1.0) if flights > 1.0 else 0.0


@dataclass(frozen=True)
class Capacity:
    """One node's capacity: its vCPUs and costs, its egress link's bandwidth, the desktops' link."""

    vcpus: int = 4
    costs: Costs = COSTS
    bandwidth_mbps: float = BANDWIDTH_MBPS
    link: Link = field(default_factory=Link)

    def __post_init__(self) -> None:
        if self.vcpus < 1:
            raise ValueError("vcpus must be >= 1")
        if not self.bandwidth_mbps > 0:
            raise ValueError("bandwidth must be > 0")


# The live node's --capacity choices. Cisco's table is for the standard 4-vCPU OVA; "When OVA with
# 8 vCPUs is configured for Finesse, the time taken for ... desktop failover improves by 20 percent".
PROFILES: dict[str, Capacity] = {"4vcpu": Capacity(vcpus=4), "8vcpu": Capacity(vcpus=8)}


def profile(name: str) -> Capacity | None:
    """The profile called ``name``; None for "none" (no capacity model: every request at once)."""
    if name == "none":
        return None
    if isinstance(name, str) and name in PROFILES:
        return PROFILES[name]
    choices = ", ".join(["none", *PROFILES])
    raise ValueError(f"capacity must be one of {choices}, got {name!r}")
