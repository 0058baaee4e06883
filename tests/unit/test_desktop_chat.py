"""The chat gadget's rule of the chapter's "Desktop Chat Failover" table: which page loads give a new
IM&P session (losing the active chat sessions) and which leave it alone."""

from __future__ import annotations

from finesse_emu.desktop.chat import gadget_reloads


def test_a_move_to_the_other_finesse_node_reloads_the_gadget() -> None:
    # "Finesse server failover: The desktop chat status is retained, and all active chat sessions
    # are lost." The failover's data load happens on the other node: a new page.
    assert gadget_reloads("finesse-a", "finesse-b", full=False)


def test_a_data_refresh_in_place_keeps_the_gadget() -> None:
    # "CTI server failover: The desktop chat status and all chat sessions are retained." The desktop
    # stays on its node and reloads its data only.
    assert not gadget_reloads("finesse-a", "finesse-a", full=False)


def test_a_sign_in_or_a_browser_reload_loads_the_gadget() -> None:
    assert gadget_reloads("", "finesse-a", full=True)
    assert gadget_reloads("finesse-a", "finesse-a", full=True)
