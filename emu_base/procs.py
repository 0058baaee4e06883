"""Start emulator components as real OS processes (launcher, demo, benchmarks, end-to-end tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

# Children this process started and then let go of (a component restarted by ``chaos start`` from
# inside a scenario run): nobody else waits for them, so :func:`reap_adopted` does, or each would
# stay a zombie of this process once killed (``ps`` shows it <defunct> until this process exits).
_adopted: dict[int, subprocess.Popen[bytes]] = {}


def adopt(popen: subprocess.Popen[bytes]) -> None:
    """Keep ``popen`` to be reaped by :func:`reap_adopted` when it exits."""
    _adopted[popen.pid] = popen


def adopted() -> dict[int, list[str]]:
    """The adopted children not reaped yet: {pid: command line}."""
    return {
        pid: [str(a) for a in p.args] if isinstance(p.args, list | tuple) else [str(p.args)]
        for pid, p in _adopted.items()
    }


def reap_adopted() -> dict[int, int]:
    """Collect the adopted children that have exited: {pid: exit status}, each reported once."""
    done = {pid: code for pid, p in list(_adopted.items()) if (code := p.poll()) is not None}
    for pid in done:
        del _adopted[pid]
    return done


_handed_out: set[tuple[str, int]] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now, and never one this process handed out before: the kernel may
    give a just-released port again, and two calls in a row (a side's port and its link port)
    once got the same one."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port: int = s.getsockname()[1]
        if (host, port) not in _handed_out:
            _handed_out.add((host, port))
            return port


class Proc:
    """A component process whose JSON log lines go to ``log_path``."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, *argv],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        self._terminated = False  # SIGTERM sent once: a second one could cut its orderly stop short

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def terminate(self) -> None:
        """SIGTERM (an orderly stop) without waiting: several processes stop at once, each then
        waited for by :meth:`stop`, which does not signal it again."""
        if self.popen.poll() is None and not self._terminated:
            self.popen.send_signal(signal.SIGTERM)
            self._terminated = True

    async def exited(self, timeout: float = 5.0) -> bool:
        """Wait (without blocking the loop) until the process has exited, at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.popen.poll() is not None

    def stop(self, timeout: float = 5.0) -> None:
        if self.popen.poll() is None:
            self.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


def cti_stub_argv(
    side: str,
    host: str,
    port: int,
    admin_port: int,
    link_port: int,
    peer: tuple[str, int] | None,
    agents: int | str = 50,
    time_scale: float = 1.0,
    extra: Sequence[str] = (),
) -> list[str]:
    argv = ["-m", "cti_stub", "--side", side, "--host", host, "--port", str(port)]
    argv += ["--admin-port", str(admin_port), "--link-port", str(link_port), "--agents", str(agents)]
    argv += ["--time-scale", str(time_scale), *extra]
    if peer is not None:
        argv += ["--peer", f"{peer[0]}:{peer[1]}"]
    return argv


async def wait_health(
    host: str, admin_port: int, state: str | None = None, timeout: float = 15.0
) -> dict[str, object]:
    """Poll /emu/health until it answers (and reports ``state``, if given)."""
    deadline = time.monotonic() + timeout
    last: object = None
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://{host}:{admin_port}/emu/health") as resp:
                    body = await resp.json()
                    if state is None or body.get("state") == state:
                        return dict(body)
                    last = body
            except (aiohttp.ClientError, OSError) as exc:
                last = exc
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{host}:{admin_port} not healthy ({state}) in {timeout}s: {last!r}")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM: a component process's orderly stop (SIGKILL stays a fault)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port (a bind test, as the component would do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As asyncio servers do: a port in TIME_WAIT after a stopped deployment is not "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def pid_alive(pid: int | None) -> bool:
    """Whether a process runs; a zombie (a killed child not yet reaped) counts as dead."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return True


def runs(pid: int | None, command: Sequence[str] | None) -> bool:
    """Whether ``pid`` is alive and still runs ``command`` (its arguments after the program: an
    interpreter may stand first, ``lua5.4 /usr/bin/prosody ...``). Once a dead child is reaped its
    pid can be reused, so a pid read from a file is only signalled if it is still the component."""
    if not pid_alive(pid):
        return False
    if not command:
        return True
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return True  # no /proc to tell (not Linux): the pid is all there is
    args = list(command[1:])
    return argv[len(argv) - len(args) :] == args if args else bool(argv)


def run_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``finesse-emu ARGS`` as a child process of this interpreter, output captured (tests, benches)."""
    return subprocess.run(
        [sys.executable, "-m", "finesse_emu.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
