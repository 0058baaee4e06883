"""Fixtures shared by every test directory."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from emu_base.procs import free_port
from finesse_emu.xmpp.prosody import ProsodyNotFound, ProsodyProcess, agent_accounts, prosody_binary

# A pytest started in the background by a shell without job control (make test runs two side by
# side) has SIGINT ignored, and so would every process it starts: the CLI commands that end on
# Ctrl-C, which tests interrupt, would not. A handler of our own is SIG_DFL again in each child.
signal.signal(signal.SIGINT, signal.default_int_handler)

ProsodyFactory = Callable[..., ProsodyProcess]
# The fixtures' agent directory: agents 1000..1099, password pass<id> (emu_base.directory.generate).
FIXTURE_AGENTS = 100


def require_prosody() -> str:
    """The prosody binary, or a FAILED test (never a skip): a missing binary is a broken set-up."""
    try:
        return prosody_binary()
    except ProsodyNotFound as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
async def prosody_factory(tmp_path: Path) -> AsyncIterator[ProsodyFactory]:
    """Build (not start) Prosody processes on free loopback ports; all are killed at teardown.

    ``factory(domain="emu.test", host="127.0.0.1", **kwargs)``; each gets its own run dir under
    tmp_path (config and prosody.log kept there for post-mortems). Passwords are checked, as in
    every deployment mode: an account per agent of FIXTURE_AGENTS (``accounts=`` for others) and
    ``finesse`` with a random password (``proc.service_password``).
    """
    require_prosody()
    made: list[ProsodyProcess] = []

    def factory(domain: str = "emu.test", host: str = "127.0.0.1", **kwargs: Any) -> ProsodyProcess:
        if kwargs.get("auth", "internal_plain") != "internal_plain":
            pytest.fail("test fixtures check passwords (auth='internal_plain'), as every deployment does")
        kwargs.setdefault("accounts", agent_accounts(FIXTURE_AGENTS))
        kwargs.setdefault("c2s_port", free_port(host))
        kwargs.setdefault("http_port", free_port(host))
        run_dir = kwargs.pop("run_dir", tmp_path / f"prosody-{len(made)}")
        proc = ProsodyProcess(domain, host=host, run_dir=run_dir, **kwargs)
        made.append(proc)
        return proc

    yield factory
    for proc in made:
        # SIGKILL: state is in memory only, and SIGTERM costs ~1 s per process.
        proc.kill()
        await proc.wait()


@pytest.fixture
async def prosody(prosody_factory: ProsodyFactory) -> ProsodyProcess:
    """A started Prosody for domain ``emu.test`` on 127.0.0.1 (real passwords, finesse roster)."""
    proc = prosody_factory()
    await proc.start()
    return proc
