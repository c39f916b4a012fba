"""On-chain holder snapshots: RPC reads, bulk parsing, per-owner aggregation."""
