"""Finesse's consult, transfer and conference: PUT Dialog CONSULT_CALL, TRANSFER, TRANSFER_SST and
CONFERENCE turned into GED-188 requests, carried out by the CTI stub core, and the dialogs both
agents see after every step (participants, their actions, callType), fed through the real wire
(tests.unit.test_finesse_model's Pipe); then the same calls across a CTI failover."""

from __future__ import annotations

from finesse_emu.server import xml as X
from finesse_emu.server.core import requests
from finesse_emu.server.core.views import dialog_view
from finesse_emu.server.model import DialogChange
from ged188 import Message, encode
from tests.unit.test_cti_core import open_req
from tests.unit.test_finesse_calls import ACTIVE_ACTIONS, NO_DIRECTORY, A, B, action, parts, pipe
from tests.unit.test_finesse_model import Pipe

OUTSIDE = "5550100"
CALL_DATA = ("UPDATE_CALL_DATA", "SEND_DTMF")


def put(p: Pipe, dialog_id: str, user_id: str, act: X.DialogAction) -> list[object]:
    """A PUT Dialog as the node checks it, then the request through the CTI server: the changes."""
    dialog, user = p.finesse.dialogs[dialog_id], p.finesse.users[user_id]
    msg = requests.dialog_action(NO_DIRECTORY, 5000, dialog, act, user, p.finesse.other_call(dialog, user_id))
    assert isinstance(msg, Message), msg
    p.core.data_received(p.now, p.sid, encode(msg))
    return p.drain()


def talking_to_outside(p: Pipe) -> str:
    """A calls an outside number, which answers: the customer call."""
    call_id = p.core.make_call(p.now, A, OUTSIDE)
    p.core.answer_call(p.now, call_id)
    p.drain()
    return str(call_id)


def consulting(p: Pipe) -> tuple[str, str]:
    held = talking_to_outside(p)
    changes = put(p, held, A, action("CONSULT_CALL", "2000", to="2001"))
    consult = next(c.dialog_id for c in changes if isinstance(c, DialogChange) and c.dialog_id != held)
    return held, consult


def test_consult_call_holds_the_call_and_the_held_call_offers_transfer() -> None:
    p = pipe()
    held, consult = consulting(p)
    assert p.finesse.dialogs[consult].call_type == "CONSULT"
    # While the consult rings, the held call offers TRANSFER (no blind conference).
    assert parts(p, held) == [
        ("2000", "HELD", ("TRANSFER", "DROP"), "AGENT_DEVICE"),
        (OUTSIDE, "ACTIVE", (), ""),
    ]
    assert parts(p, consult) == [
        ("2000", "INITIATED", ("DROP",), "AGENT_DEVICE"),
        ("2001", "ALERTING", ("ANSWER",), "AGENT_DEVICE"),
    ]
    put(p, consult, B, action("ANSWER", "2001"))
    assert parts(p, held)[0] == ("2000", "HELD", ("TRANSFER", "CONFERENCE", "DROP"), "AGENT_DEVICE")
    assert parts(p, consult) == [
        ("2000", "ACTIVE", ("DROP", *CALL_DATA), "AGENT_DEVICE"),
        ("2001", "ACTIVE", ACTIVE_ACTIONS, "AGENT_DEVICE"),
    ]
    # RETRIEVE would give A two active calls: not listed, refused.
    err = requests.dialog_action(
        NO_DIRECTORY, 5000, p.finesse.dialogs[held], action("RETRIEVE", "2000"), p.finesse.users[A],
        p.finesse.other_call(p.finesse.dialogs[held], A),
    )  # fmt: skip
    assert isinstance(err, X.ErrorResponse) and err.status == 400


def test_the_held_call_is_published_again_when_the_consult_is_answered() -> None:
    """A client only offers the actions a dialog lists: once the consult is answered the held call
    offers CONFERENCE (GET shows it), so A's desktop must get the held call again (a PUT)."""
    p = pipe()
    held, consult = consulting(p)
    changes = put(p, consult, B, action("ANSWER", "2001"))
    assert parts(p, held)[0][2] == ("TRANSFER", "CONFERENCE", "DROP")
    assert DialogChange(held, A, "PUT") in [
        DialogChange(c.dialog_id, c.user_id, c.event) for c in changes if isinstance(c, DialogChange)
    ]


def test_the_held_call_is_published_once_per_change_of_its_actions() -> None:
    """While the consult dials, the held call offers TRANSFER (one PUT however many steps the
    dialling takes); once answered, CONFERENCE too (one PUT); once the consult ends, RETRIEVE again."""
    p = pipe()
    held = talking_to_outside(p)

    def held_puts(changes: list[object]) -> int:
        return sum(isinstance(c, DialogChange) and (c.dialog_id, c.user_id) == (held, A) for c in changes)

    changes = put(p, held, A, action("CONSULT_CALL", "2000", to="2001"))
    assert held_puts(changes) == 2  # held, then dialling: TRANSFER offered
    assert parts(p, held)[0][2] == ("TRANSFER", "DROP")
    consult = next(c.dialog_id for c in changes if isinstance(c, DialogChange) and c.dialog_id != held)
    assert held_puts(put(p, consult, B, action("ANSWER", "2001"))) == 1
    assert parts(p, held)[0][2] == ("TRANSFER", "CONFERENCE", "DROP")
    assert held_puts(put(p, consult, A, action("DROP", "2000"))) == 1
    assert parts(p, held)[0][2] == ("RETRIEVE", "DROP")


def test_transfer_gives_the_customer_call_to_the_consulted_agent() -> None:
    p = pipe()
    held, consult = consulting(p)
    put(p, consult, B, action("ANSWER", "2001"))
    changes = put(p, held, A, action("TRANSFER", "2000"))
    dialog_changes = {(c.dialog_id, c.user_id, c.event) for c in changes if isinstance(c, DialogChange)}
    assert (held, B, "POST") in dialog_changes  # B now has the customer call
    assert (consult, A, "DELETE") in dialog_changes and (consult, B, "DELETE") in dialog_changes
    assert consult not in p.finesse.dialogs
    assert p.finesse.dialogs[held].call_type == "TRANSFER"
    assert parts(p, held) == [
        ("2000", "DROPPED", (), "AGENT_DEVICE"),
        (OUTSIDE, "ACTIVE", (), ""),
        ("2001", "ACTIVE", ACTIVE_ACTIONS, "AGENT_DEVICE"),
    ]
    assert dialog_view(p.finesse, held).state == "ACTIVE"


def test_single_step_transfer() -> None:
    p = pipe()
    held = talking_to_outside(p)
    put(p, held, A, action("TRANSFER_SST", "2000", to="2001"))
    assert parts(p, held) == [
        ("2000", "DROPPED", (), "AGENT_DEVICE"),
        (OUTSIDE, "ACTIVE", (), ""),
        ("2001", "ALERTING", ("ANSWER",), "AGENT_DEVICE"),
    ]
    assert [d for d in p.finesse.dialogs] == [held]


def test_conference_with_another_agent() -> None:
    p = pipe()
    held, consult = consulting(p)
    put(p, consult, B, action("ANSWER", "2001"))
    put(p, held, A, action("CONFERENCE", "2000"))
    assert p.finesse.dialogs[held].call_type == "CONFERENCE"
    assert parts(p, held) == [
        ("2000", "ACTIVE", ACTIVE_ACTIONS, "AGENT_DEVICE"),
        (OUTSIDE, "ACTIVE", (), ""),
        ("2001", "ACTIVE", ACTIVE_ACTIONS, "AGENT_DEVICE"),
    ]
    # A drops off: the customer and B go on.
    put(p, held, A, action("DROP", "2000"))
    assert [s for _, s, _, _ in parts(p, held)] == ["DROPPED", "ACTIVE", "ACTIVE"]


def test_conference_with_an_outside_device() -> None:
    p = pipe()
    held = talking_to_outside(p)
    p.core.config.outside_answer_after = 0.0  # the outside device answers the consult at once
    changes = put(p, held, A, action("CONSULT_CALL", "2000", to="5550177"))
    consult = next(c.dialog_id for c in changes if isinstance(c, DialogChange) and c.dialog_id != held)
    assert parts(p, consult)[1][:2] == ("5550177", "ACTIVE")
    put(p, held, A, action("CONFERENCE", "2000"))
    assert [(a, s) for a, s, _, _ in parts(p, held)] == [
        ("2000", "ACTIVE"),
        (OUTSIDE, "ACTIVE"),
        ("5550177", "ACTIVE"),
    ]


def test_consult_needs_a_destination() -> None:
    p = pipe()
    held = talking_to_outside(p)
    dialog, user = p.finesse.dialogs[held], p.finesse.users[A]
    for to, status in ((None, 400), ("2000", 400), ("x" * 40, 400)):
        err = requests.dialog_action(NO_DIRECTORY, 5000, dialog, action("CONSULT_CALL", "2000", to=to), user)
        assert isinstance(err, X.ErrorResponse) and err.status == status, to


def test_consult_and_conference_survive_a_cti_failover() -> None:
    """The node loses the CTI link; the CTI server replays the calls; republished, both legs of a
    consult and every party of a conference are there again."""
    p = pipe()
    held, consult = consulting(p)
    put(p, consult, B, action("ANSWER", "2001"))
    before = {d: parts(p, d) for d in (held, consult)}
    reconnect(p)
    assert {d: parts(p, d) for d in (held, consult)} == before
    put(p, held, A, action("CONFERENCE", "2000"))
    conference = parts(p, held)
    reconnect(p)
    assert parts(p, held) == conference and list(p.finesse.dialogs) == [held]


def reconnect(p: Pipe) -> None:
    """The CTI link lost and opened again (:func:`republish`), no dialog told gone."""
    changes = republish(p)
    assert not any(isinstance(c, DialogChange) and c.event == "DELETE" for c in changes)


# -- the opt-in conference_glitch fault (the chapter's conference note) ----------------------------
def outside_conference(p: Pipe) -> str:
    """A conferences its customer (an outside number) and B: a conference with a device that is no
    agent."""
    held, consult = consulting(p)
    put(p, consult, B, action("ANSWER", "2001"))
    put(p, held, A, action("CONFERENCE", "2000"))
    return held


def republish(p: Pipe) -> list[object]:
    """The node loses its CTI session and opens a new one; the CTI server replays the calls; the
    node's republish changes."""
    p.finesse.cti_lost()
    p.core.session_lost(p.now, p.sid)
    p.core.outputs()
    p.sid = p.core.open_session(p.now)
    p.core.data_received(p.now, p.sid, encode(open_req()))
    p.drain()
    return list(p.finesse.republish())


def test_without_the_fault_a_conference_is_republished_whole() -> None:
    p = pipe()
    held = outside_conference(p)
    changes = republish(p)
    assert DialogChange(held, A, "PUT") in changes and not p.finesse.dialogs[held].glitched
    assert len(dialog_view(p.finesse, held, user_id=A).participants) == 3


def test_conference_glitch_until_the_agent_drops_off() -> None:
    p = pipe()
    held = outside_conference(p)
    p.finesse.conference_glitch = True
    changes = republish(p)
    # "The Finesse receives inconsistent call notifications": the desktops are told the call is gone
    # (while it goes on, and later PUTs of it arrive) ...
    assert DialogChange(held, A, "DELETE") in changes and DialogChange(held, B, "DELETE") in changes
    # ... "does not show all participants", "does not show that the signed-in agent [...] is in an
    # active call": A's view has B only, B's has A only.
    assert [v.media_address for v in dialog_view(p.finesse, held, user_id=A).participants] == ["2001"]
    assert [v.media_address for v in dialog_view(p.finesse, held, user_id=B).participants] == ["2000"]
    assert len(dialog_view(p.finesse, held).participants) == 3  # the call itself is whole
    # "Desktop behavior returns to usual after the agent or supervisor drops off the conference call."
    put(p, held, A, action("DROP", "2000"))
    assert p.finesse.dialogs[held].glitched == {B}
    assert [(v.media_address, v.state) for v in dialog_view(p.finesse, held, user_id=A).participants] == [
        ("2000", "DROPPED"),
        (OUTSIDE, "ACTIVE"),
        ("2001", "ACTIVE"),
    ]


def test_conference_glitch_needs_a_device_that_is_no_agent() -> None:
    p = pipe()
    held, consult = consulting(p)
    put(p, consult, B, action("ANSWER", "2001"))
    p.finesse.conference_glitch = True
    republish(p)  # a consult, no conference: nothing
    assert not p.finesse.dialogs[held].glitched
    put(p, held, A, action("CONFERENCE", "2000"))
    p.finesse.signed_in_again(A)  # "An agent [...] who signs in after being on an active conference"
    assert p.finesse.dialogs[held].glitched == {A}


def test_a_failed_consult_is_dropped_before_the_held_call_is_retrieved() -> None:
    """A consult to a number that fails (CALL_FAILED: the agent's phone stays off hook, an active
    connection) leaves the held call offering DROP only, not RETRIEVE, which the CTI server would
    refuse (a second active connection); once the failed consult is dropped, RETRIEVE is back."""
    p = pipe()
    held = talking_to_outside(p)
    changes = put(p, held, A, action("CONSULT_CALL", "2000", to="99"))  # no such number
    failed = next(c.dialog_id for c in changes if isinstance(c, DialogChange) and c.dialog_id != held)
    assert parts(p, failed)[0][:3] == ("2000", "FAILED", ("DROP",))
    assert parts(p, held)[0][:3] == ("2000", "HELD", ("DROP",))
    put(p, failed, A, action("DROP", "2000"))
    assert parts(p, held)[0][:3] == ("2000", "HELD", ("RETRIEVE", "DROP"))
    put(p, held, A, action("RETRIEVE", "2000"))
    assert parts(p, held)[0][1] == "ACTIVE"
