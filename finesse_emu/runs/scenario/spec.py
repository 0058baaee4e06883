"""The scenario file format, parsed and checked before anything starts (docs/scenarios.md).

The kinds of steps, conditions and checks are classes in ``steps.py`` and ``checks.py``, each
parsing its own entry; this module reads the rest of the file.

Times in a scenario are emulated seconds (what Cisco's chapter says: "every 20 seconds"); the runner
multiplies them by the run's time_scale, like every timer of the emulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from emu_base.directory import spec_count
from finesse_emu.runs.scenario.base import Scenario, ScenarioError, Step, number, require
from finesse_emu.runs.scenario.model import Deployment, ScenarioFile, model_errors
from finesse_emu.runs.scenario.model import Swarm as SwarmSettings
from finesse_emu.runs.scenario.steps import parse_step

__all__ = ["Scenario", "ScenarioError", "Step", "load", "parse"]


# The file's keys are the model's (model.py: its JSON Schema), listed nowhere else.
TOP_KEYS = tuple(ScenarioFile.model_fields)
DEPLOYMENT_KEYS = tuple(Deployment.model_fields)
SWARM_KEYS = tuple(SwarmSettings.model_fields)


def load(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    return parse(data, path)


def parse(data: Any, path: Path | None = None) -> Scenario:
    where = str(path or "scenario")
    require(isinstance(data, dict), where, "a scenario is a mapping")
    unknown = set(data) - set(TOP_KEYS)
    require(not unknown, where, f"unknown keys {sorted(unknown)}")
    # `seed` is the deprecated name of `cisco_section` (docs/scenarios.md), still read.
    require(
        not ("seed" in data and "cisco_section" in data),
        where,
        "cisco_section and its deprecated name seed are both given: keep cisco_section",
    )
    require(isinstance(data.get("name"), str) and data["name"], where, "name is required")
    dep = data.get("deployment") or {}
    require(isinstance(dep, dict), where, "deployment must be a mapping")
    unknown = set(dep) - set(DEPLOYMENT_KEYS)
    require(not unknown, where, f"unknown deployment keys {sorted(unknown)}")
    agent_spec = dep.get("agents", 40)
    if isinstance(agent_spec, str):  # "8+chat+email": eight agents, each also in those MRDs
        try:
            agents = spec_count(agent_spec)
        except ValueError as exc:
            raise ScenarioError(f"{where}: deployment.{exc}") from exc
        require(agents >= 1, where, "deployment.agents must be >= 1")
    else:
        agents = int(number(agent_spec, where, "deployment.agents", 1))
    time_scale = number(dep.get("time_scale", 0.05), where, "deployment.time_scale", 1e-4)
    from finesse_emu.deployment.launcher import cti_options, node_options, sso_options

    try:
        cti = cti_options(dep.get("cti") or {}, f"{where}: deployment")
        node = node_options(dep.get("finesse") or {}, f"{where}: deployment")
        sso = sso_options(dep.get("sso", False), f"{where}: deployment")
    except ValueError as exc:
        raise ScenarioError(str(exc)) from exc
    swarm = dict(data.get("swarm") or {})
    unknown = set(swarm) - set(SWARM_KEYS)
    require(not unknown, where, f"unknown swarm keys {sorted(unknown)}")
    desktops = int(number(swarm.get("desktops", agents), where, "swarm.desktops", 0))
    require(desktops <= agents, where, f"swarm.desktops ({desktops}) exceeds deployment.agents ({agents})")
    processes = number(swarm.get("processes", 1), where, "swarm.processes", 1)
    require(processes == int(processes), where, "swarm.processes must be a whole number")
    if processes > 1:
        # The other processes are plain `finesse-emu swarm` slices: desktops only, all at once.
        extra = sorted(k for k in ("ippa", "hold") if swarm.get(k))
        require(not extra, where, f"swarm.processes > 1 does not go with {extra}")
        # The other processes are given the nodes only, not the Identity Service.
        require(sso is None, where, "swarm.processes > 1 does not go with deployment.sso")
    steps_raw = data.get("steps")
    require(isinstance(steps_raw, list) and steps_raw, where, "steps must be a non-empty list")
    steps = tuple(parse_step(raw, i, where) for i, raw in enumerate(steps_raw))
    tags = data.get("tags") or []
    require(isinstance(tags, list), where, "tags must be a list")
    # The model (the kinds' own types) checks what the checks above do not: a check's argument type.
    problems = [f"{'.'.join(str(p) for p in loc)}: {msg}" for loc, msg in model_errors(data)]
    require(not problems, where, "; ".join(problems))
    return Scenario(
        name=data["name"],
        description=str(data.get("description", "")),
        cisco_section=str(data.get("cisco_section", data.get("seed", ""))),
        agents=agents,
        agent_spec=str(agent_spec),
        time_scale=time_scale,
        swarm=swarm,
        steps=steps,
        cti_options=tuple(cti),
        node_options=node,
        sso=sso,
        path=path,
        tags=tuple(str(t) for t in tags),
    )
