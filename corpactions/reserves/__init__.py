"""Proof of backing: custodian statements in (``statements``, ``ingest``), the check of token
supply against custody (``backing``), and its publication on chain (``publish``)."""
