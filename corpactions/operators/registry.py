"""Changes to the operator registry: the first admin (``init``), then ``add`` and ``revoke``.

Every change is an append-only ``OperatorChange`` row holding the exact message the admins
signed and their signatures. The message names the deployment and the number of changes made
before it, so a signed change cannot be replayed later or into another deployment.

``init`` works only on an empty registry and is signed by the new admin's own key. Every later
change needs the signatures of ``approvals_required`` distinct live admins (distinct keys); while
fewer admins are registered, all of them. A name or key is held by at most one live operator, and
the last live admin cannot be revoked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from corpactions.config import Settings, get_settings
from corpactions.errors import AlreadyExists, NotFound, OperatorError
from corpactions.logs import get_logger
from corpactions.models import ROLES, Operator, OperatorChange
from corpactions.models.types import utcnow
from corpactions.operators.keys import parse_pubkey, signature_text
from corpactions.operators.names import normalise_name
from corpactions.operators.verify import (
    live_operator,
    live_operator_by_key,
    verify_operator_signature,
)

log = get_logger(__name__)


@dataclass(frozen=True)
class Signed:
    """An operator's signature of a message: the name it signs as, and the 64 bytes."""

    operator: str
    signature: bytes


def parse_roles(roles: Sequence[str]) -> list[str]:
    parsed = sorted({r.strip().lower() for text in roles for r in text.split(",") if r.strip()})
    unknown = [r for r in parsed if r not in ROLES]
    if unknown or not parsed:
        raise OperatorError(
            f"roles {', '.join(unknown) or '(none)'} are not operator roles",
            hint=f"give one or more of {', '.join(ROLES)}",
        )
    return parsed


def _sequence(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(OperatorChange)).one())


def change_message(
    session: Session,
    *,
    change: str,
    name: str,
    pubkey: str,
    roles: Sequence[str],
    settings: Settings | None = None,
) -> bytes:
    """The exact bytes admins sign for this change, now (no trailing newline)."""
    settings = settings or get_settings()
    lines = [
        "corpactions operator change",
        f"deployment: {settings.deployment}",
        f"change: {change}",
        f"name: {normalise_name(name)}",
        f"pubkey: {parse_pubkey(pubkey)}",
        f"roles: {','.join(parse_roles(roles))}",
        f"sequence: {_sequence(session)}",
    ]
    return "\n".join(lines).encode()


def live_operators(session: Session) -> list[Operator]:
    return list(
        session.exec(
            select(Operator).where(col(Operator.revoked_at).is_(None)).order_by(col(Operator.id))
        )
    )


def all_operators(session: Session) -> list[Operator]:
    return list(session.exec(select(Operator).order_by(col(Operator.id))))


def history(session: Session) -> list[OperatorChange]:
    return list(session.exec(select(OperatorChange).order_by(col(OperatorChange.id))))


def _admin_signatures(
    session: Session, message: bytes, signatures: Sequence[Signed], settings: Settings
) -> list[dict[str, str]]:
    admins = [o for o in live_operators(session) if "admin" in o.roles]
    needed = min(settings.approvals_required, len(admins))
    proven: dict[str, dict[str, str]] = {}
    for signed in signatures:
        admin = verify_operator_signature(
            session,
            operator=signed.operator,
            message=message,
            signature=signed.signature,
            role="admin",
        )
        proven.setdefault(
            admin.pubkey,
            {
                "operator": admin.name,
                "pubkey": admin.pubkey,
                "signature": signature_text(signed.signature),
            },
        )
    if len(proven) < needed:
        raise OperatorError(
            f"this registry change needs the signatures of {needed} distinct admin(s); "
            f"{len(proven)} given",
            hint="more admins sign it ('--key FILE' per admin, or '--signature NAME:SIG')",
        )
    return list(proven.values())


def _refuse_taken(session: Session, name: str, pubkey: str) -> None:
    if live_operator(session, name) is not None:
        raise AlreadyExists(
            f"a live operator is already named {name!r}",
            hint="choose another name, or revoke the existing operator first",
        )
    holder = live_operator_by_key(session, pubkey)
    if holder is not None:
        raise AlreadyExists(
            f"key {pubkey} already belongs to operator {holder.name!r}",
            hint="one key belongs to one person: generate a new key for this operator",
        )


def _register(session: Session, *, name: str, pubkey: str, roles: list[str], by: str) -> Operator:
    operator = Operator(
        name=name, pubkey=pubkey, roles=roles, added_by=by, live_name=name, live_pubkey=pubkey
    )
    session.add(operator)
    session.flush()
    return operator


def init(
    session: Session,
    *,
    name: str,
    pubkey: str,
    signature: bytes,
    roles: Sequence[str] = ("admin",),
    settings: Settings | None = None,
) -> Operator:
    """Register the first admin, signed by its own key; refused once the registry has rows."""
    settings = settings or get_settings()
    if _sequence(session):
        raise OperatorError(
            "the operator registry is already initialised",
            hint="add operators with 'corpactions operators add', signed by admins",
        )
    wanted = sorted({"admin", *parse_roles(roles)})
    message = change_message(
        session, change="init", name=name, pubkey=pubkey, roles=wanted, settings=settings
    )
    normal, key = normalise_name(name), str(parse_pubkey(pubkey))
    operator = _register(session, name=normal, pubkey=key, roles=wanted, by=normal)
    verify_operator_signature(
        session, operator=normal, message=message, signature=signature, role="admin"
    )
    session.add(
        OperatorChange(
            change="init",
            name=normal,
            pubkey=key,
            roles=wanted,
            message=message.decode(),
            signatures=[
                {"operator": normal, "pubkey": key, "signature": signature_text(signature)}
            ],
        )
    )
    session.flush()
    log.info("operator registry initialised", operator=normal, pubkey=key)
    return operator


def add(
    session: Session,
    *,
    name: str,
    pubkey: str,
    roles: Sequence[str],
    signatures: Sequence[Signed],
    settings: Settings | None = None,
) -> Operator:
    settings = settings or get_settings()
    if not _sequence(session):
        raise OperatorError(
            "the operator registry is empty", hint="register the first admin: 'operators init'"
        )
    normal, key, wanted = normalise_name(name), str(parse_pubkey(pubkey)), parse_roles(roles)
    _refuse_taken(session, normal, key)
    message = change_message(
        session, change="add", name=normal, pubkey=key, roles=wanted, settings=settings
    )
    signed = _admin_signatures(session, message, signatures, settings)
    operator = _register(
        session, name=normal, pubkey=key, roles=wanted, by=",".join(s["operator"] for s in signed)
    )
    session.add(
        OperatorChange(
            change="add",
            name=normal,
            pubkey=key,
            roles=wanted,
            message=message.decode(),
            signatures=signed,
        )
    )
    session.flush()
    log.info("operator added", operator=normal, pubkey=key, roles=",".join(wanted))
    return operator


def revoke_message(session: Session, name: str, settings: Settings | None = None) -> bytes:
    operator = _live(session, name)
    return change_message(
        session,
        change="revoke",
        name=operator.name,
        pubkey=operator.pubkey,
        roles=operator.roles,
        settings=settings,
    )


def _live(session: Session, name: str) -> Operator:
    operator = live_operator(session, name)
    if operator is None:
        raise NotFound(
            f"no live operator is named {normalise_name(name)!r}",
            hint="list them with 'corpactions operators list'",
        )
    return operator


def revoke(
    session: Session,
    *,
    name: str,
    signatures: Sequence[Signed],
    settings: Settings | None = None,
) -> Operator:
    settings = settings or get_settings()
    operator = _live(session, name)
    admins = [o for o in live_operators(session) if "admin" in o.roles]
    if "admin" in operator.roles and len(admins) == 1:
        raise OperatorError(
            f"{operator.name!r} is the last live admin and cannot be revoked",
            hint="add another admin first",
        )
    message = revoke_message(session, operator.name, settings)
    signed = _admin_signatures(session, message, signatures, settings)
    operator.revoked_at = utcnow()
    operator.revoked_by = ",".join(s["operator"] for s in signed)
    operator.live_name = None
    operator.live_pubkey = None
    session.add(operator)
    session.add(
        OperatorChange(
            change="revoke",
            name=operator.name,
            pubkey=operator.pubkey,
            roles=operator.roles,
            message=message.decode(),
            signatures=signed,
        )
    )
    session.flush()
    log.info("operator revoked", operator=operator.name, pubkey=operator.pubkey)
    return operator
