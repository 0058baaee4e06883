"""Who may read which pubsub node: the REST policy (server/rest.py) as XEP-0060 whitelists.

Finesse's REST API lets an agent read its own User, Dialogs and Media; a supervisor also the users
of its teams (the teams it supervises and its own, as ``rest.target_user`` checks); an
administrator any user; ``Team/{id}`` only that team's supervisors and administrators; SystemInfo
anybody, without credentials. The Notification Service must not be a side door to the same data:
an event carries the document a GET would return, and a node's stored items (a Dialog item carries
ANI and call variables) are readable by whoever may retrieve items.

Each ``/finesse/api/User/{id}...`` and ``/finesse/api/Team/{id}...`` node is therefore created with
``pubsub#access_model`` ``whitelist``; the publisher gives the readers named here the ``member``
affiliation (subscribe, retrieve items) and nobody else gets anything: Prosody answers
``forbidden`` to a subscription or an items request by anyone else, and refuses a subscription the
owner would make for them. ``SystemInfo`` stays ``open``. Publishing, creating, configuring,
purging and deleting stay the owner's (``finesse``), with ``publish_model`` ``publishers``.

The node's owner is read from the node's name (``User/1234`` is agent 1234's), so an agent the
directory does not know (yet) still reads its own nodes; supervisors and administrators come from
the directory the Finesse node loaded from the AWDB. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from finesse_emu.server.auth.user import AuthUser

API = "/finesse/api"
OPEN_NODES = frozenset({f"{API}/SystemInfo"})


class PubsubAccess:
    """``readers(node)``: the bare JIDs that may read ``node`` besides its owner ``finesse``
    (``None``: every logged-in user). Built once per directory."""

    def __init__(self, domain: str, users: Iterable[AuthUser] = ()) -> None:
        self.domain = domain
        self._users: dict[str, AuthUser] = {}
        team_readers: defaultdict[int, set[str]] = defaultdict(set)
        admins: set[str] = set()
        for user in users:
            self._users[user.id] = user
            if user.admin:
                admins.add(self.jid(user.id))
            if user.supervisor:
                for team in {*user.teams_supervised, user.team_id}:
                    team_readers[team].add(self.jid(user.id))
        self._admins = frozenset(admins)
        # One frozenset per team, shared by every node of that team's agents.
        self._team: dict[int, frozenset[str]] = {t: frozenset(j | admins) for t, j in team_readers.items()}

    def jid(self, user_id: str) -> str:
        """An agent's bare JID: its id, lower-cased as nodeprep and EventTunnel do."""
        return f"{user_id.lower()}@{self.domain}"

    def team_readers(self, team_id: int) -> frozenset[str]:
        return self._team.get(team_id, self._admins)

    def readers(self, node: str) -> frozenset[str] | None:
        if node in OPEN_NODES:
            return None
        parts = node[len(API) + 1 :].split("/") if node.startswith(API + "/") else []
        if len(parts) >= 2 and parts[0] == "User" and parts[1]:
            user = self._users.get(parts[1])
            others = self.team_readers(user.team_id) if user is not None else self._admins
            return others | {self.jid(parts[1])}
        if len(parts) >= 2 and parts[0] == "Team" and parts[1].isascii() and parts[1].isdigit():
            return self.team_readers(int(parts[1]))
        return frozenset()  # any other node: finesse only, until a rule says who reads it
