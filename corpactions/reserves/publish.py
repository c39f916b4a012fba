"""Publish each backing check on chain: a memo signed by the payout authority (the operator
keys, once they exist) through the send-once primitive, exactly once per check (and a check is
unique per instrument, statement and slot).

The memo: ``corpactions backing mint <mint> slot <slot> supply <raw> multiplier <m>
custody <shares> statement sha256 <hex> verdict <verdict>``. Checks without a statement are
recorded but not published (there is nothing to compare on chain).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from corpactions.chain.keys import load_keypair
from corpactions.chain.rpc import Rpc
from corpactions.config import Settings, get_settings
from corpactions.db import SessionFactory
from corpactions.execution.attest import publish_memo, record_attempt
from corpactions.logs import get_logger
from corpactions.models import BackingCheck, Instrument

log = get_logger(__name__)


def memo_of(check: BackingCheck, mint: str) -> str:
    return (
        f"corpactions backing mint {mint} slot {check.slot} supply {check.supply} "
        f"multiplier {check.multiplier or '1'} custody {check.custodian_shares} "
        f"statement sha256 {check.statement_sha256} verdict {check.verdict}"
    )


async def publish_check(
    check_id: int, *, session_factory: SessionFactory, settings: Settings | None = None
) -> str | None:
    """Post the check's memo once; returns its landed signature, or None while an earlier
    attempt may still land (run again later: it resumes)."""
    settings = settings or get_settings()
    with session_factory() as session:
        check = session.get(BackingCheck, check_id)
        assert check is not None
        if check.attested_at is not None:
            return check.attestation_signature
        if check.statement_sha256 is None:
            return None
        instrument = session.get(Instrument, check.instrument_id)
        assert instrument is not None
        text = memo_of(check, instrument.mint)
        previous, last_valid = check.attestation_signature, check.attestation_last_valid or 0

    def record(signature: str, valid_until: int) -> bool:
        with session_factory() as session:
            return record_attempt(
                session,
                BackingCheck.__table__,  # type: ignore[attr-defined]
                check_id,
                previous,
                attestation_signature=signature,
                attestation_last_valid=valid_until,
            )

    async with Rpc(settings=settings) as rpc:
        landed = await publish_memo(
            rpc,
            load_keypair(settings.authority_keypair_path),
            text,
            previous=previous,
            previous_last_valid=last_valid,
            record=record,
        )
    if landed is not None:
        with session_factory() as session:
            stored = session.get(BackingCheck, check_id)
            assert stored is not None
            stored.attestation_signature = landed
            stored.attested_at = datetime.now(UTC)
            session.add(stored)
        log.info("backing check published", check=check_id, signature=landed)
    return landed


def unpublished(session_factory: SessionFactory) -> list[int]:
    with session_factory() as session:
        return [
            int(i)
            for i in session.exec(
                select(BackingCheck.id)
                .where(
                    col(BackingCheck.attested_at).is_(None),
                    col(BackingCheck.statement_sha256).is_not(None),
                )
                .order_by(col(BackingCheck.id))
            )
            if i is not None
        ]


async def publish_pending(
    *, session_factory: SessionFactory, settings: Settings | None = None
) -> dict[str, Any]:
    """Publish every check not yet on chain (safe to run at any time, by any number of runs)."""
    published: dict[str, str | None] = {}
    for check_id in unpublished(session_factory):
        published[str(check_id)] = await publish_check(
            check_id, session_factory=session_factory, settings=settings
        )
    return {"published": published}
