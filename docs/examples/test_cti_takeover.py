"""A plain (not asyncio) test with the ``finesse_deployment`` fixture: the active CTI Server side dies,
the other takes over and both nodes serve again. The fixture restarts the killed side after the
test; it comes back idle (the other stays active), as a PG side does."""

from __future__ import annotations

from finesse_emu.testing import SyncDeployment


def test_the_idle_cti_side_takes_over_and_the_nodes_serve_again(finesse_deployment: SyncDeployment) -> None:
    active = finesse_deployment.cti_active()
    assert active in ("cti-a", "cti-b")
    other = "cti-b" if active == "cti-a" else "cti-a"
    finesse_deployment.kill(active)
    finesse_deployment.wait_cti_active(other)
    for node in finesse_deployment.addresses.nodes:
        finesse_deployment.wait_node_status(node, "IN_SERVICE")
