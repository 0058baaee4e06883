"""``python -m finesse_emu.cli``: the ``finesse-emu`` command."""

from __future__ import annotations

import sys

from finesse_emu.cli import main

sys.exit(main())
