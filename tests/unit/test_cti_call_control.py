"""Every call-control feature of the CTI stub's model in one Hypothesis state machine: the base calls
and the queue (tests/unit/test_cti_calls.py), consult, transfer and conference
(test_cti_transfer.py), silent monitor and barge-in (test_cti_supervision.py). Each of those machines
covers its own feature and the base; here the rules meet (a queued call delivered to a consulting
agent, a supervisor monitoring an agent who consults, conferences or is transferred to, a barge-in on a
conference), under every invariant of the three and the first one's: a refused request changes
nothing, and the idle side's replica follows.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from tests.unit.test_cti_supervision import SupervisedCallMachine
from tests.unit.test_cti_transfer import MergeMachine


class CallControlMachine(MergeMachine, SupervisedCallMachine):
    """The rules and invariants of both machines (and so of the base call model's)."""


def test_call_control_invariants() -> None:
    run_state_machine_as_test(
        CallControlMachine, settings=settings(max_examples=120, stateful_step_count=30, deadline=None)
    )
