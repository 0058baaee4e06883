"""The Finesse node's sans-IO core (:class:`NodeCore`) and its parts; the asyncio shell is
:mod:`finesse_emu.server.node`.

- :mod:`.node_core`: service state, the model, presence, resync, REST commands, what is published;
- :mod:`.outputs`: what the core asks of its shell (send to CTI, publish, status, sessions, ...);
- :mod:`.requests`: REST commands checked and turned into GED-188 requests;
- :mod:`.resync`: which agents to query after the CTI link (re)opens, and when that is done;
- :mod:`.events`: which Update a change of the model publishes, and where;
- :mod:`.views`: the resources as REST and the notifications show them;
- :mod:`.directory`: agents, teams, MRDs and reason codes from the AWDB;
- :mod:`.sessions`: who is signed in through this node (the event log).
"""

from finesse_emu.server.core.directory import SYSTEM_REASON_CODES, Directory
from finesse_emu.server.core.node_core import NodeCore
from finesse_emu.server.core.outputs import (
    CtiFailure,
    CtiPurpose,
    CtiRequestRefused,
    Output,
    Publish,
    SendToCti,
    SessionChanged,
    StatusChanged,
)

__all__ = [
    "SYSTEM_REASON_CODES",
    "CtiFailure",
    "CtiPurpose",
    "CtiRequestRefused",
    "Directory",
    "NodeCore",
    "Output",
    "Publish",
    "SendToCti",
    "SessionChanged",
    "StatusChanged",
]
