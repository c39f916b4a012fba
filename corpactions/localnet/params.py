"""The parameter readers every JSON-RPC handler of the local chain shares, with a node's errors.

Each raises ``ChainRequestError`` -32602 (invalid params) with the wording a node uses.
``context``/``with_context`` answer ``{"context": {"apiVersion", "slot"}, "value"}`` at the
slot of the request's commitment (finalized when none is given, as on a node).
"""

from __future__ import annotations

from typing import Any

from solders.pubkey import Pubkey

from corpactions.localnet.chain import ChainRequestError, LocalChain

SOLANA_CORE_VERSION = "2.2.7"


def invalid_params(message: str) -> ChainRequestError:
    return ChainRequestError(-32602, message)


def param(params: list[Any], index: int, name: str) -> Any:
    if len(params) <= index:
        raise invalid_params(f"missing parameter: {name}")
    return params[index]


def config_at(params: list[Any], index: int) -> dict[str, Any]:
    if len(params) <= index or params[index] is None:
        return {}
    value = params[index]
    if not isinstance(value, dict):
        raise invalid_params("Invalid params: configuration must be an object")
    return value


def pubkey_param(value: Any, name: str = "pubkey") -> Pubkey:
    if not isinstance(value, str):
        raise invalid_params(f"Invalid param: {name} must be a base-58 string")
    try:
        return Pubkey.from_string(value)
    except ValueError as exc:
        raise invalid_params(f"Invalid param: Invalid {name}") from exc


def context(chain: LocalChain, commitment: str | None = None) -> dict[str, Any]:
    return {"apiVersion": SOLANA_CORE_VERSION, "slot": chain.commitment_slot(commitment)}


def with_context(chain: LocalChain, config: dict[str, Any], value: Any) -> dict[str, Any]:
    return {"context": context(chain, config.get("commitment")), "value": value}


def at_least_confirmed(config: dict[str, Any]) -> str:
    """The commitment of a method that serves confirmed data only (blocks, transaction history):
    finalized by default, processed refused as a node refuses it."""
    commitment = config.get("commitment") or "finalized"
    if commitment == "processed":
        raise invalid_params("Method does not support commitment below `confirmed`")
    return str(commitment)
