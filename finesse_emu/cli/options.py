"""Option types and defaults that several commands share."""

from __future__ import annotations

import argparse

from finesse_emu.deployment.topology import DEFAULT_NETWORK, check_network

__all__ = ["DEFAULT_NETWORK", "DEFAULT_RUN_DIR", "add_run_dir", "admin_token", "csv", "network"]

DEFAULT_RUN_DIR = "run"


def network(text: str) -> str:
    """A loopback /24 such as 127.0.10 (--network)."""
    try:
        return check_network(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def admin_token(text: str) -> str:
    """A usable control-plane token (--admin-token)."""
    from emu_base.admin import check_token

    try:
        return check_token(text, "--admin-token")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_run_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run-dir", default=DEFAULT_RUN_DIR, help=f"the deployment's directory (default ./{DEFAULT_RUN_DIR})"
    )
