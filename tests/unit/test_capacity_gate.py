"""The live driver of the capacity model (server/capacity.py) on a ManualClock: requests classified
into the model's kinds, and held until the model has served them, in emulated seconds."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import make_mocked_request

from emu_base.clock import ManualClock
from finesse_emu.capacity import COSTS, Capacity, Kind, Link
from finesse_emu.server.capacity import CapacityGate, classify, gate
from finesse_emu.server.config import NodeConfig


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "kind"),
    [
        ("GET", "/finesse/api/SystemInfo", b"", {}, Kind.SYSTEMINFO),
        ("GET", "/finesse/api/User/1001", b"", {}, Kind.REST),
        ("PUT", "/finesse/api/User/1001", b"<User><state>LOGIN</state></User>", {}, Kind.SIGN_IN),
        ("PUT", "/finesse/api/User/1001", b"<User><state>READY</state></User>", {}, Kind.REST),
        ("PUT", "/finesse/api/User/1001/Media/1", b"<Media><state>LOGIN</state></Media>", {}, Kind.REST),
        ("GET", "/desktop/gadgets/xml/team", b"", {}, Kind.XML_GADGET),
        ("GET", "/desktop/gadgets/jsp/team", b"", {}, Kind.JSP_GADGET),
        ("GET", "/desktop/resources/app.js", b"", {"If-None-Match": '"x"'}, Kind.RESOURCE),
        ("GET", "/desktop/resources/app.js", b"", {}, Kind.RESOURCE_FULL),
        ("GET", "/emu/journal", b"", {}, None),  # the emulator's own routes: not the product's work
    ],
)
async def test_requests_are_classified_into_the_model_kinds(
    method: str, path: str, body: bytes, headers: dict[str, str], kind: Kind | None
) -> None:
    request = make_mocked_request(method, path, headers=headers)
    request._read_bytes = body  # what aiohttp caches once the body is read
    assert await classify(request) == kind


async def test_eight_gadgets_on_four_vcpus_wait_two_waves_in_emulated_seconds() -> None:
    clock = ManualClock(start=0.0)
    scale = 0.1  # ten times faster: the waves come at a tenth of the emulated seconds
    capacity_gate = CapacityGate(Capacity(vcpus=4, link=Link(rtt=0.0)), clock, scale)
    done: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        await capacity_gate.admit(Kind.XML_GADGET)
        done.append((i, clock.now()))

    tasks = [asyncio.create_task(one(i)) for i in range(8)]
    await asyncio.sleep(0)  # every request submitted at real time 0
    assert capacity_gate.queued == 8
    service = COSTS.xml_gadget
    link = COSTS.gadget_bytes * 8 / 1e9  # one gadget's time on the 1000 Mbps egress link
    while (when := clock.next_timer()) is not None:
        clock.advance(when - clock.now())
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    times = [t for _, t in sorted(done)]
    # First wave: served one after the other on the link; the second wave starts at 2 x service.
    assert times[:4] == pytest.approx([scale * (service + k * link) for k in (1, 2, 3, 4)])
    assert times[4:] == pytest.approx([scale * (2 * service + k * link) for k in (1, 2, 3, 4)])


def test_none_is_no_gate_and_an_unknown_profile_stops_the_node() -> None:
    assert gate("none", ManualClock(), 1.0) is None
    four = gate("4vcpu", ManualClock(), 1.0)
    assert four is not None and four.core.capacity.vcpus == 4
    assert NodeConfig().capacity == "none"
    with pytest.raises(ValueError, match="capacity must be one of none, 4vcpu, 8vcpu"):
        NodeConfig(capacity="2vcpu")


def test_up_capacity_and_pg_reach_both_nodes_settings() -> None:
    from finesse_emu import cli
    from finesse_emu.cli.deployment import _up_settings

    args = cli.build_parser("up").parse_args(
        ["up", "--capacity", "8vcpu", "--pg", "older", "--no-admin-token"]
    )
    assert _up_settings(args)["node_options"] == {"capacity": "8vcpu", "old_pg": True}
    default = cli.build_parser("up").parse_args(["up", "--no-admin-token"])
    assert _up_settings(default)["node_options"] == {}  # none: no gate, the 12.5 PG


def test_the_node_component_takes_capacity() -> None:
    from finesse_emu.server.__main__ import build_parser, load_config

    args = build_parser().parse_args(["--capacity", "4vcpu"])
    assert load_config(None, {"capacity": args.capacity}).capacity == "4vcpu"


def test_a_deployment_file_takes_capacity_and_refuses_an_unknown_one() -> None:
    from finesse_emu.deployment.launcher import node_options

    assert node_options({"capacity": "4vcpu", "old_pg": True}, "deployment.yaml") == {
        "capacity": "4vcpu",
        "old_pg": True,
    }
    with pytest.raises(
        ValueError, match=r"deployment\.yaml: finesse\.capacity must be one of none, 4vcpu, 8vcpu"
    ):
        node_options({"capacity": "16vcpu"}, "deployment.yaml")
