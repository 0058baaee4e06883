"""A scenario's swarm over several processes (``swarm: {processes: K}``).

One swarm runs on one event loop. A thousand desktops failing over at once keep that loop busy
long enough to delay every desktop (docs/benchmarks.md), while the servers leave the other core
half idle. With ``processes: K`` the runner keeps slice 0 of the agents and starts K-1
``finesse-emu swarm --slice i/K`` processes against the same deployment. It reads their clients'
states from their ``/metrics`` for the ``until`` conditions, and merges their histories into the
run's at the end, so the report and the checker see one run.

Steps that act on clients (browser actions, calls) reach only the runner's own slice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from emu_base.procs import Proc, free_port
from finesse_emu.desktop.swarm import slice_sizes
from finesse_emu.runs.history import merge

START_TIMEOUT = 60.0  # a slice process answers /metrics within this (it imports, then listens)
STOP_TIMEOUT = 20.0  # SIGTERM, then SIGKILL: a slice writes its history as it stops


class SliceError(RuntimeError):
    pass


class RemoteSlices:
    """Slices 1..K-1 of the scenario's desktops, each in its own ``finesse-emu swarm`` process."""

    def __init__(
        self, swarm: dict[str, Any], desktops: int, count: int, run_dir: Path, out_dir: Path
    ) -> None:
        self.swarm = swarm
        self.desktops = desktops
        self.count = count
        self.run_dir = run_dir
        self.out_dir = out_dir
        # Desktops in the other processes (the runner keeps slice 0).
        self.remote_desktops = sum(slice_sizes(desktops, count)[1:])
        self.counts: Counter[tuple[str, str, str]] = Counter()  # (kind, state, node), all slices
        self._procs: list[tuple[Proc, int, Path]] = []  # (process, /metrics port, history file)
        self._poller: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def argv(self, index: int, port: int, history: Path) -> list[str]:
        s = self.swarm
        argv = ["-m", "finesse_emu.cli", "swarm", "--agents", str(self.desktops)]
        argv += ["--slice", f"{index}/{self.count}", "--run-dir", str(self.run_dir)]
        if "gadgets" in s:  # else the node's desktop layout, as in the runner's own slice
            argv += ["--gadgets", str(int(s["gadgets"])), "--gadget-kind", str(s.get("gadget_kind", "xml"))]
        argv += ["--publisher-share", str(float(s.get("publisher_share", 0.5)))]
        argv += ["--rtt-ms", str(float(s.get("rtt_ms", 0.0)))]
        if s.get("chat"):
            argv.append("--chat")
        if s.get("bypass_server_cache"):
            argv.append("--bypass-server-cache")
        if s.get("nocache"):
            argv.append("--nocache")
        if s.get("preload_secondary") is False:
            argv.append("--no-preload-secondary")
        if s.get("rcwn"):
            argv += ["--rcwn", str(float(s["rcwn"]))]
        if s.get("clear_cache_on_launch"):
            argv.append("--clear-cache-on-launch")
        if s.get("slow_network"):
            argv.append("--slow-network")
        return [*argv, "--history", str(history), "--metrics-port", str(port)]

    async def start(self) -> None:
        for index in range(1, self.count):
            port = free_port()
            history = self.out_dir / f"slice-{index}.jsonl"
            proc = Proc(
                f"swarm-{index}", self.argv(index, port, history), self.out_dir / f"slice-{index}.log"
            )
            self._procs.append((proc, port, history))
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0))
        deadline = time.monotonic() + START_TIMEOUT
        while not await self.poll():
            dead = [p.popen.returncode for p, *_ in self._procs if p.popen.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"exited with {dead[0]}" if dead else f"no /metrics in {START_TIMEOUT:g} s"
                raise SliceError(f"swarm slice process {why}: see {self.out_dir}/slice-*.log")
            await asyncio.sleep(0.2)
        self._poller = asyncio.create_task(self._poll_loop())

    async def poll(self) -> bool:
        """Reads every slice's client states; False when one did not answer."""
        assert self._http is not None
        counts: Counter[tuple[str, str, str]] = Counter()
        for _proc, port, _history in self._procs:
            try:
                async with self._http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    text = await resp.text()
            except (aiohttp.ClientError, OSError, TimeoutError):
                return False
            for family in text_string_to_metric_families(text):
                if family.name != "finesse_emu_clients":
                    continue
                for sample in family.samples:
                    key = (sample.labels["kind"], sample.labels["state"], sample.labels["node"])
                    counts[key] += int(sample.value)
        self.counts = counts
        return True

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            with contextlib.suppress(Exception):  # a late answer keeps the last counts
                await self.poll()

    @property
    def pids(self) -> dict[str, int]:
        """swarm-1, swarm-2...: the slice processes, for the observer's resource samples."""
        return {proc.name: proc.pid for proc, *_ in self._procs}

    def signed_in(self, node: str | None = None) -> int:
        return sum(
            n
            for (kind, state, where), n in self.counts.items()
            if kind == "desktop" and state == "SIGNED_IN" and (node is None or where == node)
        )

    async def stop(self) -> list[dict[str, Any]]:
        """Stops the slice processes and returns their merged history events."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await asyncio.gather(*(asyncio.to_thread(proc.stop, STOP_TIMEOUT) for proc, *_ in self._procs))
        if self._http is not None:
            await self._http.close()
        histories = [h for _proc, _port, h in self._procs if h.is_file()]
        return merge(histories) if histories else []
