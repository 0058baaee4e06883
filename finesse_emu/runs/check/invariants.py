"""The invariants of Cisco's chapter over a run's history, one function each.

Every function takes the run (:class:`RunView`), the bounds (:class:`Options`) and a list to which
it may append notes (what it looked at, what it could not judge), and returns what it found
(:class:`Checked`): the violations, and how many things it was checked on, so that a rule that held
on nothing (no phone lost its node, no forced logout happened) is reported as not exercised rather
than as held. It raises :class:`NotCheckable` when the history lacks the events it needs.
docs/check.md quotes, for each, the sentence of Cisco's chapter it comes from, the events it reads and
what a run must do to exercise it (:attr:`Invariant.exercised_by`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

from emu_base.history_events import (
    AgentSignedIn,
    AnyEntry,
    Auth,
    BrowserClose,
    BrowserCrash,
    BrowserRefresh,
    Call,
    ClientAction,
    Entry,
    FailoverDetected,
    FailoverDone,
    ForcedLogout,
    Moved,
    NetworkGlitch,
    Publish,
    Request,
    ServerUnavailable,
    State,
    TokenExpired,
)
from finesse_emu.runs.check.model import Checked, NotCheckable, Options, Violation, brief, proof
from finesse_emu.runs.check.view import SESSION_BREAKERS, Interval, RunView, Span, node_of

CheckFn = Callable[[RunView, Options, list[str]], Checked]


@dataclass(frozen=True)
class Invariant:
    name: str
    summary: str
    check: CheckFn
    # What a run must do for the rule to be put to the test (shown when it was not exercised).
    exercised_by: str


def _secs(x: float) -> str:
    return f"{x:.2f} s"


def _inside(t: float, intervals: list[Interval], margin: float) -> Interval | None:
    """The interval holding ``t`` at least ``margin`` away from both its edges (an open interval has
    no far edge)."""
    for i in intervals:
        far = i.end - margin if i.closed_by is not None else float("inf")
        if i.start + margin <= t <= far:
            return i
    return None


def _covers(span: Span, t: float) -> bool:
    return span.start <= t and (t < span.end or span.closed_by is None)


def _is_system_info(path: object) -> bool:
    return isinstance(path, str) and "SystemInfo" in path


# -- 1. no event published while OUT_OF_SERVICE ------------------------------------------------------
NO_PUBLISH = "no-publish-while-out-of-service"


def _own_state(ev: AnyEntry) -> str | None:
    """The node's service state recorded with a publish or a REST answer itself (event_log), if any."""
    e = ev.event
    value = e.status if isinstance(e, Publish) else e.service if isinstance(e, Request) else None
    return value if value in ("IN_SERVICE", "OUT_OF_SERVICE") else None


def _running_stretches(run: RunView, down: dict[str, list[Interval]], margin: float) -> int:
    """The OUT_OF_SERVICE stretches during which the node ran: it answered or published meanwhile,
    recording its own state as OUT_OF_SERVICE (or, in a history without it, well inside the
    stretch). A killed node's stretch proves nothing about what a node out of service sends."""
    count = 0
    for node, stretches in down.items():
        served = [
            (run.at(e), _own_state(e))
            for e in run.events
            if e.source == node and isinstance(e.event, Publish | Request)
        ]
        for i in stretches:
            far = i.end if i.closed_by is not None else float("inf")
            if any(
                (own == "OUT_OF_SERVICE" and i.start - margin <= t <= far + margin)
                or (own is None and _inside(t, [i], margin) is not None)
                for t, own in served
            ):
                count += 1
    return count


def no_publish_while_out_of_service(run: RunView, opts: Options, notes: list[str]) -> Checked:
    published = run.node_events(Publish)
    if not published:
        raise NotCheckable(
            "the history has no finesse-*/publish events; needed: one per pubsub item a node publishes, "
            "{source: finesse-a, event: publish, node: '/finesse/api/User/1000'}"
        )
    down = {node: run.out_of_service(node) for node in run.nodes()}
    out: list[Violation] = []
    for ev in published:
        # The SystemInfo event announcing OUT_OF_SERVICE is the desktops' first trigger: allowed.
        if _is_system_info(ev.event.node):
            continue
        own = _own_state(ev)
        if own == "IN_SERVICE":
            continue  # the node's own state at that instant beats the observer's sampled view
        hit = _inside(run.at(ev), down.get(ev.source, []), opts.margin)
        if own == "OUT_OF_SERVICE" and hit is None:
            message = f"{ev.source} published {ev.event.node} at {_secs(run.at(ev))} while OUT_OF_SERVICE"
            out.append(Violation(NO_PUBLISH, message, proof(ev)))
        elif hit is not None:
            message = (
                f"{ev.source} published {ev.event.node} at {_secs(run.at(ev))} while OUT_OF_SERVICE "
                f"(since {_secs(hit.start)})"
            )
            out.append(Violation(NO_PUBLISH, message, proof(hit.opened_by, ev, hit.closed_by)))
    notes.append(f"{len(published)} publish events")
    return Checked(
        out, _running_stretches(run, down, opts.margin), "out-of-service stretches of a running node"
    )


# -- 2. no successful REST answer while OUT_OF_SERVICE, except SystemInfo ------------------------------
NO_REST = "no-rest-success-while-out-of-service"


def no_rest_success_while_out_of_service(run: RunView, opts: Options, notes: list[str]) -> Checked:
    answers = run.node_events(Request)
    if not answers:
        raise NotCheckable(
            "the history has no finesse-*/request events; needed: one per REST answer, "
            "{source: finesse-a, event: request, method: GET, path: /finesse/api/User/1000, status: 200}"
        )
    down = {node: run.out_of_service(node) for node in run.nodes()}
    out: list[Violation] = []
    gated = 0  # answers given while OUT_OF_SERVICE, whatever their status: what the rule is about
    for ev in answers:
        status, path, method = ev.event.status, ev.event.path, ev.event.method
        if _is_system_info(path):
            continue
        if not path.startswith("/finesse/api"):
            continue  # desktop content (gadgets) is not behind the 503 gate
        own = _own_state(ev)
        if own == "IN_SERVICE":
            continue  # the node's own state when it answered beats the observer's sampled view
        hit = _inside(run.at(ev), down.get(ev.source, []), opts.margin)
        if own == "OUT_OF_SERVICE" or hit is not None:
            gated += 1
        if not 200 <= status < 300:
            continue
        if own == "OUT_OF_SERVICE" and hit is None:
            message = (
                f"{ev.source} answered {method} {path} with {status} at "
                f"{_secs(run.at(ev))} while OUT_OF_SERVICE: Cisco's chapter wants 503"
            )
            out.append(Violation(NO_REST, message, proof(ev)))
        elif hit is not None:
            message = (
                f"{ev.source} answered {method} {path} with {status} at "
                f"{_secs(run.at(ev))} while OUT_OF_SERVICE (since {_secs(hit.start)}): "
                "Cisco's chapter wants 503"
            )
            out.append(Violation(NO_REST, message, proof(hit.opened_by, ev, hit.closed_by)))
    notes.append(f"{len(answers)} REST answers")
    return Checked(out, gated, "REST answers while OUT_OF_SERVICE (SystemInfo excepted)")


# -- 3. every desktop converges to exactly one node -----------------------------------------------------
CONVERGE = "desktops-converge"


def _final_state(run: RunView, agent: str) -> str | None:
    states = [e.event.to for e in run.client_events("desktop", agent) if isinstance(e.event, State)]
    return states[-1] if states else None


def desktops_converge(run: RunView, opts: Options, notes: list[str]) -> Checked:
    out: list[Violation] = []
    seen: Counter[str] = Counter()
    nodes = run.nodes()
    for agent in run.agents("desktop"):
        spans = run.client_spans("desktop", agent)
        if not spans:
            seen["never signed in"] += 1
            continue
        # SIGNED_OUT is only reached on purpose: closed, crashed, token expired, or a sign-in
        # refused (401: e.g. both AWDBs down and no cached credentials, which Cisco's chapter allows).
        if _final_state(run, agent) == "SIGNED_OUT":
            seen["signed out at the end (closed, crashed, token expired or refused)"] += 1
            continue
        t_anchor, anchor = run.anchor(agent)
        deadline = t_anchor + opts.bound
        # A run that ends before the deadline can still show a desktop that converged already.
        at = min(deadline, run.end)
        if nodes and not any(run.in_service_at(n, at) for n in nodes):
            seen["no node IN_SERVICE to converge to"] += 1
            continue
        verdict = _converged(run, agent, spans, (t_anchor, anchor), at, deadline <= run.end, opts)
        if isinstance(verdict, Violation):
            out.append(verdict)
        else:
            seen[verdict] += 1
    counts = ", ".join(f"{n} {k}" for k, n in sorted(seen.items()))
    notes.append(f"bound {opts.bound:g} s; desktops: {counts or 'none'}")
    judged = len(out) + sum(n for k, n in seen.items() if k.startswith("converged"))
    return Checked(out, judged, "desktops judged")


def _converged(
    run: RunView, agent: str, spans: list[Span], anchor: tuple[float, AnyEntry | None], at: float,
    late: bool,
    opts: Options,
) -> Violation | str:  # fmt: skip
    """A violation, or how the desktop stands at ``at`` (the deadline, or the run's end before it)."""
    t_anchor, cause = anchor
    since = f"{opts.bound:g} s after the last disturbance ({brief(cause)} at {_secs(t_anchor)})"
    here = [s for s in spans if _covers(s, at)]
    if not here:
        if not late:
            return "still failing over when the run ended, within the bound"
        before = [s for s in spans if s.end <= at]
        left = before[-1].closed_by if before else None
        message = f"desktop {agent} is not signed in on any node {since}"
        return Violation(CONVERGE, message, proof(cause, left))
    span = here[0]
    if span.closed_by is not None and span.end < run.end:
        message = (
            f"desktop {agent} had converged on {span.node} but left it at {_secs(span.end)}, "
            f"with no disturbance after {_secs(t_anchor)}"
        )
        return Violation(CONVERGE, message, proof(cause, span.opened_by, span.closed_by))
    # "Exactly one node": another client of the same agent (its IP phone) must not be elsewhere.
    for other in run.client_spans("ippa", agent):
        if _covers(other, at) and other.node != span.node:
            message = f"agent {agent} is on {span.node} (desktop) and {other.node} (IP phone) {since}"
            return Violation(CONVERGE, message, proof(cause, span.opened_by, other.opened_by))
    return "converged" if late else "converged before the run ended (within the bound)"


# -- 4. an agent is never signed in on both nodes at once (outside the race window) ---------------------
ONE_NODE = "one-node-per-agent"


def _opens_race(ev: AnyEntry) -> bool:
    """A moment the agent's session on its node became doubtful: from then, the node may still think
    the agent is there until its forced logout lands."""
    if isinstance(ev.event, ClientAction):
        return ev.event.action in SESSION_BREAKERS
    return isinstance(ev.event, NetworkGlitch | BrowserClose | BrowserCrash | BrowserRefresh) or (
        isinstance(ev.event, FailoverDetected) and ev.source in ("desktop", "ippa")
    )


def _call_end(run: RunView, call: AnyEntry) -> float | None:
    # talk_time and answer_after are the scenario's emulated seconds; answer_after defaults to the spec's 1.
    if not isinstance(call.event, Call) or call.event.talk_time is None:
        return None
    return run.at(call) + call.event.answer_after + call.event.talk_time


def race_window(run: RunView, agent: str, t: float, opts: Options) -> tuple[float, AnyEntry] | None:
    """The end of the race window holding ``t`` and the event that opened it, or None.

    It opens at the agent's last glitch, browser action or failover detection before ``t`` and lasts
    ``race_window`` (120 s to notice a silent client + 60 s before the forced logout); when the agent
    is on a call, the forced logout waits for the call to end, so the window lasts at least until then.
    """
    events = [e for e in run.agent_events(agent) if run.at(e) <= t + opts.margin]
    openers = [e for e in events if _opens_race(e)]
    if not openers:
        return None
    opener = openers[-1]
    if isinstance(opener.event, FailoverDetected):
        # A failover that follows a glitch or a browser action is its consequence: Cisco's
        # 180 s run from the cause, not from the desktop noticing it.
        causes = [
            o for o in openers
            if not isinstance(o.event, FailoverDetected) and run.at(opener) - opts.race_window <= run.at(o)
        ]  # fmt: skip
        opener = causes[-1] if causes else opener
    end = run.at(opener) + opts.race_window
    for call in (e for e in events if isinstance(e.event, Call) and e.source == "scenario"):
        call_end = _call_end(run, call)
        if call_end is not None and call_end >= run.at(opener):
            end = max(end, call_end)
    return end, opener


def one_node_per_agent(run: RunView, opts: Options, notes: list[str]) -> Checked:
    out: list[Violation] = []
    node_view = {e.event.agent for e in run.node_events(AgentSignedIn)}
    agents = sorted(set(run.agents("desktop")) | set(run.agents("ippa")) | node_view)
    both = 0  # agents seen on two nodes: the only ones whose views can overlap
    for agent in agents:
        spans = run.client_spans("desktop", agent) + run.client_spans("ippa", agent)
        spans += run.node_view_spans(agent)
        both += len({s.node for s in spans}) > 1
        for a, b in combinations(spans, 2):
            found = _overlap(run, agent, a, b, opts)
            if found is not None:
                out.append(found)
    if node_view:
        notes.append(
            f"the nodes' own view compared with the clients': {len(node_view)} agents signed in on a "
            "node (finesse-*/agent_signed_in until agent_signed_out or forced_logout)"
        )
    else:
        notes.append(
            "only the clients' own views compared: the history has no finesse-*/agent_signed_in "
            "(with agent_signed_out, forced_logout) events giving the nodes' view"
        )
    notes.append(f"{len(agents)} agents")
    return Checked(out, both, "agents signed in on both nodes at some time")


def _whose(span: Span) -> str:
    """Whose view a span is: a client's (desktop, ippa) or the node's own."""
    return "its own view" if span.who == span.node else span.who


def _overlap(run: RunView, agent: str, a: Span, b: Span, opts: Options) -> Violation | None:
    if a.node == b.node:
        return None
    start, end = max(a.start, b.start), min(a.end, b.end)
    if end <= start:
        return None
    window = race_window(run, agent, start, opts)
    if window is not None and end <= window[0] + opts.margin:
        return None
    where = f"{a.node} ({_whose(a)}) and {b.node} ({_whose(b)})"
    message = f"agent {agent} signed in on {where} at once from {_secs(start)} to {_secs(end)}"
    if window is None:
        message += ", with no glitch, browser action or failover to explain it"
        opener = None
    else:
        message += f", beyond the race window opened by {brief(window[1])} (it ends at {_secs(window[0])})"
        opener = window[1]
    return Violation(ONE_NODE, message, proof(opener, a.opened_by, b.opened_by, a.closed_by, b.closed_by))


# -- 5. a desktop does not go back by itself ------------------------------------------------------------
NO_RETURN = "no-return-after-move"


def _trouble(run: RunView, agent: str, node: str, start: float, end: float, margin: float) -> Interval | None:
    """Something that made ``node`` fail for this desktop between ``start`` and ``end``."""
    candidates = run.out_of_service(node) + run.fault_intervals(node)
    candidates += [i for i, lost in run.glitches(agent) if lost in (None, node)]
    for i in sorted(candidates, key=lambda i: i.start):
        if i.start <= end and i.end >= start - margin:
            return i
    return None


def no_return_after_move(run: RunView, opts: Options, notes: list[str]) -> Checked:
    out: list[Violation] = []
    movers = 0
    for agent in run.agents("desktop"):
        moves = [m for e in run.client_events("desktop", agent) if (m := e.of(Moved)) is not None]
        spans = run.client_spans("desktop", agent)
        if not moves or not spans:
            continue
        movers += 1
        visited = {spans[0].node}
        arrival: AnyEntry = spans[0].opened_by
        for move in moves:
            left, to = move.event.from_, move.event.to
            back = left is not None and to in visited and to != left
            # Going back is only normal when the node it left failed after it arrived there
            # (docs/desktop.md: "if the new node fails later, the old one is simply the other node").
            if back and _trouble(run, agent, str(left), run.at(arrival), run.at(move), opts.margin) is None:
                message = (
                    f"desktop {agent} went back to {to} at {_secs(run.at(move))} although {left}, where "
                    f"it had been since {_secs(run.at(arrival))}, did not fail meanwhile "
                    "(no OUT_OF_SERVICE, no fault on it or its Prosody, no network glitch)"
                )
                out.append(Violation(NO_RETURN, message, proof(arrival, move)))
            visited.add(to)
            arrival = move
    return Checked(out, movers, "desktops that moved")


# -- 6. cached credentials are honoured for exactly 30 minutes ----------------------------------------
CACHE = "credential-cache-30-min"
AWDB_DOWN = frozenset({"awdb_unavailable", "awdb_timeout"})


def credential_cache(run: RunView, opts: Options, notes: list[str]) -> Checked:
    auths = run.node_events(Auth)
    if not auths:
        raise NotCheckable(
            "the history has no finesse-*/auth events; needed: one per authentication, "
            "{source: finesse-a, event: auth, agent: '1000', ok: true, via: cache|awdb-a|awdb-b, "
            "reason: awdb_unavailable|awdb_timeout|bad_credentials|...}"
        )
    out: list[Violation] = []
    filled: dict[tuple[str, str], Entry[Auth]] = {}  # the AWDB success that filled each node's entry
    judged = 0  # answers from the cache, and refusals with the AWDBs unreachable
    for ev in auths:
        key = (ev.source, ev.event.agent)
        via, ok, reason = ev.event.via, ev.event.ok, ev.event.reason
        judged += (ok and via == "cache") or (not ok and reason in AWDB_DOWN)
        entry = filled.get(key)
        age = run.at(ev) - run.at(entry) if entry is not None else None
        # The lifetime the node had when it filled the entry: its own when configured (the event
        # says so, finesse.credential_cache), else Cisco's 30 minutes.
        ttl = entry.event.cache_ttl if entry is not None and entry.event.cache_ttl else opts.cache_ttl
        lives = f"{ttl / 60:g} min"
        if ok and isinstance(via, str) and via.startswith("awdb"):
            filled[key] = ev
        elif ok and via == "cache" and (age is None or age > ttl + opts.margin):
            when = "with no AWDB success before" if age is None else f"{age:.0f} s after the AWDB success"
            message = f"{ev.source} authenticated {key[1]} from its cache {when}: the entry lives {lives}"
            out.append(Violation(CACHE, message, proof(entry, ev)))
        elif not ok and reason in AWDB_DOWN and age is not None and age < ttl - opts.margin:
            message = (
                f"{ev.source} refused {key[1]} ({reason}) {age:.0f} s after an AWDB success: "
                f"cached credentials must be honoured for {lives} even with both AWDBs down"
            )
            out.append(Violation(CACHE, message, proof(entry, ev)))
    notes.append(f"{len(auths)} authentications")
    return Checked(out, judged, "authentications from the cache or refused with the AWDBs unreachable")


# -- 7. forced logouts carry code 255 --------------------------------------------------------------------
REASON_CODE = "forced-logout-code-255"


def forced_logout_code(run: RunView, opts: Options, notes: list[str]) -> Checked:
    logouts = run.node_events(ForcedLogout)
    if not logouts and run.node_events(AgentSignedIn):
        # The nodes log their sessions (event_log), and with them their forced logouts: none happened.
        return Checked([], 0, "forced logouts")
    if not logouts:
        raise NotCheckable(
            "the history has no finesse-*/forced_logout events (none happened, or nodes do not record "
            "them yet); needed: {source: finesse-a, event: forced_logout, agent: '1000', reason_code: 255}"
        )
    out: list[Violation] = []
    for ev in logouts:
        code = ev.event.reason_code
        if code != opts.reason_code:
            who = f"{ev.source} forced {ev.event.agent} out"
            message = f"{who} with reason code {code!r}, not {opts.reason_code}"
            out.append(Violation(REASON_CODE, message, (ev,)))
    return Checked(out, len(logouts), "forced logouts")


# -- 8. IPPA: never moves by itself; SERVER_UNAVAILABLE only after three failed attempts ----------------
IPPA_STAYS = "ippa-stays-on-its-node"
IPPA_UNAVAILABLE = "ippa-unavailable-after-3-attempts"


def _manual_sign_in(run: RunView, agent: str, node: str, start: float, end: float) -> bool:
    """The agent exited and signed in elsewhere by hand: a ``client_action`` ``sign_in``."""
    return any(
        isinstance(e.event, ClientAction) and e.event.action == "sign_in" and node_of(e) in (None, node)
        and start <= run.at(e) <= end
        for e in run.agent_events(agent)
    )  # fmt: skip


def ippa_stays_on_its_node(run: RunView, opts: Options, notes: list[str]) -> Checked:
    out: list[Violation] = []
    phones = run.agents("ippa")
    tempted = 0  # phones that lost their node: the ones a desktop's logic would have moved
    for agent in phones:
        last: AnyEntry | None = None
        events = run.client_events("ippa", agent)
        tempted += any(isinstance(e.event, FailoverDetected) for e in events)
        for ev in events:
            node = node_of(ev)
            if node is None:
                continue
            moved = last is not None and node != node_of(last)
            if last is not None and moved and not _manual_sign_in(run, agent, node, run.at(last), run.at(ev)):
                message = (
                    f"IP Phone Agent {agent} went from {node_of(last)} to {node} at {_secs(run.at(ev))} "
                    "with no sign-in by the agent: IPPA never checks the other node"
                )
                out.append(Violation(IPPA_STAYS, message, proof(last, ev)))
            last = ev
    notes.append(f"{len(phones)} IP Phone Agents")
    return Checked(out, tempted, "IP Phone Agents that lost their node")


IPPA_RESETS = frozenset({"SIGNED_IN", "SIGN_IN_SCREEN", "SIGNING_IN", "SIGNED_OUT"})


def ippa_unavailable_after_attempts(run: RunView, opts: Options, notes: list[str]) -> Checked:
    out: list[Violation] = []
    need = opts.ippa_attempts * opts.ippa_poll  # the first attempt comes one poll after detection
    shown = 0
    for agent in run.agents("ippa"):
        detected: AnyEntry | None = None
        for ev in run.client_events("ippa", agent):
            e = ev.event
            if isinstance(e, FailoverDetected):
                detected = detected or ev
            elif isinstance(e, State) and e.to in IPPA_RESETS:
                detected = None
            elif isinstance(e, State) and e.to == "SERVER_UNAVAILABLE":
                shown += 1
                found = _too_early(run, agent, detected, ev, need, opts)
                if found is not None:
                    out.append(found)
            elif isinstance(e, ServerUnavailable):
                attempts = e.attempts
                if attempts is not None and attempts < opts.ippa_attempts:
                    message = (
                        f"IP Phone Agent {agent} declared the server unavailable after {attempts} attempts"
                    )
                    out.append(Violation(IPPA_UNAVAILABLE, message, proof(detected, ev)))
    notes.append(f"at least {need:g} s after detection")
    return Checked(out, shown, "SERVER_UNAVAILABLE screens")


def _too_early(
    run: RunView,
    agent: str,
    detected: AnyEntry | None,
    ev: AnyEntry,
    need: float,
    opts: Options,
) -> Violation | None:
    if detected is None:
        message = f"IP Phone Agent {agent} showed SERVER_UNAVAILABLE with no failure detected before it"
        return Violation(IPPA_UNAVAILABLE, message, (ev,))
    after = run.at(ev) - run.at(detected)
    if after < need - opts.tolerance:
        message = (
            f"IP Phone Agent {agent} showed SERVER_UNAVAILABLE {after:.2f} s after detecting the failure: "
            f"three failed attempts 5 s apart take at least {need:g} s"
        )
        return Violation(IPPA_UNAVAILABLE, message, proof(detected, ev))
    return None


# -- 9. every desktop failover finishes --------------------------------------------------------------
FAILOVERS_FINISH = "failovers-finish"
# Events that end a failover without failover_done: the user closed, crashed or refreshed the
# browser, or the SSO token expired.
FAILOVER_ABANDONED = (BrowserClose, BrowserCrash, BrowserRefresh, TokenExpired)


def failovers_finish(run: RunView, opts: Options, notes: list[str]) -> Checked:
    out: list[Violation] = []
    pending = 0
    nodes = run.nodes()
    detected = len(run.of(FailoverDetected, "desktop"))
    for agent in run.agents("desktop"):
        events = run.client_events("desktop", agent)
        open_at: AnyEntry | None = None
        for ev in events:
            e = ev.event
            if isinstance(e, FailoverDetected):
                open_at = open_at or ev
            elif isinstance(e, FailoverDone):
                if open_at is None:
                    message = f"desktop {agent} reported failover_done with no failover_detected before it"
                    out.append(Violation(FAILOVERS_FINISH, message, (ev,)))
                open_at = None
            elif isinstance(e, FAILOVER_ABANDONED) or (isinstance(e, State) and e.to == "SIGNED_OUT"):
                open_at = None
        if open_at is None:
            continue
        t_anchor, anchor = run.anchor(agent)
        deadline = max(run.at(open_at), t_anchor) + opts.bound
        up = not nodes or any(run.in_service_at(n, deadline) for n in nodes)
        if deadline >= run.end or not up:
            pending += 1
            continue
        message = (
            f"desktop {agent} detected a failover at {_secs(run.at(open_at))} and never finished it; "
            f"the run went on {run.end - deadline:.2f} s past the bound ({opts.bound:g} s after "
            f"{_secs(max(run.at(open_at), t_anchor))})"
        )
        out.append(Violation(FAILOVERS_FINISH, message, proof(open_at, anchor, events[-1])))
    notes.append(f"{pending} still running at the end (within the bound or no node up)")
    return Checked(out, detected, "desktop failovers detected")


INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        NO_PUBLISH, "no event published by a node while OUT_OF_SERVICE (SystemInfo excepted)",
        no_publish_while_out_of_service,
        "a node out of service while it runs: its Prosody or the active CTI side down (a killed node "
        "publishes nothing and proves nothing)",
    ),
    Invariant(
        NO_REST, "no 2xx REST answer from a node while OUT_OF_SERVICE (SystemInfo excepted)",
        no_rest_success_while_out_of_service,
        "REST requests other than SystemInfo to a running node out of service (its Prosody or the "
        "active CTI side down; chaos-run's API client asks every two emulated seconds)",
    ),
    Invariant(
        CONVERGE, "every desktop on exactly one node within the bound after the last disturbance",
        desktops_converge, "desktops signed in at the end of the run",
    ),
    Invariant(
        ONE_NODE, "an agent never signed in on two nodes at once outside the race window", one_node_per_agent,
        "agents that move to the other node: a node killed, a network glitch",
    ),
    Invariant(
        NO_RETURN, "a desktop goes back to a node it left only if its new node failed", no_return_after_move,
        "desktops that move: a node or its Prosody killed, a network glitch",
    ),
    Invariant(
        CACHE, "cached credentials honoured for exactly 30 minutes", credential_cache,
        "authentications answered from the cache (requests after a sign-in, a browser refresh) or "
        "refused with both AWDBs unreachable",
    ),
    Invariant(
        REASON_CODE, "forced logouts carry reason code 255", forced_logout_code,
        "a forced logout: a browser closed (60 s) or crashed (120 + 60 s) while its node stays IN_SERVICE",
    ),
    Invariant(
        IPPA_STAYS, "an IP Phone Agent never moves to the other node by itself", ippa_stays_on_its_node,
        "IP Phone Agents in the swarm and their node killed",
    ),
    Invariant(
        IPPA_UNAVAILABLE, "IPPA shows SERVER_UNAVAILABLE only after 3 failed attempts (15 s)",
        ippa_unavailable_after_attempts,
        "IP Phone Agents whose node stays down longer than three attempts (15 s)",
    ),
    Invariant(
        FAILOVERS_FINISH, "every desktop failover_detected is followed by failover_done", failovers_finish,
        "desktop failovers: a node, its Prosody or the active CTI side down, a network glitch",
    ),
)  # fmt: skip
