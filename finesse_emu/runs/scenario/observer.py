"""Watches every component of a deployment and writes its changes to the run's history.

Finesse nodes: ``status`` (IN_SERVICE / OUT_OF_SERVICE; a node that does not answer counts as
OUT_OF_SERVICE with reason ``unreachable``); CTI sides: ``role`` (active / idle / down); AWDBs and
Prosody: ``health`` (up / down). Each is read from the component's own control plane, or the
process table for Prosody, a few times per scaled second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from emu_base.history import History
from emu_base.history_events import Health, Load, Resources, Role, Status
from emu_base.procs import pid_alive


class Observer:
    def __init__(
        self,
        run_dir: Path,
        history: History,
        interval: float,
        time_scale: float = 1.0,
        resources: bool = False,
    ) -> None:
        self.run_dir = run_dir
        # With ``resources``: CPU and memory of every component process and of this one (the swarm),
        # once per emulated second (``resources`` events), for benchmarks.
        self.resources = resources
        self._procs: dict[int, psutil.Process] = {}
        self.extra_processes: dict[str, int] = {}  # more processes to sample: name -> pid (swarm slices)
        self._last_resources = 0.0
        self.history = history
        self.interval = interval
        self.time_scale = time_scale
        # Request rate of each node, sampled once per emulated second: (loop time, requests) at the last
        # sample.
        self._load: dict[str, tuple[float, int, int]] = {}
        self.latest: dict[str, str] = {}  # component -> last recorded value
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def _components(self) -> list[dict[str, Any]]:
        # Read every time: ``chaos start`` rewrites the pid of a restarted component.
        state: dict[str, Any] = json.loads((self.run_dir / "deployment.json").read_text())
        return list(state["components"])

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=max(0.5, self.interval * 4)))
        await self.poll()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            await self._http.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            with contextlib.suppress(OSError, ValueError):
                await self.poll()

    def _sample_resources(self, components: list[dict[str, Any]]) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_resources < self.time_scale:
            return
        self._last_resources = now
        own = [("swarm", os.getpid()), *self.extra_processes.items()]
        for name, pid in [*((c["name"], c.get("pid") or 0) for c in components), *own]:
            try:
                proc = self._procs.get(pid)
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                    proc.cpu_percent(None)  # primes the counter: the first reading is meaningless
                    continue
                cpu = proc.cpu_percent(None)
                rss = proc.memory_info().rss / 1e6
                fds = proc.num_fds()
            except psutil.Error:
                continue
            self.history.record(name, Resources(cpu_percent=round(cpu, 1), rss_mb=round(rss, 1), fds=fds))

    async def poll(self) -> None:
        components = self._components()
        if self.resources:
            self._sample_resources(components)
        results = await asyncio.gather(*(self._probe(c) for c in components))
        for c, (value, event) in zip(components, results, strict=True):
            if self.latest.get(c["name"]) != value:
                self.latest[c["name"]] = value
                self.history.record(c["name"], event)

    def _sample_load(self, name: str, requests: int, sent: int) -> None:
        """A ``load`` event (requests and megabits per emulated second) for each emulated second."""
        now = asyncio.get_running_loop().time()
        last = self._load.get(name)
        if last is None or requests < last[1]:  # first sample, or the node restarted
            self._load[name] = (now, requests, sent)
            return
        elapsed = now - last[0]
        if elapsed < self.time_scale:
            return
        per_emulated_second = self.time_scale / elapsed
        rate = (requests - last[1]) * per_emulated_second
        mbps = (sent - last[2]) * 8 / 1e6 * per_emulated_second
        self._load[name] = (now, requests, sent)
        self.history.record(name, Load(requests_per_second=round(rate, 2), mbps=round(mbps, 3)))

    async def _probe(self, c: dict[str, Any]) -> tuple[str, Status | Role | Health]:
        """The component's state now, and the event that records it (written when it changed)."""
        role = c["role"]
        node = role in ("publisher", "subscriber")

        def seen(value: str, reason: str = "") -> tuple[str, Status | Role | Health]:
            if node:
                return value, Status(status=value, reason=reason)
            return value, Role(role=value) if role == "cti" else Health(health=value)

        if not pid_alive(c.get("pid") or 0):
            return seen("OUT_OF_SERVICE" if node else "down", "process down")
        if role in ("xmpp", "imp"):  # Prosody (a Notification Service, an IM&P node): no control plane
            return seen("up")
        assert self._http is not None
        try:
            async with self._http.get(f"http://{c['host']}:{c['ports']['admin']}/emu/health") as resp:
                health = await resp.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return seen("OUT_OF_SERVICE" if node else "down", "unreachable")
        if node:
            stats = health.get("stats") or {}
            self._sample_load(c["name"], int(stats.get("http_requests", 0)), int(stats.get("http_bytes", 0)))
            return seen(str(health.get("state", "")), str(health.get("status_reason", "") or ""))
        if role == "cti":
            return seen(str(health.get("state", "down")))
        return seen("up")
