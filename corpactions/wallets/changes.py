"""Changing the wallet registry: each change is the wallet's next state, a canonical text an
operator signs, and one appended row once the signature verifies.

The signed text (UTF-8, no trailing newline)::

    corpactions wallet change v1
    deployment: <CORPACTIONS_DEPLOYMENT>
    wallet: <address>
    seq: <the row number this change becomes; 1 for the first>
    tax_class: <class or ->
    tax_form: <W-9, W-8BEN or ->
    blocked: yes|no
    blocked_reason: <text or ->
    excluded: yes|no
    excluded_reason: <text or ->
    change: <what changed, in words>
    operator: <name>

``seq`` makes a signature good for one row only: replayed later (say an old "unblocked"), it
names a row number already taken and is refused.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from corpactions.addresses import parse_address
from corpactions.config import Settings, get_settings
from corpactions.errors import WalletChangeRefused
from corpactions.logs import get_logger
from corpactions.models import WalletRecord
from corpactions.operators.names import normalise_name
from corpactions.wallets.registry import WalletState, current_row
from corpactions.wallets.signing import verify_change_signature

log = get_logger(__name__)
HEADER = "corpactions wallet change v1"
MAX_REASON = 256
FORMS = {"w9": "W-9", "w8ben": "W-8BEN"}
TAX_CLASS_HELP = (
    "w9 (a US person's W-9: class us_person), w8ben with --treaty-rate R (class treaty_<R%>), "
    "undocumented, or any class of CORPACTIONS_TAX_RATES"
)


@dataclass(frozen=True)
class Requested:
    """What a command asks to change; None leaves that part as it is."""

    tax_class: str | None = None
    treaty_rate: str | None = None
    blocked: bool | None = None
    excluded: bool | None = None
    reason: str | None = None


@dataclass(frozen=True)
class PendingChange:
    """A change ready to be signed: the row it becomes and the exact text to sign."""

    address: str
    seq: int
    state: WalletState
    change: str
    operator: str
    message: str
    source: str | None = None


def _clean_reason(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    if not text:
        return None
    if any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in text):
        raise WalletChangeRefused("the reason holds control or format characters")
    if len(text) > MAX_REASON:
        raise WalletChangeRefused(f"the reason is {len(text)} characters; at most {MAX_REASON}")
    return text


def resolve_tax_class(
    name: str, treaty_rate: str | None, settings: Settings
) -> tuple[str | None, str | None]:
    """``--tax-class`` (and ``--treaty-rate``) to (class, form); the class must have a rate."""
    key = name.strip().lower().replace("-", "")
    if treaty_rate is not None and key != "w8ben":
        raise WalletChangeRefused("--treaty-rate goes with --tax-class w8ben only")
    if key == "w9":
        tax_class, form = "us_person", FORMS["w9"]
    elif key == "w8ben":
        if treaty_rate is None:
            raise WalletChangeRefused(
                "a W-8BEN needs its treaty rate",
                hint="e.g. --tax-class w8ben --treaty-rate 0.15",
            )
        try:
            rate = Decimal(treaty_rate)
        except InvalidOperation as exc:
            raise WalletChangeRefused(f"--treaty-rate {treaty_rate!r} is not a number") from exc
        if not rate.is_finite() or not Decimal(0) <= rate <= 1:
            raise WalletChangeRefused(f"--treaty-rate {treaty_rate} must be a fraction from 0 to 1")
        percent = (rate * 100).normalize()
        tax_class, form = f"treaty_{format(percent, 'f').replace('.', '_')}", FORMS["w8ben"]
        configured = settings.tax_rates.get(tax_class)
        if configured != rate:
            raise WalletChangeRefused(
                f"tax class {tax_class} (W-8BEN at {format(rate, 'f')}) is not in "
                "CORPACTIONS_TAX_RATES"
                + (f" (it is {format(configured, 'f')} there)" if configured is not None else ""),
                hint=f'add "{tax_class}": "{format(rate, "f")}" to CORPACTIONS_TAX_RATES',
            )
    else:
        tax_class, form = name.strip(), None
        if tax_class not in settings.tax_rates:
            raise WalletChangeRefused(f"unknown tax class {name!r}", hint=f"use {TAX_CLASS_HELP}")
    return tax_class, form


def _describe(old: WalletState, new: WalletState) -> str:
    parts: list[str] = []
    if (old.tax_class, old.tax_form) != (new.tax_class, new.tax_form):
        form = f" ({new.tax_form})" if new.tax_form else ""
        parts.append(f"tax class {new.tax_class or 'default'}{form}")
    if old.blocked != new.blocked or (new.blocked and old.blocked_reason != new.blocked_reason):
        parts.append(
            f"blocked: {new.blocked_reason or 'no reason given'}" if new.blocked else "unblocked"
        )
    if old.excluded != new.excluded or (
        new.excluded and old.excluded_reason != new.excluded_reason
    ):
        parts.append(
            f"excluded: {new.excluded_reason or 'no reason given'}" if new.excluded else "included"
        )
    return "; ".join(parts)


def next_state(old: WalletState, requested: Requested, settings: Settings) -> WalletState:
    reason = _clean_reason(requested.reason)
    if reason is not None and requested.blocked is None and requested.excluded is None:
        raise WalletChangeRefused("--reason goes with --blocked, --unblocked or --excluded")
    new = old
    if requested.tax_class is not None:
        tax_class, form = resolve_tax_class(requested.tax_class, requested.treaty_rate, settings)
        new = replace(new, tax_class=tax_class, tax_form=form)
    elif requested.treaty_rate is not None:
        raise WalletChangeRefused("--treaty-rate goes with --tax-class w8ben")
    if requested.blocked is True:
        if reason is None:
            raise WalletChangeRefused(
                "blocking a wallet needs a reason", hint='e.g. --reason "OFAC SDN list"'
            )
        new = replace(new, blocked=True, blocked_reason=reason)
    elif requested.blocked is False:
        new = replace(new, blocked=False, blocked_reason=None)
    if requested.excluded is True:
        if reason is None:
            raise WalletChangeRefused(
                "excluding a wallet needs a reason", hint='e.g. --reason "issuer inventory"'
            )
        new = replace(new, excluded=True, excluded_reason=reason)
    elif requested.excluded is False:
        new = replace(new, excluded=False, excluded_reason=None)
    return new


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def change_message(
    *, deployment: str, address: str, seq: int, state: WalletState, change: str, operator: str
) -> str:
    lines = [
        HEADER,
        f"deployment: {deployment}",
        f"wallet: {address}",
        f"seq: {seq}",
        f"tax_class: {state.tax_class or '-'}",
        f"tax_form: {state.tax_form or '-'}",
        f"blocked: {_yes(state.blocked)}",
        f"blocked_reason: {state.blocked_reason or '-'}",
        f"excluded: {_yes(state.excluded)}",
        f"excluded_reason: {state.excluded_reason or '-'}",
        f"change: {change}",
        f"operator: {operator}",
    ]
    return "\n".join(lines)


def prepare_change(
    session: Session,
    address: str,
    requested: Requested,
    *,
    operator: str,
    source: str | None = None,
    settings: Settings | None = None,
) -> PendingChange | None:
    """The change to sign, or None when it would change nothing."""
    settings = settings or get_settings()
    address = parse_address(address, what="wallet")
    operator = normalise_name(operator)
    previous = current_row(session, address)
    old = WalletState.of(previous)
    new = next_state(old, requested, settings)
    change = _describe(old, new)
    if not change:
        return None
    seq = (previous.seq if previous else 0) + 1
    message = change_message(
        deployment=settings.deployment,
        address=address,
        seq=seq,
        state=new,
        change=change,
        operator=operator,
    )
    return PendingChange(address, seq, new, change, operator, message, source)


def record_change(session: Session, pending: PendingChange, *, signature: str) -> WalletRecord:
    """Verify the operator's signature over the change's text and append its row; refused
    (``SignatureRefused``) unless a live operator with the registry role signed exactly it."""
    verify_change_signature(
        session, operator=pending.operator, message=pending.message, signature=signature
    )
    row = WalletRecord(
        address=pending.address,
        seq=pending.seq,
        tax_class=pending.state.tax_class,
        tax_form=pending.state.tax_form,
        blocked=pending.state.blocked,
        blocked_reason=pending.state.blocked_reason,
        excluded=pending.state.excluded,
        excluded_reason=pending.state.excluded_reason,
        change=pending.change,
        source=pending.source,
        operator=pending.operator,
        message=pending.message,
        signature=signature,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise WalletChangeRefused(
            f"wallet {pending.address} changed meanwhile (row {pending.seq} exists)",
            hint="run the command again: it is signed anew over the current state",
        ) from exc
    log.info(
        "wallet registry changed",
        wallet=pending.address,
        seq=pending.seq,
        change=pending.change,
        operator=pending.operator,
    )
    return row
