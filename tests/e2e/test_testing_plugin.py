"""The pytest plugin as a user gets it: the package installed in a project of their own.

Outside this tree, in a temporary project: a virtualenv whose site-packages also sees the shared
environment's (a .pth file: the dependencies, nothing of this checkout), the package installed
into it with pip (not editable, so the plugin is found through its installed ``pytest11`` entry
point and not through PYTHONPATH), docs/examples copied there, and pytest run in it: the example
kills the publisher under its small client with the ``finesse_deployment_async`` fixture and
asserts on the nodes' journal. It must pass with exit code 0 (5 would be "no tests collected",
which is not a pass).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("finesse_emu", "cti_stub", "awdb_stub", "ged188", "emu_base", "pyproject.toml", "README.md")


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_an_installed_package_gives_a_project_the_fixture(tmp_path: Path) -> None:
    if shutil.which("prosody") is None and not Path("/usr/bin/prosody").exists():
        pytest.fail("prosody is not installed: the deployment needs it (apt-get install prosody)")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env, 60)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([str(python), "-c", purelib], tmp_path, env, 30).stdout.strip())
    # The dependencies from the shared environment; its editable finesse-emu is not seen (a .pth
    # line adds a path; the editable install's own .pth files there are not processed).
    (site / "shared-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    source = tmp_path / "source"  # a copy: the build writes build/ and *.egg-info beside the sources
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(src, source / name)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
           "--no-build-isolation", "--no-index", "--no-compile", str(source)]  # fmt: skip
    installed = _run(pip, tmp_path, env, 180)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    where = _run(
        [str(python), "-c", "import finesse_emu.testing.plugin as p; print(p.__file__)"], tmp_path, env, 30
    )
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr  # the installed copy

    project = tmp_path / "project"
    shutil.copytree(ROOT / "docs" / "examples", project, ignore=shutil.ignore_patterns("__pycache__"))
    # The shared environment's other pytest plugins (hypothesis, schemathesis...) are seen through
    # the .pth too; a user's project has none of them, and loading them took 7 of 10 s on this
    # machine. Ours is left to its entry point, and pytest-asyncio, which the example uses.
    others = [
        arg
        for ep in importlib.metadata.entry_points(group="pytest11")
        if ep.name not in ("finesse_emu", "asyncio")
        for arg in ("-p", f"no:{ep.name}")
    ]
    argv = [
        str(python),
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        *others,
        "-v",
        "--finesse-emu-time-scale",
        "0.2",
    ]
    done = _run(argv, project, env, 150)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "test_failover.py::test_the_client_follows_its_agent_to_the_subscriber PASSED" in done.stdout
    assert (
        "test_cti_takeover.py::test_the_idle_cti_side_takes_over_and_the_nodes_serve_again PASSED"
        in done.stdout
    )
    assert "2 passed" in done.stdout
    assert "plugins: finesse-emu-" in done.stdout  # through its entry point, as pytest lists them
