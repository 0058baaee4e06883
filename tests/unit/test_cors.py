"""The CORS decision (finesse_emu/server/cors.py): origins, preflights and answers, without sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from finesse_emu.server.__main__ import build_parser, load_config, main
from finesse_emu.server.cors import CorsPolicy, normalize_origin
from finesse_emu.xmpp.prosody import ProsodyConfig, render_config

PAGE = "https://gadgets.example.com:8443"


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://Gadgets.Example.com:8443", PAGE),
        ("https://example.com:443", "https://example.com"),
        ("http://example.com:80/", "http://example.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_origins_are_normalised_as_browsers_send_them(given: str, origin: str) -> None:
    assert normalize_origin(given) == origin


@pytest.mark.parametrize(
    "bad", ["*", "null", "example.com", "ftp://example.com", "https://example.com/page", "https://u@example.com",
            "https://example.com:99999", "https://example.com?x=1", ""],
)  # fmt: skip
def test_what_is_not_an_origin_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_origin(bad)
    policy = CorsPolicy.of([PAGE])
    with pytest.raises(ValueError):
        policy.set_origins([PAGE, bad])
    assert policy.origins == [PAGE]  # a refused change changes nothing


def test_off_by_default_a_preflight_is_refused_and_nothing_carries_cors_headers() -> None:
    policy = CorsPolicy()
    assert not policy.enabled
    answer = policy.preflight(PAGE, "PUT", "authorization, content-type")
    assert answer.status == 403 and answer.headers == {}
    assert policy.response_headers(PAGE) == {}


def test_a_listed_origin_gets_its_preflight_and_its_headers_only() -> None:
    policy = CorsPolicy.of(["https://gadgets.example.com:8443/"])
    answer = policy.preflight(PAGE, "PUT", "Authorization, Content-Type, requestId")
    assert answer.status == 200
    assert answer.headers["Access-Control-Allow-Origin"] == PAGE  # that origin, never *
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    assert "PUT" in answer.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "requestid"} <= allowed
    assert answer.headers["Vary"] == "Origin"
    headers = policy.response_headers(PAGE)
    assert headers["Access-Control-Allow-Origin"] == PAGE
    assert headers["Access-Control-Expose-Headers"] == "requestId"
    # Another origin, a scheme or port away, gets nothing.
    for other in ("http://gadgets.example.com:8443", "https://gadgets.example.com", "https://evil.example"):
        assert policy.preflight(other, "GET", "").status == 403
        assert policy.response_headers(other) == {}
    assert policy.response_headers(None) == {} and not policy.allows("null")


def test_a_preflight_for_a_method_or_header_the_api_does_not_take_is_refused() -> None:
    policy = CorsPolicy.of([PAGE])
    assert policy.preflight(PAGE, "PATCH", "").status == 403
    assert policy.preflight(PAGE, "PUT", "Authorization, X-Secret").status == 403


def test_is_preflight_needs_options_origin_and_the_requested_method() -> None:
    assert CorsPolicy.is_preflight("OPTIONS", PAGE, "PUT")
    assert not CorsPolicy.is_preflight("OPTIONS", None, "PUT")
    assert not CorsPolicy.is_preflight("OPTIONS", PAGE, None)
    assert not CorsPolicy.is_preflight("GET", PAGE, "PUT")


def test_the_list_changes_live() -> None:
    policy = CorsPolicy()
    assert policy.set_origins([PAGE, "http://a.example:81"]) == ["http://a.example:81", PAGE]
    assert policy.preflight(PAGE, "GET", "").status == 200
    policy.set_origins([])
    assert policy.preflight(PAGE, "GET", "").status == 403


def test_prosody_bosh_and_websocket_follow_the_allow_list(tmp_path: Path) -> None:
    off = render_config(ProsodyConfig(domain="emu.test", run_dir=tmp_path))
    assert "http_cors_override = { bosh = { enabled = false }; websocket = { enabled = false } }" in off
    on = render_config(ProsodyConfig(domain="emu.test", run_dir=tmp_path, cors_origins=(PAGE,)))
    allowed = f'{{ enabled = true; credentials = true; origins = {{ "{PAGE}"; }} }}'
    assert f"http_cors_override = {{ bosh = {allowed}; websocket = {allowed} }}" in on


def test_the_node_command_line_takes_the_folder_and_the_origins(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["--thirdparty-dir", str(tmp_path), "--cors-origin", PAGE, "--cors-origin", "http://a.example"]
    )
    config = load_config(None, {"thirdparty_dir": args.thirdparty_dir, "cors_origins": args.cors_origins})
    assert config.thirdparty_dir == str(tmp_path)
    assert config.cors_origins == [PAGE, "http://a.example"]
    assert main(["--cors-origin", "*", "--admin-port", "-1", "--http-port", "-1"]) == 2  # refused at start
