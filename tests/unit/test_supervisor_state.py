"""A supervisor changes a team member's state (PUT User on another user), on the pure node core.

User—Change Agent State: "A supervisor can only set the state of another user to NOT_READY, READY,
or LOGOUT"; LOGOUT only from READY, NOT_READY, RESERVED(_OUTBOUND(_PREVIEW)), TALKING, HOLD, WORK,
WORK_READY; NOT_READY only from READY, WORK, WORK_READY; "a reason code must not be used [...] 400
Invalid Input"; "Finesse sends a hard-coded reason code of 999" (Unified CCE). Who may ask at all
(its own team only) is auth/access.py's, tested over sockets in tests/integration.
"""

from __future__ import annotations

import pytest

from finesse_emu.server import xml as X
from finesse_emu.server.core import CtiPurpose, SendToCti
from ged188 import AgentState
from tests.unit.test_node_core import Node, agent, state_event
from tests.unit.test_node_core_commands import requests_of

SUPERVISOR = agent("1009", supervisor=True, teams_supervised=(1,))


def member_in(state: AgentState) -> Node:
    n = Node(agents=[agent("1000"), agent("1001"), SUPERVISOR])
    n.link_up()
    n.cti(state_event("1000", state))
    n.take()
    return n


def put(n: Node, update: X.UserUpdate) -> X.ErrorResponse | None:
    out = n.core.change_user_state(n.now, n.agents[0], update, "r1", None, by=SUPERVISOR)
    n.driver.pump()
    return out


@pytest.mark.parametrize("state", [AgentState.AVAILABLE, AgentState.WORK_NOT_READY, AgentState.WORK_READY])
def test_not_ready_from_ready_or_wrap_up_goes_with_reason_999(state: AgentState) -> None:
    n = member_in(state)
    assert put(n, X.UserUpdate(X.UserState.NOT_READY)) is None
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    msg = request.message
    assert (msg["AgentState"], msg["EventReasonCode"]) == (AgentState.NOT_READY, 999)


@pytest.mark.parametrize("state", [AgentState.NOT_READY, AgentState.TALKING, AgentState.HOLD])
def test_not_ready_from_any_other_state_is_refused(state: AgentState) -> None:
    n = member_in(state)
    refused = put(n, X.UserUpdate(X.UserState.NOT_READY))
    assert isinstance(refused, X.ErrorResponse) and refused.status == 400
    assert requests_of(n, CtiPurpose.STATE_CHANGE) == []


def test_a_reason_code_is_refused_with_invalid_input() -> None:
    n = member_in(AgentState.AVAILABLE)
    refused = put(n, X.UserUpdate(X.UserState.NOT_READY, reason_code_id=11))
    assert isinstance(refused, X.ErrorResponse) and refused.status == 400
    assert refused.error.error_type == "Invalid Input" and requests_of(n, CtiPurpose.STATE_CHANGE) == []


def test_logout_of_a_talking_member_is_999_and_pending() -> None:
    n = member_in(AgentState.TALKING)
    assert put(n, X.UserUpdate(X.UserState.LOGOUT)) is None
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    assert (request.message["AgentState"], request.message["EventReasonCode"]) == (AgentState.LOGOUT, 999)
    assert n.core.model.user("1000").pending_state == "LOGOUT"


def test_ready_carries_no_reason_and_login_is_not_a_supervisors() -> None:
    n = member_in(AgentState.NOT_READY)
    assert put(n, X.UserUpdate(X.UserState.READY)) is None
    [request] = requests_of(n, CtiPurpose.STATE_CHANGE)
    assert (request.message["AgentState"], request.message["EventReasonCode"]) == (AgentState.AVAILABLE, 0)
    refused = put(n, X.UserUpdate(X.UserState.LOGIN, "2000"))
    assert isinstance(refused, X.ErrorResponse) and refused.status == 400


def test_the_user_itself_keeps_its_reason_codes() -> None:
    """The rules are the supervisor's: the agent itself still gives its Not Ready reason."""
    n = member_in(AgentState.AVAILABLE)
    update = X.UserUpdate(X.UserState.NOT_READY, reason_code_id=11)
    assert n.core.change_user_state(n.now, n.agents[0], update, "", None) is None
    n.driver.pump()
    [request] = [o for o in n.take() if isinstance(o, SendToCti)]
    assert request.message["EventReasonCode"] == 7
