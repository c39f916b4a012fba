"""The read-only holder payout-history API (FastAPI) and its static holder page."""
