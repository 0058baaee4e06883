"""The scenarios shipped with the package (``finesse_emu/scenarios/*.yaml``, package data, so an
installed wheel carries them): ``finesse-emu scenarios list``, ``run NAME``, ``demo`` from any
directory."""

from __future__ import annotations

import difflib
from pathlib import Path

from finesse_emu.runs.scenario.base import ScenarioError

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "scenarios"
DEMO = "publisher-killed"
SCHEMA_FILE = SHIPPED_DIR / "scenario.schema.json"  # finesse-emu scenarios schema, committed


def shipped() -> list[Path]:
    """Every shipped scenario file, by name."""
    return sorted(SHIPPED_DIR.glob("*.yaml"))


def names() -> list[str]:
    return [p.stem for p in shipped()]


def find(name: str) -> Path:
    """A shipped scenario by its name (the file's stem); ScenarioError with the nearest names."""
    name = name.removesuffix(".yaml")
    path = SHIPPED_DIR / f"{name}.yaml"
    if path.is_file():
        return path
    near = difflib.get_close_matches(name, names(), n=3)
    hint = f" (did you mean {' or '.join(near)}?)" if near else " (finesse-emu scenarios list shows them)"
    raise ScenarioError(f"{name}: no such file, nor a shipped scenario{hint}")


def resolve(arg: str | Path) -> Path:
    """``run FILE`` or ``run NAME``: an existing file wins; a bare name (no directory) is a shipped
    scenario's; a path that does not exist is returned as is (loading it says so)."""
    path = Path(arg)
    if path.exists() or path.parent != Path("."):
        return path
    return find(path.name)
