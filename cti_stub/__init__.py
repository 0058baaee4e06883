"""A duplex UCCE CTI Server stub speaking GED-188 (see ged188 for the wire format)."""
