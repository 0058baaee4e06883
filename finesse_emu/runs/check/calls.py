"""The calls invariants: what each desktop saw of its calls through failovers.

Chapter "Finesse Failover Mechanisms": after a failover "the last state of call control, call data
... is published as events to all clients"; issue 18 adds that it is published exactly once, that a
held call stays held, and that calls started and ended inside the failover are never published.
These read the desktops' ``dialog_seen`` (finesse_emu/desktop/calls.py: every Dialog Update a
desktop received, and every dialog its loads listed) and ``dialog_action`` events. They apply to a
run that put desktops on calls (a ``calls_placed`` event): :func:`applies`.
"""

from __future__ import annotations

from emu_base.history_events import (
    AnyEntry,
    CallsPlaced,
    DialogAction,
    DialogSeen,
    Entry,
    FailoverDetected,
    FailoverDone,
    NotificationLost,
)
from finesse_emu.runs.check.invariants import Invariant
from finesse_emu.runs.check.model import Checked, NotCheckable, Options, Violation, proof
from finesse_emu.runs.check.view import RunView

CALLS_SURVIVE = "calls-survive-failover"
PUBLISHED_ONCE = "dialog-published-once"
NO_ENDED_PUBLISH = "no-ended-call-published"

# The own participant's states that end the agent's part in a call.
ENDED = frozenset({"DROPPED", "FAILED", ""})
# The states a call settles in (ringing and dialling are moments): what must survive a failover.
SETTLED = frozenset({"ACTIVE", "HELD"})


def applies(run: RunView) -> bool:
    """Whether the run put desktops on calls: then the calls invariants are part of its check."""
    return bool(run.of(CallsPlaced))


def _sightings(run: RunView, agent: str) -> list[AnyEntry]:
    return [e for e in run.client_events("desktop", agent) if isinstance(e.event, DialogSeen)]


def _need_sightings(run: RunView) -> None:
    if not run.of(DialogSeen, "desktop"):
        raise NotCheckable(
            "the history has no desktop/dialog_seen events; needed: one per dialog a desktop received "
            "or loaded, {source: desktop, event: dialog_seen, agent, dialog, via, verb, state, mine}"
        )


def _ended(e: DialogSeen) -> bool:
    return e.verb in ("DELETE", "GONE") or e.mine in ENDED or e.state in ("DROPPED", "FAILED")


# The requests that end the requesting agent's part in its calls: a transfer leaves the held call
# to the consulted party and removes the consult; a conference merges the consult into the held
# call (docs/finesse.md, "Consult, transfer, conference").
MERGES = frozenset({"TRANSFER", "TRANSFER_SST", "CONFERENCE"})


def ended_by_request(run: RunView) -> set[str]:
    """The calls some desktop ended (for itself or for all) by its own request: the dialog a DROP
    names, and for a transfer or a conference every dialog its agent had seen by then (the held
    call it leaves, and the consult merged away, which ends for the consulted agent too)."""
    out: set[str] = set()
    for agent in run.agents("desktop"):
        seen: set[str] = set()
        for ev in run.client_events("desktop", agent):
            e = ev.event
            if isinstance(e, DialogSeen):
                seen.add(e.dialog)
            elif isinstance(e, DialogAction) and e.action == "DROP":
                out.add(e.dialog)
            elif isinstance(e, DialogAction) and e.action in MERGES:
                out |= seen | {e.dialog}
    return out


def calls_survive_failover(run: RunView, opts: Options, notes: list[str]) -> Checked:
    """Every call a desktop held when it detected a failover is seen again after it (by the
    refresh's GET or an Update) with its agent's participant in the same state; the call may have
    ended only if some desktop asked for it (a DROP, or a transfer or conference that ends it:
    :func:`ended_by_request`)."""
    _need_sightings(run)
    drops = ended_by_request(run)
    out: list[Violation] = []
    checked = 0
    for agent in run.agents("desktop"):
        events = run.client_events("desktop", agent)
        held: dict[str, Entry[DialogSeen]] = {}  # dialog -> last sighting, calls in progress
        waiting: dict[str, tuple[Entry[DialogSeen], AnyEntry]] = {}  # dialog -> (before, detected)
        for ev in events:
            e = ev.event
            if isinstance(e, FailoverDetected):
                for dialog, seen in held.items():
                    waiting.setdefault(dialog, (seen, ev))
            elif isinstance(e, FailoverDone):
                # Signed in again: whatever is still waiting was not in the refresh's list.
                for dialog, (before, detected) in list(waiting.items()):
                    if dialog in drops:
                        continue
                    checked += 1
                    message = (
                        f"desktop {agent} held call {dialog} ({before.event.mine}) when it detected a "
                        f"failover and did not see it again once signed in (lost)"
                    )
                    out.append(Violation(CALLS_SURVIVE, message, proof(before, detected, ev)))
                waiting.clear()
            elif isinstance(e, DialogSeen):
                entry = ev.of(DialogSeen)
                assert entry is not None
                pending = waiting.pop(e.dialog, None)
                if pending is not None:
                    before, detected = pending
                    if _ended(e):
                        if e.dialog not in drops:
                            checked += 1
                            message = (
                                f"desktop {agent}: call {e.dialog} ({before.event.mine} before the failover) "
                                f"seen ended ({e.verb} {e.mine or e.state}) after it with nobody dropping it"
                            )
                            out.append(Violation(CALLS_SURVIVE, message, proof(before, detected, ev)))
                    else:
                        checked += 1
                        if e.mine != before.event.mine:
                            message = (
                                f"desktop {agent}: call {e.dialog} was {before.event.mine} before the "
                                f"failover and {e.mine} after it ({e.via} {e.verb})"
                            )
                            out.append(Violation(CALLS_SURVIVE, message, proof(before, detected, ev)))
                if e.mine in SETTLED and not _ended(e):
                    held[e.dialog] = entry
                else:
                    held.pop(e.dialog, None)
    notes.append(
        f"{len(drops)} calls dropped, transferred or conferenced by a desktop (their end is no loss)"
    )
    return Checked(out, checked, "calls held through a desktop failover")


def dialog_published_once(run: RunView, opts: Options, notes: list[str]) -> Checked:
    """No desktop receives the same dialog twice in a row over XMPP without a change between: each
    change, and the republish after a failover, arrives once (a DELETE after a PUT of the same
    picture is the dialog's removal, a change). A new Notification Service session
    (a failover detected, the session lost) starts afresh: the republish it gets is its first."""
    _need_sightings(run)
    out: list[Violation] = []
    checked = 0
    for agent in run.agents("desktop"):
        last: dict[str, AnyEntry] = {}
        for ev in run.client_events("desktop", agent):
            e = ev.event
            if isinstance(e, FailoverDetected | NotificationLost):
                last.clear()
            elif isinstance(e, DialogSeen) and e.via == "xmpp":
                checked += 1
                prev = last.get(e.dialog)
                if (
                    prev is not None
                    and isinstance(prev.event, DialogSeen)
                    and prev.event.digest == e.digest
                    # A DELETE is news even with the last PUT's contents (a call that ends, or
                    # one the agent left by a transfer, is removed with its last picture).
                    and (prev.event.verb == "DELETE") == (e.verb == "DELETE")
                ):
                    message = (
                        f"desktop {agent} received call {e.dialog} twice unchanged "
                        f"({prev.event.verb} then {e.verb}, {e.state}, own participant {e.mine or '-'})"
                    )
                    out.append(Violation(PUBLISHED_ONCE, message, proof(prev, ev)))
                last[e.dialog] = ev
    return Checked(out, checked, "dialog Updates received")


def no_ended_call_published(run: RunView, opts: Options, notes: list[str]) -> Checked:
    """A desktop never first hears of a call by its end: a call that started and ended while the
    desktop's node was out of service (or the desktop away) is never published to it."""
    _need_sightings(run)
    out: list[Violation] = []
    checked = 0
    for agent in run.agents("desktop"):
        known: set[str] = set()
        for ev in _sightings(run, agent):
            e = ev.event
            assert isinstance(e, DialogSeen)
            if e.dialog in known:
                continue
            known.add(e.dialog)
            checked += 1
            if e.via == "xmpp" and _ended(e):
                message = (
                    f"desktop {agent} first heard of call {e.dialog} by its end ({e.verb}, {e.state}, "
                    f"own participant {e.mine or '-'}): a call it never saw was published"
                )
                out.append(Violation(NO_ENDED_PUBLISH, message, (ev,)))
    return Checked(out, checked, "calls seen by a desktop")


CALL_INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        CALLS_SURVIVE, "a call active or held before a desktop failover is seen again after it, as it was",
        calls_survive_failover,
        "desktops on calls (a calls step, Swarm.place_calls) whose node fails: the publisher killed",
    ),
    Invariant(
        PUBLISHED_ONCE, "no desktop receives the same dialog twice without a change between",
        dialog_published_once, "desktops on calls (a calls step, Swarm.place_calls)",
    ),
    Invariant(
        NO_ENDED_PUBLISH, "a desktop never first hears of a call by its end (started, ended in a failover)",
        no_ended_call_published, "desktops on calls (a calls step, Swarm.place_calls)",
    ),
)  # fmt: skip
