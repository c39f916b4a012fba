"""The instrument registry: which mint carries which underlying ticker."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlmodel import Session, select

from corpactions.addresses import parse_address
from corpactions.errors import AlreadyExists, NotFound, UserInputError
from corpactions.models import Instrument, TokenProgram

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,15}$")


def normalize_symbol(symbol: str) -> str:
    value = symbol.strip().upper()
    if not _SYMBOL.match(value):
        raise UserInputError(
            f"symbol {symbol!r} is not a ticker",
            hint="use 1 to 16 letters, digits, '.' or '-', starting with a letter (AAPL, BRK.B)",
        )
    return value


def add_instrument(
    *,
    session: Session,
    symbol: str,
    mint: str,
    token_program: TokenProgram = TokenProgram.token,
    decimals: int = 8,
    excluded_wallets: Sequence[str] = (),
    issuer_wallet: str | None = None,
    dividend_mode: str = "usdc",
) -> Instrument:
    """Register a tokenized instrument. Validates everything before writing anything."""
    symbol = normalize_symbol(symbol)
    if dividend_mode not in ("usdc", "reinvest"):
        raise UserInputError(f"dividend mode must be usdc or reinvest, not {dividend_mode!r}")
    if dividend_mode == "reinvest" and token_program != TokenProgram.token2022:
        raise UserInputError(
            "dividend mode reinvest needs a token2022 mint (it raises the ScaledUiAmount "
            "multiplier); a classic SPL mint pays dividends in USDC"
        )
    mint = parse_address(mint, what="mint")
    if not 0 <= decimals <= 18:
        raise UserInputError(f"decimals must be between 0 and 18, not {decimals}")
    excluded = sorted({parse_address(w, what="excluded wallet") for w in excluded_wallets})
    issuer = parse_address(issuer_wallet, what="issuer wallet") if issuer_wallet else None
    if session.exec(select(Instrument).where(Instrument.symbol == symbol)).first():
        raise AlreadyExists(f"instrument {symbol} is already registered")
    if session.exec(select(Instrument).where(Instrument.mint == mint)).first():
        raise AlreadyExists(f"mint {mint} is already registered to another instrument")
    instrument = Instrument(
        symbol=symbol,
        mint=mint,
        token_program=token_program,
        decimals=decimals,
        dividend_mode=dividend_mode,
        excluded_wallets=excluded,
        issuer_wallet=issuer,
    )
    session.add(instrument)
    session.flush()
    return instrument


def list_instruments(*, session: Session, active_only: bool = False) -> list[Instrument]:
    query = select(Instrument).order_by(Instrument.symbol)
    if active_only:
        query = query.where(Instrument.active == True)  # noqa: E712 - SQL comparison
    return list(session.exec(query))


def get_instrument(*, session: Session, symbol_or_mint: str) -> Instrument:
    key = symbol_or_mint.strip()
    found = session.exec(
        select(Instrument).where((Instrument.symbol == key.upper()) | (Instrument.mint == key))
    ).first()
    if found is None:
        raise NotFound(
            f"no instrument {key!r}", hint="see 'corpactions instruments list' for what exists"
        )
    return found
