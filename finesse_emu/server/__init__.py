"""The Finesse node: REST API, CTI link, authentication, notification publishing (``python -m
finesse_emu.server``)."""
