"""``python -m finesse_emu.runs.report RUN_DIR``: the same as ``finesse-emu report RUN_DIR``."""

from __future__ import annotations

import sys

from finesse_emu.cli import main

sys.exit(main(["report", *sys.argv[1:]]))
