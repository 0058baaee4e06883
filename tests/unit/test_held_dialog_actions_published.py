"""A node bug found by the desktops' transfer and conference kinds (finesse_emu/desktop/calls.py):
the held call's actions depend on the agent's other call (docs/finesse.md, "Consult, transfer,
conference": "While the consult rings, the agent's held participant lists TRANSFER and DROP; once
it is answered, TRANSFER, CONFERENCE and DROP"), but the node publishes the held dialog only when
the held call itself changes. A desktop, which learns its actions from the Updates, keeps the held
call's actions of the moment it was held (RETRIEVE, DROP) and never offers TRANSFER or CONFERENCE
until a failover republishes it. Expected to fail until the node PUTs an agent's other dialog when
its actions change; the fix is the node's (finesse_emu/server), not this helper's."""

from __future__ import annotations

import pytest

from finesse_emu.server.model import DialogChange
from tests.unit.test_finesse_calls import A, B, action, parts, pipe
from tests.unit.test_finesse_transfer import consulting, put


@pytest.mark.xfail(
    strict=True, reason="node bug: the held dialog is not republished when its consult changes"
)
def test_answering_the_consult_republishes_the_held_call_with_conference() -> None:
    p = pipe()
    held, consult = consulting(p)
    changes = put(p, consult, B, action("ANSWER", "2001"))
    # The model lists CONFERENCE now ...
    assert parts(p, held)[0][2] == ("TRANSFER", "CONFERENCE", "DROP")
    # ... and the agent must be told: a PUT of the held dialog on its Dialogs node.
    assert (held, A, "PUT") in {
        (c.dialog_id, c.user_id, c.event) for c in changes if isinstance(c, DialogChange)
    }
