"""``finesse-emu demo``: a CTI failover run on real processes, with a report.

Two CTI stub processes (side A on 127.0.10.1:42027, side B on 127.0.10.2:43027) and Finesse's CTI
link. Agents sign in; then:
1. side A is killed with SIGKILL: the link detects the socket failure, alternates A, B, A, ...
   and is IN_SERVICE again on side B once the PG has switched sides, with every agent state kept;
2. side B stops answering heartbeats, then the PG switches back to A: the link declares the loss
   after three unanswered heartbeats (seed: 3 x 5 s) and comes back on side A.
The report (JSON and Markdown, plus every process's JSON log) goes to ``reports/<timestamp>/``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from cti_stub.protocol import AgentState, MessageType, Tag, make
from finesse_emu.cti import CtiClient, CtiLinkConfig, HeartbeatResult, LinkDown, LinkUp, PublicEvent
from finesse_emu.logs import configure_logging
from finesse_emu.procs import Proc, cti_stub_argv, wait_health
from finesse_emu.timers import Timers
from finesse_emu.topology import CTI_A, CTI_B, CTI_LINK_PORT

M = MessageType
DEMO_AGENTS = 20


@dataclass
class Phase:
    name: str
    fault: str
    started: float
    link_down_at: float | None = None
    detection_seconds: float | None = None
    link_up_at: float | None = None
    side_after: str | None = None
    floor_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out_of_service = None
        if self.link_down_at is not None and self.link_up_at is not None:
            out_of_service = self.link_up_at - self.link_down_at
        return {
            "name": self.name,
            "fault": self.fault,
            "detection_seconds": self.detection_seconds,
            "fault_to_detection_seconds": None
            if self.link_down_at is None
            else self.link_down_at - self.started,
            "out_of_service_seconds": out_of_service,
            "side_after": self.side_after,
            "floor_seconds": self.floor_seconds,
            "notes": self.notes,
        }


class Demo:
    def __init__(self, report_dir: Path, time_scale: float) -> None:
        self.dir = report_dir
        self.scale = time_scale
        self.timers = Timers.build(time_scale)
        self.procs: dict[str, Proc] = {}
        self.client: CtiClient | None = None

    def start_side(self, side: str) -> None:
        ep, other = (CTI_A, "B") if side == "A" else (CTI_B, "A")
        peer_ep = CTI_B if side == "A" else CTI_A
        argv = cti_stub_argv(
            side, ep.host, ep.port, ep.admin_port, CTI_LINK_PORT[side], (peer_ep.host, CTI_LINK_PORT[other]),
            DEMO_AGENTS, self.scale,
        )  # fmt: skip
        self.procs[side] = Proc(ep.name, argv, self.dir / f"{ep.name}.log")

    async def fault(self, ep_host: str, admin_port: int, kind: str) -> None:
        url = f"http://{ep_host}:{admin_port}/emu/faults"
        async with aiohttp.ClientSession() as http, http.post(url, json={"kind": kind}) as resp:
            if resp.status != 201:
                raise RuntimeError(f"fault {kind} refused: {resp.status} {await resp.text()}")

    async def agent_states(self) -> dict[str, str]:
        assert self.client is not None
        out = {}
        for i in range(DEMO_AGENTS):
            agent = str(1000 + i)
            reply = await self.client.request(
                make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, agent)], MRDID=1), timeout=10 * self.scale + 5
            )
            out[agent] = AgentState(reply["AgentState"]).name
        return out

    async def wait_link(self, events: asyncio.Queue[PublicEvent], phase: Phase, limit: float) -> None:
        async with asyncio.timeout(limit):
            while True:
                event = await events.get()
                if isinstance(event, LinkDown) and phase.link_down_at is None:
                    phase.link_down_at = time.monotonic()
                    phase.detection_seconds = event.detection_seconds
                    phase.notes.append(f"link down on side {event.side}: {event.reason}")
                elif isinstance(event, LinkUp) and phase.link_down_at is not None:
                    phase.link_up_at = time.monotonic()
                    phase.side_after = event.side
                    return

    async def run(self) -> dict[str, Any]:
        self.start_side("A")
        self.start_side("B")
        await wait_health(CTI_A.host, CTI_A.admin_port, "active", timeout=30)
        await wait_health(CTI_B.host, CTI_B.admin_port, "idle", timeout=30)
        sides = [("A", CTI_A.host, CTI_A.port), ("B", CTI_B.host, CTI_B.port)]
        self.client = client = CtiClient(CtiLinkConfig.from_timers(sides, self.timers))
        events = client.subscribe()
        await client.start()
        if not await client.wait_in_service(30):
            raise RuntimeError("Finesse's CTI link did not come up")
        # Sign agents in and give them a spread of states.
        for i in range(DEMO_AGENTS):
            agent, ext = str(1000 + i), str(2000 + i)
            login: list[tuple[int, str | bytes | int]] = [
                (Tag.AGENT_ID, agent),
                (Tag.AGENT_INSTRUMENT, ext),
                (Tag.AGENT_PASSWORD, f"pass{agent}".encode()),
            ]
            await client.request(make(M.SET_AGENT_STATE_REQ, login, AgentState=AgentState.LOGIN), timeout=10)
            if i % 2 == 0:
                state = make(M.SET_AGENT_STATE_REQ, [(Tag.AGENT_ID, agent)], AgentState=AgentState.AVAILABLE)
                await client.request(state, timeout=10)
        await asyncio.sleep(max(0.2, 2 * self.scale))  # replication to side B
        before = await self.agent_states()
        phases = []

        # Phase 1: SIGKILL of the active CTI server.
        events = client.subscribe()
        phase = Phase("kill -9 cti-a", "SIGKILL cti-a", time.monotonic())
        self.procs["A"].kill()
        await self.wait_link(events, phase, 120 * self.scale + 30)
        after = await self.agent_states()
        kept = sum(before[a] == after[a] for a in before)
        phase.notes.append(f"agent states kept across the side switch: {kept}/{len(before)}")
        phases.append(phase)

        # Side A comes back (idle behind B, like a restarted PG side).
        self.procs["A"].stop()
        self.start_side("A")
        await wait_health(CTI_A.host, CTI_A.admin_port, "idle", timeout=30)

        # Phase 2: side B hangs (heartbeats unanswered), then the PG switches back to side A.
        events = client.subscribe()
        async with asyncio.timeout(30):
            while not isinstance(ev := await events.get(), HeartbeatResult) or not ev.ok:
                pass
        phase = Phase(
            "cti-b stops answering heartbeats",
            "ignore_heartbeats on cti-b, then deactivate",
            time.monotonic(),
        )
        phase.floor_seconds = self.timers.cti_heartbeat_interval * self.timers.cti_missed_heartbeats
        await self.fault(CTI_B.host, CTI_B.admin_port, "ignore_heartbeats")
        async with asyncio.timeout(120 * self.scale + 30):
            while not isinstance(ev2 := await events.get(), LinkDown):
                pass
        phase.link_down_at, phase.detection_seconds = time.monotonic(), ev2.detection_seconds
        phase.notes.append(f"link down on side {ev2.side}: {ev2.reason}")
        await self.fault(CTI_B.host, CTI_B.admin_port, "deactivate")
        async with asyncio.timeout(120 * self.scale + 30):
            while not isinstance(ev3 := await events.get(), LinkUp) or ev3.side != "A":
                pass
        phase.link_up_at, phase.side_after = time.monotonic(), ev3.side
        final = await self.agent_states()
        phase.notes.append(f"agent states kept: {sum(before[a] == final[a] for a in before)}/{len(before)}")
        phases.append(phase)
        await client.close()
        return {
            "time_scale": self.scale,
            "agents": DEMO_AGENTS,
            "phases": [p.to_json() for p in phases],
            "agent_states_before": before,
            "agent_states_after": final,
        }

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# finesse-emu demo: CTI failover",
        "",
        f"time_scale {report['time_scale']:g} (seconds below are wall seconds at that scale); "
        f"{report['agents']} agents",
        "",
        "| phase | detection (s) | floor (s) | out of service (s) | now on side | notes |",
        "|---|---|---|---|---|---|",
    ]

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    for p in report["phases"]:
        lines.append(
            f"| {p['name']} | {fmt(p['detection_seconds'])} | {fmt(p['floor_seconds'])} | "
            f"{fmt(p['out_of_service_seconds'])} | {p['side_after']} | {'; '.join(p['notes'])} |"
        )
    return "\n".join(lines) + "\n"


async def run_demo(report_root: Path, time_scale: float) -> Path:
    report_dir = report_root / time.strftime("%Y%m%d-%H%M%S")
    report_dir.mkdir(parents=True, exist_ok=True)
    # Finesse's CTI link runs in this process: its JSON log goes beside the components' logs.
    log_file = (report_dir / "finesse-cti-link.log").open("a")
    configure_logging("finesse-cti-link", "INFO", log_file)
    demo = Demo(report_dir, time_scale)
    try:
        report = await demo.run()
    finally:
        demo.stop()
        log_file.close()
    (report_dir / "report.json").write_text(json.dumps(report, indent=2))
    markdown = render_markdown(report)
    (report_dir / "report.md").write_text(markdown)
    print(markdown)
    print(f"report and component logs: {report_dir}")
    return report_dir
