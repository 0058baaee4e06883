"""finesse_emu/xmpp/client.py's open_session: a cancel is never lost, even one that arrives in the
loop turn the session comes up (Python 3.11's asyncio.wait_for dropped it: a stopping publisher then
waited for ever on a supervisor that went on with its new session)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from finesse_emu.xmpp.client import make_client, open_session


async def test_a_cancel_that_comes_with_the_session_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client("finesse@127.0.0.1/finesse", "secret")
    loop = asyncio.get_running_loop()

    def connect(host: str, port: int, *args: Any, **kwargs: Any) -> None:
        # The session comes up on the next turn of the loop: the turn in which the cancel lands.
        loop.call_soon(client.event, "session_start", {})

    monkeypatch.setattr(client, "connect", connect)
    task = asyncio.ensure_future(open_session(client, "127.0.0.1", 5222, 5.0))
    await asyncio.sleep(0)  # open_session runs up to its wait for the session
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
