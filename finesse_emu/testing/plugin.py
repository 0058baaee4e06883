"""The pytest plugin (entry point ``pytest11``: installed with the package, found by pytest itself).

Fixtures:

- ``finesse_deployment``: a :class:`~finesse_emu.testing.sync.SyncDeployment`, for plain tests;
- ``finesse_deployment_async``: its twin, an :class:`~finesse_emu.testing.sync.AsyncDeployment`,
  for tests run by pytest-asyncio.

Both are the one deployment of the session (starting one takes about ten seconds), healed after
each test (faults cleared on the components and on the nodes' client-path proxies, components
restarted, swarms stopped, both nodes IN_SERVICE again, the nodes' journals emptied: each test's
journal holds its own traffic) and stopped at the end of the session. Options:
``--finesse-emu-attach RUN_DIR`` (use a deployment ``finesse-emu up --run-dir RUN_DIR`` started:
healed, never stopped), ``--finesse-emu-network 127.0.N`` (default: a free /24 of 127.0.150-199),
``--finesse-emu-time-scale`` and ``--finesse-emu-agents``. A deployment that cannot start (no
Prosody, no free network) fails the tests that use it with the reason: never a silent skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from finesse_emu.deployment.topology import check_network

DEFAULT_TIME_SCALE = 1.0
DEFAULT_AGENTS = "10"


@dataclass(frozen=True)
class Settings:
    attach: Path | None = None
    network: str | None = None
    time_scale: float = DEFAULT_TIME_SCALE
    agents: int | str = int(DEFAULT_AGENTS)


def settings_from(getoption: Callable[[str], Any]) -> Settings:
    """The session's deployment settings from the command line (``config.getoption``); ValueError
    naming the option for a bad value."""
    attach, network = getoption("finesse_emu_attach"), getoption("finesse_emu_network")
    raw_scale, raw_agents = getoption("finesse_emu_time_scale"), getoption("finesse_emu_agents")
    try:
        scale = float(raw_scale)
    except (TypeError, ValueError):
        raise ValueError(f"--finesse-emu-time-scale must be a number, got {raw_scale!r}") from None
    if not scale > 0:
        raise ValueError(f"--finesse-emu-time-scale must be above 0, got {raw_scale!r}")
    if network is not None:
        try:
            check_network(network)
        except ValueError as exc:
            raise ValueError(f"--finesse-emu-network: {exc}") from None
    if attach is not None and network is not None:
        raise ValueError("--finesse-emu-attach and --finesse-emu-network exclude each other")
    agents: int | str = int(raw_agents) if str(raw_agents).isdigit() else str(raw_agents)
    return Settings(Path(attach) if attach else None, network, scale, agents)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "finesse-emu", "the emulated Cisco Finesse deployment (finesse_deployment fixture)"
    )
    group.addoption(
        "--finesse-emu-attach",
        metavar="RUN_DIR",
        default=None,
        help="attach to `finesse-emu up --run-dir RUN_DIR` (healed after each test, never stopped)",
    )
    group.addoption(
        "--finesse-emu-network",
        metavar="127.0.N",
        default=None,
        help="the loopback /24 of the deployment the session starts (default: a free one of 127.0.150-199)",
    )
    group.addoption(
        "--finesse-emu-time-scale",
        default=str(DEFAULT_TIME_SCALE),
        help="the emulator's timer factor (emulated seconds x factor = wall seconds; default 1)",
    )
    group.addoption(
        "--finesse-emu-agents",
        default=DEFAULT_AGENTS,
        help="the directory: a number of generated agents, 50+chat+email, or an agent file (default 10)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """A bad option is a usage error at once, not a failure of every test that uses the fixture."""
    try:
        settings_from(config.getoption)
    except ValueError as exc:
        raise pytest.UsageError(f"finesse-emu: {exc}") from None


@pytest.fixture(scope="session")
def finesse_deployment_session(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The session's deployment (started on first use, stopped at the end); tests use the fixtures below."""
    from finesse_emu.deployment.journal import JournalError
    from finesse_emu.testing.deployment import DeploymentError
    from finesse_emu.testing.sync import SyncDeployment

    try:
        settings = settings_from(request.config.getoption)
        if settings.attach is not None:
            deployment = SyncDeployment.attach(settings.attach)
        else:
            deployment = SyncDeployment.start(
                agents=settings.agents, time_scale=settings.time_scale, network=settings.network
            )
        # The first test, too, sees only its own traffic in the journal (not the start's).
        deployment.journal.clear()
    except (DeploymentError, ValueError, JournalError) as exc:
        pytest.fail(f"finesse-emu: {exc}", pytrace=False)
    try:
        yield deployment
    finally:
        deployment.close()


@pytest.fixture
def finesse_deployment(finesse_deployment_session: Any) -> Iterator[Any]:
    """The session's deployment, blocking calls; healed after the test."""
    yield finesse_deployment_session
    finesse_deployment_session.heal()


def _async_twin() -> Any:
    """``finesse_deployment_async``, with pytest-asyncio; without it, a fixture that says what it needs."""
    try:
        import pytest_asyncio
    except ImportError:

        def missing() -> None:
            pytest.fail(
                "finesse-emu: finesse_deployment_async needs pytest-asyncio (pip install pytest-asyncio)"
            )

        return pytest.fixture(missing, name="finesse_deployment_async")

    async def twin(finesse_deployment_session: Any) -> AsyncIterator[Any]:
        """The session's deployment, coroutines of the test's loop; healed after the test."""
        from finesse_emu.testing.sync import AsyncDeployment

        facade = AsyncDeployment(finesse_deployment_session.deployment, finesse_deployment_session.portal)
        yield facade
        await facade.heal()

    return pytest_asyncio.fixture(twin, name="finesse_deployment_async")


finesse_deployment_async = _async_twin()
