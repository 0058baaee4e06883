"""The agent directory every component shares: voice-only by default, chat and email by option."""

from __future__ import annotations

from pathlib import Path

import pytest

from emu_base.directory import CHAT_AND_EMAIL, NON_VOICE_MRDS, generate, parse_spec, resolve, spec_count


def test_the_default_directory_is_voice_only() -> None:
    # A voice sign-in publishes a Media event per non-voice MRD: the default has none.
    assert all(a.non_voice_mrds == () for a in resolve(None))
    assert all(a.non_voice_mrds == () for a in resolve("30"))
    assert all(a.non_voice_mrds == () for a in generate(30))


def test_chat_and_email_are_named_in_the_agents_spec() -> None:
    agents = resolve("30+chat+email")
    assert [a.id for a in agents] == [a.id for a in generate(30)]
    assert all(a.non_voice_mrds == CHAT_AND_EMAIL == (5000, 5001) for a in agents)
    assert all(a.non_voice_mrds == (NON_VOICE_MRDS["chat"],) for a in resolve("3+chat"))
    # One order and no repeats, whatever the spec's order.
    assert parse_spec("4+email+chat+email") == (4, CHAT_AND_EMAIL)
    assert spec_count("4+email") == 4 and spec_count(7) == 7


def test_a_spec_with_an_unknown_mrd_is_refused_and_a_path_is_no_spec() -> None:
    with pytest.raises(ValueError, match="unknown MRD"):
        parse_spec("4+fax")
    assert parse_spec("agents.yaml") is None
    with pytest.raises(ValueError):
        spec_count("agents.yaml")


def test_an_agent_file_says_each_agents_mrds(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "- {id: '7', password: p, extension: '77'}\n"
        "- {id: '8', password: p, extension: '78', non_voice_mrds: [5000]}\n"
    )
    first, second = resolve(str(path))
    assert (first.non_voice_mrds, second.non_voice_mrds) == ((), (5000,))


def test_a_scenario_opts_in_through_its_deployments_agents() -> None:
    from finesse_emu.runs.scenario.base import ScenarioError
    from finesse_emu.runs.scenario.spec import parse

    steps = [{"phase": "start"}]
    opted = parse({"name": "s", "deployment": {"agents": "8+chat+email"}, "steps": steps})
    assert (opted.agents, opted.agent_spec) == (8, "8+chat+email")
    plain = parse({"name": "s", "deployment": {"agents": 8}, "steps": steps})
    assert (plain.agents, plain.agent_spec) == (8, "8")
    with pytest.raises(ScenarioError, match="unknown MRD"):
        parse({"name": "s", "deployment": {"agents": "8+fax"}, "steps": steps})
