"""``python -m finesse_emu.runs.check REPORT_DIR``: the same as ``finesse-emu check REPORT_DIR``."""

from __future__ import annotations

import sys

from finesse_emu.cli import main

sys.exit(main(["check", *sys.argv[1:]]))
