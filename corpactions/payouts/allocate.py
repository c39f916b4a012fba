"""Exact pro-rata allocation of a cash pool in integer base units (largest-remainder method).

With ``rate = R / 10^k`` (exactly as the feed wrote it), token decimals ``td`` and payout decimals
``pd``, holder i's exact share is ``a_i * M / D`` with ``M = R * 10^pd`` and ``D = 10^(k + td)``.

- pool = floor(sum(a) * M / D), computed with Python integers (exact);
- each holder gets floor(a_i * M / D); the ``pool - sum(floors)`` units left over (fewer than
  the number of holders) go one each to the largest remainders, ties to the smaller owner;
- so sum(payout) == pool, |payout_i - exact_i| < 1, and the result does not depend on row order.

Vectorised: ``M / D`` is reduced by their gcd, each amount is split as ``q * D + r`` so that
``floor = q * M + (r * M) // D`` and ``remainder = (r * M) % D`` stay within 128-bit integers
whenever ``D * M < 2^127``. Rates with more digits than that take an exact path on Python
integers (numpy object arrays); both paths give the same frame.
"""

from __future__ import annotations

from decimal import Decimal
from math import gcd

import numpy as np
import polars as pl

from corpactions.errors import PlanError

INT64_MAX = 2**63 - 1
INT128_LIMIT = 2**127


def rate_fraction(rate: Decimal) -> tuple[int, int]:
    """(numerator, exponent k) with rate == numerator / 10^k, exactly."""
    if not isinstance(rate, Decimal) or not rate.is_finite():
        raise PlanError(f"rate per share must be a finite Decimal, not {rate!r}")
    if rate < 0:
        raise PlanError(f"rate per share must not be negative, not {rate}")
    _sign, digits, exponent = rate.as_tuple()
    numerator = int("".join(map(str, digits)) or "0")
    assert isinstance(exponent, int)
    if exponent >= 0:
        return numerator * 10**exponent, 0
    return numerator, -exponent


def _frame(holdings: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """owner (String) and amount (UInt64), sorted by owner: row position is then owner order."""
    lazy = holdings.lazy() if isinstance(holdings, pl.DataFrame) else holdings
    schema = lazy.collect_schema()
    missing = {"owner", "amount"} - set(schema.names())
    if missing:
        raise PlanError(
            f"holdings need columns owner and amount; missing {', '.join(sorted(missing))}"
        )
    if not schema["amount"].is_integer():
        raise PlanError(f"holdings amount must be integer base units, not {schema['amount']}")
    frame = lazy.select(pl.col("owner").cast(pl.String), pl.col("amount")).sort("owner").collect()
    if frame.height and int(frame["amount"].min()) < 0:  # type: ignore[arg-type]
        raise PlanError("holdings amounts must not be negative")
    if frame.height > 1 and bool((frame["owner"] == frame["owner"].shift(1)).any()):
        raise PlanError("holdings must have one row per owner (aggregate accounts first)")
    return frame.with_columns(pl.col("amount").cast(pl.UInt64))


def _floors_fast(frame: pl.DataFrame, multiplier: int, divisor: int) -> pl.DataFrame:
    """Native integer arithmetic: Int64 when every intermediate fits, else Int128.

    Intermediates: the remainder part ``rest * multiplier < divisor * multiplier`` and the
    quotient part ``(amount // divisor) * multiplier`` (a zero rate reduces the divisor to 1,
    so the quotient alone can be a whole u64 balance)."""
    largest = int(frame["amount"].max() or 0)  # type: ignore[arg-type]
    fits_int64 = (
        divisor * max(multiplier, 1) < 2**63 and (largest // divisor) * max(multiplier, 1) < 2**63
    )
    dtype = pl.Int64 if fits_int64 else pl.Int128
    wide = pl.col("amount").cast(pl.Int128 if dtype == pl.Int128 else pl.UInt64)
    quotient = (wide // divisor).cast(dtype)
    rest = (wide % divisor).cast(dtype)
    return frame.with_columns(
        floor=(quotient * multiplier + (rest * multiplier) // divisor).cast(pl.Int128),
        remainder=(rest * multiplier) % divisor,
    )


def _floors_exact(frame: pl.DataFrame, multiplier: int, divisor: int) -> pl.DataFrame:
    amounts = frame["amount"].to_numpy().astype(object)
    products = amounts * multiplier
    floors = products // divisor
    remainders = products % divisor
    # Remainders can exceed 128 bits: keep their dense rank (equal remainders, equal rank, so
    # ties still go to the smaller owner).
    _, dense_rank = np.unique(remainders, return_inverse=True)
    return frame.with_columns(
        floor=pl.Series(floors.tolist(), dtype=pl.Int128),
        remainder=pl.Series(dense_rank.astype(np.int64)),
    )


def _largest_remainders(shares: pl.DataFrame, divisor: int, count: int) -> np.ndarray:
    """Row indices of the ``count`` largest remainders; equal remainders in row (owner) order."""
    rows = shares.height
    if divisor * rows < 2**63 and shares.schema["remainder"] != pl.Int128:
        # One Int64 key orders by remainder, then by row: remainder * rows + (rows - 1 - row).
        key = pl.col("remainder").cast(pl.Int64) * rows + (rows - 1 - pl.int_range(pl.len()))
        order = shares.select(key.arg_sort(descending=True)).to_series()
    else:
        order = shares.select(
            pl.arg_sort_by(["remainder", pl.int_range(pl.len())], descending=[True, False])
        ).to_series()
    picked: np.ndarray = order.head(count).to_numpy()
    return picked


def allocate(
    holdings: pl.DataFrame | pl.LazyFrame,
    *,
    rate_per_share: Decimal,
    token_decimals: int,
    payout_decimals: int = 6,
) -> pl.DataFrame:
    """Columns owner, amount, payout (Int64 base units), sorted by owner. See the module doc."""
    if not 0 <= token_decimals <= 18 or not 0 <= payout_decimals <= 18:
        raise PlanError("token and payout decimals must be between 0 and 18")
    numerator, exponent = rate_fraction(rate_per_share)
    frame = _frame(holdings)
    multiplier = numerator * 10**payout_decimals
    divisor = 10 ** (exponent + token_decimals)
    common = gcd(multiplier, divisor) or 1
    multiplier, divisor = multiplier // common, divisor // common
    total = int(frame.select(pl.col("amount").cast(pl.Int128).sum()).item() or 0)
    pool = total * multiplier // divisor
    if pool > INT64_MAX:
        raise PlanError(f"pool of {pool} base units does not fit a 64-bit ledger amount")
    if frame.height == 0:
        return pl.DataFrame(schema={"owner": pl.String, "amount": pl.UInt64, "payout": pl.Int64})
    if divisor * max(multiplier, 1) < INT128_LIMIT:
        shares = _floors_fast(frame, multiplier, divisor)
    else:
        shares = _floors_exact(frame, multiplier, divisor)
    floors = shares["floor"].cast(pl.Int64)
    leftover = pool - int(floors.sum())
    if not 0 <= leftover < frame.height:
        raise AssertionError(f"largest remainder invariant broken: {leftover} left over")
    payout = floors.to_numpy().copy()
    if leftover:
        payout[_largest_remainders(shares, divisor, leftover)] += 1
    return shares.select("owner", "amount").with_columns(payout=pl.Series(payout, dtype=pl.Int64))


def pool_of(
    total_amount: int, *, rate_per_share: Decimal, token_decimals: int, payout_decimals: int = 6
) -> int:
    """The pool for ``total_amount`` raw token units: floor(rate * total * 10^pd / 10^td)."""
    numerator, exponent = rate_fraction(rate_per_share)
    scaled: int = total_amount * numerator * 10**payout_decimals
    divisor: int = 10 ** (exponent + token_decimals)
    return scaled // divisor
