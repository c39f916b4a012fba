"""Helpers for tests that need the local chain: start it, seed it, build token fixtures."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from corpactions.chain import layout, tokens
from corpactions.chain.rpc import Rpc

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_pair() -> int:
    """A free port whose next port is free too (the localnet serves PubSub on port + 1)."""
    for _ in range(100):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two free neighbouring ports")


class LocalnetProcess:
    """``corpactions localnet`` as a real child process."""

    def __init__(self, *args: str, state: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port_pair()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "corpactions.cli",
            "localnet",
            "--port",
            str(self.port),
            *args,
        ]
        if state is not None:
            command += ["--state", str(state)]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CORPACTIONS_LOG_JSON": "1"},
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                raise RuntimeError(f"localnet exited early: {out}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).text == "ok":
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("localnet did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return int(self.proc.returncode)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def send(
    rpc: Rpc,
    payer: Keypair,
    instructions: Sequence[Instruction],
    *signers: Keypair,
    skip_preflight: bool = False,
) -> str:
    blockhash = (await rpc.latest_blockhash()).blockhash
    tx = Transaction([payer, *signers], Message(list(instructions), payer.pubkey()), blockhash)
    signature = await rpc.send_raw(bytes(tx), skip_preflight=skip_preflight)
    await rpc.wait_landed([signature])
    return str(signature)


async def funded_keypair(rpc: Rpc, lamports: int = 100 * 10**9) -> Keypair:
    keypair = Keypair()
    await rpc.wait_landed([await rpc.airdrop(keypair.pubkey(), lamports)])
    return keypair


async def create_mint(
    rpc: Rpc,
    payer: Keypair,
    decimals: int,
    program: Pubkey = layout.TOKEN_PROGRAM_ID,
    *,
    freeze: bool = False,
) -> Pubkey:
    mint = Keypair()
    rent = await rpc.rent_exempt_minimum(layout.MINT_LEN)
    await send(
        rpc,
        payer,
        [
            tokens.create_account_for(
                payer.pubkey(), mint.pubkey(), rent, layout.MINT_LEN, program
            ),
            tokens.initialize_mint2(
                mint.pubkey(), decimals, payer.pubkey(), payer.pubkey() if freeze else None, program
            ),
        ],
        mint,
    )
    return mint.pubkey()


async def mint_to_owner(
    rpc: Rpc,
    payer: Keypair,
    mint: Pubkey,
    owner: Pubkey,
    amount: int,
    decimals: int,
    program: Pubkey = layout.TOKEN_PROGRAM_ID,
) -> Pubkey:
    ata = tokens.associated_token_address(owner, mint, program)
    await send(
        rpc,
        payer,
        [
            tokens.create_associated_token_account_idempotent(payer.pubkey(), owner, mint, program),
            tokens.mint_to_checked(mint, ata, payer.pubkey(), amount, decimals, program),
        ],
    )
    return ata
