"""The bulk decoders agree with each other and with a plain reading of the account bytes."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from corpactions.errors import SnapshotError
from snapshots.parse import (
    STATE_AT,
    TYPE_AT,
    RpcErrorResponse,
    aggregate_holders,
    owners_as_base58,
    parse_program_accounts,
    token_accounts_only,
    total_amount,
)
from snapshots.scan import decode_by_scan
from tests.snapkit import SHAPES, account_sizes, token_account
from tests.snapkit import item as snap_item

OWNERS = [bytes([i]) * 32 for i in range(1, 6)] + [
    bytes([3]) * 8 + bytes([1]) * 24,  # shares its first 8 bytes with OWNERS[2], sorts before it
    bytes([3]) * 8 + bytes([9]) * 24,
]
ORDERS = ("struct", "sorted")  # item keys as a node writes them: struct order, or sorted


@st.composite
def accounts(draw: st.DrawFn, token_2022: bool) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        owner = draw(st.sampled_from(OWNERS))
        amount = draw(
            st.one_of(st.just(0), st.integers(1, (2**64 - 1) // 30))
        )  # a mint's total fits u64
        state = draw(st.sampled_from([1, 1, 1, 2, 0]))
        data = owner + amount.to_bytes(8, "little") + bytes(36) + bytes([state])
        if token_2022:
            kind = draw(st.sampled_from(["base", "extended", "mint-like"]))
            if kind == "base":
                data = data + bytes(133 - len(data))  # a 165-byte account
            elif kind == "extended":
                data = data + bytes(133 - len(data)) + bytes([2])  # type byte: account
            else:
                data = data + bytes(133 - len(data)) + bytes([1])  # type byte: mint
        rows.append({"owner": owner, "amount": amount, "state": state, "data": data})
    return rows


def _item(data: bytes, order: str) -> dict[str, Any]:
    encoded = [base64.b64encode(data).decode(), "base64"]
    pubkey = "11111111111111111111111111111111"
    token = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
    space = 32 + len(data)
    if order == "sorted":  # older nodes: every object's keys sorted
        return {
            "account": {
                "data": encoded,
                "executable": False,
                "lamports": 2039280,
                "owner": token,
                "rentEpoch": 18446744073709551615,
                "space": space,
            },
            "pubkey": pubkey,
        }
    return {
        "pubkey": pubkey,
        "account": {
            "lamports": 2039280,
            "data": encoded,
            "owner": token,
            "executable": False,
            "rentEpoch": 18446744073709551615,
            "space": space,
        },
    }


def _response(
    rows: list[dict[str, Any]], *, pretty: bool = False, context: bool = True, order: str = "struct"
) -> bytes:
    items = [_item(r["data"], order) for r in rows]
    result: Any = (
        {"context": {"apiVersion": "2.2.7", "slot": 42}, "value": items} if context else items
    )
    return orjson.dumps(
        {"jsonrpc": "2.0", "result": result, "id": 1}, option=orjson.OPT_INDENT_2 if pretty else 0
    )


def _expected(rows: list[dict[str, Any]], token_2022: bool) -> dict[bytes, int]:
    totals: dict[bytes, int] = {}
    for r in rows:
        is_account = r["state"] != 0 and (
            not token_2022 or len(r["data"]) == 133 or r["data"][133] == 2
        )
        if is_account and r["amount"]:
            totals[r["owner"]] = totals.get(r["owner"], 0) + r["amount"]
    return totals


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(), token_2022=st.booleans(), pretty=st.booleans(), order=st.sampled_from(ORDERS)
)
def test_every_decoder_gives_the_same_holdings_as_reading_the_bytes(
    data: st.DataObject, token_2022: bool, pretty: bool, order: str
) -> None:
    rows = data.draw(accounts(token_2022))
    raw = _response(rows, pretty=pretty, order=order)
    frames = []
    for decoder in ("auto", "scan", "regex", "exact"):
        page = parse_program_accounts(raw, decoder=decoder)
        assert page.slot == 42
        frames.append(
            aggregate_holders(token_accounts_only(page.accounts.lazy(), token_2022=token_2022))
        )
    for frame in frames[1:]:
        assert_frame_equal(frames[0], frame)
    holders = frames[0]
    assert holders["owner"].to_list() == sorted(holders["owner"].to_list())  # byte order
    assert dict(
        zip(holders["owner"].to_list(), holders["amount"].to_list(), strict=True)
    ) == _expected(rows, token_2022)


def test_the_scan_decoder_reads_compact_bodies_of_any_slice_lengths_and_falls_back_otherwise() -> (
    None
):
    uniform = [{"data": bytes([1]) * 77}] * 3
    assert parse_program_accounts(_response(uniform)).decoder == "scan"
    mixed = [{"data": bytes([1]) * 77}, {"data": bytes([1]) * 50}, {"data": bytes([1]) * 133}]
    page = parse_program_accounts(_response(mixed))
    assert page.decoder == "scan"
    assert page.accounts["slice_len"].to_list() == [77, 50, 133]
    assert parse_program_accounts(_response(uniform, pretty=True)).decoder == "regex"
    short = [{"data": bytes([1]) * 77}, {"data": bytes([1]) * 39}]
    assert decode_by_scan(_response(short), state_at=STATE_AT, type_at=TYPE_AT) is None


@pytest.mark.parametrize("order", ORDERS)
def test_the_scan_decoder_reads_items_in_either_key_order(order: str) -> None:
    rows = [
        {"data": OWNERS[i] + (i + 1).to_bytes(8, "little") + bytes(36) + b"\x01"} for i in range(3)
    ]
    page = parse_program_accounts(_response(rows, order=order))
    assert page.decoder == "scan"
    assert page.accounts["amount"].to_list() == [1, 2, 3]


def test_splitting_the_body_over_threads_gives_the_same_columns() -> None:
    rows = [
        {"data": OWNERS[i % len(OWNERS)] + i.to_bytes(8, "little") + bytes(36) + bytes([1 + i % 2])}
        for i in range(200)
    ]
    raw = _response(rows)
    whole = decode_by_scan(raw, state_at=STATE_AT, type_at=TYPE_AT, parts=1)
    assert whole is not None and whole.height == 200
    for parts in (2, 3, 7):
        split = decode_by_scan(raw, state_at=STATE_AT, type_at=TYPE_AT, parts=parts)
        assert split is not None
        assert_frame_equal(whole, split)


def test_an_item_without_a_base64_string_is_never_skipped() -> None:
    """Every account item must be followed by its data string before the next item: an item
    whose data has another form sends the body to the decoders that read every item."""
    rows = [{"data": OWNERS[i] + (5).to_bytes(8, "little") + bytes(36) + b"\x01"} for i in range(3)]
    raw = _response(rows)
    second = base64.b64encode(rows[1]["data"]).decode()
    raw = raw.replace(f'["{second}","base64"]'.encode(), b'"3Mc6vR"')
    assert decode_by_scan(raw, state_at=STATE_AT, type_at=TYPE_AT) is None
    with pytest.raises(SnapshotError, match="other than base64"):
        parse_program_accounts(raw)


def test_frozen_and_initialized_accounts_together_still_take_the_scan_path() -> None:
    """The last base64 character before the padding encodes the state byte: slices of equal
    width differ there, and only the padding pattern must agree."""
    rows = [
        {"data": OWNERS[0] + (5).to_bytes(8, "little") + bytes(36) + bytes([1])},
        {"data": OWNERS[1] + (7).to_bytes(8, "little") + bytes(36) + bytes([2])},
    ]
    page = parse_program_accounts(_response(rows))
    assert page.decoder == "scan"
    assert page.accounts["state"].to_list() == [1, 2]
    assert page.accounts["amount"].to_list() == [5, 7]


def test_any_other_encoding_is_refused_by_the_exact_decoder() -> None:
    raw = _response([{"data": bytes(77)}]).replace(b'"base64"]', b'"base58"]')
    with pytest.raises(SnapshotError, match="other than base64"):
        parse_program_accounts(raw)


def test_paged_responses_carry_their_pagination_key() -> None:
    page = {"accounts": [], "paginationKey": "So11111111111111111111111111111111111111112"}
    raw = orjson.dumps({"jsonrpc": "2.0", "result": page, "id": 1})
    parsed = parse_program_accounts(raw, method="getProgramAccountsV2")
    assert parsed.paginated and parsed.pagination_key == page["paginationKey"]
    last = orjson.dumps(
        {"jsonrpc": "2.0", "result": {"accounts": [], "paginationKey": None}, "id": 1}
    )
    assert parse_program_accounts(last).pagination_key is None


def test_an_error_response_names_the_node_message_and_code() -> None:
    raw = (
        b'{"jsonrpc":"2.0","error":{"code":-32010,'
        b'"message":"excluded from account secondary indexes"},"id":1}'
    )
    with pytest.raises(RpcErrorResponse, match="excluded from account secondary indexes") as caught:
        parse_program_accounts(raw)
    assert caught.value.code == -32010


def test_balances_of_one_owner_beyond_u64_are_refused_not_wrapped() -> None:
    rows = [{"data": OWNERS[0] + (2**64 - 1).to_bytes(8, "little") + bytes(36) + b"\x01"}] * 2
    page = parse_program_accounts(_response(rows))
    assert total_amount(page.accounts) == 2 * (2**64 - 1)
    with pytest.raises(SnapshotError, match="more than a u64"):
        aggregate_holders(page.accounts.lazy())


def test_slices_too_short_to_hold_owner_and_amount_are_refused() -> None:
    with pytest.raises(SnapshotError, match="shorter than owner"):
        parse_program_accounts(_response([{"data": bytes(20)}]))


def test_excluded_wallets_are_marked_and_owners_render_as_base58() -> None:
    raw = _response([{"data": OWNERS[0] + (5).to_bytes(8, "little") + bytes(36) + b"\x01"}])
    page = parse_program_accounts(raw)
    text = owners_as_base58(
        aggregate_holders(
            page.accounts.lazy(), excluded=["4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi"]
        )
    )
    assert text["owner"].to_list() == ["4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi"]
    assert text["excluded"].to_list() == [True]
    assert text.schema["owner"] == pl.String


MINT = bytes(range(32))


def _shape_case(case: str) -> tuple[list[bytes], dict[bytes, int], int]:
    """Accounts' data for one case, the holdings they make and the frozen amount among them."""
    o1, o2 = OWNERS[0], OWNERS[1]
    if case in SHAPES:  # one owner with two accounts of the shape
        datas = [token_account(MINT, o, a, shape=case) for o, a in ((o1, 5), (o2, 7), (o1, 11))]
        return datas, {o1: 16, o2: 7}, 0
    if case == "frozen":
        datas = [
            token_account(MINT, o1, 5, state=2),
            token_account(MINT, o2, 7),
            token_account(MINT, o2, 3, state=2, shape="no extensions"),
        ]
        return datas, {o1: 5, o2: 10}, 8
    if case == "zero balance":
        datas = [token_account(MINT, o1, 0), token_account(MINT, o2, 7), token_account(MINT, o2, 0)]
        return datas, {o2: 7}, 0
    if case == "non-account entries":
        extended_mint = MINT + bytes(133) + b"\x01" + bytes(84)  # account type 1: a mint
        datas = [
            MINT + bytes(50),  # an 82-byte mint-sized entry sharing the mint's bytes
            extended_mint,
            token_account(MINT, o1, 9, state=0),  # uninitialized
            token_account(MINT, o2, 7),
        ]
        return datas, {o2: 7}, 0
    datas = [token_account(MINT, o1, i + 1, shape=s) for i, s in enumerate(SHAPES)]  # mixed
    return datas, {o1: sum(range(1, len(SHAPES) + 1))}, 0


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    "case", [*SHAPES, "frozen", "zero balance", "non-account entries", "mixed"]
)
def test_every_token_2022_account_shape_takes_the_scan_path_and_reads_as_its_bytes(
    case: str, order: str
) -> None:
    """Sizes from the Token-2022 program (tests/snapkit.py): 165 bytes without extensions,
    170 with ImmutableOwner (every associated account), 175 with MemoTransfer or CpiGuard
    as well; slices from offset 32 of 134 bytes are 133 or 134 bytes long."""
    datas, holdings, frozen = _shape_case(case)
    items = [snap_item(f"{i + 1}" * 32, data, order=order) for i, data in enumerate(datas)]
    raw = orjson.dumps(
        {"jsonrpc": "2.0", "result": {"context": {"slot": 9}, "value": items}, "id": 1}
    )
    page = parse_program_accounts(raw)
    assert page.decoder == "scan"
    assert page.slot == 9
    assert page.accounts["slice_len"].to_list() == [min(len(d) - 32, 134) for d in datas]
    assert_frame_equal(page.accounts, parse_program_accounts(raw, decoder="exact").accounts)
    holders = aggregate_holders(token_accounts_only(page.accounts.lazy(), token_2022=True))
    assert dict(zip(holders["owner"].to_list(), holders["amount"].to_list(), strict=True)) == (
        holdings
    )
    assert int(holders["frozen_amount"].sum()) == frozen


def test_the_shapes_are_sized_by_the_token_2022_program() -> None:
    assert account_sizes() == {
        "no extensions": 165,
        "ImmutableOwner": 170,
        "ImmutableOwner+MemoTransfer": 175,
        "ImmutableOwner+CpiGuard": 175,
    }
