"""Request dependencies and bounds every API module shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlmodel import Session

from corpactions import db
from corpactions.addresses import parse_address
from corpactions.config import Settings

MAX_ID = 2**31 - 1
"""Ids are 32-bit integer keys: anything larger cannot exist (and must not reach the DB)."""


async def read_session() -> AsyncIterator[Session]:
    """A read session per request. Declared async on purpose: creating and closing a session
    does no I/O worth a thread (the connection is checked out by the handler's own query), and
    every sync dependency would cost a thread-pool hop under load."""
    with Session(db.get_engine(autocommit=True), expire_on_commit=False) as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]


def app_settings(request: Request) -> Settings:
    """The settings the app was created with (``create_app`` keeps them on ``app.state``)."""
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(app_settings)]

SYMBOL = r"^[A-Za-z0-9.\-]{1,16}$"


async def _wallet(
    wallet: Annotated[str, Path(description="Holder wallet, base58 (32 bytes).", max_length=64)],
) -> str:
    return parse_address(wallet, what="wallet")


Wallet = Annotated[str, Depends(_wallet)]
SymbolQuery = Annotated[
    str | None, Query(description="Ticker, e.g. AAPL.", pattern=SYMBOL, max_length=16)
]
CursorQuery = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page.")
]
LimitQuery = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
