"""``corpactions operators`` and ``corpactions sign``: the registry from the command line, with
key files and with offline signatures."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from solders.keypair import Keypair
from typer.testing import CliRunner

from corpactions.chain.keys import write_keypair
from corpactions.cli import app
from corpactions.config import get_settings

runner = CliRunner()


def _key(tmp_path: Path, name: str) -> tuple[Path, Keypair]:
    keypair = Keypair()
    path = tmp_path / f"{name}.json"
    write_keypair(path, keypair)
    return path, keypair


def _ok(*args: str, input: bytes | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def test_init_then_add_with_an_admin_key_file_then_list(sqlite_ledger: str, tmp_path: Path) -> None:
    root, root_key = _key(tmp_path, "root")
    _, bob = _key(tmp_path, "bob")
    _ok("operators", "init", "Root", "--key", str(root), "--roles", "maker,approver")
    _ok(
        "operators",
        "add",
        "Bob",
        "--pubkey",
        str(bob.pubkey()),
        "--roles",
        "approver",
        "--key",
        str(root),
    )
    rows = orjson.loads(_ok("operators", "list", "--json"))
    assert [(r["name"], r["pubkey"], r["roles"], r["added_by"]) for r in rows] == [
        ("root", str(root_key.pubkey()), "admin,approver,maker", "root"),
        ("bob", str(bob.pubkey()), "approver", "root"),
    ]


def test_a_second_init_is_one_line_and_exit_2(sqlite_ledger: str, tmp_path: Path) -> None:
    root, _ = _key(tmp_path, "root")
    other, _ = _key(tmp_path, "other")
    _ok("operators", "init", "root", "--key", str(root))
    result = runner.invoke(app, ["operators", "init", "other", "--key", str(other)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "already initialised" in result.output


def test_add_with_offline_signatures_from_corpactions_sign(
    sqlite_ledger: str, tmp_path: Path
) -> None:
    root, _ = _key(tmp_path, "root")
    _, carol = _key(tmp_path, "carol")
    _ok("operators", "init", "root", "--key", str(root))
    add = ["operators", "add", "carol", "--pubkey", str(carol.pubkey()), "--roles", "maker"]
    message = runner.invoke(app, [*add, "--print-message"]).stdout_bytes
    assert message.startswith(b"corpactions operator change\n") and not message.endswith(b"\n")
    signature = _ok("sign", "--key", str(root), input=message).strip()
    _ok(*add, "--signature", f"root:{signature}")
    names = [r["name"] for r in orjson.loads(_ok("operators", "list", "--json"))]
    assert names == ["root", "carol"]


def test_a_change_without_enough_admin_signatures_is_refused(
    sqlite_ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = _key(tmp_path, "root")
    second, second_key = _key(tmp_path, "second")
    _, carol = _key(tmp_path, "carol")
    _ok("operators", "init", "root", "--key", str(root))
    _ok(
        "operators",
        "add",
        "second",
        "--pubkey",
        str(second_key.pubkey()),
        "--roles",
        "admin",
        "--key",
        str(root),
    )
    monkeypatch.setenv("CORPACTIONS_APPROVALS_REQUIRED", "2")
    get_settings.cache_clear()
    add = ["operators", "add", "carol", "--pubkey", str(carol.pubkey()), "--roles", "approver"]
    result = runner.invoke(app, [*add, "--key", str(root)])
    assert result.exit_code == 2 and "2 distinct admin" in result.output
    _ok(*add, "--key", str(root), "--key", str(second))


def test_revoke_keeps_the_operator_listed_with_all(sqlite_ledger: str, tmp_path: Path) -> None:
    root, _ = _key(tmp_path, "root")
    _, bob = _key(tmp_path, "bob")
    _ok("operators", "init", "root", "--key", str(root))
    _ok(
        "operators",
        "add",
        "bob",
        "--pubkey",
        str(bob.pubkey()),
        "--roles",
        "approver",
        "--key",
        str(root),
    )
    _ok("operators", "revoke", "BOB", "--key", str(root))
    live = [r["name"] for r in orjson.loads(_ok("operators", "list", "--json"))]
    everyone = orjson.loads(_ok("operators", "list", "--all", "--json"))
    assert live == ["root"]
    assert [(r["name"], r["revoked_by"]) for r in everyone] == [("root", None), ("bob", "root")]


def test_an_unregistered_key_file_cannot_sign_a_change(sqlite_ledger: str, tmp_path: Path) -> None:
    root, _ = _key(tmp_path, "root")
    stranger, _ = _key(tmp_path, "stranger")
    _, bob = _key(tmp_path, "bob")
    _ok("operators", "init", "root", "--key", str(root))
    result = runner.invoke(
        app,
        [
            "operators",
            "add",
            "bob",
            "--pubkey",
            str(bob.pubkey()),
            "--roles",
            "approver",
            "--key",
            str(stranger),
        ],
    )
    assert result.exit_code == 2 and "belongs to no live operator" in result.output


def test_keygen_writes_a_private_key_file_and_prints_its_public_key(tmp_path: Path) -> None:
    from corpactions.chain.keys import load_keypair

    path = tmp_path / "me.json"
    printed = _ok("operators", "keygen", str(path)).strip()
    assert printed == str(load_keypair(path).pubkey())
    assert path.stat().st_mode & 0o777 == 0o600
    again = runner.invoke(app, ["operators", "keygen", str(path)])
    assert again.exit_code == 2 and "already exists" in again.output
    assert str(load_keypair(path).pubkey()) == printed
