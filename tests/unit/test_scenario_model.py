"""The scenario file's one model (model.py), built from the step, check and condition classes: its
JSON Schema is committed beside the shipped scenarios and up to date, every shipped scenario
validates against it (with jsonschema_rs, a validator of its own, as an editor would), a misspelt
name does not, a kind added to a registry is in it at once, and spec.py's keys are the model's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from finesse_emu import cli
from finesse_emu.runs.scenario import checks, spec, steps
from finesse_emu.runs.scenario.catalog import SCHEMA_FILE, shipped
from finesse_emu.runs.scenario.model import Deployment, ScenarioFile, Swarm, json_schema, schema_text
from tests.unit.test_scenario_steps import AtLeast, Mark

VALIDATOR = jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text()))


def test_the_committed_schema_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "run: finesse-emu scenarios schema > " + str(SCHEMA_FILE)
    assert cli.main(["scenarios", "schema"]) == cli.EXIT_OK
    assert capsys.readouterr().out == schema_text()


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.stem)
def test_every_shipped_scenario_validates_against_the_schema(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    errors = [e.message for e in VALIDATOR.iter_errors(data)]
    assert not errors, errors


def doc(*step_list: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": "x", "deployment": {"agents": 2}, "steps": list(step_list), **top}


@pytest.mark.parametrize(
    "bad",
    [
        doc({"wait": 1}, stpes=[]),  # an unknown key
        doc({"wait": 1}, swarm={"desktop": 2}),
        doc({"untl": {"all_signed_in": True}}),  # an unknown step
        doc({"wait": 1, "phase": "two kinds"}),
        doc({"expect": {"name": "x", "desktops_onn": {"finesse-a": 1}}}),  # an unknown check
        doc({"expect": {"name": "x", "node_status": 5}}),  # a check's argument of the wrong type
        doc({"until": {"all_signed_in": True, "calls_settled": True}}),  # two conditions
        doc({"fault": {"action": "kil", "target": "publisher"}}),
        doc({"fault": {"action": "kill", "target": "finesse-c"}}),
        doc({"wait": -1}),
        doc(),  # no steps
    ],
)
def test_a_wrong_file_does_not_validate(bad: dict[str, Any]) -> None:
    assert not VALIDATOR.is_valid(bad)


def test_good_documents_validate() -> None:
    assert VALIDATOR.is_valid(
        doc({"until": {"desktops_on": {"finesse-b": "all"}}, "timeout": 60}, {"wait": 5})
    )
    assert VALIDATOR.is_valid(doc({"fault": {"action": "kill", "target": ["cti-a", "publisher"]}}))


def test_a_kind_added_to_a_registry_is_in_the_model_at_once() -> None:
    assert "MarkStep" not in json.dumps(json_schema())
    steps.STEPS.add(Mark())
    checks.CHECKS.add(AtLeast())
    try:
        schema = json_schema()
        assert "MarkStep" in schema["$defs"]
        assert "at_least" in schema["$defs"]["ExpectValue"]["properties"]
        assert spec.parse(doc({"mark": "here"}, {"expect": {"name": "n", "at_least": 2}})).steps
    finally:
        steps.STEPS.remove("mark")
        checks.CHECKS.remove("at_least")
    assert "MarkStep" not in json.dumps(json_schema())


def test_the_parser_keys_are_the_model_fields() -> None:
    assert tuple(ScenarioFile.model_fields) == spec.TOP_KEYS
    assert tuple(Deployment.model_fields) == spec.DEPLOYMENT_KEYS
    assert tuple(Swarm.model_fields) == spec.SWARM_KEYS
    # The parser reports what only the model checks: a check's argument type.
    with pytest.raises(
        spec.ScenarioError, match=r"steps\.0\.expect\.node_status: Input should be a valid dict"
    ):
        spec.parse(doc({"expect": {"name": "x", "node_status": 5}}))
