"""A node's directory from the AWDB: agents, teams, MRDs, reason codes and wrap-up reasons.

Read once at start, before the CTI link opens (the resync needs the agents), and retried until the
AWDB answers: in a deployment the AWDB may come up after the node. The rows become a
:class:`~finesse_emu.server.core.Directory` (pure) that the node core reads from then on.
"""

from __future__ import annotations

from emu_base.clock import Clock
from emu_base.logs import get_logger
from finesse_emu.server.auth import AwdbClient
from finesse_emu.server.auth.awdb_client import AwdbTimeout, AwdbUnavailable
from finesse_emu.server.core import Directory

log = get_logger()

# (path under /awdb/v1, the key of its rows), in the order Directory.from_awdb takes them.
_TABLES = (
    ("agents", "agents"),
    ("teams", "teams"),
    ("mrds", "mrds"),
    ("reason-codes", "reason_codes"),
    ("wrapup-reasons", "wrapup_reasons"),
)


async def load_directory(awdb: AwdbClient, domain: str, clock: Clock) -> Directory:
    """The directory, once the AWDB answers every table (a failed attempt is logged and retried
    after 0.05 s, doubling up to 2 s)."""
    pause = 0.05
    while True:
        try:
            rows = [(await awdb.get(f"/awdb/v1/{path}"))[key] for path, key in _TABLES]
            return Directory.from_awdb(domain, *rows)
        except (AwdbUnavailable, AwdbTimeout) as exc:
            log.warning("finesse_config_load_failed", error=str(exc))
            await clock.sleep(pause)
            pause = min(pause * 2, 2.0)
