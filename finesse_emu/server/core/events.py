"""Which ``<Update>`` a change of the model publishes, on which pubsub node, with which verb.

Cisco, "Finesse Notifications": each Update carries the resource as the REST GET shows it, the
``event`` (POST, PUT, DELETE), the ``requestId`` of the client request it answers and its
``source``. A user's state goes to the user's node and, for supervisors, to the team's; a media
state to the user's Media node; a dialog to the user's Dialogs node (a DELETE carries the dialog
as it was last published). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from finesse_emu.server import paths
from finesse_emu.server import xml as X
from finesse_emu.server.core import views
from finesse_emu.server.core.directory import Directory
from finesse_emu.server.model import Change, DialogChange, FinesseModel, MediaChange, UserChange
from finesse_emu.xmpp.envelope import update_document


@dataclass(frozen=True)
class Update:
    node: str
    text: str
    verb: str


class Updates:
    def __init__(self) -> None:
        # maxDialogLimit given at MRD sign-in (the Media resource shows it; the CTI events do not).
        self.media_limits: dict[tuple[str, int], int] = {}
        # As last published to each user's Dialogs node (a dialog has a participant per user), for
        # the DELETE.
        self._dialog_views: dict[tuple[str, str], X.DialogView] = {}

    def of_changes(self, d: Directory, model: FinesseModel, changes: Iterable[Change]) -> list[Update]:
        out: list[Update] = []
        for change in changes:
            if isinstance(change, UserChange):
                agent = d.agents.get(change.user_id)
                if agent is not None:
                    user = views.user_view(d, model, change.user_id)
                    out.append(
                        _update(paths.user_node(change.user_id), X.user_event(user), "PUT", change.request_id)
                    )
                    # Supervisors subscribe to their teams' nodes explicitly (not auto-subscribed).
                    member = X.team_user_event(views.team_user(d, model, agent))
                    out.append(_update(paths.team_users_node(agent.team_id), member, "PUT", ""))
            elif isinstance(change, MediaChange):
                if change.user_id in d.agents:
                    view = views.media_view(d, model, self.media_limits, change.user_id, change.mrd)
                    node = paths.media_node(change.user_id, change.mrd)
                    out.append(_update(node, X.media_event(view), "PUT", change.request_id))
            elif isinstance(change, DialogChange):
                out += self._dialog(d, model, change)
        return out

    def gone(self, model: FinesseModel) -> list[DialogChange]:
        """After a failover: the DELETE of every published dialog the model no longer has. A call
        clients saw that ended while the node was OUT_OF_SERVICE, even after the link was back
        (during the resync: its END_CALL_EVENT was learnt, not published), must not stay on their
        desktops ("the last state of call control ... published as events to all clients")."""
        return [
            DialogChange(dialog_id, user_id, "DELETE")
            for dialog_id, user_id in self._dialog_views
            if dialog_id not in model.dialogs
        ]

    def _dialog(self, d: Directory, model: FinesseModel, change: DialogChange) -> list[Update]:
        node = paths.dialogs_node(change.user_id)
        key = (change.dialog_id, change.user_id)
        if change.event == "DELETE":
            old = self._dialog_views.pop(key, None)
            return [] if old is None else [_update(node, X.dialogs_event([old]), "DELETE", change.request_id)]
        view = views.dialog_view(model, change.dialog_id, d, change.user_id)
        self._dialog_views[key] = view
        if change.event == "POST":
            return [_update(node, X.dialogs_event([view]), "POST", change.request_id)]
        source = paths.dialog_path(change.dialog_id)
        return [_update(node, X.dialog_event(view), "PUT", change.request_id, source)]


def _update(node: str, data: str, verb: str, request_id: str, source: str | None = None) -> Update:
    return Update(node, update_document(data, verb, request_id, source or node), verb)


def api_errors(source: str, request_id: str, error: X.ApiError) -> str:
    """The Update of a request refused after its 202 (apiErrors, by requestId)."""
    return update_document(X.api_errors_event([error]), "PUT", request_id, source, error=True)
