"""A free loopback /24 for a deployment a test session starts, never the same for two sessions.

A deployment puts each component on its own address of one ``127.0.N`` with the product's real
ports (deployment/topology.py), so two deployments side by side need two networks. Tests never
hard-code one: :func:`claim_network` walks a range kept for them (127.0.150-127.0.199, away from
``up``'s default 127.0.10), takes a lock file per network (``flock``: the kernel drops it when the
holder dies, so a crashed session leaves no stale lock) and then probes the network's addresses;
the first network both locked and free is the session's until it releases the claim.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from finesse_emu.deployment.topology import check_network

FIRST, LAST = 150, 199  # the /24s tests draw from: 127.0.150 .. 127.0.199
LOCK_DIR_ENV = "FINESSE_EMU_NETWORK_LOCKS"  # where the lock files are (default: the temp dir)


def candidates(first: int = FIRST, last: int = LAST) -> list[str]:
    return [f"127.0.{n}" for n in range(first, last + 1)]


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "finesse-emu-networks")


@dataclass
class NetworkClaim:
    """A network held by this process: its lock file stays locked until :meth:`release`."""

    network: str
    fd: int | None = None

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def try_lock(network: str, directory: Path | None = None) -> NetworkClaim | None:
    """The network's lock, or None when another session (or another claim of this one) holds it."""
    where = directory or lock_dir()
    where.mkdir(parents=True, exist_ok=True)
    fd = os.open(where / f"{network}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return NetworkClaim(network, fd)


def pick(
    networks: Iterable[str],
    lock: Callable[[str], NetworkClaim | None],
    busy: Callable[[str], str | None],
) -> NetworkClaim:
    """The first network that ``lock`` grants and ``busy`` finds free (``busy`` says what is in use,
    or None). A network locked but busy (a deployment started by hand there) is released again.
    RuntimeError naming what was seen when none is left."""
    seen: list[str] = []
    for network in networks:
        claim = lock(network)
        if claim is None:
            seen.append(f"{network} locked by another session")
            continue
        taken = busy(network)
        if taken is None:
            return claim
        claim.release()
        seen.append(f"{network} in use ({taken})")
    shown = "; ".join(seen[-3:]) or "no network to try"
    raise RuntimeError(
        f"no free loopback /24 for a deployment among {FIRST}..{LAST} ({shown}); "
        "stop other deployments or give --finesse-emu-network 127.0.N"
    )


def addresses_in_use(network: str) -> str | None:
    """What of a deployment's addresses on ``network`` is taken (the launcher's own check), or None."""
    from finesse_emu.deployment.launcher import Deployment

    try:
        Deployment(Path(os.devnull), network=check_network(network)).check_ports()
    except RuntimeError as exc:
        return str(exc).split(";", 1)[0]
    return None


def claim_network(network: str | None = None) -> NetworkClaim:
    """The network given (locked, so that two sessions asked for the same one do not both start),
    or the first free one of the tests' range."""
    if network is not None:
        check_network(network)
        claim = try_lock(network)
        if claim is None:
            raise RuntimeError(f"{network} is held by another test session")
        return claim
    return pick(candidates(), try_lock, addresses_in_use)
