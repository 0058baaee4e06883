"""Two real AWDB stub processes (awdb-a, awdb-b), each with its own --db file.

Cisco, "AWDB Failover": "If Cisco Finesse loses connection to the primary Administration & Data
server ... it tries to reconnect to the secondary server." So killing one AWDB (SIGKILL, no goodbye)
must leave the other answering, and a restarted one must know the same agents. Both require the
AWDB login (HTTP Basic, the password in a 0600 file), as the launcher starts them.
"""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emu_base.awdb_login import basic_header
from emu_base.procs import Proc, free_port, wait_health
from finesse_emu.deployment.launcher import write_token_file

pytestmark = pytest.mark.e2e
HOST = "127.0.0.1"
PASSWORD = "e2e-awdb-login-Zk81"
AUTH = {"Authorization": basic_header("finesse", PASSWORD)}


class AwdbPair:
    def __init__(self, workdir: Path, agents: int = 100) -> None:
        self.workdir = workdir
        self.agents = agents
        self.ports = {name: free_port() for name in ("awdb-a", "awdb-b")}
        self.admin = {name: free_port() for name in ("awdb-a", "awdb-b")}
        self.procs: dict[str, Proc] = {}
        self.password_file = workdir / "awdb-password"
        write_token_file(self.password_file, PASSWORD)

    def argv(self, name: str, *extra: str) -> list[str]:
        return [
            "-m", "awdb_stub", "--name", name, "--host", HOST,
            "--port", str(self.ports[name]), "--admin-port", str(self.admin[name]),
            "--db", str(self.workdir / f"{name}.db"), "--agents", str(self.agents),
            "--login-password-file", str(self.password_file), *extra,
        ]  # fmt: skip

    def start(self, name: str, *extra: str) -> Proc:
        proc = Proc(name, self.argv(name, *extra), self.workdir / f"{name}.log")
        self.procs[name] = proc
        return proc

    async def health(self, name: str) -> dict[str, Any]:
        return dict(await wait_health(HOST, self.admin[name], "up"))

    def stop(self) -> None:
        for proc in self.procs.values():  # SIGTERM to all first: they stop together
            proc.terminate()
        for proc in self.procs.values():
            proc.stop()


@pytest.fixture
async def awdb_pair(tmp_path: Path) -> AsyncIterator[AwdbPair]:
    pair = AwdbPair(tmp_path)
    pair.start("awdb-a")
    pair.start("awdb-b")
    try:
        await pair.health("awdb-a")
        await pair.health("awdb-b")
        yield pair
    finally:
        pair.stop()


async def authenticate(
    http: aiohttp.ClientSession, pair: AwdbPair, name: str, user: str, password: str
) -> tuple[int, Any]:
    url = f"http://{HOST}:{pair.ports[name]}/awdb/v1/authenticate"
    async with http.post(url, json={"user": user, "password": password}, headers=AUTH) as resp:
        return resp.status, await resp.json()


async def test_kill_9_one_awdb_the_other_answers_and_a_restart_keeps_the_agents(awdb_pair: AwdbPair) -> None:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for name in ("awdb-a", "awdb-b"):
            status, body = await authenticate(http, awdb_pair, name, "agent0100", "pass1099")
            assert (status, body["agent"]["id"]) == (200, "1099")

        a = awdb_pair.procs["awdb-a"]
        a.kill()  # SIGKILL: a real fault, no clean shutdown
        assert await asyncio.to_thread(a.popen.wait, 5) == -signal.SIGKILL
        with pytest.raises(aiohttp.ClientConnectionError):
            await authenticate(http, awdb_pair, "awdb-a", "1000", "pass1000")

        # awdb-b never noticed: every agent still authenticates there, bad passwords are still refused.
        for i in range(0, 100, 7):
            status, body = await authenticate(http, awdb_pair, "awdb-b", str(1000 + i), f"pass{1000 + i}")
            assert (status, body["agent"]["id"]) == (200, str(1000 + i))
        assert (await authenticate(http, awdb_pair, "awdb-b", "1000", "pass1001"))[0] == 401

        # Restarted with its own command line on the same --db file: the data is reused, not re-seeded.
        a.stop()
        restarted = awdb_pair.start("awdb-a")
        health = await awdb_pair.health("awdb-a")
        assert health["agents"] == 100 and health["db"] == str(awdb_pair.workdir / "awdb-a.db")
        for user, password, agent_id in (("agent0100", "pass1099", "1099"), ("1042", "pass1042", "1042")):
            status, body = await authenticate(http, awdb_pair, "awdb-a", user, password)
            assert (status, body["agent"]["id"]) == (200, agent_id)
        assert (await authenticate(http, awdb_pair, "awdb-b", "1001", "pass1001"))[0] == 200

    events = [json.loads(line)["event"] for line in restarted.log_lines() if line.startswith("{")]
    assert "awdb_db_reused" in events
    assert "awdb_db_seeded" not in events[events.index("awdb_db_reused") :]
    for name in ("awdb-a", "awdb-b"):
        text = (awdb_pair.workdir / f"{name}.log").read_text()
        assert "pass10" not in text and "pbkdf2" not in text  # never a password or hash in a log


async def test_sigterm_stops_cleanly(awdb_pair: AwdbPair) -> None:
    b = awdb_pair.procs["awdb-b"]
    b.kill(signal.SIGTERM)
    assert await asyncio.to_thread(b.popen.wait, 5) == 0
    events = [json.loads(line)["event"] for line in b.log_lines() if line.startswith("{")]
    assert events[-1] == "awdb_stopped"
    assert (await awdb_pair.health("awdb-a"))["state"] == "up"


async def test_bad_input_is_one_json_log_line_each_and_the_process_keeps_serving(awdb_pair: AwdbPair) -> None:
    port = awdb_pair.ports["awdb-a"]
    not_http = [
        b"GARBAGE\x00\x01 / HTTP/9.9\r\n\r\n",  # not a request line
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 8,  # a TLS hello on the plain port
        b"GET /awdb/v1/ping HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",  # header over 8190 bytes
    ]
    for raw in not_http:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(raw)
        assert (await reader.readline()).startswith(b"HTTP/1.0 400")
        writer.close()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        url = f"http://{HOST}:{port}/awdb/v1/authenticate"
        async with http.post(url, data=b'{"user": "1000", "password": ', headers=AUTH) as resp:
            assert resp.status == 400 and "not JSON" in (await resp.json())["error"]
        body = {"user": "1000'; DROP TABLE agent; --", "password": "x"}
        async with http.post(url, json=body, headers=AUTH) as resp:
            assert resp.status == 401
        assert (await authenticate(http, awdb_pair, "awdb-a", "1000", "pass1000"))[0] == 200
    awdb_pair.procs["awdb-a"].stop()
    lines = awdb_pair.procs["awdb-a"].log_lines()
    events = [json.loads(line)["event"] for line in lines]  # every line is one JSON object
    assert events.count("awdb_bad_http") == 3 and events.count("awdb_rejected") == 2
    assert events[-1] == "awdb_stopped"


def test_a_file_that_is_not_an_awdb_database_is_a_clean_exit_2(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"definitely not sqlite" * 64)
    done = subprocess.run(
        [sys.executable, "-m", "awdb_stub", "--port", "0", "--db", str(bogus)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and "bogus.db" in done.stderr and "Traceback" not in done.stderr


async def test_the_query_api_takes_only_the_login_and_the_files_are_private(awdb_pair: AwdbPair) -> None:
    """Issue 14: a launched AWDB answered anyone (300 password guesses in 0.3 s, `GET /agents`
    dumped the directory) and its SQLite files were 0644."""
    port = awdb_pair.ports["awdb-a"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        for headers in ({}, {"Authorization": basic_header("finesse", "guess")}):
            async with http.get(f"http://{HOST}:{port}/awdb/v1/agents", headers=headers) as resp:
                assert resp.status == 401 and "agents" not in await resp.json()
            url = f"http://{HOST}:{port}/awdb/v1/authenticate"
            async with http.post(url, json={"user": "1000", "password": "pass1000"}, headers=headers) as resp:
                assert resp.status == 401
        async with http.get(f"http://{HOST}:{port}/awdb/v1/agents", headers=AUTH) as resp:
            assert resp.status == 200 and len((await resp.json())["agents"]) == 100
        assert (await authenticate(http, awdb_pair, "awdb-a", "1000", "pass1000"))[0] == 200
    health = await awdb_pair.health("awdb-a")
    assert health["login_required"] is True and health["stats"]["login_refused"] == 4
    files = [awdb_pair.workdir / f"awdb-a.db{suffix}" for suffix in ("", "-wal", "-shm")]
    assert all(f.exists() for f in files)  # WAL mode: the side files exist while the stub runs
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    awdb_pair.procs["awdb-a"].stop()
    lines = awdb_pair.procs["awdb-a"].log_lines()
    refused = [json.loads(line) for line in lines if "awdb_login_refused" in line]
    assert len(refused) == 1 and refused[0]["peer"] == HOST  # once per peer, not once per request
    assert PASSWORD not in "\n".join(lines)


def run_stub(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awdb_stub", *argv], capture_output=True, text=True, timeout=30, check=False
    )


def test_no_open_query_api_off_loopback_and_a_bad_password_file_is_a_clean_exit_2(tmp_path: Path) -> None:
    done = run_stub("--host", "0.0.0.0", "--port", "0", "--admin-port", "-1")
    assert done.returncode == 2 and "without a login: give --login-password-file" in done.stderr
    empty = tmp_path / "awdb-password"
    empty.write_text("\n")
    done = run_stub("--port", "0", "--admin-port", "-1", "--login-password-file", str(empty))
    assert done.returncode == 2 and "is empty" in done.stderr and "Traceback" not in done.stderr
