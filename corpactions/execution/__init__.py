"""Approval (maker-checker) and exactly-once execution of payout plans on chain."""
