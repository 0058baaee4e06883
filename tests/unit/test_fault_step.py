"""The scenario ``fault`` step takes its chaos verb's parameters (``port``, ``direction``,
``rate_kb_s`` ...), as ``finesse-emu chaos`` does, checked at load time against the fault registry
(emu_base/faults.py) with an error naming the step; run, the verb's fault reaches the node's
client-path proxy with those parameters (a real proxy's control plane over loopback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emu_base.history import History
from finesse_emu.deployment.launcher import STATE_FILE
from finesse_emu.edge.core import Toxics
from finesse_emu.edge.server import EdgeProxy, Route
from finesse_emu.runs.scenario import steps
from finesse_emu.runs.scenario.base import ScenarioError
from finesse_emu.runs.scenario.spec import parse

HOST = "127.0.0.1"
TOKEN = "fault-step-token"


def fault_step(**value: Any) -> dict[str, Any]:
    sc = parse({"name": "t", "deployment": {"agents": 2}, "steps": [{"fault": value}]})
    return sc.steps[0].args


def test_a_verb_takes_its_parameters() -> None:
    args = fault_step(
        action="bandwidth", target="finesse-a", rate_kb_s=50, port="bosh", direction="downstream"
    )
    assert args["params"] == {"rate_kb_s": 50, "port": "bosh", "direction": "downstream"}
    args = fault_step(action="slicer", target="finesse-b", size_bytes=10, delay_ms=5)
    assert args["params"] == {"size_bytes": 10, "delay_ms": 5}
    args = fault_step(action="latency", target="finesse-a", ms=200, jitter_ms=20, port="xmpp")
    assert args["params"] == {"ms": 200, "jitter_ms": 20, "port": "xmpp"}
    assert fault_step(action="timeout", target="finesse-a", close_after_ms=500)["params"] == {
        "close_after_ms": 500
    }
    assert fault_step(action="reset", target="finesse-a", after_ms=100)["params"] == {"after_ms": 100}
    assert fault_step(action="latency", target="cti-a", ms=300)["params"] == {"ms": 300}
    assert fault_step(action="kill", target="cti-a")["params"] == {}
    # every parameter the chaos verbs' kinds take, from the registry
    assert {"port", "direction", "jitter_ms", "rate_kb_s", "size_bytes", "delay_ms", "close_after_ms"} <= set(
        steps.verb_params()
    )


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (
            {"action": "bandwidth", "target": "finesse-a"},
            r"bandwidth on finesse-a \(client_bandwidth\).*rate_kb_s is required",
        ),
        (
            {"action": "latency", "target": "cti-a", "ms": 300, "port": "bosh"},
            r"latency on cti-a \(latency\) takes \['ms'\], not \['port'\]",
        ),
        (
            {"action": "latency", "target": "finesse-a", "ms": 5, "direction": "sideways"},
            r"direction must be one of",
        ),
        ({"action": "bandwidth", "target": "finesse-a", "rate_kb_s": 0}, r"rate_kb_s must be 0.001"),
        ({"action": "slicer", "target": "finesse-a", "size_bytes": "ten"}, r"size_bytes must be int"),
        ({"action": "reset", "target": "finesse-a", "port": "smtp"}, r"port must be one of"),
        ({"action": "kill", "target": "cti-a", "ms": 3}, r"kill on cti-a takes no parameters"),
        ({"action": "reset", "target": "finesse-a", "after": 3}, r"unknown: \['after'\]"),
        (
            {"action": "inject", "target": "finesse-a", "port": "bosh", "fault": {"kind": "client_reset"}},
            r"inject takes its parameters in fault",
        ),
        (
            {"action": "reset", "target": "finesse-a", "fault": {"kind": "client_reset"}},
            r"goes with action: inject",
        ),
        ({"action": "latency", "target": "cti-a"}, r"ms is required"),
    ],
)
def test_bad_parameters_fail_at_load_time_with_the_step(value: dict[str, Any], error: str) -> None:
    with pytest.raises(ScenarioError, match=r"step 1: .*" + error):
        fault_step(**value)


class Run:
    """What the fault step touches of context.Run."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.history = History()
        self.phase_fault_t: float | None = None
        self.injected: dict[str, str] = {}  # what --attach heals at the end (runner.py)


async def test_the_step_posts_its_parameters_to_the_node_proxy(tmp_path: Path) -> None:
    proxy = EdgeProxy("edge-a", [Route(k, HOST, 0, HOST, 9) for k in ("rest", "bosh")], HOST, 0, TOKEN)
    await proxy.start()
    try:
        token_file = tmp_path / "admin-token"
        token_file.write_text(TOKEN)
        token_file.chmod(0o600)
        node = {"name": "finesse-a", "role": "publisher", "host": HOST, "ports": {"admin": 9}, "pid": 0}
        edge = {"name": "edge-a", "role": "edge", "host": HOST, "ports": {"admin": proxy.admin_port}}
        state = {"components": [node, edge], "admin_token_file": str(token_file)}
        (tmp_path / STATE_FILE).write_text(json.dumps(state))
        run = Run(tmp_path)
        sc = parse(
            {
                "name": "t",
                "deployment": {"agents": 2},
                "steps": [
                    {
                        "fault": {
                            "action": "bandwidth",
                            "target": "finesse-a",
                            "rate_kb_s": 50,
                            "port": "bosh",
                        }
                    },
                    {
                        "fault": {
                            "action": "slicer",
                            "target": "finesse-a",
                            "size_bytes": 7,
                            "direction": "upstream",
                        }
                    },
                ],
            }
        )
        for step in sc.steps:
            await steps.STEPS[step.kind].run(run, step)  # type: ignore[arg-type]
        assert proxy.toxics("bosh", "downstream") == Toxics(rate=50_000)
        assert proxy.toxics("bosh", "upstream") == Toxics(slice_size=7)  # bandwidth: downstream by default
        assert proxy.toxics("rest", "downstream") == Toxics()  # only the port the step named
        assert proxy.toxics("rest", "upstream") == Toxics(slice_size=7)
        assert [e["event"] for e in run.history.events] == ["fault", "fault"]
        assert "edge-a" in run.history.events[0]["detail"] and run.phase_fault_t is not None
        assert run.injected == {"finesse-a": "heal"}  # --attach heals the node, and so its proxy
    finally:
        await proxy.stop()
