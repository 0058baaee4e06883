"""A fake Cisco Administration & Data Server (AWDB): the directory Finesse authenticates agents against.

An SQLite file with an AWDB-like shape (:mod:`awdb_stub.schema`), filled from the shared sample
directory or a seed file (:mod:`awdb_stub.seed`), queried by :class:`AwdbDatabase`, and served as a
small HTTP/JSON API with faults by :class:`AwdbServer`. Run it with ``python -m awdb_stub``.
"""

from awdb_stub.db import AwdbDatabase
from awdb_stub.seed import SeedData, load_seed_file
from awdb_stub.server import AwdbServer, ServerConfig

__all__ = ["AwdbDatabase", "AwdbServer", "SeedData", "ServerConfig", "load_seed_file"]
