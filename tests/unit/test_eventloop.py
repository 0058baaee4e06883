"""Which event loop the desktop-running commands use ($FINESSE_EMU_LOOP)."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from emu_base import eventloop


async def _loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_by_default_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINESSE_EMU_LOOP", raising=False)
    assert eventloop.run(_loop_type()).startswith("uvloop")  # a dependency on Linux
    monkeypatch.setenv("FINESSE_EMU_LOOP", "asyncio")
    assert eventloop.loop_factory() is None
    assert eventloop.run(_loop_type()).startswith("asyncio")


def test_a_wrong_choice_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINESSE_EMU_LOOP", "trio")
    with pytest.raises(eventloop.LoopChoiceError, match="asyncio or uvloop"):
        eventloop.loop_factory()


def test_uvloop_when_asked_and_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINESSE_EMU_LOOP", "uvloop")
    if importlib.util.find_spec("uvloop") is None:
        with pytest.raises(eventloop.LoopChoiceError, match="not installed"):
            eventloop.loop_factory()
    else:
        assert eventloop.run(_loop_type()).startswith("uvloop")
