"""Same-origin hosting, CORS and Devices on a node over real sockets (issue 17).

A node in this event loop (tests/integration/test_finesse_node.py's deployment: 30 generated agents,
1000 and 1025 supervise teams 1 (1000-1024) and 2 (1025-1029); extension = agent id + 1000).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from multidict import CIMultiDict
from yarl import URL

from emu_base.directory import resolve
from finesse_emu.cli import main
from finesse_emu.deployment.launcher import STATE_FILE
from tests.integration.test_finesse_node import API, HOST, Deployment, basic, deployment, text

TOKEN = "s3cret"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
PAGE = "http://127.0.0.9:8000"  # a page served elsewhere, calling the node cross-origin
OTHER = "http://127.0.0.10:8000"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "3rdparty"
    (root / "sample").mkdir(parents=True)
    (root / "sample" / "index.html").write_text("<!doctype html><title>sample</title>")
    (root / "sample" / "sample.js").write_text("console.log(1);")
    (root / "sample" / "style.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("not for browsers")
    os.symlink(tmp_path / "secret.txt", root / "leak.txt")
    return root


@pytest.fixture
async def dep(folder: Path) -> AsyncIterator[Deployment]:
    async with deployment(admin_token=TOKEN, thirdparty_dir=str(folder)) as d:
        yield d


def web(dep: Deployment, path: str) -> str:
    return f"http://{HOST}:{dep.node.http_port}{path}"


async def get_raw(dep: Deployment, raw_path: str, **headers: str) -> tuple[int, bytes, CIMultiDict[str]]:
    """A GET whose path goes on the wire as written (no client-side normalisation of ``..``)."""
    url = URL(f"http://{HOST}:{dep.node.http_port}{raw_path}", encoded=True)
    async with dep.http.get(url, headers=headers) as resp:
        return resp.status, await resp.read(), CIMultiDict(resp.headers)


# -- same-origin hosting ---------------------------------------------------------------------------
async def test_the_folder_is_served_on_the_web_port_without_credentials(dep: Deployment) -> None:
    status, body, headers = await get_raw(dep, "/3rdpartygadget/files/sample/index.html")
    assert status == 200 and body.startswith(b"<!doctype html>")
    assert headers["Content-Type"].startswith("text/html")
    status, _, js = await get_raw(dep, "/3rdpartygadget/files/sample/sample.js")
    assert status == 200 and "javascript" in js["Content-Type"]
    status, _, css = await get_raw(dep, "/3rdpartygadget/files/sample/style.css")
    assert status == 200 and css["Content-Type"].startswith("text/css")
    # A conditional GET with the ETag it was given: 304, no body.
    status, body, _ = await get_raw(
        dep, "/3rdpartygadget/files/sample/index.html", **{"If-None-Match": headers["ETag"]}
    )
    assert status == 304 and body == b""


@pytest.mark.parametrize(
    "raw",
    [
        "/3rdpartygadget/files/",
        "/3rdpartygadget/files/sample",
        "/3rdpartygadget/files/sample/",
        "/3rdpartygadget/files/missing.js",
        "/3rdpartygadget/files/../secret.txt",
        "/3rdpartygadget/files/sample/../../secret.txt",
        "/3rdpartygadget/files/%2e%2e/secret.txt",
        "/3rdpartygadget/files/sample%2F..%2F..%2Fsecret.txt",
        "/3rdpartygadget/files/%2e%2e%2fsecret.txt",
        "/3rdpartygadget/files/leak.txt",
        "/3rdpartygadget/files//etc/passwd",
    ],
)
async def test_no_listing_and_nothing_outside_the_folder(dep: Deployment, raw: str) -> None:
    status, body, _ = await get_raw(dep, raw)
    assert status == 404 and b"not for browsers" not in body, raw


async def test_the_folder_is_served_on_the_https_port_too(folder: Path, tmp_path: Path) -> None:
    async with deployment(https_port=0, run_dir=str(tmp_path / "run"), thirdparty_dir=str(folder)) as d:
        ca = ssl.create_default_context(cafile=d.node.ca_file)
        url = f"https://{HOST}:{d.node.https_port}/3rdpartygadget/files/sample/index.html"
        async with d.http.get(url, ssl=ca) as resp:
            assert resp.status == 200 and (await resp.read()).startswith(b"<!doctype html>")


async def test_without_a_folder_every_path_is_404() -> None:
    async with deployment() as d:
        status, _, _ = await get_raw(d, "/3rdpartygadget/files/sample/index.html")
        assert status == 404


# -- CORS ------------------------------------------------------------------------------------------
async def preflight(dep: Deployment, origin: str, method: str = "PUT") -> tuple[int, dict[str, str]]:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with dep.http.options(web(dep, f"{API}/User/1001"), headers=headers) as resp:
        return resp.status, dict(resp.headers)


def cors_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith("access-control-")}


async def set_origins(dep: Deployment, origins: list[str]) -> list[str]:
    url = f"http://{HOST}:{dep.node.admin_port}/emu/cors"
    async with dep.http.put(url, json={"origins": origins}, headers=BEARER) as resp:
        assert resp.status == 200
        listed: list[str] = (await resp.json())["origins"]
        return listed


async def test_cors_is_off_by_default(dep: Deployment) -> None:
    status, headers = await preflight(dep, PAGE)
    # Answered without credentials (not the 401 of the API), and refused: no CORS header at all.
    assert status == 403 and cors_headers(headers) == {}
    status, _, headers = await dep.call("GET", "/User/1001", user="1001", Origin=PAGE)
    assert status == 200 and cors_headers(headers) == {}


async def test_an_allowed_origin_gets_preflights_and_headers_live_and_only_it(dep: Deployment) -> None:
    assert await set_origins(dep, [PAGE + "/"]) == [PAGE]
    status, headers = await preflight(dep, PAGE)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == PAGE
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "PUT" in headers["Access-Control-Allow-Methods"]
    assert {"authorization", "content-type"} <= {
        h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")
    }
    # The actual requests: the answer carries the origin; so does a refusal (401), which the page
    # must be able to read.
    status, _, headers = await dep.call("GET", "/User/1001", user="1001", Origin=PAGE, requestId="r1")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == PAGE
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Expose-Headers"] == "requestId" and headers["requestId"] == "r1"
    status, _, headers = await dep.call("GET", "/User/1001", user=None, Origin=PAGE)
    assert status == 401 and headers["Access-Control-Allow-Origin"] == PAGE
    # Another origin: nothing, for preflights and answers alike.
    status, headers = await preflight(dep, OTHER)
    assert status == 403 and cors_headers(headers) == {}
    status, _, headers = await dep.call("GET", "/User/1001", user="1001", Origin=OTHER)
    assert status == 200 and cors_headers(headers) == {}
    # Removed again: off at once.
    url = f"http://{HOST}:{dep.node.admin_port}/emu/cors"
    async with dep.http.delete(url, params={"origin": PAGE}, headers=BEARER) as resp:
        assert resp.status == 200 and (await resp.json())["origins"] == []
    assert (await preflight(dep, PAGE))[0] == 403


async def test_the_origins_of_the_node_config_apply_from_start() -> None:
    async with deployment(cors_origins=[PAGE]) as d:
        status, headers = await preflight(d, PAGE)
        assert status == 200 and headers["Access-Control-Allow-Origin"] == PAGE
        assert d.node.health()["cors_origins"] == [PAGE]


async def test_the_cors_control_routes_take_the_admin_token(dep: Deployment) -> None:
    url = f"http://{HOST}:{dep.node.admin_port}/emu/cors"
    for headers in ({}, {"Authorization": "Bearer wrong"}, basic("1000")):
        async with dep.http.get(url, headers=headers) as resp:
            assert resp.status == 401
        async with dep.http.put(url, json={"origins": [PAGE]}, headers=headers) as resp:
            assert resp.status == 401
        async with dep.http.post(url, json={"origin": PAGE}, headers=headers) as resp:
            assert resp.status == 401
        async with dep.http.delete(url, params={"origin": PAGE}, headers=headers) as resp:
            assert resp.status == 401
    assert dep.node.cors.origins == []  # nothing the refused requests asked for happened
    async with dep.http.post(url, json={"origin": PAGE}, headers=BEARER) as resp:
        assert resp.status == 200 and (await resp.json())["origins"] == [PAGE]
    async with dep.http.post(url, json={"origin": "*"}, headers=BEARER) as resp:
        assert resp.status == 400
    async with dep.http.put(url, json={"origins": "not a list"}, headers=BEARER) as resp:
        assert resp.status == 400
    async with dep.http.delete(url, params={"origin": OTHER}, headers=BEARER) as resp:
        assert resp.status == 404
    async with dep.http.get(url, headers=BEARER) as resp:
        assert resp.status == 200 and (await resp.json())["origins"] == [PAGE]


# -- Devices ---------------------------------------------------------------------------------------
async def test_devices_of_an_extension(dep: Deployment) -> None:
    status, doc, headers = await dep.call("GET", "/Devices?extension=1001", user="1001")
    assert status == 404  # 1001 is an agent id, not an extension
    status, doc, headers = await dep.call("GET", "/Devices?extension=2001", user="1001")
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    assert doc.tag == "Devices"
    assert text(doc, "Device/deviceId") == "SEP0000000007D1"  # 2001 = 0x7D1
    assert text(doc, "Device/deviceType") == "30018"
    assert text(doc, "Device/deviceTypeName") == "Cisco 7961"
    for query in ("", "?extension=", "?extension=abc", "?extension=%D9%A3"):
        status, doc, _ = await dep.call("GET", f"/Devices{query}", user="1001")
        assert status == 400, query


async def test_the_user_document_names_the_device_devices_lists(dep: Deployment) -> None:
    """A client asks Devices for the extension, then reads activeDeviceId from GET User."""
    status, doc, _ = await dep.call("GET", "/User/1003", user="1003")
    assert status == 200 and doc.find("activeDeviceId") is None  # signed out: no device
    sign_in = "<User><state>LOGIN</state><extension>2003</extension></User>"
    assert (await dep.call("PUT", "/User/1003", user="1003", body=sign_in))[0] == 202
    await dep.wait_event(f"{API}/User/1003", "<state>NOT_READY</state>")
    _, devices_doc, _ = await dep.call("GET", "/Devices?extension=2003", user="1003")
    status, doc, _ = await dep.call("GET", "/User/1003", user="1003")
    assert (
        status == 200
        and text(doc, "activeDeviceId") == text(devices_doc, "Device/deviceId") == "SEP0000000007D3"
    )
    logout = "<User><state>LOGOUT</state></User>"
    assert (await dep.call("PUT", "/User/1003", user="1003", body=logout))[0] == 202
    await dep.wait_event(f"{API}/User/1003", "<state>LOGOUT</state>")
    _, doc, _ = await dep.call("GET", "/User/1003", user="1003")
    assert doc.find("activeDeviceId") is None


async def test_who_may_ask_for_devices(dep: Deployment) -> None:
    path = "/Devices?extension=2002"  # agent 1002's, in team 1
    assert (await dep.call("GET", path, user=None))[0] == 401
    wrong = {"Authorization": "Basic MTAwMjp3cm9uZw=="}  # 1002:wrong
    assert (await dep.call("GET", path, user=None, **wrong))[0] == 401
    status, doc, _ = await dep.call("GET", path, user="1001")  # another agent
    assert status == 401 and text(doc, "ApiError/ErrorType") == "Invalid Authorization User Specified"
    assert (await dep.call("GET", path, user="1025"))[0] == 401  # the supervisor of another team
    assert (await dep.call("GET", path, user="1002"))[0] == 200  # the agent itself
    assert (await dep.call("GET", path, user="1000"))[0] == 200  # its team's supervisor


# -- voice-only agents -----------------------------------------------------------------------------
async def signed_in_events(spec: str) -> list[str]:
    """The nodes the node published on for agent 1001's voice sign-in, up to its NOT_READY, with
    the directory of the agents spec every component is given (``30``, ``30+chat+email``)."""
    agents = resolve(spec)
    async with deployment(agents=agents) as d:
        sign_in = "<User><state>LOGIN</state><extension>2001</extension></User>"
        assert (await d.call("PUT", "/User/1001", user="1001", body=sign_in))[0] == 202
        await d.wait_event(f"{API}/User/1001", "<state>NOT_READY</state>")
        if agents[1].non_voice_mrds:  # opted in: the sign-in reaches the chat and email MRDs too
            await d.wait_event(f"{API}/User/1001/Media/5001", "<state>NOT_READY</state>")
        status, doc, _ = await d.call("GET", "/User/1001/Media", user="1001")
        assert status == 200
        mrds = [m.findtext("id") for m in doc.findall("Media")]
        return [n for n, _ in d.node.published if "/Media" in n] + [f"GET Media: {mrds}"]


async def test_the_default_directory_publishes_no_media_event_at_sign_in() -> None:
    media = await signed_in_events("30")
    assert media == ["GET Media: ['1']"]  # the voice MRD only, and no Media event
    opted_in = await signed_in_events("30+chat+email")
    assert {f"{API}/User/1001/Media/5000", f"{API}/User/1001/Media/5001"} <= set(opted_in)


# -- finesse-emu cors --------------------------------------------------------------------------------
async def test_the_cors_command_changes_a_running_node(dep: Deployment, tmp_path: Path) -> None:
    """``finesse-emu cors`` finds the nodes in deployment.json and sends the deployment's token."""
    token_file = tmp_path / "admin-token"
    token_file.write_text(TOKEN)
    node = {"name": "finesse-a", "role": "publisher", "host": HOST, "ports": {"admin": dep.node.admin_port}}
    state = {"components": [node], "admin_token_file": str(token_file)}
    (tmp_path / STATE_FILE).write_text(json.dumps(state))

    def cli(*argv: str) -> int:
        return main(["cors", *argv, "--run-dir", str(tmp_path)])

    assert await asyncio.to_thread(cli, "add", PAGE, OTHER) == 0
    assert dep.node.cors.origins == sorted([PAGE, OTHER])
    assert (await preflight(dep, PAGE))[0] == 200  # live
    assert await asyncio.to_thread(cli, "remove", OTHER, "--node", "finesse-a") == 0
    assert dep.node.cors.origins == [PAGE]
    assert await asyncio.to_thread(cli, "add", "*") == 2  # refused by the node: nothing changes
    assert await asyncio.to_thread(cli, "list", "--node", "finesse-b") == 2  # no such node
    token_file.write_text("wrong")
    assert await asyncio.to_thread(cli, "set") == 2  # the node refuses a wrong token
    assert dep.node.cors.origins == [PAGE]
    token_file.write_text(TOKEN)
    assert await asyncio.to_thread(cli, "set") == 0  # an empty list: CORS off
    assert dep.node.cors.origins == [] and (await preflight(dep, PAGE))[0] == 403
