"""finesse-emu: a wire-level emulator of a duplex Cisco Finesse deployment."""

__version__ = "0.1.0"
