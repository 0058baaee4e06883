"""End-to-end fixtures: real component processes on 127.0.0.1, logs kept under tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from emu_base.procs import Proc, cti_stub_argv, free_port, wait_health
from tests.e2e.shared import SharedDeployment

HOST = "127.0.0.1"
SCALE = 0.05  # heartbeat 0.25 s, takeover 0.25 s


class CtiPair:
    def __init__(self, workdir: Path, agents: int = 10) -> None:
        self.workdir = workdir
        self.agents = agents
        self.ports = {"A": free_port(), "B": free_port()}
        self.admin = {"A": free_port(), "B": free_port()}
        self.link = {"A": free_port(), "B": free_port()}
        self.procs: dict[str, Proc] = {}

    def start(self, side: str) -> Proc:
        other = "B" if side == "A" else "A"
        argv = cti_stub_argv(
            side, HOST, self.ports[side], self.admin[side], self.link[side], (HOST, self.link[other]),
            self.agents, SCALE,
        )  # fmt: skip
        proc = Proc(f"cti-{side.lower()}", argv, self.workdir / f"cti-{side.lower()}.log")
        self.procs[side] = proc
        return proc

    async def health(self, side: str, state: str | None = None) -> dict[str, object]:
        return await wait_health(HOST, self.admin[side], state)

    def stop(self) -> None:
        for proc in self.procs.values():  # SIGTERM to all first: they stop together
            proc.terminate()
        for proc in self.procs.values():
            proc.stop()


@pytest.fixture
async def cti_pair(tmp_path: Path) -> AsyncIterator[CtiPair]:
    pair = CtiPair(tmp_path)
    try:  # a set-up that fails (a side never healthy) must not leave the processes running
        # Side A first, active before B starts (as the launcher does): B started beside a slow A
        # finds no active peer and takes over, and the pair would begin on side B.
        pair.start("A")
        await pair.health("A", "active")
        pair.start("B")
        await pair.health("B", "idle")
        yield pair
    finally:
        pair.stop()


ProcFactory = Callable[[str], Proc]


# The shared deployment (tests/e2e/shared.py): one for the session at most, started by the first test
# that asks for it, stopped right after the last one (pytest_runtest_teardown below), else at the end.
SHARED_FIXTURE = "shared_deployment"
SHARED = pytest.StashKey[SharedDeployment]()
LAST_SHARED_USER = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def _shared_deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedDeployment]:
    shared = SharedDeployment(tmp_path_factory.mktemp("shared-deployment"))
    request.config.stash[SHARED] = shared
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture
def shared_deployment(_shared_deployment: SharedDeployment) -> Path:
    """The run directory of the shared deployment, started if it is not running."""
    return _shared_deployment.start()


def _uses_shared(item: pytest.Item) -> bool:
    return SHARED_FIXTURE in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules using the shared deployment run one after the other (at the first one's place), so
    it runs only while they do (idle, it still takes ~5% of a core); each module's own order is kept."""
    modules = list(dict.fromkeys(item.path for item in items if _uses_shared(item)))
    if not modules:
        return
    first = next(i for i, item in enumerate(items) if item.path in modules)
    grouped = [item for module in modules for item in items if item.path == module]
    rest = [item for item in items if item.path not in modules]
    items[:] = rest[:first] + grouped + rest[first:]
    config.stash[LAST_SHARED_USER] = next(item.nodeid for item in reversed(items) if _uses_shared(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the last test that uses it, the shared deployment goes (``down``; a failure is an error
    of that test's teardown)."""
    try:
        yield
    finally:
        shared = item.config.stash.get(SHARED, None)
        if shared is not None and item.nodeid == item.config.stash.get(LAST_SHARED_USER, None):
            shared.stop()
