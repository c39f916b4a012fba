"""Request dependencies and bounds every API module shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session

from corpactions import db

MAX_ID = 2**31 - 1
"""Ids are 32-bit integer keys: anything larger cannot exist (and must not reach the DB)."""


async def read_session() -> AsyncIterator[Session]:
    """A read session per request. Declared async on purpose: creating and closing a session
    does no I/O worth a thread (the connection is checked out by the handler's own query), and
    every sync dependency would cost a thread-pool hop under load."""
    with Session(db.get_engine(autocommit=True), expire_on_commit=False) as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]
