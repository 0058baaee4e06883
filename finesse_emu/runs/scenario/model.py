"""The scenario file as one pydantic model, built from the kinds themselves: each step kind
(steps.py) declares the type of its value, each check and condition (checks.py) the type of its
argument, so a kind added to a registry is in the model, and in its JSON Schema, at once; nothing
here lists them. spec.py's keys come from the models below.

``finesse-emu scenarios schema`` prints the JSON Schema (``scenario.schema.json`` beside the shipped
scenarios, for editors: ``# yaml-language-server: $schema=...``); the parser validates every file
against the model after its own checks (spec.parse), and ``run --check-only`` reports each error of
the model at its line (validate.py).
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    create_model,
)

from finesse_emu.deployment.launcher import CTI_KEYS, NODE_KEYS, SSO_KEYS
from finesse_emu.runs.scenario.checks import CHECKS, CONDITIONS
from finesse_emu.runs.scenario.steps import STEPS, fault_actions


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _keys_model(name: str, keys: dict[str, Any], doc: str) -> type[BaseModel]:
    """A mapping of the launcher's known keys (their own checks are the launcher's)."""
    fields: dict[str, Any] = {k: (Any, None) for k in keys}
    return create_model(name, __base__=Strict, __doc__=doc, **fields)


CtiSettings = _keys_model("CtiSettings", CTI_KEYS, "The CTI servers' settings (cti_stub flags).")
FinesseSettings = _keys_model("FinesseSettings", NODE_KEYS, "The Finesse nodes' settings.")
SsoSettings = _keys_model("SsoSettings", SSO_KEYS, "Single sign-on token lifetimes, in emulated seconds.")


class Deployment(Strict):
    """The deployment the scenario starts (ignored with run --attach, but for the agents)."""

    agents: int | str = Field(40, description='agents in the directory: a count, or "8+chat+email"')
    time_scale: float = Field(0.05, ge=1e-4, description="timer factor (0.05: a 20 s poll takes 1 s)")
    cti: CtiSettings | None = None  # type: ignore[valid-type]
    finesse: FinesseSettings | None = None  # type: ignore[valid-type]
    sso: bool | SsoSettings | None = None  # type: ignore[valid-type]


class Swarm(Strict):
    """The emulated desktops and IP Phone Agents."""

    desktops: int | None = Field(None, ge=0, description="default: every agent")
    ippa: int = Field(0, ge=0, description="the last N agents are IP Phone Agents")
    gadgets: int | None = Field(None, ge=0, description="default: the node's desktop layout")
    gadget_kind: str = "xml"
    hold: int = Field(0, ge=0, description="desktops held back until a clients open step")
    publisher_share: float = Field(0.5, ge=0, le=1)
    bypass_server_cache: bool = False
    nocache: bool = False
    preload_secondary: bool | None = None
    rcwn: float = 0.0
    clear_cache_on_launch: bool = False
    slow_network: bool = False
    rtt_ms: float = Field(0.0, ge=0)
    processes: int = Field(1, ge=1)
    chat: bool = Field(False, description="the chat gadget: desktops sign in to Cisco IM&P too")


class ScenarioFile(Strict):
    """A scenario file (docs/scenarios.md). ``steps``: see :func:`scenario_model`."""

    name: str = Field(min_length=1)
    description: str = ""
    cisco_section: str = Field("", description="the section of Cisco Finesse Failover Mechanisms it follows")
    seed: str = Field("", description="deprecated: the old name of cisco_section", deprecated=True)
    deployment: Deployment | None = None
    swarm: Swarm | None = None
    steps: list[Any] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list, description="ci: run by the end-to-end tests")


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kinds = [k for k in value if k in STEPS]
        return kinds[0] if len(kinds) == 1 else None
    return None


def step_type() -> Any:
    """One step: a mapping with exactly one kind's key, its value typed by the kind (and its other
    keys, until's timeout)."""
    members = []
    for kind in STEPS:
        fields: dict[str, Any] = {kind.name: (kind.value_type(), ...)}
        fields |= {k: (t, None) for k, t in kind.extra_keys.items()}
        model = create_model(f"{kind.name.title()}Step", __base__=Strict, __doc__=kind.__doc__, **fields)
        members.append(Annotated[model, Tag(kind.name)])
    union = Union[tuple(members)]  # type: ignore[valid-type]  # noqa: UP007 (built at run time)
    kinds = ", ".join(STEPS.names())
    pick = Discriminator(_step_kind, custom_error_type="step_kind", custom_error_message=f"one of {kinds}")
    return Annotated[union, pick]


def scenario_model() -> type[ScenarioFile]:
    """The model of a whole file, with the steps as the registries hold them now."""
    return _model(STEPS.names(), CHECKS.names(), CONDITIONS.names(), fault_actions())


@functools.lru_cache(maxsize=4)
def _model(*registries: tuple[str, ...]) -> type[ScenarioFile]:
    # Built once per content of the registries (a test may add a kind, emu_base/faults.py a fault
    # kind and so a fault action): parse runs it on every file.
    return create_model(
        "Scenario",
        __base__=ScenarioFile,
        __doc__="A finesse-emu scenario file (docs/scenarios.md).",
        steps=(list[step_type()], Field(min_length=1)),  # type: ignore[misc,arg-type]
    )


def json_schema() -> dict[str, Any]:
    schema = _plain(scenario_model().model_json_schema())
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _plain(value: Any) -> Any:
    """The kinds' docstrings as an editor shows them: ``x`` (reStructuredText) as `x`."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.replace("``", "`") if isinstance(value, str) else value


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def model_errors(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Each error of the model: its location in the file (keys and indexes) and its message."""
    try:
        scenario_model().model_validate(data)
    except ValidationError as exc:
        return [(_path(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
    return []


def _path(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # A tagged union puts the tag in the location (steps, 3, fault, fault, action), a plain union
    # the member's type (target, "list[...]"): neither is in the file.
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if (i == 2 and loc[0] == "steps" and part in STEPS) or (isinstance(part, str) and "[" in part):
            continue
        out.append(part if isinstance(part, int) else str(part))
    return tuple(out)
