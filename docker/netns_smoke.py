#!/usr/bin/env python3
"""Run docker-compose.yml's services without Docker, as far as that can go: a smoke test for a machine
that has no Docker engine (Linux, root, util-linux ``unshare``, Prosody installed).

    sudo .venv/bin/python docker/netns_smoke.py [--time-scale 0.1] [--agents 20] [--desktops SECONDS] [--sso]

In a private network and mount namespace (only its own loopback interface exists there, so nothing
is reachable from or beyond this machine), each service gets a 127.0.x.y address under its service
name in a private /etc/hosts, and runs the *command line of the compose file* as an unprivileged
user (nobody), with the compose file's config files and a private directory for the container's /data.
Services start in depends_on order, each waiting for its dependencies' compose healthchecks (or,
for the one-shot ``secrets``, for its exit 0; a named volume is a private directory, seen where
compose mounts it); then the script checks SystemInfo, verifies each node's HTTPS certificate by its
service name with the CA the secrets service made (Python ``ssl``, hostname checked), optionally
runs one desktops replica for SECONDS (through emu-desktops, as replica 1 of the project) and prints
what the swarm reported, reaches both nodes and their Prosodys through their client-path proxies
(edge-a, edge-b: REST, HTTPS verified for the node's name, XMPP) and resets then heals REST through
edge-a with a client_reset fault, kills cti-a (SIGKILL, as ``docker compose kill cti-a``), waits for both
nodes to be IN_SERVICE on side B, and stops everything it started. ``--sso`` runs docker-compose.yml
merged with docker-compose.sso.yml (Compose's merge, :func:`merge`) and also signs agent 1001 in at
the Identity Service (https://ids:8553, verified with the same CA) and checks that both nodes take its
access token and refuse the agent's Basic credentials.

What differs from Docker, and only that: every service listens on its own 127.0.x.y address instead
of 0.0.0.0 (all services share one network namespace here, where two AWDBs on 0.0.0.0:1433 would
clash), healthchecks ask that address instead of 127.0.0.1, and the image's commands (python,
emu-prosody, emu-health, emu-desktops, finesse-emu) are this checkout's, run by the system python3
with this checkout's sources; a read-only volume mount (``:ro``) is not enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
SSO_OVERRIDE = ROOT / "docker-compose.sso.yml"  # single sign-on: docs/compose.md
INNER = "FINESSE_EMU_NETNS_SMOKE"
DESKTOPS = "desktops"
DESKTOPS_HOSTNAME = "c0ffee0001"  # a container id, as Docker sets the hostname
_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}`` / ``${VAR:-default}`` / ``$$`` interpolation, recursively."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            got = env.get(m["name"], "")
            return got if got else (m["default"] or "")

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def _mount_target(volume: Any) -> str:
    if isinstance(volume, dict):
        return str(volume.get("target", ""))
    parts = str(volume).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Compose's merge of an override file (the compose specification's "Merge and override"):
    mappings merge key by key; ``volumes`` merge by their target and ``ports`` keep both; any other
    sequence (command, healthcheck test, ...) is the override's."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(base[k], v, k) if k in base else v
        return out
    if isinstance(base, list) and isinstance(override, list) and key == "volumes":
        targets = {_mount_target(v) for v in override}
        return [v for v in base if _mount_target(v) not in targets] + override
    if isinstance(base, list) and isinstance(override, list) and key == "ports":
        return base + [p for p in override if p not in base]
    return override


def start_order(services: dict[str, Any]) -> list[str]:
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in path:
            raise ValueError(f"depends_on cycle: {' -> '.join((*path, name))}")
        for dep in services[name].get("depends_on") or {}:
            visit(dep, (*path, name))
        order.append(name)

    for name in services:
        visit(name, ())
    return order


class Smoke:
    def __init__(self, compose: dict[str, Any], work: Path, uid: int) -> None:
        self.services: dict[str, Any] = compose["services"]
        self.project = str(compose.get("name", "finesse-emu"))
        self.compose = compose
        self.work = work
        self.uid = uid
        self.addr = {name: f"127.0.{20 + i // 200}.{1 + i % 200}" for i, name in enumerate(self.services)}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.bin = work / "bin"
        self.data = work / "data"  # the container's /data
        # Named volumes (compose's top-level volumes:) by their mount point: one directory each.
        self.volumes = {
            target: work / "volumes" / source
            for svc in self.services.values()
            for source, target in (str(v).split(":")[:2] for v in svc.get("volumes") or [])
            if source in (compose.get("volumes") or {})
        }

    # -- the namespace's view of the world ------------------------------------------------------
    def prepare(self) -> None:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        hosts = self.work / "hosts"
        hosts.write_text(
            "127.0.0.1 localhost\n"
            + "".join(f"{a} {n}\n" for n, a in self.addr.items() if n != DESKTOPS)
            # Replica 1 of the desktops, under its container name and its hostname (emu-desktops).
            + f"{self.addr[DESKTOPS]} {self.project}-{DESKTOPS}-1 {DESKTOPS_HOSTNAME}\n"
        )
        subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True)
        self.data.mkdir()
        os.chown(self.data, self.uid, self.uid)
        for path in self.volumes.values():  # as the image's mount point: the user's, 0700
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chown(path, self.uid, self.uid)
        self.bin.mkdir()
        # The system interpreter with this checkout's sources and the venv's packages: an unprivileged
        # user may not be able to reach the venv's base interpreter (e.g. under /root/.pyenv).
        site = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
        system_python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
        py = f"env PYTHONPATH={ROOT}:{site} {system_python}"
        tools = {
            "python": f'exec {py} "$@"',
            "emu-prosody": f'exec {py} {ROOT}/docker/prosody_entrypoint.py "$@"',
            "emu-health": f'exec {py} {ROOT}/docker/healthcheck.py "$@"',
            "emu-desktops": f'exec sh {ROOT}/docker/desktops-entrypoint.sh "$@"',
            "finesse-emu": f'exec {py} -m finesse_emu.cli "$@"',
        }
        for name, body in tools.items():
            path = self.bin / name
            path.write_text(f"#!/bin/sh\n{body}\n")
            path.chmod(0o755)

    def host_path(self, path: str) -> str:
        """Where a container path under /data or a named volume's mount point is on this machine."""
        for target, local in [*self.volumes.items(), ("/data", self.data)]:
            if path == target or path.startswith(f"{target}/"):
                return str(local / Path(path).relative_to(target))
        return path

    def argv(self, name: str) -> list[str]:
        svc = self.services[name]
        out = [self.host_path(arg.replace("0.0.0.0", self.addr[name])) for arg in svc["command"]]
        for cfg in svc.get("configs") or []:
            source = Path(self.compose["configs"][cfg["source"]]["file"])
            text = source.read_text().replace("0.0.0.0", self.addr[name])
            text = re.sub(r"(: )(/\S+)", lambda m: m[1] + self.host_path(m[2]), text)
            local = self.work / "configs" / Path(cfg["target"]).name
            local.parent.mkdir(exist_ok=True)
            local.write_text(text)
            out = [str(local) if a == cfg["target"] else a for a in out]
        if out[0] == "emu-prosody":
            out += ["--bind", self.addr[name]]
        return out

    def env(self, name: str) -> dict[str, str]:
        env = {k: str(v) for k, v in (self.services[name].get("environment") or {}).items()}
        if name == DESKTOPS:
            env["HOSTNAME"] = DESKTOPS_HOSTNAME
        return {"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(self.data), **env}

    def start(self, name: str) -> None:
        log = (self.work / f"{name}.log").open("ab")
        argv = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", *self.argv(name)]
        print(f"start {name}: {' '.join(argv[4:])}", flush=True)
        self.procs[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=self.env(name), cwd=self.data
        )

    def healthy(self, name: str) -> tuple[bool, str]:
        test = self.services[name]["healthcheck"]["test"]
        assert test[0] == "CMD", test
        argv = test[1:]
        if name != DESKTOPS:  # the others listen on their own address here, not on 0.0.0.0
            argv = [a.replace("127.0.0.1", self.addr[name]) for a in argv]
            if argv[0] == "emu-health":
                argv += ["--host", self.addr[name]]
        r = subprocess.run(argv, capture_output=True, text=True, env=self.env(name), timeout=10, check=False)
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def wait_healthy(self, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        why = ""
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode}:\n{self.tail(name)}")
            ok, why = self.healthy(name)
            if ok:
                print(f"healthy {name}", flush=True)
                return
            time.sleep(0.3)
        raise RuntimeError(f"{name} not healthy in {timeout}s: {why}\n{self.tail(name)}")

    def wait_completed(self, name: str, timeout: float = 60.0) -> None:
        """A one-shot service (depends_on ... service_completed_successfully): ran and exited 0."""
        try:
            code = self.procs[name].wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{name} still running after {timeout}s:\n{self.tail(name)}") from None
        if code != 0:
            raise RuntimeError(f"{name} exited {code}:\n{self.tail(name)}")
        print(f"completed {name}", flush=True)

    def tail(self, name: str) -> str:
        lines = (self.work / f"{name}.log").read_text(errors="replace").splitlines()
        return "\n".join(lines[-15:])

    def health(self, name: str) -> dict[str, Any]:
        port = self.services[name]["healthcheck"]["test"][2]
        with urllib.request.urlopen(f"http://{name}:{port}/emu/health", timeout=3) as resp:
            body: dict[str, Any] = json.loads(resp.read())
        return body

    def stop(self) -> None:
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            print(f"stopped {name} ({proc.returncode})", flush=True)

    # -- the run ---------------------------------------------------------------------------------
    def run(self, desktops_seconds: float) -> None:
        order = [n for n in start_order(self.services) if n != DESKTOPS]
        for name in order:
            for dep, cond in (self.services[name].get("depends_on") or {}).items():
                if cond.get("condition") == "service_healthy":
                    self.wait_healthy(dep)
                elif cond.get("condition") == "service_completed_successfully":
                    self.wait_completed(dep)
            self.start(name)
        for name in order:
            if "healthcheck" in self.services[name]:
                self.wait_healthy(name)
        with urllib.request.urlopen("http://finesse-a:8082/finesse/api/SystemInfo", timeout=3) as resp:
            info = resp.read().decode()
        for want in (
            "<xmppDomain>finesse-a</xmppDomain>",
            "<host>finesse-a</host>",
            "<host>finesse-b</host>",
        ):
            assert want in info, f"SystemInfo lacks {want}:\n{info}"
        print("SystemInfo of finesse-a: xmppDomain finesse-a, nodes finesse-a and finesse-b", flush=True)
        ca_file = self.host_path("/secrets/ca.crt")
        trust = ssl.create_default_context(cafile=ca_file)  # hostname checked, as any client does
        for node in ("finesse-a", "finesse-b"):
            url = f"https://{node}:8445/finesse/api/SystemInfo"
            with urllib.request.urlopen(url, timeout=3, context=trust) as resp:
                assert resp.status == 200, (url, resp.status)
        print("HTTPS of finesse-a and finesse-b verified with the secrets service's CA", flush=True)
        for node in ("finesse-a", "finesse-b"):
            h = self.health(node)
            print(f"{node}: {h['state']} cti side {h['cti']['side']} notification {h['notification']}")
        if "edge-a" in self.services:
            self.check_edge(trust)
        if "ids" in self.services:
            self.check_sso(trust)
        if desktops_seconds > 0:
            self.run_desktops(desktops_seconds)
        print("kill -9 cti-a", flush=True)
        self.procs["cti-a"].kill()
        self.procs["cti-a"].wait()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = {n: self.health(n) for n in ("finesse-a", "finesse-b")}
            if all(h["state"] == "IN_SERVICE" and h["cti"]["side"] == "B" for h in states.values()):
                print("both nodes IN_SERVICE on CTI side B", flush=True)
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"no failover to side B: {states}")

    def check_edge(self, trust: ssl.SSLContext) -> None:
        """Each node's client-path proxy: REST, HTTPS (the node's certificate, TLS passed through)
        and XMPP reach the node and its Prosody through it; a client_reset posted to its control
        plane resets a new connection, and DELETE heals it."""
        for edge, node in (("edge-a", "finesse-a"), ("edge-b", "finesse-b")):
            with urllib.request.urlopen(f"http://{edge}:8082/finesse/api/SystemInfo", timeout=3) as resp:
                info = resp.read().decode()
                assert f"<xmppDomain>{node}</xmppDomain>" in info, f"{edge}: SystemInfo {info[:300]}"
            with (
                socket.create_connection((edge, 8445), timeout=3) as raw,
                trust.wrap_socket(raw, server_hostname=node) as tls,
            ):
                tls.sendall(f"GET /finesse/api/SystemInfo HTTP/1.0\r\nHost: {node}\r\n\r\n".encode())
                head = read_until(tls, b"\r\n")
                assert head.split(b" ")[1:2] == [b"200"], f"{edge}: HTTPS answered {head[:100]!r}"
            with socket.create_connection((edge, 5222), timeout=3) as xmpp:
                xmpp.sendall(
                    f"<?xml version='1.0'?><stream:stream to='{node}' xmlns='jabber:client' "
                    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>".encode()
                )
                stream = read_until(xmpp, b"<stream:stream")
                assert b"<stream:stream" in stream, f"{edge}: XMPP answered {stream[:200]!r}"
        print("REST, HTTPS (the node's certificate) and XMPP through edge-a and edge-b", flush=True)
        faults = "http://edge-a:8090/emu/faults"
        body = json.dumps({"kind": "client_reset", "port": "rest"}).encode()
        post = urllib.request.Request(faults, data=body, method="POST")
        with urllib.request.urlopen(post, timeout=3) as resp:
            assert resp.status == 201, resp.status
        try:
            urllib.request.urlopen("http://edge-a:8082/finesse/api/SystemInfo", timeout=3)
            raise AssertionError("REST through edge-a answered during client_reset")
        except (ConnectionError, urllib.error.URLError) as exc:
            print(f"client_reset on edge-a: {exc!r}", flush=True)
        with urllib.request.urlopen(urllib.request.Request(faults, method="DELETE"), timeout=3) as resp:
            assert resp.status == 200, resp.status
        with urllib.request.urlopen("http://edge-a:8082/finesse/api/SystemInfo", timeout=3) as resp:
            assert resp.status == 200
        print("healed: REST through edge-a again", flush=True)

    def check_sso(self, trust: ssl.SSLContext) -> None:
        """Single sign-on: agent 1001 signs in at the IdS with the emulated desktop's own client
        (its certificate verified by the name ids); both nodes take the token, not Basic."""
        import asyncio

        import aiohttp

        sys.path.insert(0, str(ROOT))
        from finesse_emu.desktop.sso import sign_in

        async def flow() -> dict[str, tuple[int, int, str]]:
            out = {}
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as http:
                redirect = "https://finesse-a:8445/desktop/sso/authcode"
                tokens = await sign_in(http, "https://ids:8553", "1001", "pass1001", redirect, 10.0)
                for node in ("finesse-a", "finesse-b"):
                    url = f"https://{node}:8445/finesse/api"
                    bearer = {"Authorization": f"Bearer {tokens.access_token}"}
                    basic = {"Authorization": aiohttp.encode_basic_auth("1001", "pass1001")}
                    async with (
                        http.get(f"{url}/User/1001", headers=bearer) as r1,
                        http.get(f"{url}/User/1001", headers=basic) as r2,
                        http.get(f"{url}/SystemInfo") as r3,
                    ):
                        out[node] = (r1.status, r2.status, await r3.text())
            return out

        for node, (with_token, with_basic, info) in asyncio.run(flow()).items():
            assert "<systemAuthMode>SSO</systemAuthMode>" in info, f"{node} is not in SSO mode"
            assert (with_token, with_basic) == (200, 401), (node, with_token, with_basic)
        print("SSO: 1001 signed in at https://ids:8553; both nodes take its token, refuse Basic", flush=True)

    def run_desktops(self, seconds: float) -> None:
        """One desktops replica for ``seconds``, then SIGTERM; prints what the swarm reported."""
        self.start(DESKTOPS)
        self.wait_healthy(DESKTOPS)
        time.sleep(seconds)
        proc = self.procs[DESKTOPS]
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        lines = (self.work / f"{DESKTOPS}.log").read_text(errors="replace").splitlines()
        print(f"desktops ({proc.returncode}):", *lines[:2], "...", *lines[-3:], sep="\n  ", flush=True)


def read_until(sock: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    """What a socket sends until marker, its close or limit bytes (its timeout applies)."""
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--time-scale", default="0.1", help="FINESSE_EMU_TIME_SCALE for the run (default 0.1)")
    p.add_argument("--agents", default="20", help="FINESSE_EMU_AGENTS for the run (default 20)")
    p.add_argument("--uid", type=int, default=65534, help="the unprivileged user (default nobody)")
    p.add_argument("--desktops", type=float, default=0, help="also run one desktops replica for S seconds")
    p.add_argument("--sso", action="store_true", help="with docker-compose.sso.yml (single sign-on)")
    args = p.parse_args()
    if os.environ.get(INNER) != "1":
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            print("needs root and unshare (util-linux)", file=sys.stderr)
            return 2
        env = {**os.environ, INNER: "1"}
        cmd = ["unshare", "--net", "--mount", "--fork", sys.executable, __file__, *sys.argv[1:]]
        return subprocess.run(cmd, env=env, check=False).returncode
    env = {"FINESSE_EMU_TIME_SCALE": args.time_scale, "FINESSE_EMU_AGENTS": args.agents}
    env["COMPOSE_PROJECT_NAME"] = "finesse-emu"
    raw = yaml.safe_load(COMPOSE.read_text())
    if args.sso:
        raw = merge(raw, yaml.safe_load(SSO_OVERRIDE.read_text()))
    compose = interpolate(raw, env)
    for cfg in compose.get("configs", {}).values():
        cfg["file"] = str((ROOT / cfg["file"]).resolve())
    with tempfile.TemporaryDirectory(prefix="finesse-emu-netns-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        smoke = Smoke(compose, work, args.uid)
        try:
            smoke.prepare()
            smoke.run(args.desktops)
        except (RuntimeError, AssertionError, OSError) as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            smoke.stop()
    print("netns smoke run passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
