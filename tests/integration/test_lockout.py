"""The five-bad-passwords lockout over real sockets (issue 14, finding 4): it is the agent's,
whatever alias is typed.

Before: the count was kept per typed string, so "1023" was locked while "agent0024" and
"AGENT0024" still answered, and switching alias dodged the rule. Generated agent 1023 has the
login name agent0024. The lockout lasts 25 emulated seconds here (0.5 s at the time scale).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest

from emu_base.timers import Timers
from tests.helpers import eventually
from tests.integration.test_finesse_node import SCALE, Deployment, deployment

LOCKOUT = 25.0  # emulated seconds (Cisco's 300 would be 6 s of real time at this scale)


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment(timers=Timers.build(SCALE, auth_lockout=LOCKOUT)) as d:
        yield d


async def sign_in(dep: Deployment, user: str, password: str) -> tuple[int, str]:
    """GET the agent's own User (1023) as ``user``: (status, the node's reason for a 401).

    The reason is the node's own count (a real Finesse's 401 does not carry it, nor does ours)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    before = {k: v for k, v in dep.node.stats.items() if k.startswith("auth_")}
    status, _, headers = await dep.call("GET", "/User/1023", user=None, Authorization=f"Basic {token}")
    assert not any(k.lower().startswith("x-emu") for k in headers)
    grew = [
        k[len("auth_") :] for k, v in dep.node.stats.items() if k.startswith("auth_") and v > before.get(k, 0)
    ]
    return status, ",".join(grew)


async def test_five_bad_passwords_over_any_aliases_lock_the_agent_for_every_alias(dep: Deployment) -> None:
    loop = asyncio.get_running_loop()
    aliases = ["1023", "agent0024", "AGENT0024", "Agent0024", "1023"]
    for alias in aliases[:4]:
        assert await sign_in(dep, alias, "wrong") == (401, "bad_credentials"), alias
    locked_at = loop.time()
    assert await sign_in(dep, aliases[4], "wrong") == (401, "bad_credentials")
    # Locked for every alias, the right password included, and without asking the AWDB.
    lookups = dep.node.authenticator.awdb_lookups
    for alias in (*aliases, "aGeNt0024"):
        assert await sign_in(dep, alias, "pass1023") == (401, "locked_out"), alias
    assert dep.node.authenticator.awdb_lookups == lookups
    assert (await dep.call("GET", "/User/1024", user="1024"))[0] == 200  # another agent is not locked
    # Refused until the lockout ends, then the right password works again, under any alias.
    lockout = dep.node.timers.auth_lockout
    result = await eventually(
        lambda: sign_in(dep, "agent0024", "pass1023"),
        "the lockout to end",
        until=lambda seen: seen != (401, "locked_out"),
        within=lockout + 5,
        every=lockout / 20,
    )
    assert result == (200, "")
    assert loop.time() - locked_at >= lockout
    assert await sign_in(dep, "1023", "pass1023") == (200, "")


async def test_unknown_names_are_locked_out_too(dep: Deployment) -> None:
    """Probing an unknown name is bounded the same way (counted under the name, any case)."""
    for name in ("ghost", "GHOST", "Ghost", "ghost", "gHost"):
        assert await sign_in(dep, name, "guess") == (401, "bad_credentials")
    lookups = dep.node.authenticator.awdb_lookups
    assert await sign_in(dep, "GhOsT", "guess") == (401, "locked_out")
    assert dep.node.authenticator.awdb_lookups == lookups
