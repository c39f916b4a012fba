"""Reports for accountants over a period: every payout line, and per-wallet yearly totals."""
