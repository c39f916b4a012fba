"""Fault injection for the local chain, off by default.

The failures real RPC nodes produce, each configurable so the payout executor can be proven
against them: transactions accepted but never landed (dropped), transactions landing late,
and transient HTTP 429/503 answers. Decisions come from a seeded RNG, so a test is repeatable.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Faults:
    drop_rate: float = 0.0
    """Fraction of sendTransaction calls accepted (signature returned) but never landed."""
    drop_next: int = 0
    """The next N sendTransaction calls are dropped, whatever drop_rate says."""
    land_delay_slots: int = 0
    """Accepted transactions land this many slots later instead of at once."""
    http_error_rate: float = 0.0
    """Fraction of HTTP requests answered with http_error_status instead of being served."""
    http_error_next: int = 0
    """The next N HTTP requests are answered with http_error_status."""
    http_error_status: int = 429
    """429 (Too Many Requests) or 503 (Service Unavailable)."""
    refuse_program_accounts: bool = False
    """getProgramAccounts on the token programs is refused, as some providers do (-32010)."""
    priority_fee: int = 0
    """Micro-lamports per CU reported by getRecentPrioritizationFees."""
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.validate()
        self._rng.seed(self.seed)

    def validate(self) -> None:
        for name in ("drop_rate", "http_error_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        for name in ("drop_next", "land_delay_slots", "http_error_next", "priority_fee"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.http_error_status not in {429, 503}:
            raise ValueError("http_error_status must be 429 or 503")

    def update(self, changes: dict[str, Any]) -> None:
        known = {k for k in asdict(self) if not k.startswith("_")}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        for key, value in changes.items():
            setattr(self, key, value)
        self.validate()
        if "seed" in changes:
            self._rng.seed(self.seed)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    def should_drop(self) -> bool:
        if self.drop_next > 0:
            self.drop_next -= 1
            return True
        return self.drop_rate > 0 and self._rng.random() < self.drop_rate

    def http_error(self) -> int | None:
        if self.http_error_next > 0:
            self.http_error_next -= 1
            return self.http_error_status
        if self.http_error_rate > 0 and self._rng.random() < self.http_error_rate:
            return self.http_error_status
        return None
