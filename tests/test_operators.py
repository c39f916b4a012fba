"""The operator registry: one spelling per person, one person per key, decisions proven by
signatures of live operators holding the role."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from sqlmodel import select

from corpactions import db
from corpactions.errors import AlreadyExists, OperatorError, SignatureRefused
from corpactions.models import Operator, OperatorChange
from corpactions.operators import registry
from corpactions.operators.keys import sign_message
from corpactions.operators.names import normalise_name
from corpactions.operators.registry import Signed
from corpactions.operators.verify import verify_operator_signature
from tests.operatorkit import add_operator, init_admin, revoke_operator

MESSAGE = b"corpactions decision\npurpose: approve\nplan: 1"


def test_names_that_differ_only_in_case_or_compatibility_form_are_one_name() -> None:
    assert normalise_name("Alice") == normalise_name("ALICE") == "alice"
    assert normalise_name("ｂｏｂ") == "bob"  # fullwidth letters (NFKC)
    assert normalise_name("Straße") == normalise_name("STRASSE")


@pytest.mark.parametrize(
    "name", ["bob\u200b", "\u200dbob", "bo\u200cb", "bob\u2060", "bob\u202e", "bob\n", "bob\x00"]
)
def test_a_name_with_a_zero_width_format_or_control_character_is_refused(name: str) -> None:
    with pytest.raises(OperatorError, match="invisible or control character"):
        normalise_name(name)


@pytest.mark.parametrize("name", ["", " bob", "bob ", "bo  b", "bob\u00a0"])
def test_empty_padded_or_odd_space_names_are_refused(name: str) -> None:
    with pytest.raises(OperatorError):
        normalise_name(name)


def test_init_registers_the_first_admin_signed_by_its_own_key(ledger: str) -> None:
    with db.session_scope() as session:
        key = init_admin(session, "Root")
        operator = verify_operator_signature(
            session,
            operator="ROOT",
            message=MESSAGE,
            signature=sign_message(key, MESSAGE),
            role="admin",
        )
        change = session.exec(select(OperatorChange)).one()
    assert (operator.name, operator.pubkey, operator.added_by) == (
        "root",
        str(key.pubkey()),
        "root",
    )
    assert change.change == "init" and str(key.pubkey()) in change.message


def test_init_is_refused_once_the_registry_has_an_admin(ledger: str) -> None:
    with db.session_scope() as session:
        init_admin(session)
        with pytest.raises(OperatorError, match="already initialised"):
            init_admin(session, "intruder")


def test_init_signed_by_another_key_is_refused(ledger: str) -> None:
    with db.session_scope() as session:
        key, other = Keypair(), Keypair()
        message = registry.change_message(
            session, change="init", name="root", pubkey=str(key.pubkey()), roles=["admin"]
        )
        with pytest.raises(SignatureRefused):
            registry.init(
                session,
                name="root",
                pubkey=str(key.pubkey()),
                signature=sign_message(other, message),
            )


def test_a_case_variant_of_a_live_name_is_the_same_operator_and_refused(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        add_operator(session, "alice", ["maker"], [("root", root)])
        with pytest.raises(AlreadyExists, match="already named 'alice'"):
            add_operator(session, "Alice", ["approver"], [("root", root)])


def test_a_zero_width_variant_of_a_name_cannot_be_added(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        add_operator(session, "bob", ["approver"], [("root", root)])
        with pytest.raises(OperatorError, match="U\\+200B"):
            add_operator(session, "bob\u200b", ["approver"], [("root", root)])


def test_the_same_key_under_two_names_is_refused(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        shared = add_operator(session, "bob", ["approver"], [("root", root)])
        with pytest.raises(AlreadyExists, match="already belongs to operator 'bob'"):
            add_operator(session, "robert", ["approver"], [("root", root)], key=shared)


def test_an_admin_key_cannot_be_registered_again_under_another_name(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        with pytest.raises(AlreadyExists):
            add_operator(session, "alias", ["approver"], [("root", root)], key=root)


def test_a_change_needs_as_many_admin_signatures_as_approvals_required(
    ledger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpactions.config import get_settings

    with db.session_scope() as session:
        root = init_admin(session)
        second = add_operator(session, "second", ["admin"], [("root", root)])
        monkeypatch.setenv("CORPACTIONS_APPROVALS_REQUIRED", "2")
        get_settings.cache_clear()
        with pytest.raises(OperatorError, match="2 distinct admin"):
            add_operator(session, "carol", ["approver"], [("root", root)])
        with pytest.raises(OperatorError, match="2 distinct admin"):
            add_operator(session, "carol", ["approver"], [("root", root), ("ROOT", root)])
        add_operator(session, "carol", ["approver"], [("root", root), ("second", second)])
        change = session.exec(select(OperatorChange).where(OperatorChange.name == "carol")).one()
    assert sorted(s["operator"] for s in change.signatures) == ["root", "second"]


def test_a_non_admin_cannot_sign_a_registry_change(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        alice = add_operator(session, "alice", ["maker", "approver"], [("root", root)])
        with pytest.raises(SignatureRefused, match="does not hold the admin role"):
            add_operator(session, "mallory", ["admin"], [("alice", alice)])


def test_a_signed_change_cannot_be_replayed_after_the_registry_moved_on(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        bob = Keypair()
        message = registry.change_message(
            session, change="add", name="bob", pubkey=str(bob.pubkey()), roles=["approver"]
        )
        signature = sign_message(root, message)
        registry.add(
            session,
            name="bob",
            pubkey=str(bob.pubkey()),
            roles=["approver"],
            signatures=[Signed("root", signature)],
        )
        revoke_operator(session, "bob", [("root", root)])
        with pytest.raises(SignatureRefused):
            registry.add(
                session,
                name="bob",
                pubkey=str(bob.pubkey()),
                roles=["approver"],
                signatures=[Signed("root", signature)],
            )


def test_a_revoked_operator_signs_nothing_and_its_rows_stay(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        bob = add_operator(session, "bob", ["approver"], [("root", root)])
        revoke_operator(session, "Bob", [("root", root)])
        with pytest.raises(SignatureRefused, match="'bob' was revoked"):
            verify_operator_signature(
                session,
                operator="bob",
                message=MESSAGE,
                signature=sign_message(bob, MESSAGE),
                role="approver",
            )
        rows = session.exec(select(Operator).where(Operator.name == "bob")).all()
        changes = [c.change for c in registry.history(session)]
    assert [r.revoked_by for r in rows] == ["root"]
    assert changes == ["init", "add", "revoke"]


def test_a_revoked_key_can_be_given_a_new_name_and_a_name_a_new_key(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        old = add_operator(session, "bob", ["approver"], [("root", root)])
        revoke_operator(session, "bob", [("root", root)])
        new = add_operator(session, "bob", ["approver"], [("root", root)])
        operator = verify_operator_signature(
            session,
            operator="bob",
            message=MESSAGE,
            signature=sign_message(new, MESSAGE),
            role="approver",
        )
        with pytest.raises(SignatureRefused):
            verify_operator_signature(
                session,
                operator="bob",
                message=MESSAGE,
                signature=sign_message(old, MESSAGE),
                role="approver",
            )
    assert operator.pubkey == str(new.pubkey())


def test_the_last_live_admin_cannot_be_revoked(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        with pytest.raises(OperatorError, match="last live admin"):
            registry.revoke(
                session,
                name="root",
                signatures=[
                    Signed("root", sign_message(root, registry.revoke_message(session, "root")))
                ],
            )


def test_a_signature_by_another_key_or_over_other_bytes_is_refused(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        add_operator(session, "bob", ["approver"], [("root", root)])
        with pytest.raises(SignatureRefused, match="not operator 'bob'"):
            verify_operator_signature(
                session,
                operator="bob",
                message=MESSAGE,
                signature=sign_message(root, MESSAGE),
                role="approver",
            )
        with pytest.raises(SignatureRefused, match="not operator 'root'"):
            verify_operator_signature(
                session,
                operator="root",
                message=MESSAGE + b" ",
                signature=sign_message(root, MESSAGE),
                role="approver",
            )


def test_an_unknown_operator_or_a_missing_role_is_refused(ledger: str) -> None:
    with db.session_scope() as session:
        root = init_admin(session)
        alice = add_operator(session, "alice", ["maker"], [("root", root)])
        with pytest.raises(SignatureRefused, match="no operator is named 'nobody'"):
            verify_operator_signature(
                session,
                operator="nobody",
                message=MESSAGE,
                signature=sign_message(root, MESSAGE),
                role="approver",
            )
        with pytest.raises(SignatureRefused, match="does not hold the approver role"):
            verify_operator_signature(
                session,
                operator="alice",
                message=MESSAGE,
                signature=sign_message(alice, MESSAGE),
                role="approver",
            )
