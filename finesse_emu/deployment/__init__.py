"""A deployment: topology, the launcher (`finesse-emu up`), chaos on running components."""
