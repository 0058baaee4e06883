"""``python -m finesse_emu.check REPORT_DIR``: the same as ``finesse-emu check REPORT_DIR``."""

from __future__ import annotations

import sys

from finesse_emu.check import main

sys.exit(main(sys.argv[1:]))
