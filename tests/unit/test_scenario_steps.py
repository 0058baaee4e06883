"""Scenario step, condition and check kinds are one class each (runs/scenario/steps.py, checks.py):
a class added to the registry is parsed and run with nothing else to change, and every example
under finesse_emu/scenarios/ still parses."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

from cti_stub.server import CtiServer
from cti_stub.server import ServerConfig as CtiConfig
from emu_base.directory import generate
from emu_base.history_events import HistoryEvent
from emu_base.timers import Timers
from finesse_emu.desktop.calls import KINDS
from finesse_emu.runs.scenario import checks, steps
from finesse_emu.runs.scenario.base import ScenarioError, Step, number
from finesse_emu.runs.scenario.catalog import shipped
from finesse_emu.runs.scenario.spec import load, parse
from ged188 import AgentState
from tests.helpers import eventually


class Mark(steps.StepKind):
    """``mark: TEXT``: a line in the history (a test step)."""

    name = "mark"

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        if not isinstance(value, str):
            raise ScenarioError(f"{where}: mark needs a text")
        return {"text": value}

    async def run(self, run: Any, step: Step) -> None:
        run.history.append("scenario", "mark", text=step.args["text"])


class AtLeast(checks.Probe):
    """``at_least: N``: a check comparing its number with 3 (a test check)."""

    name = "at_least"

    def parse(self, arg: Any, where: str) -> Any:
        return number(arg, where, "at_least")

    async def evaluate(self, run: Any, arg: Any) -> tuple[bool, str]:
        return arg <= 3, f"{arg} <= 3"


def scenario(*step_list: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "deployment": {"agents": 2}, "steps": list(step_list)}


class FakeHistory:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def append(self, source: str, event: str, **fields: Any) -> dict[str, Any]:
        record = {"t": float(len(self.events)), "source": source, "event": event, **fields}
        self.events.append(record)
        return record

    def record(self, source: str, event: HistoryEvent) -> dict[str, Any]:
        return self.append(source, event.NAME, **event.fields())


class FakeRun:
    """What the steps here touch of context.Run: the history and the expectations."""

    def __init__(self) -> None:
        self.history = FakeHistory()
        self.outcomes: list[tuple[str, bool, str]] = []
        self.expected: list[tuple[str, int]] = []  # what each expectation asked for, its step

    def expectation(self, name: str, ok: bool, detail: str, expected: str = "", step: int = 0) -> None:
        self.outcomes.append((name, ok, detail))
        self.expected.append((expected, step))


async def test_a_new_step_and_check_are_one_class_each() -> None:
    with pytest.raises(
        ScenarioError, match="exactly one of phase/wait/until/fault/clients/call/hangup/calls/expect"
    ):
        parse(scenario({"mark": "here"}))
    steps.STEPS.add(Mark())
    checks.CHECKS.add(AtLeast())
    try:
        sc = parse(scenario({"mark": "here"}, {"expect": {"name": "small", "at_least": 2}}))
        assert [s.kind for s in sc.steps] == ["mark", "expect"]
        with pytest.raises(ScenarioError, match="step 1: mark needs a text"):
            parse(scenario({"mark": 5}))
        with pytest.raises(ScenarioError, match="at_least must be a number"):
            parse(scenario({"expect": {"name": "x", "at_least": "many"}}))
        run = FakeRun()
        for step in sc.steps:
            await steps.STEPS[step.kind].run(run, step)  # type: ignore[arg-type]
        assert run.history.events[0]["event"] == "mark" and run.history.events[0]["text"] == "here"
        assert run.outcomes == [("small: at_least", True, "2.0 <= 3")]
        assert run.expected == [("2", 2)]  # for JUnit: the argument as written, step 2
    finally:
        steps.STEPS.remove("mark")
        checks.CHECKS.remove("at_least")
    with pytest.raises(ScenarioError, match="unknown checks"):
        parse(scenario({"expect": {"name": "x", "at_least": 2}}))


def test_the_registries_keep_the_file_format() -> None:
    assert steps.STEPS.names() == (
        "phase",
        "wait",
        "until",
        "fault",
        "clients",
        "call",
        "hangup",
        "calls",
        "expect",
    )
    assert checks.CONDITIONS.names() == (
        "all_signed_in",
        "desktops_on",
        "node_status",
        "ippa_state",
        "cti_active",
        "chat",  # a desktop's chat signed in to an IM&P node (waited for after an IM&P failover)
        "cti_calls",  # calls in progress and waiting in queue on the active CTI side
        "calls_settled",  # every desktop put on a call shows the state its kind settles in
    )
    assert "ippa" in checks.CHECKS and "cti_agent" in checks.CHECKS and len(checks.CHECKS.names()) == 18
    assert "calls_settled" in checks.CHECKS and "call_invariants" in checks.CHECKS
    assert "node_load" in checks.CHECKS and "node_counter" in checks.CHECKS
    sc = parse(scenario({"until": {"cti_active": "cti-b"}, "timeout": 5}, {"wait": 1}))
    assert sc.steps[0].args == {"condition": "cti_active", "arg": "cti-b", "timeout": 5.0}
    with pytest.raises(ScenarioError, match="unknown condition 'nope'"):
        parse(scenario({"until": {"nope": 1}}))


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.stem)
def test_every_example_parses(path: Path) -> None:
    sc = load(path)
    assert sc.steps and sc.cisco_section  # each names the section of Cisco's chapter it reproduces


def test_seed_is_the_deprecated_name_of_cisco_section() -> None:
    base = {"name": "x", "steps": [{"wait": 1}]}
    assert parse({**base, "cisco_section": "CTI Failover"}).cisco_section == "CTI Failover"
    assert parse({**base, "seed": "CTI Failover"}).cisco_section == "CTI Failover"  # older files
    with pytest.raises(ScenarioError, match="deprecated name seed"):
        parse({**base, "seed": "CTI Failover", "cisco_section": "CTI Failover"})


# -- the call steps against a real CTI stub (its control plane, with a token) -------------------------
class CtiRun(FakeRun):
    """A run whose deployment is one CTI side (deployment.json, the observer seeing it active)."""

    def __init__(self, run_dir: Path, admin_port: int, token_file: Path) -> None:
        super().__init__()
        component = {"name": "cti-a", "role": "cti", "host": "127.0.0.1", "ports": {"admin": admin_port}}
        state = {"components": [component], "admin_token_file": str(token_file)}
        (run_dir / "deployment.json").write_text(json.dumps(state))
        self.run_dir = run_dir
        self.observer = types.SimpleNamespace(latest={"cti-a": "active"})


def test_call_and_hangup_steps_parse() -> None:
    sc = parse(scenario({"call": {"ani": "5550150", "talk_time": 30}}, {"hangup": {"ani": "5550150"}}))
    assert sc.steps[0].args == {"agent": None, "answer_after": 1.0, "talk_time": 30.0, "ani": "5550150"}
    assert sc.steps[1].args == {"ani": "5550150"}
    assert parse(scenario({"hangup": {"agent": "1000"}})).steps[0].args == {"agent": "1000"}
    bad: dict[str, Any]
    for bad in ({"hangup": {}}, {"hangup": {"ani": "1", "agent": "2"}}, {"hangup": "5550150"}):
        with pytest.raises(ScenarioError, match="hangup needs one of"):
            parse(scenario(bad))
    with pytest.raises(ScenarioError, match="call ani must be a string"):
        parse(scenario({"call": {"ani": 5550150}}))
    with pytest.raises(ScenarioError, match="cti_calls needs"):
        parse(scenario({"expect": {"name": "x", "cti_calls": {"waiting": 1}}}))


async def test_a_caller_dials_the_queue_is_answered_after_n_seconds_and_hangs_up(tmp_path: Path) -> None:
    """``call`` without agent waits in queue; delivered once the agent is Ready, answered after
    ``answer_after`` emulated seconds; ``hangup`` ends it from the caller's side; ``cti_calls`` sees it."""
    token = "step-test-token"
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    cfg = CtiConfig(side="A", port=0, link_port=0, admin_port=0, agents=generate(2), admin_token=token)
    srv = CtiServer(cfg, Timers.build(0.01))
    await srv.start()
    try:
        await eventually(lambda: srv.listening, "the CTI side listens")
        assert srv.admin_port is not None
        run = CtiRun(tmp_path, srv.admin_port, token_file)
        sc = parse(
            scenario(
                {"call": {"ani": "5550150", "dnis": "8000", "answer_after": 20, "talk_time": 6000}},
                {"expect": {"name": "queued", "cti_calls": {"queued": 1, "calls": 1}}},
            )
        )
        for step in sc.steps:
            await steps.STEPS[step.kind].run(run, step)  # type: ignore[arg-type]
        assert run.outcomes == [("queued: cti_calls", True, "cti-a: 1 calls, 1 queued")]
        assert [e["event"] for e in run.history.events] == ["call", "call_queued"]
        now = srv.clock.wall()
        srv.core.admin_set_state(now, "1000", AgentState.LOGIN, 0, extension="2000")
        srv.core.admin_set_state(now, "1000", AgentState.AVAILABLE, 0)
        srv.pump()
        (call,) = srv.model.calls.values()
        assert call.phase == "alerting" and call.answer_at is not None
        assert call.answer_at - now == pytest.approx(20 * 0.01, abs=0.05)  # from the delivery
        await eventually(lambda: call.phase, "answered by the PG", until=lambda phase: phase == "talking")
        (hangup,) = parse(scenario({"hangup": {"agent": "1000"}})).steps
        await steps.STEPS["hangup"].run(run, hangup)  # type: ignore[arg-type]
        assert srv.model.calls == {} and srv.model.agents["1000"].state is AgentState.AVAILABLE
        assert run.history.events[-1]["event"] == "caller_hangup"
        with pytest.raises(ScenarioError, match="no call in progress"):
            await steps.STEPS["hangup"].run(run, hangup)  # type: ignore[arg-type]
    finally:
        await srv.stop()


def test_calls_step_parses_share_and_kinds() -> None:
    sc = parse(scenario({"calls": {"share": 0.3, "kinds": ["incoming", "agent_held"]}}))
    assert sc.steps[0].args == {"share": 0.3, "kinds": ["incoming", "agent_held"], "seed": 0}
    assert parse(scenario({"calls": {"share": 1}})).steps[0].args["kinds"] == list(KINDS)
    with pytest.raises(ScenarioError, match="kinds must be a list of"):
        parse(scenario({"calls": {"share": 0.3, "kinds": ["conference_of_ten"]}}))
    with pytest.raises(ScenarioError, match="share must be in"):
        parse(scenario({"calls": {"share": 1.5}}))
