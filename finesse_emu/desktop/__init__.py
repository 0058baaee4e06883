"""Finesse desktop and IP Phone Agent clients: sans-IO failover logic, asyncio shells and swarms."""
