"""The shipped scenarios (package data): found by name from any directory, listed with their first
line, a near name suggested for a typo, and carried by the package's data files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from finesse_emu import cli
from finesse_emu.runs.scenario import catalog
from finesse_emu.runs.scenario.spec import ScenarioError, load

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_scenarios_live_in_the_package_and_its_data_files() -> None:
    assert catalog.SHIPPED_DIR == ROOT / "finesse_emu" / "scenarios"
    assert catalog.DEMO in catalog.names() and len(catalog.names()) >= 20
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "scenarios/*.yaml" in data["finesse_emu"]
    assert not (ROOT / "scenarios").exists()


def test_run_names_resolve_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert catalog.resolve("publisher-killed") == catalog.SHIPPED_DIR / "publisher-killed.yaml"
    assert catalog.resolve("publisher-killed.yaml") == catalog.SHIPPED_DIR / "publisher-killed.yaml"
    (tmp_path / "publisher-killed.yaml").write_text("name: mine\n")
    assert catalog.resolve("publisher-killed.yaml") == Path("publisher-killed.yaml")  # a file wins
    assert catalog.resolve(tmp_path / "no" / "x.yaml") == tmp_path / "no" / "x.yaml"
    with pytest.raises(ScenarioError, match=r"\(did you mean publisher-killed or "):
        catalog.resolve("publisher-kiled")


def test_scenarios_list_and_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["scenarios", "list"]) == cli.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(catalog.names())
    line = next(x for x in lines if x.startswith("publisher-killed "))
    assert "The publisher's server dies" in line
    assert cli.main(["scenarios", "show", "publisher-killed"]) == cli.EXIT_OK
    shown = capsys.readouterr().out
    assert shown == (catalog.SHIPPED_DIR / "publisher-killed.yaml").read_text()
    assert cli.main(["scenarios", "show", "nope-such"]) == cli.EXIT_USAGE
    assert "nope-such" in capsys.readouterr().err


def test_every_shipped_scenario_loads() -> None:
    for path in catalog.shipped():
        assert load(path).name
