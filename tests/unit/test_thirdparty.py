"""Same-origin hosting's path rule (finesse_emu/server/thirdparty.py): only files inside the folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from finesse_emu.server.thirdparty import resolve


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "gadgets"
    (root / "sample").mkdir(parents=True)
    (root / "sample" / "index.html").write_text("<html></html>")
    (root / "app.js").write_text("1;")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "out.txt")  # a symlink that leads out
    os.symlink(tmp_path, root / "up")  # a directory symlink that leads out
    os.symlink(root / "app.js", root / "alias.js")  # one that stays inside
    return root


def test_files_inside_the_folder_resolve(tree: Path) -> None:
    assert resolve(tree, "sample/index.html") == (tree / "sample" / "index.html").resolve()
    assert resolve(str(tree), "app.js") == (tree / "app.js").resolve()
    assert resolve(tree, "alias.js") == (tree / "app.js").resolve()


@pytest.mark.parametrize(
    "path",
    ["", "sample", "sample/", "missing.js", "../secret.txt", "sample/../../secret.txt", "./app.js",
     "sample/./index.html", "/etc/passwd", "out.txt", "up/secret.txt", "sample\\..\\..\\secret.txt",
     "app.js\x00.png"],
)  # fmt: skip
def test_everything_else_is_none(tree: Path, path: str) -> None:
    assert resolve(tree, path) is None


def test_no_folder_serves_nothing(tree: Path) -> None:
    assert resolve(None, "app.js") is None and resolve("", "app.js") is None
    assert resolve(tree / "nowhere", "app.js") is None
