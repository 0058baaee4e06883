"""The desktop's calls core (finesse_emu/desktop/calls.py): it reads the Dialog documents the node
renders (the same XML functions), keeps each dialog as last seen, records every sighting, and takes
its script's actions only once its own participant lists them, once per state."""

from __future__ import annotations

from defusedxml import ElementTree as DET

from emu_base.history_events import DialogAction, DialogRefused, DialogSeen
from finesse_emu.desktop.calls import (
    KINDS,
    ActOnDialog,
    DialogBook,
    MakeCall,
    parse_api_errors,
    parse_dialogs,
    resolve,
    settled_states,
)
from finesse_emu.desktop.machine import Record
from finesse_emu.server import xml as X

ME, PEER = "2010", "2011"


def view(
    dialog_id: str, mine: str, actions: tuple[str, ...], peer: str = "ACTIVE", state: str = "ACTIVE"
) -> X.DialogView:
    parties = (
        X.ParticipantView(ME, mine, actions, "AGENT_DEVICE"),
        X.ParticipantView(PEER, peer, (), "AGENT_DEVICE"),
    )
    return X.DialogView(dialog_id, state, PEER, ME, parties)


def update(*views: X.DialogView, put: bool = False) -> list:  # type: ignore[type-arg]
    """What the desktop parses from an Update's data: a PUT carries one <Dialog>, a POST <dialogs>."""
    text = X.dialog_event(views[0]) if put else X.dialogs_event(views)
    return parse_dialogs(DET.fromstring(text))


def records(book: DialogBook) -> tuple[list[DialogSeen | DialogAction], list[ActOnDialog | MakeCall]]:
    out = book.outputs()
    seen = [o.entry for o in out if isinstance(o, Record) and isinstance(o.entry, DialogSeen | DialogAction)]
    cmds = [o for o in out if isinstance(o, ActOnDialog | MakeCall)]
    return seen, cmds


def test_parse_reads_the_nodes_documents() -> None:
    ringing = view("7", "ALERTING", ("ANSWER",), peer="INITIATED", state="ALERTING")
    for parsed in (
        update(ringing),
        update(ringing, put=True),
        parse_dialogs(DET.fromstring(X.dialogs([ringing]))),
    ):
        (d,) = parsed
        assert d.id == "7" and d.state == "ALERTING"
        assert d.party(ME) is not None and d.party(ME).actions == ("ANSWER",)  # type: ignore[union-attr]
        assert d.party(PEER) is not None and d.party(PEER).state == "INITIATED"  # type: ignore[union-attr]
    assert update(ringing)[0].digest == update(ringing, put=True)[0].digest
    assert update(ringing)[0].digest != update(view("7", "ACTIVE", ("HOLD", "DROP")))[0].digest


def test_answer_then_hold_each_once_listed() -> None:
    book = DialogBook("1010", ME)
    book.place(0.0, KINDS["incoming_held"].scripts[0])
    assert records(book) == ([], [])  # nothing to act on yet
    book.on_update(1.0, "finesse-a", "POST", update(view("7", "ALERTING", ("ANSWER",), state="ALERTING")))
    seen, cmds = records(book)
    assert [(s.via, s.verb, s.mine) for s in seen if isinstance(s, DialogSeen)] == [
        ("xmpp", "POST", "ALERTING")
    ]
    assert cmds == [ActOnDialog("7", "ANSWER")]
    # The same dialog again (no change): not asked twice.
    book.on_update(
        1.1, "finesse-a", "PUT", update(view("7", "ALERTING", ("ANSWER",), state="ALERTING"), put=True)
    )
    assert records(book)[1] == []
    book.on_action_result(1.2, "7", "ANSWER", 202)
    seen, cmds = records(book)
    assert cmds == [] and isinstance(seen[0], DialogAction) and seen[0].status == 202
    book.on_update(1.5, "finesse-a", "PUT", update(view("7", "ACTIVE", ("HOLD", "DROP")), put=True))
    assert records(book)[1] == [ActOnDialog("7", "HOLD")]
    book.on_action_result(1.6, "7", "HOLD", 202)
    book.on_update(1.7, "finesse-a", "PUT", update(view("7", "HELD", ("RETRIEVE", "DROP")), put=True))
    assert records(book)[1] == [] and book.states() == {"7": "HELD"} and book.script == []


def test_refused_action_asked_again_after_a_change() -> None:
    book = DialogBook("1010", ME)
    book.place(0.0, ("HOLD",), dial=PEER)
    assert records(book)[1] == [MakeCall(PEER)]
    book.on_update(1.0, "finesse-a", "PUT", update(view("7", "ACTIVE", ("HOLD", "DROP")), put=True))
    assert records(book)[1] == [ActOnDialog("7", "HOLD")]
    book.on_action_result(1.1, "7", "HOLD", 0)  # no answer: the node failed
    assert records(book)[1] == [] and book.script == ["HOLD"]
    book.on_loaded(5.0, "finesse-b", update(view("7", "ACTIVE", ("HOLD", "DROP", "SEND_DTMF"))))
    seen, cmds = records(book)
    assert [(s.via, s.verb, s.node) for s in seen if isinstance(s, DialogSeen)] == [
        ("rest", "GET", "finesse-b")
    ]
    assert cmds == [ActOnDialog("7", "HOLD")]


def test_a_load_reports_the_dialogs_gone_and_a_delete_removes() -> None:
    book = DialogBook("1010", ME)
    book.on_update(0.0, "finesse-a", "POST", update(view("7", "ACTIVE", ()), view("8", "HELD", ())))
    book.outputs()
    book.on_loaded(1.0, "finesse-b", update(view("8", "HELD", ())))
    seen, _ = records(book)
    assert [(s.dialog, s.verb) for s in seen if isinstance(s, DialogSeen)] == [("7", "GONE"), ("8", "GET")]
    book.on_update(2.0, "finesse-b", "DELETE", update(view("8", "DROPPED", (), state="DROPPED")))
    assert book.dialogs == {}


def test_a_step_with_a_target_sends_its_to_address() -> None:
    """``ACTION>N`` in a kind's script: the action with toAddress the kind's N-th desktop (a consult)."""
    assert resolve(("ANSWER", "CONSULT_CALL>1", "HOLD>outside"), ["2010", "2011"], "5550007") == [
        "ANSWER",
        "CONSULT_CALL>2011",
        "HOLD>5550007",
    ]
    book = DialogBook("1010", ME)
    book.place(0.0, ["CONSULT_CALL>2012"])
    book.on_update(1.0, "finesse-a", "PUT", update(view("7", "ACTIVE", ("HOLD", "CONSULT_CALL")), put=True))
    assert records(book)[1] == [ActOnDialog("7", "CONSULT_CALL", "2012")]
    book.on_action_result(1.1, "7", "CONSULT_CALL", 202)
    assert book.script == []
    assert settled_states(["HELD", "ACTIVE"]) == "ACTIVE+HELD" and settled_states([]) == ""


def test_a_guarded_step_waits_for_both_actions_and_a_dropped_call_is_not_held() -> None:
    """``TRANSFER?CONFERENCE``: the held call lists TRANSFER while its consult rings, CONFERENCE too
    once it is answered; the transfer waits for that. The call it leaves (its participant DROPPED)
    is no longer one of its calls."""
    assert resolve(("CONSULT_CALL>1", "TRANSFER?CONFERENCE"), ["2010", "2011"], "") == [
        "CONSULT_CALL>2011",
        "TRANSFER?CONFERENCE",
    ]
    book = DialogBook("1010", ME)
    book.place(0.0, ["TRANSFER?CONFERENCE"])
    book.on_update(1.0, "finesse-a", "PUT", update(view("7", "HELD", ("TRANSFER", "DROP")), put=True))
    assert records(book)[1] == []  # the consult still rings
    book.on_update(
        2.0, "finesse-a", "PUT", update(view("7", "HELD", ("TRANSFER", "CONFERENCE", "DROP")), put=True)
    )
    assert records(book)[1] == [ActOnDialog("7", "TRANSFER")]
    book.on_action_result(2.1, "7", "TRANSFER", 202)
    assert book.script == []
    book.on_update(3.0, "finesse-a", "PUT", update(view("7", "DROPPED", ()), put=True))
    assert book.states() == {} and settled_states(book.states().values()) == KINDS["transfer"].settled[0]


def test_a_request_refused_after_its_202_is_recorded() -> None:
    """An apiErrors Update on the Dialogs node: recorded with the action asked on that dialog (or
    MAKE_CALL when the source is the Dialogs node); the refused step goes back to the script and is
    asked again once the dialog changes (a refused MAKE_CALL is not dialled again)."""
    book = DialogBook("1010", ME)
    book.place(0.0, ["HOLD"], dial="5550001")
    book.on_update(1.0, "finesse-a", "POST", update(view("7", "ACTIVE", ("HOLD", "DROP"))))
    book.on_action_result(1.1, "7", "HOLD", 202)
    book.outputs()
    err = X.ApiError(
        "Invalid State", "CF_GENERIC_UNSPECIFIED_REJECTION", "requestedAction", peripheral_error_code="16"
    )
    for source in ("/finesse/api/Dialog/7", "/finesse/api/User/1010/Dialogs"):
        doc = DET.fromstring(X.api_errors_event([err]))
        book.on_refused(2.0, "finesse-a", source, parse_api_errors(doc))
    out = book.outputs()
    refused = [o.entry for o in out if isinstance(o, Record) and isinstance(o.entry, DialogRefused)]
    assert not [o for o in out if isinstance(o, ActOnDialog | MakeCall)]  # not on the same state
    assert [(r.dialog, r.action, r.message, r.code) for r in refused] == [
        ("7", "HOLD", "CF_GENERIC_UNSPECIFIED_REJECTION", "16"),
        ("", "MAKE_CALL", "CF_GENERIC_UNSPECIFIED_REJECTION", "16"),
    ]
    assert book.script == ["HOLD"]
    book.on_update(
        3.0, "finesse-a", "PUT", update(view("7", "ACTIVE", ("HOLD", "DROP", "SEND_DTMF")), put=True)
    )
    assert records(book)[1] == [ActOnDialog("7", "HOLD")]
    assert parse_api_errors(DET.fromstring(X.dialogs_event([view("7", "ACTIVE", ())]))) == []
