"""A plain (not asyncio) test with the ``finesse_deployment`` fixture: CTI side A dies, side B takes
over and both nodes serve again. The fixture restarts side A after the test (it comes back idle)."""

from __future__ import annotations

from finesse_emu.testing import SyncDeployment


def test_cti_side_b_takes_over_and_the_nodes_serve_again(finesse_deployment: SyncDeployment) -> None:
    assert finesse_deployment.cti_active() == "cti-a"
    finesse_deployment.kill("cti-a")
    finesse_deployment.wait_cti_active("cti-b")
    for node in finesse_deployment.addresses.nodes:
        finesse_deployment.wait_node_status(node, "IN_SERVICE")
