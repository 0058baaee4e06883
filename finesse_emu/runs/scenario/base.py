"""What every scenario step, condition and check kind shares: the error, the parsed scenario and
step, the argument checks, and the registry each kind adds itself to (docs/design.md, "Where to
add")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar


class ScenarioError(ValueError):
    """A scenario file that cannot run: the message names the step and what is wrong."""


@dataclass(frozen=True)
class Step:
    kind: str  # a name of steps.STEPS: phase | wait | until | fault | clients | call | expect
    args: dict[str, Any]
    index: int

    def where(self) -> str:
        return f"step {self.index + 1} ({self.kind})"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    cisco_section: str
    agents: int
    time_scale: float
    swarm: dict[str, Any]
    steps: tuple[Step, ...]
    path: Path | None = None
    tags: tuple[str, ...] = field(default=())
    cti_options: tuple[str, ...] = ()  # cti_stub flags (deployment.cti: load, idle_mode, ...)
    node_options: dict[str, Any] = field(default_factory=dict)  # deployment.finesse
    # deployment.agents as every component is given it: "8" (voice-only), "8+chat+email".
    agent_spec: str = ""
    # deployment.sso: single sign-on (None: off; else the token lifetimes in emulated seconds).
    sso: dict[str, float] | None = None


def require(cond: object, where: str, message: str) -> None:
    if not cond:
        raise ScenarioError(f"{where}: {message}")


def number(value: Any, where: str, name: str, minimum: float = 0.0) -> float:
    require(
        isinstance(value, int | float) and not isinstance(value, bool) and value >= minimum,
        where,
        f"{name} must be a number >= {minimum:g}, got {value!r}",
    )
    return float(value)


class Named:
    name: str = ""


K = TypeVar("K", bound=Named)


class Registry(Generic[K]):
    """Kinds by name, in the order they were added (error messages list them in that order)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._kinds: dict[str, K] = {}

    def add(self, kind: K) -> K:
        if not kind.name or kind.name in self._kinds:
            raise ValueError(f"{self.what} {kind.name!r}: no name, or added twice")
        self._kinds[kind.name] = kind
        return kind

    def remove(self, name: str) -> None:
        self._kinds.pop(name, None)

    def get(self, name: str) -> K | None:
        return self._kinds.get(name)

    def __getitem__(self, name: str) -> K:
        kind = self._kinds.get(name)
        if kind is None:
            raise ScenarioError(f"unknown {self.what} {name}")
        return kind

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._kinds.values()))

    def names(self) -> tuple[str, ...]:
        return tuple(self._kinds)
