"""The node core's REST commands and presence-driven forced logout, on a ManualClock.

Cisco, "Desktop Behavior": "Finesse receives a presence notification of Unavailable from the client.
Finesse waits 60 seconds, and then sends a forced logout request to the CTI server"; "Cisco Finesse
sends a code of 255 to the CTI server". A refused state change after the 202 is an Update with
apiErrors on the user's node, by requestId.
"""

from __future__ import annotations

from emu_base.timers import Timers
from finesse_emu.server import xml as X
from finesse_emu.server.core import CtiPurpose, CtiRequestRefused, SendToCti, SessionChanged
from finesse_emu.server.presence import Cancelled, CancelReason, ForcedLogout, TimerStarted
from ged188 import AgentState, MediaAction, MessageType, Tag, make
from tests.unit.test_node_core import API, Node, publishes, state_event

M = MessageType
DELAY = Timers.build(1.0).forced_logout_after_unavailable
JID = "1000@emu.test/desktop"


def signed_in(state: AgentState = AgentState.AVAILABLE) -> Node:
    """IN_SERVICE, agent 1000 signed in through this node, in ``state``, its desktop available."""
    n = Node()
    n.link_up()
    assert (
        n.core.change_user_state(n.now, n.agents[0], X.UserUpdate(X.UserState.LOGIN, "2000"), "", "pw")
        is None
    )
    n.driver.pump()
    [login] = n.take()
    assert isinstance(login, SendToCti)
    n.reply(login, make(M.SET_AGENT_STATE_CONF))
    n.cti(state_event("1000", state))
    n.core.agent_presence(n.now, JID, True)
    n.driver.pump()
    n.take()
    return n


def requests_of(n: Node, purpose: CtiPurpose) -> list[SendToCti]:
    return [o for o in n.take() if isinstance(o, SendToCti) and o.purpose is purpose]


# -- presence Unavailable -> 60 s -> forced logout 255 ---------------------------------------------
def test_unavailable_for_sixty_seconds_is_a_forced_logout_255() -> None:
    n = signed_in()
    n.clock.advance(10.0)
    n.core.agent_presence(n.now, JID, False)
    n.driver.pump()
    assert n.take() == [TimerStarted("1000", 10.0, 10.0 + DELAY)]
    n.clock.advance(DELAY - 0.001)  # the Driver's timer on the clock: not yet
    assert n.take() == []
    n.clock.advance(0.001)
    out = n.take()
    assert out[0] == SessionChanged("1000", False, "forced_logout", "IN_SERVICE", 255)
    forced = out[1]
    assert isinstance(forced, ForcedLogout) and forced.waited == DELAY and forced.reason_code == 255
    request = out[2]
    assert isinstance(request, SendToCti) and request.purpose is CtiPurpose.FORCED_LOGOUT
    msg = request.message
    assert (msg.type, msg.get_str(Tag.AGENT_ID)) == (M.SET_AGENT_STATE_REQ, "1000")
    assert (msg["AgentState"], msg["EventReasonCode"], msg["ForcedFlag"]) == (AgentState.LOGOUT, 255, 1)
    assert n.core.stats["forced_logouts"] == 1 and n.core.next_deadline() is None


def test_the_desktop_back_within_sixty_seconds_cancels_the_forced_logout() -> None:
    n = signed_in()
    n.core.agent_presence(n.now, JID, False)
    n.driver.pump()
    n.clock.advance(30.0)
    n.core.agent_presence(n.now, "1000@emu.test/reloaded", True)
    n.driver.pump()
    assert n.take()[-1] == Cancelled("1000", 30.0, CancelReason.AVAILABLE, 0.0)
    n.clock.advance(10 * DELAY)
    assert n.take() == [] and n.core.stats["forced_logouts"] == 0


def test_a_cti_loss_cancels_the_pending_forced_logout() -> None:
    n = signed_in()
    n.core.agent_presence(n.now, JID, False)
    n.driver.pump()
    n.take()
    out = n.link_down()
    assert Cancelled("1000", 0.0, CancelReason.OUT_OF_SERVICE, 0.0) in out
    n.clock.advance(10 * DELAY)
    assert [o for o in n.take() if isinstance(o, ForcedLogout)] == []


def test_on_a_call_the_forced_logout_waits_for_the_end_of_the_call() -> None:
    n = signed_in(AgentState.TALKING)
    n.core.agent_presence(n.now, JID, False)
    n.driver.pump()
    n.clock.advance(DELAY + 5.0)
    assert [o for o in n.take() if isinstance(o, ForcedLogout)] == []
    n.cti(state_event("1000", AgentState.WORK_READY))  # the call ended
    [forced] = [o for o in n.take() if isinstance(o, ForcedLogout)]
    assert forced.call_wait == 5.0


def test_presence_of_another_domain_or_an_unknown_agent_is_ignored() -> None:
    n = signed_in()
    for jid in ("1000@elsewhere.test/desktop", "9999@emu.test/desktop", "@emu.test/x"):
        n.core.agent_presence(n.now, jid, False)
    n.driver.pump()
    assert n.take() == [] and n.core.presence.available("1000")


# -- PUT User --------------------------------------------------------------------------------------
def test_a_state_change_goes_to_the_cti_server_and_its_event_carries_the_request_id() -> None:
    n = signed_in()
    update = X.UserUpdate(X.UserState.NOT_READY, reason_code_id=11)
    assert n.core.change_user_state(n.now, n.agents[0], update, "req-7", None) is None
    n.driver.pump()
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    assert (request.message["AgentState"], request.message["EventReasonCode"]) == (AgentState.NOT_READY, 7)
    n.reply(request, make(M.SET_AGENT_STATE_CONF))
    n.cti(state_event("1000", AgentState.NOT_READY, reason=7))
    [user] = publishes(n.take(), f"{API}/User/1000")
    assert "<requestId>req-7</requestId>" in user.text and "<state>NOT_READY</state>" in user.text


def test_a_logout_with_reason_code_id_255_goes_on_as_the_forced_logout() -> None:
    """The Refresh Token has expired: "The Finesse server forwards the forced logout request to the
    CTI server." The desktop's LOGOUT with reasonCodeId 255 is a forced LOGOUT with 255 at the CTI
    server (so LOAD decides); a NOT_READY with 255 is no such thing and is refused."""
    n = signed_in()
    update = X.UserUpdate(X.UserState.LOGOUT, reason_code_id=255)
    assert n.core.change_user_state(n.now, n.agents[0], update, "req-9", None) is None
    n.driver.pump()
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    msg = request.message
    assert (msg.type, msg.get_str(Tag.AGENT_ID)) == (M.SET_AGENT_STATE_REQ, "1000")
    assert (msg["AgentState"], msg["EventReasonCode"], msg["ForcedFlag"]) == (AgentState.LOGOUT, 255, 1)
    plain = X.UserUpdate(X.UserState.LOGOUT)
    assert n.core.change_user_state(n.now, n.agents[0], plain, "req-10", None) is None
    n.driver.pump()
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    assert (request.message["EventReasonCode"], request.message["ForcedFlag"]) == (0, 0)
    not_ready = X.UserUpdate(X.UserState.NOT_READY, reason_code_id=255)
    refused = n.core.change_user_state(n.now, n.agents[0], not_ready, "", None)
    assert refused is not None and b"reasonCodeId" in refused.body


def test_a_refused_state_change_is_an_api_error_update_by_request_id() -> None:
    n = signed_in()
    n.core.change_user_state(n.now, n.agents[0], X.UserUpdate(X.UserState.READY), "req-8", None)
    n.driver.pump()
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    n.fail(request, "FAILURE_CONF E_CTI_INVALID_STATE")
    out = n.take()
    [error] = publishes(out, f"{API}/User/1000")
    assert error.error and "<requestId>req-8</requestId>" in error.text
    assert "<errorMessage>FAILURE_CONF E_CTI_INVALID_STATE</errorMessage>" in error.text
    assert CtiRequestRefused(CtiPurpose.STATE_CHANGE, "1000", "FAILURE_CONF E_CTI_INVALID_STATE") in out
    assert n.core.model.user("1000").request_id == ""


def test_invalid_state_changes_are_refused_at_once() -> None:
    n = Node()
    n.link_up(states={"1000": AgentState.LOGOUT})
    signed_out = n.core.change_user_state(n.now, n.agents[0], X.UserUpdate(X.UserState.READY), "", None)
    assert signed_out is not None and signed_out.status == 400 and b"Invalid State" in signed_out.body
    n2 = signed_in()
    wrong_reason = X.UserUpdate(X.UserState.NOT_READY, reason_code_id=12)  # a LOGOUT reason
    refused = n2.core.change_user_state(n2.now, n2.agents[0], wrong_reason, "", None)
    assert refused is not None and b"reasonCodeId" in refused.body
    n2.driver.pump()
    assert requests_of(n2, CtiPurpose.STATE_CHANGE) == []


def test_a_sign_out_through_this_node_ends_its_session() -> None:
    n = signed_in()
    n.core.change_user_state(n.now, n.agents[0], X.UserUpdate(X.UserState.LOGOUT), "", None)
    n.driver.pump()
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    n.cti(state_event("1000", AgentState.LOGOUT))  # the CTI side's LOGOUT before the answer
    assert SessionChanged("1000", False, "sign_out", "IN_SERVICE", 0) in n.take()
    n.reply(request, make(M.SET_AGENT_STATE_CONF))
    assert n.take() == []  # once


# -- PUT Media, PUT Dialog -------------------------------------------------------------------------
def test_media_work_to_active_only_from_work() -> None:
    n = signed_in()
    mrd_agent = n.agents[0]
    update = X.MediaUpdate(state=X.MediaState.ACTIVE)
    refused = n.core.change_media_state(n.now, mrd_agent, 5000, update, "m1")
    assert refused is not None and refused.status == 400
    n.cti(state_event("1000", AgentState.WORK_NOT_READY, mrd=5000))
    assert n.core.change_media_state(n.now, mrd_agent, 5000, update, "m2") is None
    n.driver.pump()
    [request] = requests_of(n, CtiPurpose.MEDIA_CHANGE)
    assert request.message["Action"] == MediaAction.WORK_TO_ACTIVE and request.message["MRDID"] == 5000


def test_a_dialog_action_on_an_unknown_dialog_is_404() -> None:
    n = signed_in()
    answer = X.DialogAction(X.DialogActionName.ANSWER)
    refused = n.core.dialog_action(n.now, n.agents[0], "424242", answer, "d1")
    assert refused is not None and refused.status == 404


# -- the pending state is lost in a failover (chapter "Finesse Failover Mechanisms") ---------------
def pending_not_ready(n: Node) -> None:
    """Agent 1000, Talking, asks for NOT_READY: the node shows it as the pending state."""
    update = X.UserUpdate(X.UserState.NOT_READY, reason_code_id=11)
    assert n.core.change_user_state(n.now, n.agents[0], update, "req-p", None) is None
    n.driver.pump()
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    n.reply(request, make(M.SET_AGENT_STATE_CONF))
    n.cti(state_event("1000", AgentState.TALKING))  # the CTI server reports the current state again
    assert n.core.user_view("1000").pending_state == "NOT_READY"
    n.take()


def test_a_cti_failover_loses_the_pending_state() -> None:
    """ "After the failover, the pending state of an agent will not be displayed [...]. The pending
    state change is lost during the failover" """
    n = signed_in(AgentState.TALKING)
    pending_not_ready(n)
    n.link_down()
    out = n.link_up(side="B", states={"1000": AgentState.TALKING})
    assert n.core.user_view("1000").pending_state == ""
    [user] = publishes(out, f"{API}/User/1000")  # the last state, republished
    assert "<pendingState></pendingState>" in user.text and "<state>TALKING</state>" in user.text


def test_signing_in_again_loses_the_pending_state() -> None:
    """ "The pending state change is lost during the failover, as the agent will be logged out, and
    logged in again." """
    n = signed_in(AgentState.TALKING)
    pending_not_ready(n)
    login = X.UserUpdate(X.UserState.LOGIN, "2000")
    assert n.core.change_user_state(n.now, n.agents[0], login, "req-l", "pw") is None
    n.driver.pump()
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    n.reply(request, make(M.SET_AGENT_STATE_CONF))
    n.cti(state_event("1000", AgentState.TALKING))  # a re-login reports the current state again
    [user] = publishes(n.take(), f"{API}/User/1000")
    assert "<requestId>req-l</requestId>" in user.text and "<pendingState></pendingState>" in user.text


def test_a_pending_state_is_published_even_without_a_request_id() -> None:
    """A client that sends no requestId header still sees the pendingState its PUT set during a call
    (the CTI server's answer reports the state unchanged: once, not at every later report)."""
    n = signed_in(AgentState.TALKING)
    update = X.UserUpdate(X.UserState.NOT_READY, reason_code_id=11)
    assert n.core.change_user_state(n.now, n.agents[0], update, "", None) is None
    n.driver.pump()
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    n.reply(request, make(M.SET_AGENT_STATE_CONF))
    n.cti(state_event("1000", AgentState.TALKING))
    [user] = publishes(n.take(), f"{API}/User/1000")
    assert "<pendingState>NOT_READY</pendingState>" in user.text and "<state>TALKING</state>" in user.text
    n.cti(state_event("1000", AgentState.TALKING))  # the same report again: nothing new to show
    assert publishes(n.take(), f"{API}/User/1000") == []
