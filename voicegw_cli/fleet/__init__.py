"""Fleets: many agent hosts, one ledger, one budget, through storage teams already run.

Agent hosts append to their local spool as always; with `storage.ship_to` set, spool files
rotate into closed segments that a background thread ships, one immutable object each,
to an S3-compatible bucket or a shared directory. The central fold (`store.shipped`) reads
each object exactly once through the same fold as the local spool and publishes the spend
snapshot back, which every host's budget guard reads.

Rooms: `target` (object I/O through pyarrow.fs), `layout` (object names and five-minute
windows), `ship` (the shipper), `snapshot` (the published spend snapshot and its per-host
cache). Nothing here opens DuckDB: agent processes import this.
"""
