"""Who may act on whom: the one decision every REST route that names a target takes here. Pure.

From the Finesse developer guide's "Security Constraints" of each API:

- User, a user's Dialogs, Media and one Dialog (GET): "Agents can only get their own"; supervisors
  get the users "on their team(s)"; administrators get any user  -> :attr:`Access.READ`.
- User and Media state changes (PUT): the user itself, or a supervisor of the user's team (the
  supervisor's "make ready / not ready / sign out" of a team member); not administrators
  -> :attr:`Access.CHANGE`.
- Reason codes and wrap-up reasons of a user: "Only an administrator can get another user's list
  of reason codes" (and of wrap-up reasons)  -> :attr:`Access.PERSONAL`.
- Call control on a dialog (PUT Dialog): "An agent must be a participant in the dialog"
  -> :attr:`Access.PARTICIPANT`.
- A team: its supervisors and administrators (:func:`may_read_team`).

A supervisor's teams are the AWDB's ``teams_supervised`` (the AWDB stub fills in the supervisor's
own team when a directory does not say), never the team the supervisor belongs to as an agent.
Every refusal is 401 Invalid Authorization User Specified; an unknown target is the route's 404.
"""

from __future__ import annotations

from enum import Enum

from finesse_emu.server.auth.user import AuthUser


class Access(Enum):
    READ = "read"
    CHANGE = "change"
    PERSONAL = "personal"
    PARTICIPANT = "participant"


def supervises(me: AuthUser, team_id: int) -> bool:
    return me.supervisor and team_id in me.teams_supervised


def may_act_on(me: AuthUser, target: AuthUser, access: Access) -> bool:
    """Whether ``me`` may do ``access`` on ``target`` (a user, or the owner of a dialog)."""
    if me.id == target.id:
        return True
    if access is Access.PARTICIPANT:
        return False
    if access is Access.PERSONAL:
        return me.admin
    if access is Access.READ and me.admin:
        return True
    return supervises(me, target.team_id)


def may_read_team(me: AuthUser, team_id: int) -> bool:
    return me.admin or supervises(me, team_id)
