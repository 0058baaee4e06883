"""Wrap-up and call data over real sockets: REST, GED-188 and a real Prosody, as an agent sees them.

Finesse: "If wrap-up is enabled, an agent enters WORK_READY state after a call is dropped"; "If
wrap-up is enabled, and the agent chooses NOT_READY while on a call, that agent enters WORK state
after the call is dropped"; "Agents automatically transition to READY after the wrap-up timer
expires"; "Finesse desktop users can enter a WrapUp reason during a call or while you are in WrapUp
state after the call ends".
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from defusedxml import ElementTree as DET

from emu_base.directory import CHAT_AND_EMAIL, generate
from finesse_emu.desktop.xmpp import AgentXmpp
from finesse_emu.xmpp.prosody import agent_accounts
from tests.conftest import ProsodyFactory
from tests.helpers import eventually
from tests.integration.test_finesse_node import API, HOST, deployment
from tests.integration.test_finesse_node_xmpp import AGENTS, XDeployment, next_event

WRAP_UP_SECONDS = 50.0  # emulated seconds: 1 s at the deployment's time scale (0.02)


@pytest.fixture
async def dep(prosody_factory: ProsodyFactory) -> AsyncIterator[XDeployment]:
    """Agent 1008 must wrap up incoming calls, 1009 with wrap-up data, 1006 the calls it makes (their
    agent file says so); the others may not."""
    agents = generate(AGENTS, non_voice_mrds=CHAT_AND_EMAIL)
    agents[6] = dataclasses.replace(
        agents[6], extra={"wrap_up_on_outgoing": "REQUIRED", "wrap_up_time": 5000}
    )
    agents[8] = dataclasses.replace(
        agents[8], extra={"wrap_up_on_incoming": "REQUIRED", "wrap_up_time": WRAP_UP_SECONDS}
    )
    agents[9] = dataclasses.replace(
        agents[9], extra={"wrap_up_on_incoming": "REQUIRED_WITH_WRAP_UP_DATA", "wrap_up_time": 5000}
    )
    prosody = prosody_factory(domain=HOST, host=HOST, accounts=agent_accounts(AGENTS))
    await prosody.start()
    password_file = str(prosody.config.password_file)
    async with deployment(
        agents=agents, xmpp_host=HOST, xmpp_port=prosody.c2s_port, xmpp_password_file=password_file
    ) as d:
        yield XDeployment(d.a, d.b, d.awdb, d.node, d.http, prosody)


async def signed_in_ready(dep: XDeployment, agent_id: str) -> AgentXmpp:
    status, _, _ = await dep.call("GET", f"/User/{agent_id}", user=agent_id)
    assert status == 200
    xmpp = AgentXmpp(f"{agent_id}@{HOST}/emu", f"pass{agent_id}", HOST, dep.node.config.xmpp_port)
    await xmpp.connect(wait_finesse=True)
    user_node = f"{API}/User/{agent_id}"
    wanted = {(user_node, "subscribed"), (f"{user_node}/Dialogs", "subscribed")}
    await eventually(xmpp.subscriptions, f"subscribed to {wanted}", until=lambda s: wanted <= set(s))
    ext = "2" + agent_id[1:]
    login = f"<User><state>LOGIN</state><extension>{ext}</extension></User>"
    assert (await dep.call("PUT", user_node[len(API) :], user=agent_id, body=login))[0] == 202
    await next_event(xmpp, user_node, "<state>NOT_READY</state>")
    ready = "<User><state>READY</state></User>"
    assert (await dep.call("PUT", user_node[len(API) :], user=agent_id, body=ready))[0] == 202
    await next_event(xmpp, user_node, "<state>READY</state>")
    return xmpp


async def answered_call(dep: XDeployment, xmpp: AgentXmpp, agent_id: str) -> str:
    async with dep.http.post(
        f"http://{HOST}:{dep.a.admin_port}/emu/calls", json={"agent_id": agent_id, "ani": "5550001"}
    ) as resp:
        call_id = str((await resp.json())["call_id"])
    dialogs = f"{API}/User/{agent_id}/Dialogs"
    await next_event(xmpp, dialogs, "<state>ALERTING</state>")
    ext = "2" + agent_id[1:]
    body = drop(ext).replace("DROP", "ANSWER")
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user=agent_id, body=body))[0] == 202
    event = await next_event(xmpp, dialogs, "<state>ACTIVE</state>")
    assert "<action>UPDATE_CALL_DATA</action>" in event.update
    assert "<action>SEND_DTMF</action>" in event.update
    return call_id


def call_data(variables: dict[str, str], wrap_up: str | None = None) -> str:
    cvs = "".join(
        f"<CallVariable><name>{k}</name><value>{v}</value></CallVariable>" for k, v in variables.items()
    )
    reason = f"<wrapUpReason>{wrap_up}</wrapUpReason>" if wrap_up is not None else ""
    return (
        "<Dialog><requestedAction>UPDATE_CALL_DATA</requestedAction><mediaProperties>"
        f"{reason}<callvariables>{cvs}</callvariables></mediaProperties></Dialog>"
    )


def dtmf(digits: str, ext: str = "2008") -> str:
    param = f"<ActionParam><name>dtmfString</name><value>{digits}</value></ActionParam>"
    return (
        f"<Dialog><requestedAction>SEND_DTMF</requestedAction><targetMediaAddress>{ext}</targetMediaAddress>"
        f"<actionParams>{param}</actionParams></Dialog>"
    )


def drop(ext: str) -> str:
    target = f"<targetMediaAddress>{ext}</targetMediaAddress>"
    return f"<Dialog><requestedAction>DROP</requestedAction>{target}</Dialog>"


async def test_call_data_wrap_up_and_its_timer_over_xmpp(dep: XDeployment) -> None:
    xmpp = await signed_in_ready(dep, "1008")
    user_node, dialogs = f"{API}/User/1008", f"{API}/User/1008/Dialogs"
    call_id = await answered_call(dep, xmpp, "1008")

    # Call variables and an ECC variable during the call: SET_CALL_DATA_REQ, then the dialog event.
    body = call_data({"callVariable2": "acct-42", "user.case": "C-7"})
    status, _, headers = await dep.call("PUT", f"/Dialog/{call_id}", user="1008", body=body, requestId="cd-1")
    assert status == 202 and headers["requestId"] == "cd-1"
    event = await next_event(xmpp, dialogs, "<requestId>cd-1</requestId>")
    assert "<name>callVariable2</name><value>acct-42</value>" in event.update
    assert "<name>user.case</name><value>C-7</value>" in event.update

    # DTMF while the call is active: SEND_DTMF_SIGNAL_REQ, 202.
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user="1008", body=dtmf("12#")))[0] == 202

    # Bad input: each the product's error, and nothing else breaks.
    refusals = [
        ("1008", dtmf("12x"), 400, "Invalid Input"),
        ("1009", dtmf("1"), 401, "Invalid Authorization User Specified"),
        ("1009", call_data({}, wrap_up="Sale"), 401, "Invalid Authorization User Specified"),
        ("1008", call_data({}, wrap_up="No such reason"), 400, "Invalid Input"),
        ("1008", call_data({"callVariable1": "x" * 41}), 400, "Invalid Input"),
        ("1008", call_data({"callVariable11": "x"}), 400, "Invalid Input"),
    ]
    for who, bad, code, error_type in refusals:
        status, doc, _ = await dep.call("PUT", f"/Dialog/{call_id}", user=who, body=bad)
        assert (status, doc.findtext("ApiError/ErrorType")) == (code, error_type), bad
    status, doc, _ = await dep.call("PUT", "/Dialog/999999", user="1008", body=call_data({}, wrap_up="Sale"))
    assert (status, doc.findtext("ApiError/ErrorType")) == (404, "Dialog Not Found")

    # The caller hangs up: WORK_READY (the agent was READY), the dialog stays for its wrap-up reason.
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user="1008", body=drop("2008")))[0] == 202
    await next_event(xmpp, user_node, "<state>WORK_READY</state>")
    event = await next_event(xmpp, dialogs, "<action>UPDATE_CALL_DATA</action>")
    assert "<state>DROPPED</state>" in event.update
    status, doc, _ = await dep.call("PUT", f"/Dialog/{call_id}", user="1008", body=dtmf("1"))
    assert (status, doc.findtext("ApiError/ErrorType")) == (400, "Invalid State")  # no active call
    status, _, _ = await dep.call(
        "PUT", f"/Dialog/{call_id}", user="1008", body=call_data({}, wrap_up="Sale"), requestId="wr-1"
    )
    assert status == 202
    event = await next_event(xmpp, dialogs, "<requestId>wr-1</requestId>")
    assert "<wrapUpReason>Sale</wrapUpReason>" in event.update

    # The wrap-up timer ends it: READY, and the dialog is deleted.
    await next_event(xmpp, user_node, "<state>READY</state>", timeout=5)
    await next_event(xmpp, dialogs, "<event>DELETE</event>")
    assert call_id not in dep.node.model.dialogs and dep.a.model.agents["1008"].wrapup_call is None
    await xmpp.disconnect()


async def test_not_ready_during_the_call_is_work_and_the_agent_ends_it(dep: XDeployment) -> None:
    xmpp = await signed_in_ready(dep, "1008")
    user_node, dialogs = f"{API}/User/1008", f"{API}/User/1008/Dialogs"
    call_id = await answered_call(dep, xmpp, "1008")
    body = "<User><state>NOT_READY</state></User>"
    assert (await dep.call("PUT", "/User/1008", user="1008", body=body, requestId="nr"))[0] == 202
    event = await next_event(xmpp, user_node, "<requestId>nr</requestId>")
    assert "<pendingState>NOT_READY</pendingState>" in event.update
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user="1008", body=drop("2008")))[0] == 202
    await next_event(xmpp, user_node, "<state>WORK</state>")
    # "To leave WORK state, agents can set their state to READY."
    body = "<User><state>READY</state></User>"
    assert (await dep.call("PUT", "/User/1008", user="1008", body=body, requestId="out"))[0] == 202
    event = await next_event(xmpp, user_node, "<requestId>out</requestId>")
    assert "<state>READY</state>" in event.update
    await next_event(xmpp, dialogs, "<event>DELETE</event>")
    await xmpp.disconnect()


async def test_an_agent_without_wrap_up_is_ready_after_the_call(dep: XDeployment) -> None:
    xmpp = await signed_in_ready(dep, "1007")
    call_id = await answered_call(dep, xmpp, "1007")
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user="1007", body=drop("2007")))[0] == 202
    await next_event(xmpp, f"{API}/User/1007/Dialogs", "<event>DELETE</event>")
    assert dep.node.model.user("1007").state == "READY"
    await xmpp.disconnect()


async def test_wrap_up_data_required_before_leaving_wrap_up(dep: XDeployment) -> None:
    xmpp = await signed_in_ready(dep, "1009")
    user_node, dialogs = f"{API}/User/1009", f"{API}/User/1009/Dialogs"
    call_id = await answered_call(dep, xmpp, "1009")
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user="1009", body=drop("2009")))[0] == 202
    await next_event(xmpp, user_node, "<state>WORK_READY</state>")
    ready = "<User><state>READY</state></User>"
    # Refused after the 202 by the CTI server: an Update with apiErrors, by requestId.
    assert (await dep.call("PUT", "/User/1009", user="1009", body=ready, requestId="early"))[0] == 202
    event = await next_event(xmpp, user_node, "<requestId>early</requestId>")
    assert "<apiErrors>" in event.update and dep.a.model.agents["1009"].state.name == "WORK_READY"
    body = call_data({}, wrap_up="Sale")
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user="1009", body=body))[0] == 202
    await next_event(xmpp, dialogs, "<wrapUpReason>Sale</wrapUpReason>")
    assert (await dep.call("PUT", "/User/1009", user="1009", body=ready, requestId="late"))[0] == 202
    event = await next_event(xmpp, user_node, "<requestId>late</requestId>")
    assert "<state>READY</state>" in event.update
    await next_event(xmpp, dialogs, "<event>DELETE</event>")
    await xmpp.disconnect()


def participant_actions(update: str) -> dict[str, list[str]]:
    doc = DET.fromstring(update)
    return {
        p.findtext("mediaAddress") or "": [a.text or "" for a in p.iter("action")]
        for p in doc.iter("Participant")
    }


async def test_a_call_made_with_wrap_up_on_outgoing_calls_ends_in_work_ready(dep: XDeployment) -> None:
    """1006 (wrap-up REQUIRED on outgoing calls) calls 1007 (no wrap-up) with MAKE_CALL; 1007 answers,
    1006 drops: 1006 is in WORK_READY with the dropped dialog still there for its wrap-up reason, and
    1007, for whom the call was incoming, is READY."""
    caller, callee = await signed_in_ready(dep, "1006"), await signed_in_ready(dep, "1007")
    dialogs_a, dialogs_b = f"{API}/User/1006/Dialogs", f"{API}/User/1007/Dialogs"
    make = (
        "<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>2006</fromAddress>"
        "<toAddress>2007</toAddress></Dialog>"
    )
    assert (await dep.call("POST", "/User/1006/Dialogs", user="1006", body=make))[0] == 202
    ringing = await next_event(callee, dialogs_b, "<state>ALERTING</state>")
    call_id = DET.fromstring(ringing.update).findtext("data/dialogs/Dialog/id") or ""
    answer = drop("2007").replace("DROP", "ANSWER")
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user="1007", body=answer))[0] == 202
    await next_event(caller, dialogs_a, "<state>ACTIVE</state>")
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user="1006", body=drop("2006")))[0] == 202
    await next_event(caller, f"{API}/User/1006", "<state>WORK_READY</state>")
    await next_event(callee, f"{API}/User/1007", "<state>READY</state>")
    # Published again on entering WORK_READY: only the wrap-up's UPDATE_CALL_DATA is left, for 1006.
    event = await next_event(caller, dialogs_a, "<action>UPDATE_CALL_DATA</action>")
    assert "<state>DROPPED</state>" in event.update
    assert participant_actions(event.update) == {"2006": ["UPDATE_CALL_DATA"], "2007": []}
    assert dep.a.model.agents["1006"].wrapup_call == int(call_id)
    assert dep.a.model.agents["1007"].wrapup_call is None
    # The wrap-up reason, then READY: the wrap-up ends and both agents' dialogs are deleted.
    body = call_data({}, wrap_up="Sale")
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user="1006", body=body))[0] == 202
    await next_event(caller, dialogs_a, "<wrapUpReason>Sale</wrapUpReason>")
    ready = "<User><state>READY</state></User>"
    assert (await dep.call("PUT", "/User/1006", user="1006", body=ready))[0] == 202
    for xmpp, node in ((caller, dialogs_a), (callee, dialogs_b)):
        await next_event(xmpp, node, "<event>DELETE</event>")
    assert call_id not in dep.node.model.dialogs and dep.a.model.calls == {}
    await caller.disconnect()
    await callee.disconnect()
