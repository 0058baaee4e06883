"""Who may act on whom (finesse_emu.server.auth.access): the one decision of every targeted REST route."""

from __future__ import annotations

import pytest

from finesse_emu.server.auth import AuthUser
from finesse_emu.server.auth.access import Access, may_act_on, may_read_team

AGENT = AuthUser("1001", "agent0002", team_id=1)
PEER = AuthUser("1002", "agent0003", team_id=1)
OTHER_TEAM = AuthUser("1026", "agent0027", team_id=2)
SUPERVISOR_1 = AuthUser("1000", "agent0001", team_id=1, supervisor=True, teams_supervised=(1,))
SUPERVISOR_2 = AuthUser("1025", "agent0026", team_id=2, supervisor=True, teams_supervised=(2,))
# A supervisor of team 3 who is a member of team 2: team 2 is not its to see.
SUPERVISOR_ELSEWHERE = AuthUser("1030", "agent0031", team_id=2, supervisor=True, teams_supervised=(3,))
ADMIN = AuthUser("9000", "admin", admin=True)


@pytest.mark.parametrize("access", list(Access))
def test_everyone_may_act_on_themselves(access: Access) -> None:
    for user in (AGENT, SUPERVISOR_1, ADMIN):
        assert may_act_on(user, user, access)


@pytest.mark.parametrize(
    ("me", "target", "allowed"),
    [
        (AGENT, PEER, set()),
        (SUPERVISOR_1, PEER, {Access.READ, Access.CHANGE}),
        (SUPERVISOR_2, PEER, set()),  # issue 14: a supervisor of another team
        (SUPERVISOR_ELSEWHERE, OTHER_TEAM, set()),  # its own team as an agent is not supervised
        (ADMIN, PEER, {Access.READ, Access.PERSONAL}),
    ],
)
def test_who_may_act_on_another_user(me: AuthUser, target: AuthUser, allowed: set[Access]) -> None:
    assert {a for a in Access if may_act_on(me, target, a)} == allowed


def test_teams() -> None:
    assert may_read_team(SUPERVISOR_1, 1) and not may_read_team(SUPERVISOR_1, 2)
    assert not may_read_team(SUPERVISOR_ELSEWHERE, 2) and may_read_team(SUPERVISOR_ELSEWHERE, 3)
    assert may_read_team(ADMIN, 2) and not may_read_team(AGENT, 1)
