"""Desktop chat on Cisco IM&P (two real Prosody processes, one presence domain), row by row of the
chapter "Finesse Failover Mechanisms", "Desktop Chat Failover":

| Cisco IM&P server failover | The desktop chat status is retained, and all active chat sessions are lost. |
| Finesse server failover | The desktop chat status is retained, and all active chat sessions are lost. |
| CTI server failover | The desktop chat status and all chat sessions are retained. |
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emu_base.history import History
from emu_base.timers import Timers
from finesse_emu.desktop.chat import DesktopChat, ImpServer
from finesse_emu.xmpp.prosody import ProsodyProcess
from tests.conftest import ProsodyFactory
from tests.helpers import eventually

DOMAIN = "imp.test"


@pytest.fixture
async def imp(prosody_factory: ProsodyFactory) -> list[ProsodyProcess]:
    """IM&P's publisher and subscriber: two Prosody processes serving one domain."""
    nodes = [prosody_factory(domain=DOMAIN), prosody_factory(domain=DOMAIN)]
    for node in nodes:
        await node.start()
    return nodes


@pytest.fixture
async def chats(imp: list[ProsodyProcess]) -> AsyncIterator[tuple[DesktopChat, DesktopChat, History]]:
    servers = [ImpServer(f"imp-{n}", p.host, p.c2s_port, DOMAIN) for n, p in zip("ab", imp, strict=True)]
    history = History()
    timers = Timers.build(0.05)
    one = DesktopChat("1000", "pass1000", servers, history, timers)
    two = DesktopChat("1001", "pass1001", servers, history, timers)
    yield one, two, history
    await one.stop()
    await two.stop()


def events(history: History, name: str) -> list[dict[str, object]]:
    return [e for e in history.events if e["event"] == name]


async def on(chat: DesktopChat, server: str) -> None:
    await eventually(lambda: (chat.server, chat.connected), f"{chat.agent_id} on {server}",
                     until=lambda s: s == (server, True), within=10)  # fmt: skip


async def chatting(one: DesktopChat, two: DesktopChat) -> None:
    """``one`` opens a chat with ``two``, who receives it through IM&P."""
    assert one.start(two.agent_id)
    await eventually(lambda: set(two.sessions), "the peer joined", until=lambda s: s == {one.agent_id})


async def test_the_three_rows(
    chats: tuple[DesktopChat, DesktopChat, History], imp: list[ProsodyProcess]
) -> None:
    one, two, history = chats
    for chat in (one, two):
        chat.page_loaded("finesse-a", full=True)  # signed in: the desktop page loads
    # Polled at every turn of the loop: the sign-in is a few round trips, a coarser poll can miss it.
    await eventually(lambda: one.signing_in, "1000's gadget signing in to IM&P", every=0)
    one.set_status("away")  # while the gadget is still signing in
    for chat in (one, two):
        await on(chat, "imp-a")
    assert one.session_status == "away"
    await chatting(one, two)

    # CTI server failover: the desktop stays on its page and reloads its data only.
    for chat in (one, two):
        chat.page_loaded("finesse-a", full=False)
    assert one.sessions == {"1001"} and two.sessions == {"1000"}
    assert one.session_status == "away" and not events(history, "chat_lost")
    assert len(events(history, "chat_connected")) == 2  # the same IM&P sessions

    # Cisco IM&P server failover: the publisher dies; the chat signs in to the subscriber.
    imp[0].kill()
    for chat in (one, two):
        await on(chat, "imp-b")
    assert not one.sessions and not two.sessions
    assert one.session_status == "away"  # sent again as the new session's presence
    assert {e["agent"] for e in events(history, "chat_lost")} == {"1000", "1001"}
    await chatting(two, one)  # and the subscriber carries new chats

    # Finesse server failover: the desktop moves to the other node, a page load there.
    one.page_loaded("finesse-b", full=False)
    await on(one, "imp-b")
    assert not one.sessions and one.session_status == "away"
    assert [e["why"] for e in events(history, "chat_lost")][-1] == "page loaded on finesse-b"
    assert len(events(history, "chat_connected")) == 5  # 2 on imp-a, 2 on imp-b, 1 after the move


async def test_no_imp_node_answers_then_one_does(
    chats: tuple[DesktopChat, DesktopChat, History], imp: list[ProsodyProcess]
) -> None:
    """The gadget keeps trying each node in turn (a pause between rounds) and keeps its status."""
    one, _, _ = chats
    for node in imp:
        node.kill()
        await node.wait()
    one.set_status("away")
    one.page_loaded("finesse-a", full=True)
    await eventually(lambda: one._index, "both nodes tried", until=lambda i: i >= 2, within=10)
    assert not one.connected
    await imp[1].start()
    await on(one, "imp-b")
    assert one.session_status == "away"
