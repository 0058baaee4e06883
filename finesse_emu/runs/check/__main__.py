"""``python -m finesse_emu.runs.check REPORT_DIR``: the same as ``finesse-emu check REPORT_DIR``."""

from __future__ import annotations

import sys

from finesse_emu.runs.check import main

sys.exit(main(sys.argv[1:]))
