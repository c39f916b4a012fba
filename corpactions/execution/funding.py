"""The cold treasury funds each USDC plan's own account; the payer pays only from there.

When a USDC plan is approved, one funding transaction, signed by the treasury owner alone (a
cold key, a hardware wallet, a multisig vault), does three things atomically:

1. ``createAccountWithSeed``: a token account at an address derived from the treasury owner
   (the base, who signs) and a seed taken from the plan's Merkle root, so every plan has its
   own address, anyone can recompute it, and only the treasury owner can create it;
2. ``initializeAccount3``: that account holds the payout mint and is owned by the hot payer;
3. ``transferChecked`` of exactly the plan's to-send total from the treasury into it;

and carries a memo naming the plan and its root. The account can be created only once, so even
a funding transaction signed twice moves the money once; on top of that, funding follows the
send-once rule (recorded before it is sent, re-signed only when provably dead).

The executor then signs transfers from the plan account only: a compromised executor host can
move at most what is funded and not yet paid. After reconciliation (or by ``payouts close``),
one closing transaction signed by the payer moves what is left (held and failed lines) back to
the very treasury account that funded the plan, and closes the account (its rent goes to the
payer).
"""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from corpactions.chain import layout, tokens
from corpactions.chain.keys import load_keypair
from corpactions.chain.rpc import Rpc, TransactionRejected
from corpactions.config import Settings
from corpactions.db import SessionFactory
from corpactions.errors import PlanError, TransientRpcError, UserInputError
from corpactions.execution.crashpoints import crash_point
from corpactions.execution.proofs import (
    PlanTampered,
    approved,
    check_line_count,
    mark_tampered,
    tamper_reason,
)
from corpactions.execution.reconcile import read_transaction
from corpactions.execution.sendonce import Attempt, Fate, fate, settle
from corpactions.logs import get_logger
from corpactions.models import (
    BatchStatus,
    FundingStatus,
    LineStatus,
    PayoutBatch,
    PayoutLine,
    PayoutPlan,
    PlanFunding,
    PlanStatus,
)
from corpactions.models.types import utcnow

log = get_logger(__name__)
FUNDING_MEMO = "corpactions plan {plan} funding root {root}"
CLOSING_MEMO = "corpactions plan {plan} closing root {root}"
FUNDED = (FundingStatus.funded, FundingStatus.closing, FundingStatus.closed)
FUNDABLE = (PlanStatus.approved, PlanStatus.executing)
OPEN_BATCHES = (BatchStatus.planned, BatchStatus.signed, BatchStatus.sent, BatchStatus.expired)
TABLE = PlanFunding.__table__  # type: ignore[attr-defined]
SETTLE_SECONDS = 120.0


def fund_hint(plan_id: int) -> str:
    return (
        f"fund it from the treasury: 'corpactions payouts fund {plan_id} --treasury-key FILE', "
        f"or 'payouts fund {plan_id} --export tx.b64' for an external signer, then "
        f"'payouts fund {plan_id} --signed tx.b64'"
    )


# ----- addresses -------------------------------------------------------------------------------


def treasury_owner(settings: Settings) -> Pubkey:
    """The treasury's owner: the configured key, else the treasury keypair's, else (a single-key
    set-up) the payout authority's."""
    if settings.treasury_owner:
        return Pubkey.from_string(settings.treasury_owner)
    if settings.treasury_keypair_path is not None:
        return load_keypair(settings.treasury_keypair_path).pubkey()
    return load_keypair(settings.authority_keypair_path).pubkey()


def treasury_account(settings: Settings, owner: Pubkey | None = None) -> Pubkey:
    if settings.treasury_account:
        return Pubkey.from_string(settings.treasury_account)
    return tokens.associated_token_address(
        owner or treasury_owner(settings), Pubkey.from_string(settings.usdc_mint)
    )


def payer_address(settings: Settings) -> Pubkey:
    """The hot payer's public key: from ``CORPACTIONS_PAYER_ADDRESS`` on a host without its
    keypair (an approver's machine), else from the keypair file."""
    if settings.payer_address:
        return Pubkey.from_string(settings.payer_address)
    return load_keypair(settings.authority_keypair_path).pubkey()


def plan_seed(plan: PayoutPlan) -> str:
    """32 hex characters of the plan root (the longest seed the system program takes)."""
    return plan.plan_hash[:32]


@dataclass(frozen=True)
class Funding:
    """What funding one plan means: its account, the treasury and exactly how much."""

    plan_id: int
    root: str
    seed: str
    account: Pubkey
    treasury: Pubkey
    treasury_owner: Pubkey
    payer: Pubkey
    mint: Pubkey
    decimals: int
    amount: int

    def message(self, rent: int, blockhash: Hash) -> Message:
        program = layout.TOKEN_PROGRAM_ID
        owner = self.treasury_owner
        instructions = [
            tokens.create_account_with_seed_for(
                owner, owner, self.seed, rent, layout.ACCOUNT_LEN, program
            ),
            tokens.initialize_account3(self.account, self.mint, self.payer, program),
            tokens.transfer_checked(
                self.treasury, self.mint, self.account, owner, self.amount, self.decimals, program
            ),
            tokens.memo(FUNDING_MEMO.format(plan=self.plan_id, root=self.root)),
        ]
        return Message.new_with_blockhash(instructions, owner, blockhash)


def expected_funding(
    session: Session, plan_id: int, settings: Settings, owner: Pubkey | None = None
) -> Funding:
    """The funding ``plan_id`` needs; refuses a plan that may not be funded."""
    plan = session.get(PayoutPlan, plan_id)
    if plan is None:
        raise PlanError(f"no payout plan {plan_id}")
    if plan.asset != "usdc":
        raise PlanError(
            f"plan {plan_id} mints stock tokens; only USDC plans are funded from the treasury"
        )
    if plan.status not in FUNDABLE:
        raise PlanError(
            f"plan {plan_id} is {plan.status}; only approved plans are funded",
            hint="review it with 'corpactions payouts show' and approve it first",
        )
    approved(session, plan)  # every approval bound this root
    owner = owner or treasury_owner(settings)
    row = _row(session, plan_id)
    if row is not None and row.treasury_owner != str(owner):
        raise PlanError(
            f"plan {plan_id}'s funding was prepared for treasury owner {row.treasury_owner}, "
            f"not {owner}",
            hint="fund it with that owner's key (the plan's account derives from it)",
        )
    seed = plan_seed(plan)
    return Funding(
        plan_id=plan_id,
        root=plan.plan_hash,
        seed=seed,
        account=tokens.address_with_seed(owner, seed, layout.TOKEN_PROGRAM_ID),
        treasury=treasury_account(settings, owner),
        treasury_owner=owner,
        payer=payer_address(settings),
        mint=Pubkey.from_string(settings.usdc_mint),
        decimals=settings.payout_decimals,
        amount=plan.sent_total,
    )


SENT_STATUSES = (
    LineStatus.pending,
    LineStatus.batched,
    LineStatus.paid,
    LineStatus.held_for_claim,
    LineStatus.failed,
)


def prove_before_funding(session_factory: SessionFactory, plan_id: int) -> None:
    """Every line of the plan proves against its approved root, and the to-send total (what
    funding moves) is the sum of those proven lines; otherwise the plan turns ``tampered`` and
    the treasury moves nothing."""
    with session_factory() as session:
        plan = session.get(PayoutPlan, plan_id)
        if plan is None or plan.asset != "usdc" or plan.status not in FUNDABLE:
            return  # expected_funding refuses it with the reason
        lines = session.exec(select(PayoutLine).where(PayoutLine.plan_id == plan_id)).all()
        reason = check_line_count(session, plan) or tamper_reason(session, plan, lines)
        if reason is None:
            proven = sum(line.amount_due for line in lines if line.status in SENT_STATUSES)
            if proven != plan.sent_total:
                reason = (
                    f"plan {plan_id}'s to-send total {plan.sent_total} is not the sum of its "
                    f"proven lines ({proven})"
                )
        if reason is not None:
            mark_tampered(session, plan, reason)
    if reason is not None:
        raise PlanTampered(f"plan {plan_id}: {reason}")


def _row(session: Session, plan_id: int) -> PlanFunding | None:
    return session.exec(select(PlanFunding).where(PlanFunding.plan_id == plan_id)).first()


def funding_of(session: Session, plan_id: int) -> PlanFunding | None:
    return _row(session, plan_id)


def funded_account(session: Session, plan_id: int) -> Pubkey:
    """The account a USDC plan pays from; refuses an unfunded plan."""
    row = _row(session, plan_id)
    if row is None or row.status not in FUNDED:
        raise PlanError(
            f"plan {plan_id} is not funded: the payer pays only from the plan's own account, "
            "funded from the treasury",
            hint=fund_hint(plan_id),
        )
    return Pubkey.from_string(row.account)


def require_open_account(session: Session, plan: PayoutPlan) -> None:
    """A plan whose account was closed sends nothing more."""
    row = _row(session, plan.id or 0)
    if row is None or row.status not in (FundingStatus.closing, FundingStatus.closed):
        return
    open_lines = session.exec(
        select(func.count()).where(
            PayoutLine.plan_id == plan.id,
            col(PayoutLine.status).in_([LineStatus.pending, LineStatus.batched]),
        )
    ).one()
    if open_lines:
        raise PlanError(
            f"plan {plan.id}'s account was closed and its remainder returned to the treasury; "
            f"its {open_lines} open line(s) are not sent",
            hint="compute and approve a new plan for what remains",
        )


# ----- funding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FundingOutcome:
    plan_id: int
    account: str
    amount: int
    signature: str | None
    state: str
    """``funded`` (now or before), or ``exported``."""

    def as_dict(self) -> dict[str, object]:
        return {
            "plan_id": self.plan_id,
            "account": self.account,
            "amount": self.amount,
            "signature": self.signature,
            "state": self.state,
        }


def _outcome(row: PlanFunding) -> FundingOutcome:
    return FundingOutcome(row.plan_id, row.account, row.amount, row.signature, "funded")


async def _resolve(rpc: Rpc, session_factory: SessionFactory, plan_id: int) -> PlanFunding | None:
    """The plan's funding row after asking the chain about a recorded signed attempt: landed
    -> funded; may still land -> TransientRpcError (nothing new is signed); dead -> the row,
    still ``signed``, may take a new attempt."""
    with session_factory() as session:
        row = _row(session, plan_id)
        if row is None or row.status != FundingStatus.signed:
            return row
        attempt = Attempt(row.signature or "", row.last_valid_block_height or 0, row.signed_tx)
    found = await settle(rpc, attempt, timeout=SETTLE_SECONDS)
    if found.state == "pending":
        raise TransientRpcError(
            f"plan {plan_id}'s funding {attempt.signature} is not final yet",
            hint="run the same command again: it looks at that transaction before anything else",
        )
    if found.succeeded:
        return await _mark_funded(rpc, session_factory, plan_id, attempt.signature, found)
    log.warning("funding attempt did not land", plan=plan_id, fate=found.state, err=found.err)
    with session_factory() as session:
        return _row(session, plan_id)


async def _mark_funded(
    rpc: Rpc, session_factory: SessionFactory, plan_id: int, signature: str, found: Fate
) -> PlanFunding:
    with session_factory() as session:
        row = _row(session, plan_id)
        assert row is not None
        account, treasury, mint, amount = row.account, row.treasury, row.mint, row.amount
    reading = await read_transaction(rpc, signature, mint)
    moved_in = reading.deltas.get(account, 0)
    if reading.missing or moved_in != amount or -reading.deltas.get(treasury, 0) != amount:
        raise PlanError(
            f"plan {plan_id}'s funding {signature} did not move exactly {amount} from "
            f"{treasury} to {account} (chain: {reading.missing or reading.deltas})",
            hint="nothing is paid from this plan; investigate the transaction",
        )
    with session_factory() as session:
        session.connection().execute(
            sa.update(TABLE)
            .where(TABLE.c.plan_id == plan_id, TABLE.c.signature == signature)
            .values(status=FundingStatus.funded.value, funded_slot=found.slot, updated_at=utcnow())
        )
        row = _row(session, plan_id)
        assert row is not None
        session.expunge(row)
    log.info("plan funded", plan=plan_id, account=account, amount=amount, signature=signature)
    return row


def _record(session_factory: SessionFactory, *args: Any, **kwargs: Any) -> bool:
    """``_store_intent`` in its own transaction; False when another writer won the race."""
    try:
        with session_factory() as session:
            return _store_intent(session, *args, **kwargs)
    except IntegrityError:  # another process inserted the plan's row first
        return False


def _store_intent(
    session: Session,
    funding: Funding,
    row: PlanFunding | None,
    *,
    message: Message,
    last_valid: int,
    signed: Transaction | None,
) -> bool:
    """Record a new attempt (or export) by compare-and-set on the row's attempt and status."""
    values: dict[str, object] = {
        "message": bytes(message),
        "last_valid_block_height": last_valid,
        "updated_at": utcnow(),
    }
    if signed is not None:
        values |= {
            "status": FundingStatus.signed.value,
            "signed_tx": bytes(signed),
            "signature": str(signed.signatures[0]),
            "attempt": (row.attempt if row else 0) + 1,
        }
    else:
        values |= {"status": FundingStatus.exported.value, "signed_tx": None, "signature": None}
    if row is None:
        session.add(
            PlanFunding(
                plan_id=funding.plan_id,
                account=str(funding.account),
                seed=funding.seed,
                treasury=str(funding.treasury),
                treasury_owner=str(funding.treasury_owner),
                payer=str(funding.payer),
                mint=str(funding.mint),
                amount=funding.amount,
                **values,  # type: ignore[arg-type]
            )
        )
        session.flush()  # the unique plan_id refuses a second writer
        return True
    result = session.connection().execute(
        sa.update(TABLE)
        .where(
            TABLE.c.id == row.id,
            TABLE.c.attempt == row.attempt,
            TABLE.c.status == str(row.status),
        )
        .values(**values)
    )
    return bool(result.rowcount == 1)


async def _refuse_if_account_exists(rpc: Rpc, funding: Funding) -> None:
    if await rpc.account(funding.account) is not None:
        raise PlanError(
            f"plan {funding.plan_id}'s account {funding.account} exists on chain, but the "
            "ledger records no landed funding (a signed export submitted elsewhere?)",
            hint=f"submit that signed transaction with 'payouts fund {funding.plan_id} --signed'",
        )


async def _send_and_settle(
    rpc: Rpc, session_factory: SessionFactory, plan_id: int, signed: Transaction, last_valid: int
) -> FundingOutcome:
    crash_point("fund_after_persist")
    try:
        await rpc.send_raw(bytes(signed), skip_preflight=True)
    except TransactionRejected as exc:  # the status check decides
        log.warning("funding send refused", plan=plan_id, error=exc.message)
    crash_point("fund_after_send")
    row = await _resolve(rpc, session_factory, plan_id)
    assert row is not None
    if row.status != FundingStatus.funded:
        raise FundingDidNotLand(
            f"plan {plan_id}'s funding {signed.signatures[0]} did not land "
            "(expired, or failed on chain)",
            hint="check the treasury's balance and SOL, then fund again",
        )
    return _outcome(row)


async def fund_with_key(
    rpc: Rpc,
    session_factory: SessionFactory,
    plan_id: int,
    settings: Settings,
    treasury_key: Keypair,
    *,
    attempts: int = 3,
) -> FundingOutcome:
    """Sign the plan's funding with the treasury owner's key and send it, exactly once; an
    attempt proven dead (expired unlanded) is followed by a new one, ``attempts`` in all."""
    for _ in range(attempts - 1):
        try:
            return await _fund_once(rpc, session_factory, plan_id, settings, treasury_key)
        except FundingDidNotLand as exc:
            log.warning("funding attempt dead; signing a new one", plan=plan_id, error=exc.message)
    return await _fund_once(rpc, session_factory, plan_id, settings, treasury_key)


class FundingDidNotLand(PlanError):
    """The recorded funding attempt expired unlanded or failed on chain: nothing moved."""


async def _fund_once(
    rpc: Rpc,
    session_factory: SessionFactory,
    plan_id: int,
    settings: Settings,
    treasury_key: Keypair,
) -> FundingOutcome:
    row = await _resolve(rpc, session_factory, plan_id)
    if row is not None and row.status in FUNDED:
        return _outcome(row)
    prove_before_funding(session_factory, plan_id)
    with session_factory() as session:
        funding = expected_funding(session, plan_id, settings, treasury_key.pubkey())
    if await rpc.account(funding.account) is not None:
        # another process may have funded it meanwhile: its recorded attempt decides
        row = await _resolve(rpc, session_factory, plan_id)
        if row is not None and row.status in FUNDED:
            return _outcome(row)
        await _refuse_if_account_exists(rpc, funding)
    blockhash = await rpc.latest_blockhash()
    rent = await rpc.rent_exempt_minimum(layout.ACCOUNT_LEN)
    message = funding.message(rent, blockhash.blockhash)
    signed = Transaction([treasury_key], message, blockhash.blockhash)
    simulated = await rpc.call_json(
        "simulateTransaction",
        [base64.b64encode(bytes(signed)).decode(), {"encoding": "base64", "sigVerify": False}],
    )
    if simulated["value"].get("err") is not None:
        row = await _resolve(rpc, session_factory, plan_id)  # funded by another process meanwhile?
        if row is not None and row.status in FUNDED:
            return _outcome(row)
        raise PlanError(
            f"plan {plan_id}'s funding would fail: {simulated['value']['err']}; logs: "
            f"{(simulated['value'].get('logs') or [])[-2:]}",
            hint=f"the treasury {funding.treasury} must hold {funding.amount} base units and its "
            "owner SOL for the fee and the account's rent",
        )
    crash_point("fund_after_sign")
    won = _record(
        session_factory,
        funding,
        row,
        message=message,
        last_valid=blockhash.last_valid_block_height,
        signed=signed,
    )
    if not won:  # another process recorded its attempt first: that one decides
        row = await _resolve(rpc, session_factory, plan_id)
        if row is not None and row.status in FUNDED:
            return _outcome(row)
        raise TransientRpcError(
            f"another process recorded plan {plan_id}'s funding first; nothing was sent",
            hint="run the command again to see its outcome",
        )
    return await _send_and_settle(
        rpc, session_factory, plan_id, signed, blockhash.last_valid_block_height
    )


async def export_funding(
    rpc: Rpc,
    session_factory: SessionFactory,
    plan_id: int,
    settings: Settings,
    owner: Pubkey | None = None,
) -> bytes:
    """The unsigned funding transaction for an external signer (recorded in the ledger, so
    ``submit_signed`` accepts exactly it and nothing else). While an earlier export's blockhash
    is still valid, the same transaction is returned again."""
    row = await _resolve(rpc, session_factory, plan_id)
    if row is not None and row.status in FUNDED:
        raise PlanError(f"plan {plan_id} is funded already ({row.signature})")
    prove_before_funding(session_factory, plan_id)
    with session_factory() as session:
        funding = expected_funding(
            session,
            plan_id,
            settings,
            owner or (Pubkey.from_string(row.treasury_owner) if row else None),
        )
    if (
        row is not None
        and row.status == FundingStatus.exported
        and row.message is not None
        and (row.last_valid_block_height or 0) > await rpc.block_height()
    ):
        return bytes(Transaction.new_unsigned(Message.from_bytes(row.message)))
    await _refuse_if_account_exists(rpc, funding)
    blockhash = await rpc.latest_blockhash()
    rent = await rpc.rent_exempt_minimum(layout.ACCOUNT_LEN)
    message = funding.message(rent, blockhash.blockhash)
    won = _record(
        session_factory,
        funding,
        row,
        message=message,
        last_valid=blockhash.last_valid_block_height,
        signed=None,
    )
    if not won:
        raise TransientRpcError(
            f"another process changed plan {plan_id}'s funding meanwhile", hint="export again"
        )
    return bytes(Transaction.new_unsigned(message))


async def submit_signed(
    rpc: Rpc, session_factory: SessionFactory, plan_id: int, signed_bytes: bytes
) -> FundingOutcome:
    """Submit an externally signed funding: only the exact exported message, validly signed."""
    row = await _resolve(rpc, session_factory, plan_id)
    if row is not None and row.status in FUNDED:
        return _outcome(row)
    if row is None or row.status != FundingStatus.exported or row.message is None:
        raise PlanError(
            f"plan {plan_id} has no exported funding waiting for a signature",
            hint=f"export it first: 'corpactions payouts fund {plan_id} --export tx.b64'",
        )
    try:
        signed = Transaction.from_bytes(signed_bytes)
    except ValueError as exc:
        raise UserInputError(
            "the signed file is not a base64 Solana transaction",
            hint="give the file the external signer returned",
        ) from exc
    if bytes(signed.message) != row.message:
        raise PlanError(
            f"the signed transaction is not plan {plan_id}'s exported funding "
            "(its message differs)",
            hint=f"sign exactly the file 'payouts fund {plan_id} --export' wrote",
        )
    prove_before_funding(session_factory, plan_id)
    if Signature.default() in signed.signatures or not all(signed.verify_with_results()):
        raise PlanError(
            f"the signed transaction for plan {plan_id} does not carry the treasury owner's "
            "valid signature",
            hint="have the treasury owner sign the exported file",
        )
    with session_factory() as session:
        funding = expected_funding(
            session, plan_id, _settings_for(row), Pubkey.from_string(row.treasury_owner)
        )
        won = _store_intent(
            session,
            funding,
            row,
            message=signed.message,
            last_valid=row.last_valid_block_height or 0,
            signed=signed,
        )
    if not won:
        raise TransientRpcError(
            f"another process recorded plan {plan_id}'s funding first; nothing was sent",
            hint="run the command again to see its outcome",
        )
    return await _send_and_settle(
        rpc, session_factory, plan_id, signed, row.last_valid_block_height or 0
    )


def _settings_for(row: PlanFunding) -> Settings:
    """Settings that reproduce the recorded funding's addresses (the row is the authority)."""
    from corpactions.config import get_settings

    return get_settings().model_copy(
        update={
            "treasury_account": row.treasury,
            "treasury_owner": row.treasury_owner,
            "payer_address": row.payer,
            "usdc_mint": row.mint,
        }
    )


async def ensure_funded(session_factory: SessionFactory, plan_id: int, settings: Settings) -> None:
    """Before a USDC plan is executed: funded already, or funded now by this host when it holds
    the treasury key (``CORPACTIONS_TREASURY_KEYPAIR_PATH``); refused otherwise."""
    with session_factory() as session:
        plan = session.get(PayoutPlan, plan_id)
        if plan is None or plan.asset != "usdc":
            return
        row = _row(session, plan_id)
        if row is not None and row.status in FUNDED:
            return
        signed_pending = row is not None and row.status == FundingStatus.signed
    async with Rpc(settings=settings) as rpc:
        if signed_pending:
            row = await _resolve(rpc, session_factory, plan_id)
            if row is not None and row.status in FUNDED:
                return
        if settings.treasury_keypair_path is None:
            raise PlanError(
                f"plan {plan_id} is not funded: the payer pays only from the plan's own "
                "account, funded from the treasury",
                hint=fund_hint(plan_id),
            )
        key = load_keypair(settings.treasury_keypair_path)
        await fund_with_key(rpc, session_factory, plan_id, settings, key)


# ----- closing ---------------------------------------------------------------------------------


def _closable(session: Session, plan_id: int) -> PlanFunding:
    row = _row(session, plan_id)
    if row is None or row.status not in FUNDED:
        raise PlanError(f"plan {plan_id} has no funded account to close")
    open_lines = session.exec(
        select(func.count()).where(
            PayoutLine.plan_id == plan_id,
            col(PayoutLine.status).in_([LineStatus.pending, LineStatus.batched]),
        )
    ).one()
    live = session.exec(
        select(func.count()).where(
            PayoutBatch.plan_id == plan_id, col(PayoutBatch.status).in_(OPEN_BATCHES)
        )
    ).one()
    if open_lines or live:
        raise PlanError(
            f"plan {plan_id} still has {open_lines} open line(s) and {live} batch(es) in flight",
            hint=f"run 'corpactions payouts execute {plan_id}' to the end first",
        )
    return row


async def close_plan_account(
    rpc: Rpc,
    session_factory: SessionFactory,
    plan_id: int,
    payer: Keypair,
    *,
    after_race: bool = False,
) -> PlanFunding:
    """Return what is left in the plan's account to the treasury that funded it, and close the
    account (rent to the payer): once, however often this runs."""
    with session_factory() as session:
        row = _closable(session, plan_id)
        session.expunge(row)
    if row.status == FundingStatus.closed:
        return row
    if row.status == FundingStatus.closing and row.close_signature:
        found = await fate(
            rpc,
            Attempt(
                row.close_signature, row.close_last_valid_block_height or 0, row.close_signed_tx
            ),
        )
        if found.state == "pending":
            found = await settle(
                rpc,
                Attempt(
                    row.close_signature,
                    row.close_last_valid_block_height or 0,
                    row.close_signed_tx,
                ),
                timeout=SETTLE_SECONDS,
            )
        if found.succeeded:
            return await _mark_closed(rpc, session_factory, plan_id, row.close_signature, found)
        if found.state == "pending":
            raise TransientRpcError(
                f"plan {plan_id}'s closing {row.close_signature} is not final yet",
                hint="run 'corpactions payouts close' again later",
            )
    if str(payer.pubkey()) != row.payer:
        raise PlanError(
            f"plan {plan_id}'s account is owned by {row.payer}, not by this host's payer "
            f"{payer.pubkey()}",
            hint="close it on the host holding the payout key",
        )
    account, treasury = Pubkey.from_string(row.account), Pubkey.from_string(row.treasury)
    mint = Pubkey.from_string(row.mint)
    balance = await rpc.call_json(
        "getTokenAccountBalance", [row.account, {"commitment": "finalized"}]
    )
    left = int(balance["value"]["amount"])
    decimals = int(balance["value"]["decimals"])
    me = payer.pubkey()
    instructions = []
    if left:
        instructions.append(tokens.transfer_checked(account, mint, treasury, me, left, decimals))
    plan_root = row.seed
    with session_factory() as session:
        plan = session.get(PayoutPlan, plan_id)
        plan_root = plan.plan_hash if plan is not None else row.seed
    instructions += [
        tokens.close_account(account, me, me),
        tokens.memo(CLOSING_MEMO.format(plan=plan_id, root=plan_root)),
    ]
    blockhash = await rpc.latest_blockhash()
    tx = Transaction([payer], Message(instructions, me), blockhash.blockhash)
    with session_factory() as session:
        result = session.connection().execute(
            sa.update(TABLE)
            .where(
                TABLE.c.plan_id == plan_id,
                TABLE.c.close_attempt == row.close_attempt,
                TABLE.c.status == str(row.status),
            )
            .values(
                status=FundingStatus.closing.value,
                close_attempt=row.close_attempt + 1,
                close_signed_tx=bytes(tx),
                close_signature=str(tx.signatures[0]),
                close_last_valid_block_height=blockhash.last_valid_block_height,
                updated_at=utcnow(),
            )
        )
    if result.rowcount != 1:
        if not after_race:  # another process recorded its closing first: that one decides
            return await close_plan_account(rpc, session_factory, plan_id, payer, after_race=True)
        raise TransientRpcError(
            f"another process is closing plan {plan_id}'s account; nothing was sent",
            hint="run the command again to see its outcome",
        )
    crash_point("close_after_persist")
    try:
        await rpc.send_raw(bytes(tx), skip_preflight=True)
    except TransactionRejected as exc:
        log.warning("closing send refused", plan=plan_id, error=exc.message)
    attempt = Attempt(str(tx.signatures[0]), blockhash.last_valid_block_height, bytes(tx))
    found = await settle(rpc, attempt, timeout=SETTLE_SECONDS)
    if found.succeeded:
        return await _mark_closed(rpc, session_factory, plan_id, attempt.signature, found)
    if found.state == "pending":
        raise TransientRpcError(
            f"plan {plan_id}'s closing {attempt.signature} is not final yet",
            hint="run 'corpactions payouts close' again later",
        )
    raise PlanError(
        f"plan {plan_id}'s closing {attempt.signature} did not land ({found.state}: {found.err})",
        hint="run 'corpactions payouts close' again",
    )


async def _mark_closed(
    rpc: Rpc, session_factory: SessionFactory, plan_id: int, signature: str, found: Fate
) -> PlanFunding:
    with session_factory() as session:
        row = _row(session, plan_id)
        assert row is not None
        treasury, mint = row.treasury, row.mint
    reading = await read_transaction(rpc, signature, mint)
    returned = reading.deltas.get(treasury, 0)
    with session_factory() as session:
        session.connection().execute(
            sa.update(TABLE)
            .where(TABLE.c.plan_id == plan_id, TABLE.c.close_signature == signature)
            .values(
                status=FundingStatus.closed.value,
                returned=returned,
                closed_slot=found.slot,
                updated_at=utcnow(),
            )
        )
        row = _row(session, plan_id)
        assert row is not None
        session.expunge(row)
    log.info("plan account closed", plan=plan_id, returned=returned, signature=signature)
    return row


async def close_when_finished(
    rpc: Rpc, session_factory: SessionFactory, plan_id: int, payer: Keypair
) -> None:
    """After reconciliation: a reconciled (or attested) USDC plan's account is closed."""
    with session_factory() as session:
        plan = session.get(PayoutPlan, plan_id)
        row = _row(session, plan_id)
        due = (
            plan is not None
            and plan.status in (PlanStatus.reconciled, PlanStatus.attested)
            and row is not None
            and row.status in (FundingStatus.funded, FundingStatus.closing)
        )
    if due:
        await close_plan_account(rpc, session_factory, plan_id, payer)


# ----- the doors' entry points -----------------------------------------------------------------


def fund(
    plan_id: int,
    *,
    session_factory: SessionFactory,
    settings: Settings,
    treasury_key: Keypair | None = None,
    export_to: Path | None = None,
    signed_from: Path | None = None,
) -> FundingOutcome:
    """``payouts fund``: exactly one of a treasury key, an export file or a signed file."""
    chosen = [x for x in (treasury_key, export_to, signed_from) if x is not None]
    if len(chosen) != 1:
        raise UserInputError(
            "give exactly one of --treasury-key FILE, --export FILE or --signed FILE"
        )

    async def run() -> FundingOutcome:
        async with Rpc(settings=settings) as rpc:
            if treasury_key is not None:
                return await fund_with_key(rpc, session_factory, plan_id, settings, treasury_key)
            if export_to is not None:
                unsigned = await export_funding(rpc, session_factory, plan_id, settings)
                write_private(export_to, base64.b64encode(unsigned) + b"\n")
                with session_factory() as session:
                    row = _row(session, plan_id)
                    assert row is not None
                    return FundingOutcome(plan_id, row.account, row.amount, None, "exported")
            assert signed_from is not None
            try:
                raw = base64.b64decode(signed_from.read_bytes().strip(), validate=True)
            except (OSError, ValueError) as exc:
                raise UserInputError(
                    f"{signed_from} is not a readable base64 transaction",
                    hint="give the file the external signer returned",
                ) from exc
            return await submit_signed(rpc, session_factory, plan_id, raw)

    return asyncio.run(run())


def close(plan_id: int, *, session_factory: SessionFactory, settings: Settings) -> PlanFunding:
    """``payouts close``: the remainder back to the treasury, the account closed."""
    payer = load_keypair(settings.authority_keypair_path)

    async def run() -> PlanFunding:
        async with Rpc(settings=settings) as rpc:
            return await close_plan_account(rpc, session_factory, plan_id, payer)

    return asyncio.run(run())


def write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
