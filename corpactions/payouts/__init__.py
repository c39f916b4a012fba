"""Payouts: exact allocation of a cash pool and the plans built on it."""

from corpactions.payouts.allocate import allocate, pool_of

__all__ = ["allocate", "pool_of"]
