"""A duplex UCCE CTI Server stub speaking GED-188 (see cti_stub.protocol for the wire format)."""
