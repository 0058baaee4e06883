"""The Finesse REST paths and the pubsub nodes named after them, in one place.

The REST routes (:mod:`.rest`), the OpenAPI document (:mod:`.openapi`), the node core's
notifications (:mod:`.core`) and the node's pubsub set-up all name the same resources: a user's
node is the path of its User resource, as in Finesse ("/finesse/api/User/1001").
"""

from __future__ import annotations

from finesse_emu.server.auth.user import AuthUser

API = "/finesse/api"
SYSTEM_INFO_NODE = f"{API}/SystemInfo"
# Paths that answer without credentials and whatever the service state (clients poll them).
OPEN_PATHS = {SYSTEM_INFO_NODE}


def user_node(user_id: str) -> str:
    return f"{API}/User/{user_id}"


def dialogs_node(user_id: str) -> str:
    return f"{API}/User/{user_id}/Dialogs"


def media_node(user_id: str, mrd: int) -> str:
    return f"{API}/User/{user_id}/Media/{mrd}"


def team_users_node(team_id: int) -> str:
    return f"{API}/Team/{team_id}/Users"


def dialog_path(dialog_id: str) -> str:
    return f"{API}/Dialog/{dialog_id}"


def subscription_nodes(user: AuthUser) -> list[str]:
    """The nodes an agent is subscribed to at its first authenticated request, as Finesse does."""
    nodes = [user_node(user.id), dialogs_node(user.id), SYSTEM_INFO_NODE]
    return nodes + [media_node(user.id, mrd) for mrd in user.non_voice_mrds]
