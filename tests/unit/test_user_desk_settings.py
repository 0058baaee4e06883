"""The User's wrap-up settings come from the agent's desk settings in the AWDB rows (pure: the
directory and the view, no sockets)."""

from __future__ import annotations

from finesse_emu.server.core.directory import Directory
from finesse_emu.server.core.views import user_view
from finesse_emu.server.model import FinesseModel
from finesse_emu.server.xml import user_api


def _directory(**desk: object) -> Directory:
    row = {"id": "1000", "login": "agent0001", "extension": "2000", "team_id": 1, **desk}
    return Directory.from_awdb("example.com", [row], [{"id": 1, "name": "T"}], [], [], [])


def test_user_view_shows_the_agents_desk_settings() -> None:
    d = _directory(
        wrap_up_on_incoming="REQUIRED_WITH_WRAP_UP_DATA", wrap_up_on_outgoing="OPTIONAL", wrap_up_time=45
    )
    view = user_view(d, FinesseModel(), "1000")
    assert (view.wrap_up_on_incoming, view.wrap_up_on_outgoing, view.wrap_up_timer) == (
        "REQUIRED_WITH_WRAP_UP_DATA",
        "OPTIONAL",
        45,
    )
    body = user_api.user(view)
    assert b"<wrapUpOnIncoming>REQUIRED_WITH_WRAP_UP_DATA</wrapUpOnIncoming>" in body
    assert (
        b"<wrapUpOnOutgoing>OPTIONAL</wrapUpOnOutgoing>" in body and b"<wrapUpTimer>45</wrapUpTimer>" in body
    )
    # The User notification carries the same settings.
    assert "<wrapUpOnIncoming>REQUIRED_WITH_WRAP_UP_DATA</wrapUpOnIncoming>" in user_api.user_event(view)


def test_an_awdb_without_desk_settings_leaves_them_empty() -> None:
    """An older AWDB (no desk settings in its rows): empty modes, as Finesse's sign-in sample shows
    them, and the default wrap-up timer."""
    view = user_view(_directory(), FinesseModel(), "1000")
    assert (view.wrap_up_on_incoming, view.wrap_up_on_outgoing, view.wrap_up_timer) == ("", "", 7200)
