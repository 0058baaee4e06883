"""The Finesse node core (server/core/) on a ManualClock, driven as the asyncio shell drives it.

Cisco, "CTI Failover": OUT_OF_SERVICE while the CTI link is down ("does not entertain client requests
or send out events"), IN_SERVICE again once reconnected, and then "the last state of call control,
call data, or agent state are published as events to all clients". No sockets, no Prosody.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emu_base.clock import ManualClock
from emu_base.sansio import Driver
from emu_base.timers import Timers
from finesse_emu.server import xml as X
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.core import (
    CtiFailure,
    CtiPurpose,
    Directory,
    NodeCore,
    Output,
    Publish,
    SendToCti,
    SessionChanged,
    StatusChanged,
)
from finesse_emu.server.core.resync import WINDOW as RESYNC_WINDOW
from finesse_emu.server.cti.outputs import HeartbeatResult, LinkDown, LinkUp, Unsolicited
from finesse_emu.server.status import ServiceStatus
from ged188 import AgentState, MediaAction, Message, MessageType, Tag, make

M = MessageType
API = "/finesse/api"


@dataclass
class FakeLink:
    """The CTI link's side as SystemInfo reads it (CtiClient.active_side in the shell)."""

    active_side: str | None = None


def agent(agent_id: str, **kw: object) -> AuthUser:
    return AuthUser(agent_id, f"agent{agent_id}", first_name="A", last_name=agent_id, team_id=1, **kw)  # type: ignore[arg-type]


REASONS = [X.ReasonCodeView(11, "NOT_READY", 7, "Break"), X.ReasonCodeView(12, "LOGOUT", 8, "End of shift")]


@dataclass
class Node:
    """A NodeCore with its Driver on a ManualClock; every output is kept in ``out``."""

    agents: list[AuthUser] = field(default_factory=lambda: [agent("1000"), agent("1001")])
    event_log: bool = True
    auto_work: bool = True
    clock: ManualClock = field(default_factory=ManualClock)
    link: FakeLink = field(default_factory=FakeLink)
    out: list[Output] = field(default_factory=list)

    def __post_init__(self) -> None:
        config = NodeConfig(
            name="finesse-a", host="emu.test", cti_sides=[("A", "cti-a", 42027), ("B", "cti-b", 42028)],
            event_log=self.event_log, enable_auto_work_mode_state_change=self.auto_work,
        )  # fmt: skip
        self.core = NodeCore(config, Timers.build(1.0), self.link, notification=False)
        self.driver = Driver(self.core, self.clock, self.out.append)
        self.core.wall_offset = self.clock.wall() - self.clock.now()
        self.core.start(self.now)
        directory = Directory("emu.test", self.agents, {1: "Team One"}, {5000: "Chat"}, REASONS)
        self.core.directory_loaded(self.now, directory)
        self.driver.pump()

    @property
    def now(self) -> float:
        return self.clock.now()

    def take(self) -> list[Output]:
        out, self.out[:] = list(self.out), []
        return out

    def cti(self, event: object) -> None:
        self.core.cti_event(self.now, event)  # type: ignore[arg-type]
        self.driver.pump()

    def reply(self, request: SendToCti, conf: Message) -> None:
        self.core.cti_reply(self.now, request.ref, conf)
        self.driver.pump()

    def fail(self, request: SendToCti, reason: str = "FAILURE_CONF E_CTI_INVALID_STATE") -> None:
        self.core.cti_failed(self.now, request.ref, CtiFailure(reason))
        self.driver.pump()

    def link_up(self, side: str = "A", states: dict[str, AgentState] | None = None) -> list[Output]:
        """The link opens on ``side``; every resync query is answered (``states``, default NOT_READY)."""
        self.link.active_side = side
        self.cti(LinkUp(side, make(M.OPEN_CONF)))
        batch = self.take()
        seen = list(batch)
        while queries := [o for o in batch if isinstance(o, SendToCti) and o.purpose is CtiPurpose.RESYNC]:
            for q in queries:
                agent_id = q.message.get_str(Tag.AGENT_ID) or ""
                state = (states or {}).get(agent_id, AgentState.NOT_READY)
                extension = [(Tag.AGENT_EXTENSION, "2" + agent_id[1:])]
                self.reply(q, make(M.QUERY_AGENT_STATE_CONF, extension, AgentState=state))
            batch = self.take()
            seen += batch
        return seen

    def link_down(self) -> list[Output]:
        self.link.active_side = None
        self.cti(LinkDown("A", "closed by peer"))
        return self.take()


def state_event(
    agent_id: str, state: AgentState, mrd: int = 1, reason: int = 0, mode: int = 1
) -> Unsolicited:
    floating: list[tuple[int, str | bytes | int]] = [
        (Tag.AGENT_ID, agent_id),
        (Tag.AGENT_EXTENSION, "2" + agent_id[1:]),
    ]
    return Unsolicited(
        make(
            M.AGENT_STATE_EVENT, floating, AgentState=state, MRDID=mrd, EventReasonCode=reason, AgentMode=mode
        )
    )


def publishes(outputs: list[Output], node: str | None = None) -> list[Publish]:
    return [o for o in outputs if isinstance(o, Publish) and (node is None or o.node == node)]


def statuses(outputs: list[Output]) -> list[ServiceStatus]:
    return [o.change.status for o in outputs if isinstance(o, StatusChanged)]


# -- service state ---------------------------------------------------------------------------------
def test_out_of_service_until_the_resync_is_answered_then_in_service() -> None:
    n = Node()
    assert (
        n.core.status.status is ServiceStatus.OUT_OF_SERVICE and n.core.status.reason == "Finesse is starting"
    )
    n.link.active_side = "A"
    n.cti(LinkUp("A", make(M.OPEN_CONF)))
    queries = n.take()
    assert [(q.purpose, q.message.type) for q in queries if isinstance(q, SendToCti)] == [
        (CtiPurpose.RESYNC, M.QUERY_AGENT_STATE_REQ)
    ] * 2
    assert statuses(queries) == []  # not before every agent's state is known
    first, second = (q for q in queries if isinstance(q, SendToCti))
    n.reply(
        first,
        make(M.QUERY_AGENT_STATE_CONF, [(Tag.AGENT_EXTENSION, "2000")], AgentState=AgentState.AVAILABLE),
    )
    assert statuses(n.take()) == [] and n.core.model.user("1000").state == "READY"
    n.fail(second)  # a refused query does not hold the node back
    out = n.take()
    assert statuses(out) == [ServiceStatus.IN_SERVICE] and n.core.status.in_service
    [info] = publishes(out, f"{API}/SystemInfo")
    assert "<status>IN_SERVICE</status>" in info.text and info.status == "IN_SERVICE"


def test_cti_loss_is_out_of_service_with_its_systeminfo_event_and_nothing_else_published() -> None:
    n = Node()
    n.link_up()
    out = n.link_down()
    assert statuses(out) == [ServiceStatus.OUT_OF_SERVICE]
    assert n.core.status.reason == "CTI server connection lost"
    [info] = publishes(out)
    assert info.node == f"{API}/SystemInfo" and "<status>OUT_OF_SERVICE</status>" in info.text
    assert "<statusReason>CTI server connection lost</statusReason>" in info.text
    assert info.status == "OUT_OF_SERVICE"
    n.cti(state_event("1000", AgentState.AVAILABLE))  # learnt, but "does not ... send out events"
    assert publishes(n.take()) == [] and n.core.model.user("1000").state == "READY"


def test_back_in_service_publishes_the_last_state_of_everyone() -> None:
    n = Node()
    n.link_up()
    n.cti(state_event("1000", AgentState.AVAILABLE))
    assert [p.node for p in publishes(n.take())] == [f"{API}/User/1000", f"{API}/Team/1/Users"]
    n.link_down()
    out = n.link_up("B", states={"1000": AgentState.AVAILABLE})
    assert statuses(out) == [ServiceStatus.IN_SERVICE]
    nodes = [p.node for p in publishes(out)]
    assert nodes[0] == f"{API}/SystemInfo"
    assert {f"{API}/User/1000", f"{API}/User/1001"} <= set(nodes[1:])  # republished
    [user] = publishes(out, f"{API}/User/1000")
    assert "<state>READY</state>" in user.text


def test_the_first_in_service_republishes_nothing() -> None:
    n = Node()
    out = n.link_up(states={"1000": AgentState.AVAILABLE})
    assert [p.node for p in publishes(out)] == [f"{API}/SystemInfo"]


def test_a_resync_keeps_at_most_its_window_of_queries_in_flight() -> None:
    n = Node(agents=[agent(str(1000 + i)) for i in range(RESYNC_WINDOW + 7)])
    n.link.active_side = "A"
    n.cti(LinkUp("A", make(M.OPEN_CONF)))
    first = [o for o in n.take() if isinstance(o, SendToCti)]
    assert len(first) == RESYNC_WINDOW
    n.fail(first[0])
    [following] = n.take()  # one answered, one more asked
    assert isinstance(following, SendToCti) and following.purpose is CtiPurpose.RESYNC
    for q in [*first[1:], following]:
        n.fail(q)
    rest = [o for o in n.take() if isinstance(o, SendToCti)]
    assert len(rest) == 6 and not n.core.status.in_service
    for q in rest:
        n.fail(q)
    assert n.core.status.in_service


def test_a_resync_interrupted_by_a_loss_does_not_bring_the_node_back() -> None:
    n = Node()
    n.link.active_side = "A"
    n.cti(LinkUp("A", make(M.OPEN_CONF)))
    old = [o for o in n.take() if isinstance(o, SendToCti)]
    n.link_down()
    for q in old[:1]:  # an answer of the old session after the loss
        n.reply(q, make(M.QUERY_AGENT_STATE_CONF, AgentState=AgentState.AVAILABLE))
    assert n.core.model.user("1000").state == "LOGOUT"  # not applied: it may be stale
    n.link.active_side = "B"
    n.cti(LinkUp("B", make(M.OPEN_CONF)))
    new = [o for o in n.take() if isinstance(o, SendToCti)]
    for q in old[1:]:  # the old session's last answers come during the new resync
        n.fail(q, "link lost")
    n.fail(new[0])
    assert not n.core.status.in_service and statuses(n.take()) == []  # one query left
    n.fail(new[1])
    assert n.core.status.in_service


def test_systeminfo_shows_the_side_its_uptime_and_the_heartbeat() -> None:
    n = Node()
    n.clock.advance(5.0)
    n.link_up("A")
    n.clock.advance(42.0)
    n.cti(HeartbeatResult(False, 1))
    view = n.core.system_info_view(n.now)
    servers = [(s.host, s.connected_duration, s.active) for s in view.cti_servers]
    assert servers == [("cti-a", 42, True), ("cti-b", 0, False)]
    assert view.last_cti_heartbeat_ok is False
    assert view.current_timestamp == n.clock.wall()
    n.cti(HeartbeatResult(True))
    assert n.core.system_info_view(n.now).last_success_cti_heartbeat_time == n.clock.wall()


# -- what goes out on CTI events -------------------------------------------------------------------
def test_an_agent_event_in_service_publishes_the_user_and_its_team_with_the_request_id() -> None:
    n = Node()
    n.link_up()
    n.core.model.user("1000").request_id = "req-9"
    n.cti(state_event("1000", AgentState.NOT_READY, reason=7))
    user, team = publishes(n.take())
    assert user.node == f"{API}/User/1000" and "<requestId>req-9</requestId>" in user.text
    assert "<label>Break</label>" in user.text  # the reason code, from the directory
    assert team.node == f"{API}/Team/1/Users" and "<requestId></requestId>" in team.text


def test_auto_work_to_active_after_a_reconnect_one_request_at_a_time() -> None:
    n = Node()
    n.link_up()
    n.cti(state_event("1000", AgentState.WORK_NOT_READY, mrd=5000))
    n.cti(state_event("1001", AgentState.WORK_NOT_READY, mrd=5000))
    n.take()
    n.link_down()
    out = n.link_up("B")
    [first] = [o for o in out if isinstance(o, SendToCti) and o.purpose is CtiPurpose.AUTO_WORK_TO_ACTIVE]
    assert (
        first.message.type == M.EMU_SET_MEDIA_STATE_REQ
        and first.message["Action"] == MediaAction.WORK_TO_ACTIVE
    )
    assert (first.message.get_str(Tag.AGENT_ID), first.message["MRDID"]) == ("1000", 5000)
    n.reply(first, make(M.EMU_SET_MEDIA_STATE_CONF))
    [second] = n.take()
    assert isinstance(second, SendToCti) and second.message.get_str(Tag.AGENT_ID) == "1001"
    n.reply(second, make(M.EMU_SET_MEDIA_STATE_CONF))
    assert n.take() == [] and n.core.stats["auto_work_to_active"] == 2


def test_auto_work_to_active_off_leaves_work_alone() -> None:
    n = Node(auto_work=False)
    n.link_up()
    n.cti(state_event("1000", AgentState.WORK_NOT_READY, mrd=5000))
    n.link_down()
    out = n.link_up("B")
    assert [o for o in out if isinstance(o, SendToCti) and o.purpose is CtiPurpose.AUTO_WORK_TO_ACTIVE] == []


def test_leaving_service_ends_the_sessions_signed_in_through_this_node() -> None:
    n = Node()
    n.link_up()
    n.core.change_user_state(
        n.now, n.agents[0], X.UserUpdate(X.UserState.LOGIN, extension="2000"), "r1", None
    )
    n.driver.pump()
    [login] = n.take()
    assert isinstance(login, SendToCti)
    n.reply(login, make(M.SET_AGENT_STATE_CONF))
    assert n.take() == [SessionChanged("1000", True, "sign_in", "IN_SERVICE")]
    out = n.link_down()
    assert SessionChanged("1000", False, "out_of_service", "OUT_OF_SERVICE") in out
    assert (
        out.index(SessionChanged("1000", False, "out_of_service", "OUT_OF_SERVICE")) > 0
    )  # after the status
