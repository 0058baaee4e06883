"""Finesse authentication against two real AWDB processes: SIGKILL the primary, then both."""

from __future__ import annotations

from pathlib import Path

import pytest

from emu_base.procs import Proc, free_port, wait_health
from emu_base.timers import Timers
from finesse_emu.server.auth import Authenticator, AuthError, AuthReason, AwdbClient

HOST = "127.0.0.1"
pytestmark = pytest.mark.e2e


def awdb(name: str, workdir: Path) -> tuple[Proc, int, int]:
    port, admin = free_port(), free_port()
    argv = [
        "-m",
        "awdb_stub",
        "--name",
        name,
        "--host",
        HOST,
        "--port",
        str(port),
        "--admin-port",
        str(admin),
    ]
    return Proc(name, [*argv, "--agents", "20"], workdir / f"{name}.log"), port, admin


async def test_primary_killed_then_both_killed(tmp_path: Path) -> None:
    (a, a_port, a_admin), (b, b_port, b_admin) = awdb("awdb-a", tmp_path), awdb("awdb-b", tmp_path)
    try:
        await wait_health(HOST, a_admin, "up")
        await wait_health(HOST, b_admin, "up")
        client = AwdbClient([f"http://{HOST}:{a_port}", f"http://{HOST}:{b_port}"], 1.0, ["awdb-a", "awdb-b"])
        auth = Authenticator(client, Timers.build(1.0))
        assert (await auth.authenticate("1000", "pass1000")).id == "1000"
        a.kill()
        a.popen.wait()
        # The kill is seen as a refused connection: the same request goes to the secondary.
        assert (await auth.authenticate("agent0002", "pass1001")).id == "1001"
        assert client.current == "awdb-b"
        b.kill()
        b.popen.wait()
        # "that user continues to be authenticated until 30 minutes pass, even if both AWDBs are down"
        assert (await auth.authenticate("1000", "pass1000")).id == "1000"
        assert (await auth.authenticate("1001", "pass1001")).id == "1001"
        with pytest.raises(AuthError) as err:
            await auth.authenticate("1002", "pass1002")
        assert err.value.reason is AuthReason.AWDB_UNAVAILABLE
        with pytest.raises(AuthError) as err:  # a wrong password is not rescued by the cache
            await auth.authenticate("1000", "wrong")
        assert err.value.reason is AuthReason.AWDB_UNAVAILABLE
        await client.close()
    finally:
        a.stop()
        b.stop()
