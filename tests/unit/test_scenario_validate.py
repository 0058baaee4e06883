"""``run --check-only``: every problem of a scenario file at once, each at its file:line, a "did you
mean" for a misspelt key, step, condition or check, exit 2 when there is one, nothing run; ``run``
itself refuses such a file the same way before starting anything. Every shipped scenario is clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from finesse_emu import cli
from finesse_emu.runs.scenario.catalog import shipped
from finesse_emu.runs.scenario.validate import Lines, check_file, did_you_mean

BROKEN = """\
name: broken
stpes: []
deployment: {agents: 4, time_scael: 0.05}
swarm: {desktop: 4}
steps:
  - phase: sign in
  - untl: {all_signed_in: true}
  - until: {all_signed_inn: true}
    timeout: 10
  - fault: {action: kil, target: publisher}
  - expect:
      name: x
      desktops_onn: {finesse-a: 1}
      failover_seconds: {max: 60}
      cti_calls: many
      node_status: 5
"""


def test_every_problem_at_its_line_with_a_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    found = [(p.line, p.message) for p in check_file(path)]
    assert [line for line, _ in found] == [2, 3, 4, 7, 8, 10, 13, 15, 16]
    messages = "\n".join(m for _, m in found)
    assert "unknown key 'stpes' (did you mean 'steps'?)" in messages
    assert "unknown deployment key 'time_scael' (did you mean 'time_scale'?)" in messages
    assert "unknown swarm key 'desktop' (did you mean 'desktops'?)" in messages
    assert "step 2: unknown step 'untl' (did you mean 'until'?)" in messages
    assert "step 3 (until): unknown condition 'all_signed_inn' (did you mean 'all_signed_in'?)" in messages
    assert "step 4 (fault): fault action must be one of" in messages
    assert "step 5 (expect): unknown check 'desktops_onn' (did you mean 'desktops_on'?)" in messages
    assert "cti_calls needs {queued: N, calls: N}" in messages
    # the model's own words for a type its kind's parser does not check
    assert "step 5: steps.4.expect.node_status: Input should be a valid dictionary" in messages
    assert str(check_file(path)[0]).startswith(f"{path}:2: unknown key 'stpes'")


def test_a_whole_file_rule_and_yaml_errors_have_their_line(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: x\ndeployment: {agents: 2}\nswarm: {desktops: 5}\nsteps:\n  - wait: 1\n")
    (problem,) = check_file(path)
    assert problem.line == 3 and "swarm.desktops (5) exceeds deployment.agents (2)" in problem.message
    path.write_text("name: x\nsteps:\n  - wait: [1\n")
    (problem,) = check_file(path)
    assert problem.line == 4 and problem.message.startswith("not YAML")
    (missing,) = check_file(tmp_path / "none.yaml")
    assert str(missing).startswith(f"{tmp_path / 'none.yaml'}: cannot read it")


def test_lines_and_suggestions() -> None:
    import yaml

    lines = Lines(yaml.compose("a: 1\nb:\n  - x: 2\n  - y: 3\n"))
    assert (lines.of("a"), lines.of("b"), lines.of("b", 1), lines.of("b", 1, "y"), lines.of("zz")) == (
        1,
        2,
        4,
        4,
        1,
    )
    assert did_you_mean("stpes", ["steps", "swarm"]) == " (did you mean 'steps'?)"
    assert did_you_mean("zzzz", ["steps"]) == ""


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.stem)
def test_every_shipped_scenario_is_clean(path: Path) -> None:
    assert check_file(path) == []


def test_check_only_exits_2_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text(BROKEN)
    report_dir = tmp_path / "reports"
    assert (
        cli.main(["run", "--check-only", str(bad), "publisher-killed", "--report-dir", str(report_dir)]) == 2
    )
    out = capsys.readouterr()
    assert "publisher-killed.yaml: ok" in out.out
    assert out.err.count(f"{bad}:") == 9
    assert out.err.endswith("finesse-emu run: 9 problem(s) in 1 file(s), nothing run\n")
    assert cli.main(["run", "--check-only", "publisher-killed"]) == 0
    # run refuses the file the same way, before starting anything
    assert cli.main(["run", str(bad), "--report-dir", str(report_dir)]) == 2
    assert capsys.readouterr().err.count(f"{bad}:") == 9
    assert not report_dir.exists()
    assert cli.main(["run", "--check-only", "publisher-kiled"]) == 2
    assert "(did you mean publisher-killed or" in capsys.readouterr().err
