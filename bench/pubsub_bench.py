"""Pubsub node set-up at start: what the access rules cost (a real Prosody, the node's publisher).

A Finesse node sets up every agent's nodes and subscriptions once connected to its Prosody
(server/subscriptions.py ``Subscriptions.provision``): per agent User, Dialogs and two Media nodes created
and subscribed, plus a subscription to SystemInfo, one task per agent with at most 100 requests in
flight. This runs the same requests for N generated agents, twice per round on a fresh Prosody:

- ``open``: every node open to every user (no affiliations), what the nodes had before access rules;
- ``whitelist``: each node created ``whitelist`` and its readers made members (one owner request
  per node), as the node does now.

Printed: the wall time until the last subscription was answered, and the CPU seconds of Prosody
and of the publisher's process (the wall time follows whatever else the machine runs; CPU does not).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from bench.cti_bench import print_table
from emu_base.directory import generate
from emu_base.logs import configure_logging
from emu_base.procs import free_port
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.publisher import NodeAccess, NotificationPublisher
from finesse_emu.server.pubsub_access import API, PubsubAccess
from finesse_emu.xmpp.prosody import ProsodyProcess

HOST = "127.0.0.1"
DOMAIN = "bench.test"


def users(count: int) -> list[AuthUser]:
    return [
        AuthUser(
            id=a.id,
            login=a.login,
            team_id=a.team_id,
            supervisor=a.supervisor,
            non_voice_mrds=a.non_voice_mrds,
        )
        for a in generate(count)
    ]


async def set_up(agents: list[AuthUser], access: NodeAccess, run_dir: Path) -> tuple[float, float, float]:
    """Seconds until every node and subscription is made, and Prosody's and this process's CPU
    seconds meanwhile."""
    prosody = ProsodyProcess(
        DOMAIN, host=HOST, c2s_port=free_port(HOST), http_port=free_port(HOST), run_dir=run_dir
    )
    await prosody.start()
    pub = NotificationPublisher(HOST, prosody.c2s_port, DOMAIN, prosody.service_password, node_access=access)
    try:
        await pub.start()
        assert prosody.pid is not None
        proc = psutil.Process(prosody.pid)
        cpu0, own0 = sum(proc.cpu_times()[:2]), time.process_time()

        async def one(user: AuthUser) -> None:  # as Subscriptions._subscribe: one node after the other
            jid = f"{user.id.lower()}@{DOMAIN}"
            nodes = [f"{API}/User/{user.id}", f"{API}/User/{user.id}/Dialogs", f"{API}/SystemInfo"]
            nodes += [f"{API}/User/{user.id}/Media/{mrd}" for mrd in user.non_voice_mrds]
            for node in nodes:
                await pub.ensure_node(node)
                await pub.subscribe_other(node, jid)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(u) for u in agents))
        wall = time.perf_counter() - t0
        return wall, sum(proc.cpu_times()[:2]) - cpu0, time.process_time() - own0
    finally:
        await pub.stop()
        prosody.kill()
        await prosody.wait()


async def run_all(agents: int, rounds: int) -> list[tuple[str, str, str]]:
    directory = users(agents)
    modes: dict[str, NodeAccess] = {
        "open": lambda _node: None,
        "whitelist": PubsubAccess(DOMAIN, directory).readers,
    }
    walls: dict[str, list[float]] = {m: [] for m in modes}
    cpus: dict[str, list[float]] = {m: [] for m in modes}
    owns: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="pubsub-bench-") as tmp:
        for r in range(rounds):
            for mode, access in modes.items():  # alternated, so drift hits both alike
                wall, cpu, own = await set_up(directory, access, Path(tmp) / f"{mode}-{r}")
                walls[mode].append(wall)
                cpus[mode].append(cpu)
                owns[mode].append(own)
    rows = []
    for mode in modes:
        w, c = walls[mode], cpus[mode]
        rows.append(
            (
                f"{agents} agents, {mode}: set-up wall (median, min-max of {rounds})",
                f"{statistics.median(w):.2f} s ({min(w):.2f}-{max(w):.2f})",
                "-",
            )
        )
        rows.append((f"{agents} agents, {mode}: Prosody CPU (median)", f"{statistics.median(c):.2f} s", "-"))
        rows.append(
            (
                f"{agents} agents, {mode}: publisher CPU (median)",
                f"{statistics.median(owns[mode]):.2f} s",
                "-",
            )
        )
    for name, values in (("wall", walls), ("Prosody CPU", cpus), ("publisher CPU", owns)):
        extra = statistics.median(values["whitelist"]) / statistics.median(values["open"]) - 1
        rows.append((f"whitelist over open, {name}", f"{extra:+.0%}", "-"))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench pubsub", description=__doc__)
    p.add_argument("--agents", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="200 agents, one round")
    args, _ = p.parse_known_args(argv)
    agents, rounds = (200, 1) if args.quick else (args.agents, args.rounds)
    configure_logging("bench", "WARNING")
    with contextlib.suppress(KeyboardInterrupt):
        print_table("Pubsub node set-up at start", asyncio.run(run_all(agents, rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
