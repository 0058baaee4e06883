"""Two real CTI stub processes and Finesse's CTI link: a supervisor's silent monitor through a kill -9
of side A. The PG's sides share the call state, so side B announces the monitor call again (CallType
SUPERVISOR_MONITOR, the supervisor's connection and the one at the agent's device) beside the agent's
call, and the supervisor barges in there.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from finesse_emu.server.cti import LinkDown, LinkUp
from ged188 import AgentState, CallType, Message, MessageType, SupervisoryAction, Tag, make
from tests.e2e.conftest import HOST, CtiPair
from tests.e2e.test_cti_failover_processes import finesse_link, set_state
from tests.helpers import eventually

M = MessageType
pytestmark = pytest.mark.e2e
SUP, AGENT, OTHER = "1000", "1001", "1002"  # 1000 supervises team 1 (the directory's 10 agents)


def supervise(action: SupervisoryAction, agent_call: int = 0xFFFFFFFF, sup_call: int = 0xFFFFFFFF) -> Message:
    floating: list[tuple[int, str | bytes | int]] = [
        (Tag.AGENT_CONNECTION_DEVID, "2001"),
        (Tag.SUPERVISOR_INSTRUMENT, "2000"),
    ]
    return make(
        M.SUPERVISE_CALL_REQ,
        floating,
        AgentConnectionCallID=agent_call,
        SupervisorConnectionCallID=sup_call,
        SupervisoryAction=action,
    )


async def test_kill_9_side_a_a_silent_monitor_goes_on_on_side_b(cti_pair: CtiPair) -> None:
    client = finesse_link(cti_pair)
    events = client.subscribe()
    await client.start()
    assert await client.wait_in_service(10)
    for agent in (SUP, AGENT, OTHER):
        await set_state(client, agent, AgentState.LOGIN, ext=f"200{agent[-1]}")
    # The agent calls another agent, who answers: the agent is TALKING.
    conf = await client.request(
        make(M.MAKE_CALL_REQ, [(Tag.AGENT_INSTRUMENT, "2001"), (Tag.DIALED_NUMBER, "2002")]), timeout=5
    )
    call_id = conf["NewConnectionCallID"]
    answer = make(M.ANSWER_CALL_REQ, [(Tag.CONNECTION_DEVID, "2002")], ConnectionCallID=call_id)
    assert (await client.request(answer, timeout=5)).type == M.ANSWER_CALL_CONF
    monitored = await client.request(supervise(SupervisoryAction.MONITOR), timeout=5)
    assert monitored.type == M.SUPERVISE_CALL_CONF and monitored["ConnectionCallID"] == call_id

    async def kinds_on_b() -> list[str]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://{HOST}:{cti_pair.admin['B']}/emu/calls") as r,
        ):
            return sorted(c["kind"] for c in (await r.json())["calls"])

    await eventually(kinds_on_b, "both calls on side B", until=lambda k: k == ["internal", "monitor"])
    cti_pair.procs["A"].kill()  # SIGKILL: no CLOSE, no FAILURE_EVENT
    begins: list[Message] = []
    async with asyncio.timeout(15):
        while not isinstance(await events.get(), LinkDown):
            pass
        while not isinstance(await events.get(), LinkUp):
            pass
        while len(begins) < 2:
            message = getattr(await events.get(), "message", None)
            if isinstance(message, Message) and message.type == M.BEGIN_CALL_EVENT:
                begins.append(message)
    kinds = {m["ConnectionCallID"]: m["CallType"] for m in begins}
    monitor_id = next(k for k, v in kinds.items() if v == CallType.SUPERVISOR_MONITOR)
    assert kinds[call_id] == CallType.AGENT_INSIDE and client.active_side == "B"
    barge = await client.request(supervise(SupervisoryAction.BARGE_IN, call_id, monitor_id), timeout=5)
    assert barge.type == M.SUPERVISE_CALL_CONF
    await client.close()
