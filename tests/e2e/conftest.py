"""End-to-end fixtures: real component processes on 127.0.0.1, logs kept under tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from emu_base.procs import Proc, cti_stub_argv, free_port, wait_health

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
