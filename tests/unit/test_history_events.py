"""The history's typed contract (emu_base.history_events): every event the checker or the report
reads has an emitter in the components, no component writes one of those names by hand, and each
class goes to a line and back unchanged, through the history writer and through a component's log.

Renaming an event is then a change of one class; dropping its emitter, or logging it under a name
of one's own, fails here instead of turning an invariant into "skipped".
"""

from __future__ import annotations

import ast
import io
import json
import types
import typing
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any, Union

import pytest
import structlog

from emu_base.clock import ManualClock
from emu_base.history import History
from emu_base.history_events import (
    EVENTS,
    HistoryEvent,
    Publish,
    State,
    Untyped,
    emit,
    parse_entry,
    parse_event,
)
from finesse_emu.runs.check import check_history
from finesse_emu.runs.history import ingest_logs

ROOT = Path(__file__).resolve().parents[2]
# Who reads the history: the checker, the report, the failover benchmark.
READERS = [
    *sorted((ROOT / "finesse_emu/runs/check").glob("*.py")),
    *sorted((ROOT / "finesse_emu/runs/report").glob("*.py")),
    ROOT / "finesse_emu/runs/scenario/failover_bench.py",
]
# Who writes it: every component and client, the scenario runner and the observer.
EMITTERS = [
    p
    for base in ("finesse_emu", "cti_stub", "awdb_stub")
    for p in sorted((ROOT / base).rglob("*.py"))
    if p not in READERS
]
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "msg"}
BY_CLASS = {cls.__name__: cls for cls in EVENTS.values()}


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def read_classes() -> set[str]:
    """The event classes the readers import from emu_base.history_events."""
    names: set[str] = set()
    for path in READERS:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module == "emu_base.history_events":
                names.update(a.name for a in node.names if a.name in BY_CLASS)
    return names


def _bindings(tree: ast.Module) -> tuple[dict[str, str], set[str]]:
    """What a module calls the event classes (local name -> class) and the module itself."""
    classes: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "emu_base.history_events":
            classes.update({a.asname or a.name: a.name for a in node.names if a.name in BY_CLASS})
        elif isinstance(node, ast.ImportFrom) and node.module == "emu_base":
            modules.update(a.asname or a.name for a in node.names if a.name == "history_events")
    return classes, modules


@cache
def emit_sites() -> dict[str, list[str]]:
    """Event class -> the places that construct it (``State(...)``, ``history.Publish(...)``,
    ``(Heal if h else Fault)(...)``) in the emitters; names resolved through the module's imports,
    so another ``ForcedLogout`` or ``Request`` does not count."""
    sites: dict[str, list[str]] = {}
    for path in EMITTERS:
        tree = _tree(path)
        classes, modules = _bindings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for part in ast.walk(node.func):
                name = None
                if isinstance(part, ast.Name):
                    name = classes.get(part.id)
                elif isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name):
                    name = part.attr if part.value.id in modules and part.attr in BY_CLASS else None
                if name is not None:
                    sites.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return sites


def test_the_readers_read_typed_events() -> None:
    read = read_classes()
    # The checker's and the report's staples: if these vanish from the imports, the scan is broken.
    assert {"Publish", "Request", "Auth", "ForcedLogout", "AgentSignedIn", "State", "Status"} <= read


@pytest.mark.parametrize("name", sorted(read_classes()))
def test_every_event_a_reader_uses_has_an_emitter(name: str) -> None:
    assert emit_sites().get(name), f"{name} ({BY_CLASS[name].NAME!r}) is read but no component emits it"


def test_no_component_logs_a_history_event_by_name() -> None:
    """A log line named as a history event must be that event: built by its class and emit()."""
    by_hand = []
    for path in EMITTERS:
        for node in ast.walk(_tree(path)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in EVENTS
            ):
                by_hand.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.args[0].value}")
    assert not by_hand


def sample(hint: Any, key: str) -> Any:
    """A value of the declared type (the first member of a union that is not None)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        return sample(next(h for h in typing.get_args(hint) if h is not type(None)), key)
    if typing.get_origin(hint) is list:
        return [f"{key}-1", f"{key}-2"]
    return {bool: True, int: 7, float: 2.5, str: f"{key}-x"}[hint]


def instance(cls: type[HistoryEvent]) -> HistoryEvent:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: sample(hints[f.name], f.name) for f in fields(cls)})


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_each_event_goes_to_a_history_line_and_back(name: str) -> None:
    event = instance(EVENTS[name])
    history = History(clock=ManualClock())
    line = json.loads(json.dumps(history.record("desktop", event)))
    assert line["event"] == name
    entry = parse_entry(line)
    assert entry is not None and entry.event == event and entry.name == name


def test_emit_writes_one_log_line_that_the_history_reads_typed(tmp_path: Path) -> None:
    out = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(out),
        # Its own wrapper: another test's structlog.configure (a CLI run in-process at a quieter
        # level) must not filter this info line out.
        wrapper_class=structlog.BoundLogger,
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
    )
    event = Publish(node="/finesse/api/User/1000", verb="PUT", status="IN_SERVICE")
    emit(event, logger)
    log = tmp_path / "finesse-a.log"
    log.write_text(out.getvalue())
    start = {"t": 0.0, "wall": 0.0, "source": "scenario", "event": "start"}  # the log line's t: its epoch
    merged = ingest_logs([start], {"finesse-a": log})
    entries = [e for line in merged if (e := parse_entry(line)) is not None and e.source == "finesse-a"]
    assert [(e.name, e.event) for e in entries] == [("publish", event)]


def test_a_renamed_node_event_is_not_read_as_the_old_one() -> None:
    """A node logging publishes under a name of its own leaves the checker without them: the rule is
    skipped (which the emitter test above prevents), never fed a wrong event."""
    line = {"t": 1.0, "wall": 1.0, "source": "finesse-a", "node": "/finesse/api/User/1000"}
    renamed = parse_entry(line | {"event": "finesse_publish"})
    assert renamed is not None and isinstance(renamed.event, Untyped)
    (outcome,) = check_history([renamed], only=["no-publish-while-out-of-service"]).outcomes
    assert outcome.status == "skipped"
    (outcome,) = check_history([line | {"event": Publish.NAME}], only=[outcome.name]).outcomes
    assert outcome.status != "skipped"


def test_unknown_names_and_ill_typed_fields_never_crash() -> None:
    assert parse_event("chat_started", {"peer": "1001"}) == Untyped(name="chat_started", raw={"peer": "1001"})
    # A wrong type takes the field's default; a required field without a usable value leaves the
    # line untyped.
    assert parse_event("expectation", {"name": "x", "ok": "true"}).fields() == {"name": "x", "ok": False}
    assert isinstance(parse_event("state", {"agent": "1", "to": 3}), Untyped)
    assert parse_event("failover_done", {"agent": "1", "seconds": True}) == parse_event(
        "failover_done", {"agent": "1"}
    )
    # JSON has no float type: an integer is one; "from" is the attribute from_.
    state = parse_event("state", {"agent": "1", "from": "SIGNED_IN", "to": "FAILING_OVER"})
    assert state == State(agent="1", from_="SIGNED_IN", to="FAILING_OVER")
    assert parse_event("network_glitch", {"agent": "1", "seconds": 5}).fields()["seconds"] == 5.0


def test_the_writer_refuses_a_typed_event_by_name() -> None:
    history = History(clock=ManualClock())
    with pytest.raises(ValueError, match="record State"):
        history.append("desktop", "state", agent="1", to="SIGNED_IN")
    history.append("desktop", "chat_started", agent="1", peer="1001")  # untyped: by name
    history.record("desktop", State(agent="1", to="SIGNED_IN"))
    assert [e["event"] for e in history.of(State)] == ["state"]
