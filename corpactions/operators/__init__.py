"""The operator registry: people proven by ed25519 keys, with roles (maker, approver, admin).

- ``names``: one spelling per person (NFKC, case-folded, no control or format characters).
- ``keys``: signing and reading keys and signatures (Solana base58).
- ``verify``: ``verify_operator_signature``, the one check every signed decision goes through.
- ``registry``: ``init`` (the first admin), ``add``, ``revoke``, ``list``; every change is an
  append-only row signed by enough admins.
"""
