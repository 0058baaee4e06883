"""What a desktop knows of its calls, and what it does with them: a sans-IO core.

A Finesse desktop follows its dialogs from two sources: the Updates on the user's Dialogs node
(``POST`` a new dialog, ``PUT`` a change, ``DELETE`` the end) and the GET of ``User/{id}/Dialogs``
each time it loads (sign-in, and step 5 of the desktop failover: "refresh the data"). Chapter
"Finesse Failover Mechanisms": after a failover "the last state of call control, call data ... is
published as events to all clients", and the desktop's reload reads it too.

:class:`DialogBook` keeps one desktop's view (every dialog's state, participants and the actions
its agent may take), records each dialog as seen (``dialog_seen``: the checker's calls invariants
and the report's calls table read them) and carries out a *script*: the call-control actions its
agent takes, each as soon as its own participant lists it ("Only actions listed in the
participant's actions are allowed"). A request the CTI server refuses after its 202 comes back as
an ``apiErrors`` Update on the user's Dialogs node: the book records it (``dialog_refused``), so a
run shows why a script stalled. It speaks the sans-IO vocabulary (``emu_base.sansio``): inputs
take ``now`` first, outputs are pulled with :meth:`DialogBook.outputs`; it has no timer.

:data:`KINDS` is the one place a kind of call is defined: who dials what, each desktop's script,
and the state each desktop's participant must show once the call is set up (and again after a
failover): calls answered, held, consulted, transferred (consultative and blind) and conferenced.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from emu_base import history_events as H
from finesse_emu.desktop.machine import Record

# A dialog seen with these is over for its agent (the participant dropped or the call ended).
ENDED = frozenset({"DROPPED", "FAILED"})


# -- kinds of call -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallKind:
    """A kind of call the swarm puts desktops on.

    ``dial``: ``"agent"`` (the first desktop MAKE_CALLs the second's extension), ``"outside"`` (the
    first MAKE_CALLs an :func:`outside_number`, which the CTI stub answers by itself) or ``"queue"`` (an
    outside caller rings the first desktop's extension through the CTI server's control plane).
    ``scripts``: per desktop, the actions its agent takes in order, each once its participant lists
    it; ``"ACTION>N"`` sends the action with ``toAddress`` the extension of the kind's N-th desktop
    (``"ACTION>outside"``: a fresh outside number), as CONSULT_CALL and TRANSFER_SST need;
    ``"ACTION?OTHER"`` waits until the participant lists OTHER too (``"TRANSFER?CONFERENCE"``: the
    held call lists TRANSFER while its consult rings, and CONFERENCE only once it is answered: a
    transfer after talking to the consulted agent). ``settled``: per desktop, the states of its own
    participant in the dialogs it holds once the scripts are done, sorted and joined by ``+``
    (``"ACTIVE+HELD"`` for a consult; ``""`` for none, a call transferred away); the checker wants
    each call in the same state again after a failover."""

    name: str
    dial: str
    scripts: tuple[tuple[str, ...], ...]
    settled: tuple[str, ...]

    @property
    def desktops(self) -> int:
        return len(self.scripts)


def outside_number(n: int) -> str:
    """The ``n``-th outside number: a device that is no agent (the generated directory's extensions
    are 2000+i). One per call: a device is in at most one active connection, so a second call to
    the same number while the first lasts is refused."""
    return f"555{n % 10_000:04d}"


KINDS: dict[str, CallKind] = {
    k.name: k
    for k in (
        CallKind("incoming", "queue", (("ANSWER",),), ("ACTIVE",)),
        CallKind("incoming_held", "queue", (("ANSWER", "HOLD"),), ("HELD",)),
        CallKind("agent", "agent", ((), ("ANSWER",)), ("ACTIVE", "ACTIVE")),
        CallKind("agent_held", "agent", (("HOLD",), ("ANSWER",)), ("HELD", "ACTIVE")),
        CallKind("outside", "outside", ((),), ("ACTIVE",)),
        CallKind("outside_held", "outside", (("HOLD",),), ("HELD",)),
        # docs/finesse.md, "Consult, transfer, conference": the first desktop calls an outside
        # number (the customer) and consults the second, which answers: the customer held, the
        # consult talking.
        CallKind("consult", "outside", (("CONSULT_CALL>1",), ("ANSWER",)), ("ACTIVE+HELD", "ACTIVE")),
        # ... then transfers: the second desktop has the customer, the first nothing.
        CallKind(
            "transfer", "outside", (("CONSULT_CALL>1", "TRANSFER?CONFERENCE"), ("ANSWER",)), ("", "ACTIVE")
        ),
        # Blind: the customer goes to the second desktop without a consult, which answers.
        CallKind("transfer_sst", "outside", (("TRANSFER_SST>1",), ("ANSWER",)), ("", "ACTIVE")),
        # Agent to agent, then the first consults a third and conferences: three agents talking.
        CallKind(
            "conference",
            "agent",
            (("CONSULT_CALL>2", "CONFERENCE"), ("ANSWER",), ("ANSWER",)),
            ("ACTIVE", "ACTIVE", "ACTIVE"),
        ),
        # A conference with the outside number (a device that is no agent): the calls the
        # conference_glitch fault is about.
        CallKind(
            "conference_outside",
            "outside",
            (("CONSULT_CALL>1", "CONFERENCE"), ("ANSWER",)),
            ("ACTIVE", "ACTIVE"),
        ),
    )
}


# -- what the desktop reads ------------------------------------------------------------------------
@dataclass(frozen=True)
class Party:
    address: str
    state: str
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class SeenDialog:
    id: str
    state: str
    parties: tuple[Party, ...] = ()
    data: tuple[tuple[str, str], ...] = ()  # call variables, wrap-up reason and callType, as read

    def party(self, address: str) -> Party | None:
        return next((p for p in self.parties if p.address == address), None)

    @property
    def digest(self) -> str:
        """Equal for two dialogs a client cannot tell apart (the times of each state aside)."""
        text = repr((self.state, sorted(self.parties, key=lambda p: p.address), self.data))
        return f"{zlib.crc32(text.encode()):08x}"


def _local(tag: Any) -> str:
    return str(tag).rpartition("}")[2]


def _text(el: Any, name: str) -> str:
    for child in el:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def parse_dialogs(doc: Any) -> list[SeenDialog]:
    """Every Dialog in a parsed document: a ``<Dialog>`` / ``<dialog>`` (a PUT's Update), or
    ``<Dialogs>`` / ``<dialogs>`` holding them (a POST or DELETE Update, the GET)."""
    found = (
        [doc]
        if _local(doc.tag).lower() == "dialog"
        else [c for c in doc if _local(c.tag).lower() == "dialog"]
    )
    out: list[SeenDialog] = []
    for el in found:
        parties: list[Party] = []
        data: list[tuple[str, str]] = []
        for sub in el.iter():
            tag = _local(sub.tag)
            if tag == "Participant":
                actions = tuple((a.text or "").strip() for a in sub.iter() if _local(a.tag) == "action")
                parties.append(Party(_text(sub, "mediaAddress"), _text(sub, "state"), actions))
            elif tag == "CallVariable":
                data.append((_text(sub, "name"), _text(sub, "value")))
            elif tag in ("wrapUpReason", "callType"):  # a call becomes a TRANSFER, a CONFERENCE
                data.append((tag, (sub.text or "").strip()))
        out.append(SeenDialog(_text(el, "id"), _text(el, "state"), tuple(parties), tuple(data)))
    return out


# -- commands (core -> shell) ----------------------------------------------------------------------
@dataclass(frozen=True)
class ActOnDialog:
    """PUT Dialog/{dialog} with ``requestedAction`` on the agent's own participant (and
    ``toAddress`` when ``to`` is set: a consult)."""

    dialog: str
    action: str
    to: str = ""


def step(entry: str) -> tuple[str, str]:
    """A script entry as (action, to): ``"HOLD"`` -> ("HOLD", ""), ``"CONSULT_CALL>2013"`` ->
    ("CONSULT_CALL", "2013"), ``"TRANSFER?CONFERENCE"`` -> ("TRANSFER", "")."""
    action, _, to = entry.partition(">")
    return action.partition("?")[0], to


def _wanted(entry: str) -> tuple[str, ...]:
    """The actions the participant must list before the entry's action is taken: the action, and
    the one after ``?`` if any."""
    head = entry.partition(">")[0]
    action, _, also = head.partition("?")
    return (action, also) if also else (action,)


def resolve(script: tuple[str, ...], extensions: list[str], outside: str) -> list[str]:
    """A kind's script for real desktops: ``>N`` becomes the N-th desktop's extension,
    ``>outside`` the outside number."""
    out = []
    for entry in script:
        action, _, to = entry.partition(">")  # the action with its ``?`` condition, if any
        if to:
            to = outside if to == "outside" else extensions[int(to)]
        out.append(f"{action}>{to}" if to else action)
    return out


def settled_states(states: Iterable[str]) -> str:
    """A desktop's own participant states as :class:`CallKind`'s ``settled`` writes them."""
    return "+".join(sorted(states))


@dataclass(frozen=True)
class MakeCall:
    """POST User/{id}/Dialogs: MAKE_CALL from the agent's extension to ``to``."""

    to: str


Output = ActOnDialog | MakeCall | Record


@dataclass(frozen=True)
class Refusal:
    """One ``apiError`` of an asynchronous error Update (a request refused after its 202)."""

    error_type: str
    message: str
    code: str = ""  # peripheralErrorCode: the CTI server's failure code


def parse_api_errors(doc: Any) -> list[Refusal]:
    """The ``apiError``s of an ``<apiErrors>`` document (the data of an error Update); [] for any
    other document."""
    if _local(doc.tag) != "apiErrors":
        return []
    return [
        Refusal(_text(e, "errorType"), _text(e, "errorMessage"), _text(e, "peripheralErrorCode"))
        for e in doc
        if _local(e.tag) == "apiError"
    ]


@dataclass
class DialogBook:
    """One desktop's dialogs: its view, its records, its script."""

    agent_id: str
    extension: str
    dialogs: dict[str, SeenDialog] = field(default_factory=dict)
    script: list[str] = field(default_factory=list)  # the actions still to take, in order
    node: str = ""  # the node the desktop reads (recorded with each sighting)
    _asked: dict[str, tuple[str, str]] = field(default_factory=dict)  # dialog -> (entry, digest asked on)
    _out: list[Output] = field(default_factory=list)

    # -- the sans-IO surface -----------------------------------------------------------------------
    def outputs(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        return None  # no timer: everything follows what the desktop reads

    def handle_timer(self, now: float) -> None:
        return None

    # -- inputs ------------------------------------------------------------------------------------
    def place(self, now: float, script: Iterable[str], dial: str = "") -> None:
        """Put the agent on a call: the actions to take (``script``), and the number to dial
        (MAKE_CALL) if the agent places the call."""
        self.script = list(script)
        if dial:
            self._out.append(MakeCall(dial))
        self._advance()

    def on_update(self, now: float, node: str, verb: str, dialogs: Iterable[SeenDialog]) -> None:
        """An Update on the user's Dialogs node (POST, PUT or DELETE)."""
        self.node = node
        for d in dialogs:
            self._seen(d, "xmpp", verb)
            if verb == "DELETE":
                self.dialogs.pop(d.id, None)
                self._asked.pop(d.id, None)
            else:
                self.dialogs[d.id] = d
        self._advance()

    def on_loaded(self, now: float, node: str, dialogs: Iterable[SeenDialog]) -> None:
        """The GET of User/{id}/Dialogs at a load: the whole list as the node holds it now."""
        self.node = node
        listed = {d.id: d for d in dialogs}
        for old in [d for i, d in self.dialogs.items() if i not in listed]:
            self._seen(old, "rest", "GONE")  # it ended while the desktop was not listening
            self.dialogs.pop(old.id)
            self._asked.pop(old.id, None)
        for d in listed.values():
            self._seen(d, "rest", "GET")
            self.dialogs[d.id] = d
        self._advance()

    def on_action_result(self, now: float, dialog: str, action: str, status: int) -> None:
        """The answer to a request the book asked for (202: accepted; its effect arrives as an
        Update). A refused or unanswered one may be asked again once the dialog changes."""
        self._out.append(
            Record(
                H.DialogAction(
                    agent=self.agent_id, node=self.node, action=action, dialog=dialog, status=status
                )
            )
        )
        if status == 202 and self.script and step(self.script[0])[0] == action:
            self.script.pop(0)  # accepted: the script moves on (its effect arrives as an Update)
            self._advance()

    def on_refused(self, now: float, node: str, source: str, refusals: Iterable[Refusal]) -> None:
        """An ``apiErrors`` Update on the user's Dialogs node: a request accepted (202) that the
        CTI server then refused. ``source`` names the dialog (``.../Dialog/{id}``: the action the
        book last asked on it) or the Dialogs node (a MAKE_CALL). Recorded (the history shows which
        step stalled and why); a refused script step goes back to the head of the script, to be
        taken again on a dialog that lists it (another one, or this one once it changes), as an
        agent clicks again. A refused MAKE_CALL is not dialled again."""
        self.node = node
        _, _, last = source.rstrip("/").rpartition("/")
        dialog = last if "/Dialog/" in source else ""
        entry = self._asked[dialog][0] if dialog in self._asked else ""
        action = step(entry)[0] if entry else ("" if dialog else "MAKE_CALL")
        if entry and entry not in self.script[:1]:
            self.script.insert(0, entry)
        for r in refusals:
            self._out.append(
                Record(
                    H.DialogRefused(
                        agent=self.agent_id,
                        node=node,
                        dialog=dialog,
                        action=action,
                        error_type=r.error_type,
                        message=r.message,
                        code=r.code,
                    )
                )
            )
        self._advance()

    def on_make_call_result(self, now: float, to: str, status: int) -> None:
        self._out.append(
            Record(
                H.DialogAction(agent=self.agent_id, node=self.node, action="MAKE_CALL", to=to, status=status)
            )
        )

    # -- views -------------------------------------------------------------------------------------
    def mine(self, dialog: SeenDialog) -> str:
        party = dialog.party(self.extension)
        return party.state if party is not None else ""

    def states(self) -> dict[str, str]:
        """Dialog id -> the state of the agent's own participant, for every dialog held: not those
        it dropped off (a call it transferred away stays on its Dialogs node, its participant
        DROPPED, until the call ends: docs/finesse.md, "Consult, transfer, conference")."""
        return {i: m for i, d in self.dialogs.items() if (m := self.mine(d)) not in ENDED}

    # -- helpers -----------------------------------------------------------------------------------
    def _seen(self, d: SeenDialog, via: str, verb: str) -> None:
        self._out.append(
            Record(
                H.DialogSeen(
                    agent=self.agent_id,
                    node=self.node,
                    dialog=d.id,
                    via=via,
                    verb=verb,
                    state=d.state,
                    mine=self.mine(d),
                    parties=[f"{p.address}={p.state}" for p in d.parties],
                    digest=d.digest,
                )
            )
        )

    def _advance(self) -> None:
        """Take the script's next action on the first dialog whose own participant lists it, once
        per state of that dialog (asked again only after the dialog changed)."""
        if not self.script:
            return
        action, to = step(self.script[0])
        wanted = _wanted(self.script[0])
        for d in self.dialogs.values():
            party = d.party(self.extension)
            if party is None or not all(a in party.actions for a in wanted):
                continue
            if self._asked.get(d.id) == (self.script[0], d.digest):
                return  # asked already on this very state: its answer or its Update is awaited
            self._asked[d.id] = (self.script[0], d.digest)
            self._out.append(ActOnDialog(d.id, action, to))
            return
