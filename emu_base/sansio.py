"""The one sans-IO vocabulary, and the one driver that runs a core under asyncio.

Every protocol or failover core of the emulator (the CTI server core and its duplex arbiter, the
Finesse side's CTI link, the Finesse node core, the desktop and IP Phone Agent machines) speaks it:

- it never reads a clock and never does I/O;
- every input is a method whose first parameter is ``now`` (``data_received(now, data)``);
- outputs are pulled: ``outputs()`` drains what the core produced since the last call, in order
  (a byte-stream core may also offer ``data_to_send()``, as h11 and aioquic do);
- time is one deadline: ``next_deadline()`` says when the core wants ``handle_timer(now)``, which
  fires everything due. No named timers leave a core.

The asyncio shell feeds inputs and calls :meth:`Driver.pump`, which hands each output to the
shell and arms one timer on the shell's :class:`~emu_base.clock.Clock`. The same core runs on a
:class:`~emu_base.clock.ManualClock` in tests, and in the planner on simulated time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

OutputT = TypeVar("OutputT")


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class TimerClock(Protocol):
    """What the driver needs of a clock; :class:`emu_base.clock.Clock` has it. Declared here so
    that a pure core may import this module without pulling asyncio in."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable: ...


class Core(Protocol[OutputT]):
    def outputs(self) -> list[OutputT]:
        """Everything produced since the last call, in order (and forgets it)."""

    def next_deadline(self) -> float | None:
        """The ``now`` at which :meth:`handle_timer` must run, or None."""

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``."""


class Driver(Generic[OutputT]):
    """Runs a :class:`Core` under a :class:`Clock`: drains outputs, keeps one timer armed.

    Call :meth:`pump` after every input fed to the core. ``on_output`` may feed the core again
    (an output answered at once): the pump then keeps draining until the core is quiet, rather
    than recursing.
    """

    def __init__(self, core: Core[OutputT], clock: TimerClock, on_output: Callable[[OutputT], None]) -> None:
        self.core = core
        self.clock = clock
        self._on_output = on_output
        self._timer: Cancellable | None = None
        self._armed_for: float | None = None
        self._pumping = False
        self._again = False
        self._closed = False

    def pump(self) -> None:
        if self._pumping:
            self._again = True
            return
        self._pumping = True
        try:
            self._again = True
            while self._again:
                self._again = False
                for output in self.core.outputs():
                    self._on_output(output)
        finally:
            self._pumping = False
        self._arm()

    def close(self) -> None:
        """Stop the timer; outputs already produced are left in the core."""
        self._closed = True
        self._cancel()

    def _arm(self) -> None:
        if self._closed:
            return
        deadline = self.core.next_deadline()
        if deadline == self._armed_for:
            return
        self._cancel()
        if deadline is not None:
            self._armed_for = deadline
            self._timer = self.clock.call_at(deadline, self._fire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._armed_for = None

    def _fire(self) -> None:
        self._timer = None
        self._armed_for = None
        if self._closed:
            return
        self.core.handle_timer(self.clock.now())
        self.pump()
