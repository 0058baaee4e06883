"""REST fault rules (finesse_emu/server/rest_rules.py) and their fault kind (emu_base/faults.py)."""

from __future__ import annotations

from typing import Any

import pytest
from defusedxml import ElementTree as DET

from emu_base import faults as F
from finesse_emu.server.rest_rules import RestRule, RestRules, error_answer


def rule(rule_id: str = "rest_rule-1", **params: Any) -> RestRule:
    return RestRule.of(rule_id, F.REST_RULE.validate({"path": "/finesse/api/User/*", **params}))


def test_a_rule_matches_method_and_path_glob() -> None:
    rules = RestRules()
    rules.add(rule(method="put"))
    assert rules.match("GET", "/finesse/api/User/1001") is None
    assert rules.match("PUT", "/finesse/api/Dialog/1") is None
    firing = rules.match("PUT", "/finesse/api/User/1001")
    assert firing is not None and firing.status == 503 and firing.rule == "rest_rule-1"


def test_count_then_the_requests_pass() -> None:
    rules = RestRules()
    rules.add(rule(count=2))
    hits = [rules.match("GET", "/finesse/api/User/1") for _ in range(4)]
    assert [h is not None for h in hits] == [True, True, False, False]


def test_the_oldest_matching_rule_decides_and_removal_by_id() -> None:
    rules = RestRules()
    rules.add(rule("a", status=500, count=1))
    rules.add(rule("b", status=404))
    assert [getattr(rules.match("GET", "/finesse/api/User/1"), "rule", None) for _ in range(3)] == [
        "a",
        "b",
        "b",
    ]
    rules.remove("b")
    assert rules.match("GET", "/finesse/api/User/1") is None and len(rules) == 1


def test_probability_is_drawn_from_the_rules_seeded_rng() -> None:
    def hits(seed: int) -> list[bool]:
        rules = RestRules()
        rules.add(rule(probability=0.5, seed=seed))
        return [rules.match("GET", "/finesse/api/User/1") is not None for _ in range(200)]

    first = hits(7)
    assert first == hits(7)  # the same seed, the same requests hit
    assert 60 < sum(first) < 140  # about half (binomial 200, 0.5: far from either bound)
    never = RestRules()
    never.add(rule(probability=0.0))
    assert all(never.match("GET", "/finesse/api/User/1") is None for _ in range(50))


def test_a_delay_only_rule_lets_the_request_through() -> None:
    rules = RestRules()
    rules.add(rule(status=0, delay_ms=250))
    firing = rules.match("GET", "/finesse/api/User/1")
    assert firing is not None and firing.status == 0 and firing.delay_ms == 250.0


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "path is required"),
        ({"path": "/x", "status": 42}, "status must be 0"),
        ({"path": "/x", "status": 600}, "status must be 0..599"),
        ({"path": "/x", "probability": 1.5}, "probability must be 0..1"),
        ({"path": "/x", "count": -1}, "count must be 0.."),
        ({"path": "/x", "delay_ms": "slow"}, "delay_ms must be float"),
        ({"path": "/x", "verb": "GET"}, "takes no parameter"),
    ],
)
def test_bad_rules_are_refused(params: dict[str, Any], reason: str) -> None:
    with pytest.raises(F.FaultError) as exc:
        F.REST_RULE.validate(params)
    assert reason in str(exc.value)


def test_the_kind_is_the_finesse_nodes() -> None:
    assert F.KINDS.get("rest_rule") is F.REST_RULE and F.REST_RULE in F.KINDS.of(F.FINESSE)
    assert F.REST_RULE not in F.KINDS.of(F.CTI)


def test_an_injected_error_is_finesse_api_errors_xml() -> None:
    resp = error_answer(503)
    assert resp.status == 503 and resp.content_type == "application/xml"
    assert isinstance(resp.body, bytes)
    doc = DET.fromstring(resp.body)
    assert doc.tag == "ApiErrors" and doc.findtext("ApiError/ErrorMessage") == "SERVER_OUT_OF_SERVICE"
    doc = DET.fromstring(error_answer(500).body)  # type: ignore[arg-type]
    assert doc.findtext("ApiError/ErrorType") == "Internal Server Error"
    assert doc.findtext("ApiError/ErrorMessage") == "INTERNAL_SERVER_ERROR"
    assert error_answer(418, "<teapot/>").body == b"<teapot/>"


def test_a_scenario_injects_a_rule_checked_against_its_kind() -> None:
    from finesse_emu.runs.scenario.spec import ScenarioError, parse

    def scenario(fault: dict[str, Any]) -> dict[str, Any]:
        step = {"action": "inject", "target": "finesse-a", "fault": fault}
        return {"name": "t", "deployment": {"agents": 2}, "steps": [{"fault": step}]}

    parse(scenario({"kind": "rest_rule", "path": "/finesse/api/User/*", "status": 503, "count": 2}))
    with pytest.raises(ScenarioError, match="finesse-a: fault 'rest_rule': path is required"):
        parse(scenario({"kind": "rest_rule", "status": 503}))
    with pytest.raises(ScenarioError, match="unknown fault kind 'rest_rule'"):
        parse(
            {
                **scenario({}),
                "steps": [
                    {
                        "fault": {
                            "action": "inject",
                            "target": "cti-a",
                            "fault": {"kind": "rest_rule", "path": "/"},
                        }
                    }
                ],
            }
        )
