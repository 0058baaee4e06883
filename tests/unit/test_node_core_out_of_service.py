"""While OUT_OF_SERVICE the node core publishes nothing but the SystemInfo of the transition.

Cisco, "CTI Failover": "While failover is in progress, Finesse transitions to OUT_OF_SERVICE state.
During this period, Finesse does not entertain client requests or send out events." And "If an agent
either makes or answers a call, and then ends that call during failover (that is, the entire call
takes place during failover), the corresponding events are not published." On a ManualClock, no
sockets; the same rules over real sockets and Prosody are in
tests/integration/test_node_out_of_service.py.
"""

from __future__ import annotations

from finesse_emu.server import xml as X
from finesse_emu.server.core import CtiPurpose, CtiRequestRefused, Output, Publish, SendToCti
from finesse_emu.server.cti.outputs import LinkUp, Unsolicited
from finesse_emu.server.status import ServiceStatus
from ged188 import AgentState, MessageType, Tag, make
from tests.unit.test_node_core import API, publishes, state_event, statuses
from tests.unit.test_node_core_commands import requests_of, signed_in

M = MessageType
SYSTEM_INFO = f"{API}/SystemInfo"


def call_event(kind: MessageType, call_id: int, device: str) -> Unsolicited:
    return Unsolicited(make(kind, [(Tag.CONNECTION_DEVID, device)], ConnectionCallID=call_id))


def whole_call(call_id: int, device: str) -> list[Unsolicited]:
    """A call offered, answered and ended, as the CTI server announces it."""
    kinds = [M.BEGIN_CALL_EVENT, M.CALL_DELIVERED_EVENT, M.CALL_ESTABLISHED_EVENT]
    kinds += [M.CALL_CONNECTION_CLEARED_EVENT, M.CALL_CLEARED_EVENT, M.END_CALL_EVENT]
    return [call_event(k, call_id, device) for k in kinds]


def between_transitions(out: list[Output]) -> list[Publish]:
    """The Publish outputs from the OUT_OF_SERVICE transition up to the IN_SERVICE one (excluded)."""
    marks = [i for i, o in enumerate(out) if statuses([o])]
    start, end = marks[0], marks[1]
    return publishes(out[start:end])


def test_requests_failed_by_the_cti_loss_publish_no_api_errors() -> None:
    n = signed_in()
    n.core.change_user_state(n.now, n.agents[0], X.UserUpdate(X.UserState.NOT_READY), "st-1", None)
    n.driver.pump()
    [pending] = requests_of(n, CtiPurpose.STATE_CHANGE)  # accepted (202), no CONF yet
    out = n.link_down()
    n.fail(pending, "CTI link lost: closed by peer")
    out += n.take()
    n.cti(state_event("1000", AgentState.NOT_READY))  # learnt during the resync, not published
    out += n.take()
    out += n.link_up("B", states={"1000": AgentState.NOT_READY})
    assert statuses(out) == [ServiceStatus.OUT_OF_SERVICE, ServiceStatus.IN_SERVICE]
    [info] = between_transitions(out)
    assert info.node == SYSTEM_INFO and "<status>OUT_OF_SERVICE</status>" in info.text
    # The refusal is the shell's log line, not an event; the request is forgotten.
    assert CtiRequestRefused(CtiPurpose.STATE_CHANGE, "1000", "CTI link lost: closed by peer") in out
    assert n.core.model.user("1000").request_id == ""
    assert n.core.stats["events_withheld_out_of_service"] == 1
    assert not any("st-1" in p.text for p in publishes(out))
    # Back IN_SERVICE: SystemInfo first, then the last state (no apiErrors).
    after = publishes(out)[1:]
    assert after[0].node == SYSTEM_INFO and "<status>IN_SERVICE</status>" in after[0].text
    assert not any(p.error for p in after)


def test_a_refusal_while_in_service_is_still_published() -> None:
    """The gate is the service status, not the refusal: IN_SERVICE, the apiErrors goes out."""
    n = signed_in()
    n.core.change_user_state(n.now, n.agents[0], X.UserUpdate(X.UserState.NOT_READY), "st-2", None)
    n.driver.pump()
    [pending] = requests_of(n, CtiPurpose.STATE_CHANGE)
    n.fail(pending, "no reply to SET_AGENT_STATE_REQ within 10 s")
    [error] = publishes(n.take(), f"{API}/User/1000")
    assert error.error and "<requestId>st-2</requestId>" in error.text


def test_a_call_entirely_inside_the_failover_is_never_published_a_live_one_is() -> None:
    n = signed_in()  # 1000 at extension 2000, READY
    for e in whole_call(70, "2000")[:3]:  # call 70: offered and answered before the failover
        n.cti(e)
    assert [p.verb for p in publishes(n.take(), f"{API}/User/1000/Dialogs")] == ["POST", "PUT"]
    out = n.link_down()
    # The link is back (resync in progress, still OUT_OF_SERVICE): the CTI server announces call 70
    # again, and call 71 begins and ends before the node is IN_SERVICE.
    n.link.active_side = "B"
    n.cti(LinkUp("B", make(M.OPEN_CONF)))
    queries = [o for o in n.take() if isinstance(o, SendToCti)]
    n.cti(call_event(M.CALL_ESTABLISHED_EVENT, 70, "2000"))
    for e in whole_call(71, "2000"):
        n.cti(e)
    out += n.take()
    assert "71" not in n.core.model.dialogs and "70" in n.core.model.dialogs
    for q in queries:
        agent_id = q.message.get_str(Tag.AGENT_ID) or ""
        extension = [(Tag.AGENT_EXTENSION, "2" + agent_id[1:])]
        state = AgentState.TALKING if agent_id == "1000" else AgentState.NOT_READY
        n.reply(q, make(M.QUERY_AGENT_STATE_CONF, extension, AgentState=state))
    out += n.take()
    assert statuses(out) == [ServiceStatus.OUT_OF_SERVICE, ServiceStatus.IN_SERVICE]
    assert [p.node for p in between_transitions(out)] == [SYSTEM_INFO]
    dialogs = publishes(out, f"{API}/User/1000/Dialogs")
    assert not any("<id>71</id>" in p.text for p in publishes(out))
    [live] = dialogs  # the call still alive, republished after the resync
    assert "<id>70</id>" in live.text and "<state>ACTIVE</state>" in live.text


def test_a_published_call_that_ends_during_the_resync_is_deleted_once_in_service() -> None:
    """Its END_CALL_EVENT comes while the node is still OUT_OF_SERVICE (learnt, not published):
    clients that saw the call get its DELETE with the last state, not a dialog left on screen."""
    n = signed_in()
    for e in whole_call(72, "2000")[:3]:
        n.cti(e)
    n.take()
    n.link_down()
    n.link.active_side = "B"
    n.cti(LinkUp("B", make(M.OPEN_CONF)))
    queries = [o for o in n.take() if isinstance(o, SendToCti)]
    for e in whole_call(72, "2000")[2:]:  # announced again, then it ends
        n.cti(e)
    assert publishes(n.take()) == [] and "72" not in n.core.model.dialogs
    for q in queries:
        agent_id = q.message.get_str(Tag.AGENT_ID) or ""
        extension = [(Tag.AGENT_EXTENSION, "2" + agent_id[1:])]
        n.reply(q, make(M.QUERY_AGENT_STATE_CONF, extension, AgentState=AgentState.AVAILABLE))
    out = n.take()
    assert statuses(out) == [ServiceStatus.IN_SERVICE]
    [deleted] = publishes(out, f"{API}/User/1000/Dialogs")
    assert deleted.verb == "DELETE" and "<id>72</id>" in deleted.text
