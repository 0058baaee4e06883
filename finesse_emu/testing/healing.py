"""What a test broke through the API, so that it can be mended after the test (pure bookkeeping).

Every fault injected through :class:`~finesse_emu.testing.deployment.Deployment` is recorded with
the component and the id its control plane gave it; every process verb (kill, stop, a Prosody
frozen by ``hang``) with its component. :meth:`Healing.plan` turns that into the steps that undo it,
in an order that works: resume what is frozen, restart what is down, then clear the faults of the
components that are up (a restarted component has none left). The I/O is the deployment's.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resume:
    component: str  # a Prosody frozen with SIGSTOP: SIGCONT


@dataclass(frozen=True)
class Restart:
    component: str  # killed or stopped: started again with its own command line


@dataclass(frozen=True)
class ClearFault:
    component: str
    fault_id: str  # DELETE /emu/faults/{id} on the component's control plane


HealStep = Resume | Restart | ClearFault


@dataclass
class Healing:
    faults: list[tuple[str, str]] = field(default_factory=list)  # (component, fault id), in order
    down: list[str] = field(default_factory=list)  # killed or stopped through the API
    frozen: list[str] = field(default_factory=list)

    def injected(self, component: str, fault_id: str) -> None:
        self.faults.append((component, fault_id))

    def cleared(self, component: str, fault_id: str) -> None:
        if (component, fault_id) in self.faults:
            self.faults.remove((component, fault_id))

    def stopped(self, component: str) -> None:
        if component not in self.down:
            self.down.append(component)
        if component in self.frozen:  # a dead process needs no SIGCONT
            self.frozen.remove(component)

    def started(self, component: str) -> None:
        if component in self.down:
            self.down.remove(component)
        # A restarted component starts with no faults: its old ones are gone with its process.
        self.faults = [(c, f) for c, f in self.faults if c != component]

    def froze(self, component: str) -> None:
        if component not in self.frozen:
            self.frozen.append(component)

    def resumed(self, component: str) -> None:
        if component in self.frozen:
            self.frozen.remove(component)

    def plan(self, also_down: list[str] | None = None) -> list[HealStep]:
        """The steps that mend everything recorded, and restart ``also_down`` too (components
        found down that were not killed through the API: a test may kill a pid by itself)."""
        down = [*self.down, *(c for c in also_down or [] if c not in self.down)]
        steps: list[HealStep] = [Resume(c) for c in self.frozen if c not in down]
        steps += [Restart(c) for c in down]
        steps += [ClearFault(c, f) for c, f in self.faults if c not in down]
        return steps

    def forget(self) -> None:
        self.faults.clear()
        self.down.clear()
        self.frozen.clear()

    @property
    def clean(self) -> bool:
        return not (self.faults or self.down or self.frozen)
