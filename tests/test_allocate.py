"""The money math: every guarantee of ``allocate`` as a property, plus worked examples."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpactions.errors import PlanError
from corpactions.payouts import allocate
from corpactions.payouts.allocate import _floors_exact, pool_of

U64 = 2**64 - 1
rates = st.one_of(
    st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=0, max_value=10, places=12, allow_nan=False, allow_infinity=False),
    st.builds(
        lambda digits: Decimal("0." + digits), st.text("0123456789", min_size=1, max_size=40)
    ),
    st.just(Decimal("0")),
    st.just(Decimal("1E+3")),
)
owners = st.text(
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", min_size=1, max_size=8
)


@st.composite
def holdings(draw: st.DrawFn) -> dict[str, int]:
    names = draw(st.lists(owners, min_size=0, max_size=40, unique=True))
    big = draw(st.booleans())
    amounts = st.integers(0, U64 // max(len(names), 1)) if big else st.integers(0, 10**12)
    return {name: draw(amounts) for name in names}


def _exact_shares(holding: dict[str, int], rate: Decimal, td: int, pd: int) -> dict[str, Fraction]:
    factor = Fraction(rate) * 10**pd / 10**td
    return {owner: amount * factor for owner, amount in holding.items()}


def _pool_fits(holding: dict[str, int], rate: Decimal, td: int, pd: int) -> bool:
    return (
        pool_of(sum(holding.values()), rate_per_share=rate, token_decimals=td, payout_decimals=pd)
        < 2**63
    )


@settings(max_examples=300, deadline=None)
@given(holding=holdings(), rate=rates, td=st.integers(0, 18), pd=st.integers(0, 9))
def test_sum_is_the_exact_floor_pool_and_each_payout_is_within_one_unit(
    holding: dict[str, int], rate: Decimal, td: int, pd: int
) -> None:
    if not _pool_fits(holding, rate, td, pd):
        with pytest.raises(PlanError, match="64-bit"):
            allocate(
                pl.DataFrame(
                    {"owner": list(holding), "amount": list(holding.values())},
                    schema={"owner": pl.String, "amount": pl.UInt64},
                ),
                rate_per_share=rate,
                token_decimals=td,
                payout_decimals=pd,
            )
        return
    frame = pl.DataFrame(
        {"owner": list(holding), "amount": list(holding.values())},
        schema={"owner": pl.String, "amount": pl.UInt64},
    )
    result = allocate(frame, rate_per_share=rate, token_decimals=td, payout_decimals=pd)
    exact = _exact_shares(holding, rate, td, pd)
    pool = int(sum(exact.values(), Fraction(0)) // 1) if exact else 0
    assert int(result["payout"].sum()) == pool
    assert result["payout"].dtype == pl.Int64
    for owner, payout in zip(result["owner"].to_list(), result["payout"].to_list(), strict=True):
        assert abs(payout - exact[owner]) < 1
    assert result["owner"].to_list() == sorted(holding)


@settings(max_examples=100, deadline=None)
@given(holding=holdings(), rate=rates, data=st.data())
def test_the_result_does_not_depend_on_row_order(
    holding: dict[str, int], rate: Decimal, data: st.DataObject
) -> None:
    if not _pool_fits(holding, rate, 8, 6):
        return
    items = list(holding.items())
    shuffled = data.draw(st.permutations(items))

    def run(rows: list[tuple[str, int]]) -> pl.DataFrame:
        return allocate(
            pl.DataFrame(
                {"owner": [o for o, _ in rows], "amount": [a for _, a in rows]},
                schema={"owner": pl.String, "amount": pl.UInt64},
            ).lazy(),
            rate_per_share=rate,
            token_decimals=8,
        )

    assert run(items).equals(run(list(shuffled)))


@settings(max_examples=100, deadline=None)
@given(holding=holdings(), rate=rates)
def test_leftover_units_go_to_the_largest_remainders_then_the_smaller_owner(
    holding: dict[str, int], rate: Decimal
) -> None:
    if not _pool_fits(holding, rate, 8, 6):
        return
    frame = pl.DataFrame(
        {"owner": list(holding), "amount": list(holding.values())},
        schema={"owner": pl.String, "amount": pl.UInt64},
    )
    result = dict(
        zip(
            *allocate(frame, rate_per_share=rate, token_decimals=8)
            .select("owner", "payout")
            .to_dict(as_series=False)
            .values(),
            strict=True,
        )
    )
    exact = _exact_shares(holding, rate, 8, 6)
    floors = {o: int(v // 1) for o, v in exact.items()}
    leftover = (int(sum(exact.values(), Fraction(0)) // 1) if exact else 0) - sum(floors.values())
    ranked = sorted(exact, key=lambda o: (-(exact[o] - floors[o]), o))
    expected = {o: floors[o] + (1 if o in ranked[:leftover] else 0) for o in exact}
    assert result == expected


@settings(max_examples=60, deadline=None)
@given(holding=holdings(), numerator=st.integers(1, 10**30), exponent=st.integers(20, 40))
def test_the_exact_path_agrees_with_the_128_bit_path(
    holding: dict[str, int], numerator: int, exponent: int
) -> None:
    frame = pl.DataFrame(
        {"owner": list(holding), "amount": list(holding.values())},
        schema={"owner": pl.String, "amount": pl.UInt64},
    )
    multiplier, divisor = numerator, 10**exponent
    from corpactions.payouts.allocate import _floors_fast

    if divisor * multiplier >= 2**127 or not holding:
        return
    fast = _floors_fast(frame, multiplier, divisor)
    slow = _floors_exact(frame, multiplier, divisor)
    assert fast["floor"].to_list() == slow["floor"].to_list()
    fast_order = fast.sort(["remainder", "owner"])["owner"].to_list()
    slow_order = slow.sort(["remainder", "owner"])["owner"].to_list()
    assert fast_order == slow_order


def test_zero_and_one_holder() -> None:
    empty = allocate(
        pl.DataFrame(schema={"owner": pl.String, "amount": pl.UInt64}),
        rate_per_share=Decimal("0.24"),
        token_decimals=8,
    )
    assert empty.height == 0 and empty.schema["payout"] == pl.Int64
    one = allocate(
        pl.DataFrame({"owner": ["A"], "amount": [123_456_789]}),
        rate_per_share=Decimal("0.24"),
        token_decimals=8,
    )
    assert one["payout"].to_list() == [296_296]  # 1.23456789 shares * $0.24 = $0.2962962936


def test_worked_example_largest_remainder() -> None:
    # One share (8 decimals) split 0.33333333 / 0.33333333 / 0.33333334 at $0.10, paid in cents:
    # exact 3.3333333, 3.3333333, 3.3333334 cents; pool 10; floors 3+3+3; the one cent left goes
    # to the largest remainder, C's 0.3333334.
    frame = pl.DataFrame({"owner": ["A", "B", "C"], "amount": [33333333, 33333333, 33333334]})
    result = allocate(frame, rate_per_share=Decimal("0.10"), token_decimals=8, payout_decimals=2)
    assert result["payout"].to_list() == [3, 3, 4]


def test_worked_example_tie_goes_to_the_smaller_owner() -> None:
    # Three holders of 1 share (0 decimals) at $2.5, paid in whole dollars: exact 2.5 each,
    # pool 7, floors 2+2+2, equal remainders: the one dollar left goes to owner "a".
    frame = pl.DataFrame({"owner": ["c", "a", "b"], "amount": [1, 1, 1]})
    result = allocate(frame, rate_per_share=Decimal("2.5"), token_decimals=0, payout_decimals=0)
    assert result.rows() == [("a", 1, 3), ("b", 1, 2), ("c", 1, 2)]


def test_worked_example_exact_thirds() -> None:
    # $0.333333 per share on 1 share each (0 decimals), 6 payout decimals: 333333 each, no rest.
    frame = pl.DataFrame({"owner": ["x", "y", "z"], "amount": [1, 1, 1]})
    result = allocate(frame, rate_per_share=Decimal("0.333333"), token_decimals=0)
    assert result["payout"].to_list() == [333333, 333333, 333333]


def test_u64_max_balances_are_exact() -> None:
    frame = pl.DataFrame(
        {"owner": ["a", "b"], "amount": [U64 // 2, U64 // 2]},
        schema={"owner": pl.String, "amount": pl.UInt64},
    )
    result = allocate(
        frame, rate_per_share=Decimal("0.000001"), token_decimals=8, payout_decimals=6
    )
    # each exact 92233720368.54775807; pool floor(184467440737.09551614) = 184467440737;
    # floors 92233720368 twice, one unit left, equal remainders: owner "a" gets it.
    assert result["payout"].to_list() == [92233720369, 92233720368]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pl.DataFrame({"owner": ["a"], "amount": [1.5]}), "integer base units"),
        (pl.DataFrame({"owner": ["a", "a"], "amount": [1, 2]}), "one row per owner"),
        (pl.DataFrame({"owner": ["a"], "amount": [-1]}), "must not be negative"),
        (pl.DataFrame({"who": ["a"], "amount": [1]}), "missing owner"),
    ],
)
def test_bad_holdings_are_refused(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        allocate(frame, rate_per_share=Decimal("1"), token_decimals=0)


def test_rates_must_be_finite_non_negative_decimals() -> None:
    frame = pl.DataFrame({"owner": ["a"], "amount": [1]})
    for bad in (Decimal("-1"), Decimal("NaN"), 0.5):
        with pytest.raises(PlanError):
            allocate(frame, rate_per_share=bad, token_decimals=0)  # type: ignore[arg-type]
