"""The browser-close race on the node core (ManualClock): the forced logout of a signed-out agent.

Cisco, "Desktop Behavior", race conditions: "The agent closes the browser window. Finesse receives a
presence notification of Unavailable for the user. Finesse tries to sign the agent out; however,
that agent is already signed out." The node sends the forced logout 60 s after the Unavailable and
takes the CTI server's refusal: logged once (CtiRequestRefused), counted, no event, no crash. The
same over real sockets: tests/integration/test_forced_logout.py.
"""

from __future__ import annotations

from emu_base.timers import Timers
from finesse_emu.server import xml as X
from finesse_emu.server.core import CtiPurpose, CtiRequestRefused, Publish, SendToCti
from finesse_emu.server.presence import ForcedLogout, TimerStarted
from ged188 import AgentState, MessageType, make
from tests.unit.test_node_core import state_event
from tests.unit.test_node_core_commands import JID, requests_of, signed_in

M = MessageType
DELAY = Timers.build(1.0).forced_logout_after_unavailable
REFUSAL = "FAILURE_CONF E_CTI_AGENT_NOT_LOGGED_ON"


def test_signed_out_then_browser_closed_the_request_goes_and_its_refusal_is_handled() -> None:
    n = signed_in()
    n.core.change_user_state(n.now, n.agents[0], X.UserUpdate(X.UserState.LOGOUT), "out-1", None)
    n.driver.pump()
    [logout] = requests_of(n, CtiPurpose.STATE_CHANGE)
    n.reply(logout, make(M.SET_AGENT_STATE_CONF))
    n.cti(state_event("1000", AgentState.LOGOUT))
    n.take()
    assert n.core.model.user("1000").state == "LOGOUT"
    n.core.agent_presence(n.now, JID, False)  # the browser is closed after the sign-out
    n.driver.pump()
    assert n.take() == [TimerStarted("1000", n.now, n.now + DELAY)]
    n.clock.advance(DELAY)
    out = n.take()
    assert [type(o) for o in out] == [ForcedLogout, SendToCti]  # no session change: none was open
    request = out[1]
    assert isinstance(request, SendToCti) and request.purpose is CtiPurpose.FORCED_LOGOUT
    assert (request.message["AgentState"], request.message["EventReasonCode"]) == (AgentState.LOGOUT, 255)
    n.fail(request, REFUSAL)
    out = n.take()
    assert out == [CtiRequestRefused(CtiPurpose.FORCED_LOGOUT, "1000", REFUSAL)]  # logged once, no event
    assert not any(isinstance(o, Publish) for o in out)
    assert n.core.stats["forced_logout_already_signed_out"] == 1
    assert n.core.model.user("1000").state == "LOGOUT" and n.core.next_deadline() is None
