"""The client-path proxy: Toxiproxy-style faults between a client and a node's client-facing ports."""
