"""Testing a Finesse client against the emulator: the Python API and the pytest plugin (docs/testing.md).

:class:`Deployment` (async) starts a whole deployment on a free loopback /24 or attaches to a running
one; :class:`SyncDeployment` and :class:`AsyncDeployment` run it on a thread of its own for plain
and asyncio tests; ``finesse_emu.testing.plugin`` gives them to pytest as fixtures.
"""

from finesse_emu.testing.deployment import (
    Addresses,
    Agent,
    Deployment,
    DeploymentError,
    NodeAddresses,
    ServiceAddresses,
)
from finesse_emu.testing.sync import AsyncDeployment, AsyncJournal, SyncDeployment, SyncJournal

__all__ = [
    "Addresses",
    "Agent",
    "AsyncDeployment",
    "AsyncJournal",
    "Deployment",
    "DeploymentError",
    "NodeAddresses",
    "ServiceAddresses",
    "SyncDeployment",
    "SyncJournal",
]
