"""``finesse-emu run --check-only``: every error of a scenario file at once, each with its file and
line (the YAML node marks) and, for a name it does not know (a key, a step, a check, a condition),
the nearest known names (difflib). ``run`` checks its files the same way before it starts anything.

The kinds are the registries' (steps.STEPS, checks.CHECKS, checks.CONDITIONS) and the keys spec.py's:
nothing here lists them again.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from finesse_emu.runs.scenario.base import ScenarioError
from finesse_emu.runs.scenario.checks import CHECKS, CONDITIONS
from finesse_emu.runs.scenario.model import model_errors
from finesse_emu.runs.scenario.spec import DEPLOYMENT_KEYS, SWARM_KEYS, TOP_KEYS, parse
from finesse_emu.runs.scenario.steps import STEPS


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


def did_you_mean(name: object, known: Iterable[str]) -> str:
    near = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""


class Lines:
    """The line (1-based) of each key or item of a YAML document, by its path from the root."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.root = node

    def of(self, *path: str | int) -> int:
        """The line of the deepest node on ``path`` that exists (a key's own line for a mapping)."""
        node, line = self.root, 1 if self.root is None else self.root.start_mark.line + 1
        for part in path:
            if isinstance(node, yaml.MappingNode):
                found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
                if not found:
                    return line
                key, node = found[0]
                line = key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line


def check_file(path: Path) -> list[Problem]:
    """Every problem of one scenario file (empty: it can run)."""
    try:
        text = path.read_text()
    except OSError as exc:
        return [Problem(str(path), 0, f"cannot read it ({exc.strerror or exc})")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return [Problem(str(path), line, f"not YAML: {getattr(exc, 'problem', None) or exc}")]
    return check_data(data, Lines(node), str(path))


def check_data(data: Any, lines: Lines, file: str) -> list[Problem]:
    problems: list[Problem] = []

    def add(message: str, *at: str | int) -> None:
        problems.append(Problem(file, lines.of(*at), message))

    if not isinstance(data, dict):
        add("a scenario is a mapping (name, deployment, swarm, steps, ...)")
        return problems
    for key in data:
        if key not in TOP_KEYS:
            add(f"unknown key {key!r}{did_you_mean(key, TOP_KEYS)}; known: {', '.join(TOP_KEYS)}", key)
    if not (isinstance(data.get("name"), str) and data["name"]):
        add("name is required (a non-empty string)", "name")
    for section, known in (("deployment", DEPLOYMENT_KEYS), ("swarm", SWARM_KEYS)):
        value = data.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            add(f"{section} must be a mapping", section)
            continue
        for key in value:
            if key not in known:
                add(f"unknown {section} key {key!r}{did_you_mean(key, known)}", section, key)
    steps = data.get("steps")
    if not (isinstance(steps, list) and steps):
        add("steps must be a non-empty list", "steps")
        steps = []
    for i, raw in enumerate(steps):
        _check_step(raw, i, add)
    # The model's types (a check's argument, a value's range), each error at its line; a line
    # already said wrong above is not said again in the model's words.
    said = {p.line for p in problems}
    for loc, msg in model_errors(data):
        if lines.of(*loc) not in said:
            steps_at = f"step {int(loc[1]) + 1}: " if len(loc) > 1 and loc[0] == "steps" else ""
            add(f"{steps_at}{'.'.join(str(p) for p in loc)}: {msg}", *loc)
    if not problems:
        # What only the whole file shows (swarm.desktops against deployment.agents, the options of the
        # components): the parser's own check, at the line of the part it names.
        try:
            parse(data, Path(file))
        except ScenarioError as exc:
            message = str(exc).removeprefix(f"{file}: ")
            at: tuple[str | int, ...] = ()
            for section in ("swarm", "deployment", "steps"):
                if section in message:
                    at = (section,)
                    break
            if message.startswith("step ") and message.split(" ")[1].rstrip(":").isdigit():
                at = ("steps", int(message.split(" ")[1].rstrip(":")) - 1)
            add(message, *at)
    return problems


def _check_step(raw: Any, i: int, add: Callable[..., None]) -> None:
    where = f"step {i + 1}"
    at = ("steps", i)
    if not isinstance(raw, dict) or not raw:
        add(f"{where}: a step is a mapping with one kind key ({'/'.join(STEPS.names())})", *at)
        return
    kinds = [k for k in raw if k in STEPS]
    step_keys = sorted({k for kind in STEPS for k in kind.extra_keys})  # until's timeout
    for key in raw:
        if key not in STEPS and key not in step_keys:
            hint = did_you_mean(key, (*STEPS.names(), *step_keys))
            add(f"{where}: unknown step {key!r}{hint}; steps: {', '.join(STEPS.names())}", *at, key)
    if len(kinds) > 1:
        add(f"{where}: one kind per step, got {', '.join(kinds)}", *at)
    if len(kinds) != 1:
        if not kinds and all(k in step_keys for k in raw):
            add(f"{where}: no step kind ({'/'.join(STEPS.names())})", *at)
        return
    kind = kinds[0]
    where = f"step {i + 1} ({kind})"
    value = raw[kind]
    if kind == "expect" and isinstance(value, dict):
        if not value.get("name"):
            add(f"{where}: expect needs a name", *at, kind)
        checks = {k: v for k, v in value.items() if k != "name"}
        if not checks:
            add(f"{where}: expect needs at least one check", *at, kind)
        for name, arg in checks.items():
            probe = CHECKS.get(name)
            if probe is None:
                hint = did_you_mean(name, CHECKS.names())
                add(
                    f"{where}: unknown check {name!r}{hint}; checks: {', '.join(CHECKS.names())}",
                    *at,
                    kind,
                    name,
                )
                continue
            try:
                probe.parse(arg, where)
            except ScenarioError as exc:
                add(str(exc), *at, kind, name)
        return
    if kind == "until" and isinstance(value, dict) and len(value) == 1:
        ((cond, _),) = value.items()
        if cond not in CONDITIONS:
            hint = did_you_mean(cond, CONDITIONS.names())
            add(f"{where}: unknown condition {cond!r}{hint}; conditions: {', '.join(CONDITIONS.names())}",
                *at, kind, cond)  # fmt: skip
            return
    try:
        STEPS[kind].parse(value, raw, where)
    except ScenarioError as exc:
        add(str(exc), *at, kind)
