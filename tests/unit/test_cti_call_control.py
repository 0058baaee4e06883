"""Every call-control feature of the CTI stub's model in one Hypothesis state machine: the base calls
and the queue (tests/unit/test_cti_calls.py), consult, transfer and conference
(test_cti_transfer.py), silent monitor and barge-in (test_cti_supervision.py). Each of those machines
covers its own feature and the base; here the rules meet (a queued call delivered to a consulting
agent, a supervisor monitoring an agent who consults, conferences or is transferred to, a barge-in on a
conference), under every invariant of the three and the first one's: a refused request changes
nothing, and the idle side's replica follows. And the call-control requests docs/cti.md's table
("Call control: what is emulated") lists as not emulated are answered as it says.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from ged188 import MessageType, Status
from tests.unit.test_cti_core import Harness
from tests.unit.test_cti_supervision import SupervisedCallMachine
from tests.unit.test_cti_transfer import MergeMachine

M = MessageType


class CallControlMachine(MergeMachine, SupervisedCallMachine):
    """The rules and invariants of both machines (and so of the base call model's)."""


def test_call_control_invariants() -> None:
    run_state_machine_as_test(
        CallControlMachine, settings=settings(max_examples=120, stateful_step_count=30, deadline=None)
    )


# docs/cti.md, "Call control: what is emulated": the requests marked "no".
NOT_EMULATED = [
    M.ALTERNATE_CALL_REQ,
    M.RECONNECT_CALL_REQ,
    M.DEFLECT_CALL_REQ,
    M.MAKE_PREDICTIVE_CALL_REQ,
    M.RELEASE_CALL_REQ,
    M.SNAPSHOT_CALL_REQ,
    M.SNAPSHOT_DEVICE_REQ,
    M.QUERY_DEVICE_INFO_REQ,
    M.MONITOR_START_REQ,
    M.MONITOR_STOP_REQ,
    M.CHANGE_MONITOR_MASK_REQ,
]


@pytest.mark.parametrize("mtype", NOT_EMULATED, ids=lambda t: t.name)
def test_a_call_control_request_not_emulated_is_function_not_available(mtype: MessageType) -> None:
    """FAILURE_CONF E_CTI_FUNCTION_NOT_AVAILABLE with the request's InvokeID (the emulator has no
    layout for these: the frame is built by hand, InvokeID first as in every request)."""
    h = Harness()
    sid = h.opened()
    body = struct.pack(">I", 77) + bytes(40)
    (answer,) = h.send(sid, struct.pack(">II", len(body), mtype) + body)
    assert (answer.type, answer["InvokeID"], answer["Status"]) == (
        M.FAILURE_CONF,
        77,
        Status.E_CTI_FUNCTION_NOT_AVAILABLE,
    )
