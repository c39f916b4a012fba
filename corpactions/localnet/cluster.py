"""JSON-RPC methods about the cluster: one validator, its vote account, epochs, supply, inflation.

The local chain has no cluster around it, so these answers are static but shaped and sized as
an Agave node's: one validator (identity and vote account derived from fixed seeds) holds all
the stake, leads every slot and votes on every block; the epoch schedule is the one LiteSVM's
EpochSchedule sysvar holds (mainnet's, with warm-up epochs); supply and inflation are the
genesis defaults of a new cluster. Token and lamport rankings are computed from the chain's
accounts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from corpactions.chain import layout
from corpactions.localnet.chain import ChainRequestError, LocalChain, token_amount_json
from corpactions.localnet.params import (
    SOLANA_CORE_VERSION,
    config_at,
    invalid_params,
    param,
    pubkey_param,
    with_context,
)

FEATURE_SET = 3294202862
LAMPORTS_PER_SOL = 1_000_000_000
TOTAL_SUPPLY = 500_000_000 * LAMPORTS_PER_SOL
"""A new cluster's genesis supply (500 million SOL), all circulating."""
TOTAL_STAKE = 500_000 * LAMPORTS_PER_SOL
MAX_LARGEST = 20
MAX_SLOT_LEADERS = 5000
INFLATION_GOVERNOR = {
    "foundation": 0.05,
    "foundationTerm": 7.0,
    "initial": 0.08,
    "taper": 0.15,
    "terminal": 0.015,
}

Handler = Callable[[LocalChain, list[Any]], Any]


def _seeded(name: str) -> Pubkey:
    return Keypair.from_seed(
        hashlib.sha256(f"corpactions-localnet-{name}".encode()).digest()
    ).pubkey()


IDENTITY = _seeded("identity")
VOTE_ACCOUNT = _seeded("vote-account")


def get_genesis_hash(chain: LocalChain, params: list[Any]) -> Any:
    return chain.genesis_hash


def get_identity(chain: LocalChain, params: list[Any]) -> Any:
    return {"identity": str(IDENTITY)}


def get_epoch_schedule(chain: LocalChain, params: list[Any]) -> Any:
    schedule = chain.svm.get_epoch_schedule()
    return {
        "firstNormalEpoch": schedule.first_normal_epoch,
        "firstNormalSlot": schedule.first_normal_slot,
        "leaderScheduleSlotOffset": schedule.leader_schedule_slot_offset,
        "slotsPerEpoch": schedule.slots_per_epoch,
        "warmup": schedule.warmup,
    }


def get_epoch_info(chain: LocalChain, params: list[Any]) -> Any:
    commitment = config_at(params, 0).get("commitment")
    with chain.lock:
        slot = chain.commitment_slot(commitment)
        schedule = chain.svm.get_epoch_schedule()
        epoch, index = schedule.get_epoch_and_slot_index(slot)
        return {
            "absoluteSlot": slot,
            "blockHeight": chain.commitment_block_height(commitment),
            "epoch": epoch,
            "slotIndex": index,
            "slotsInEpoch": schedule.get_slots_in_epoch(epoch),
            "transactionCount": chain.transaction_count(slot),
        }


def get_slot_leader(chain: LocalChain, params: list[Any]) -> Any:
    config_at(params, 0)
    return str(IDENTITY)


def get_slot_leaders(chain: LocalChain, params: list[Any]) -> Any:
    start = param(params, 0, "start slot")
    limit = param(params, 1, "limit")
    if not isinstance(start, int) or not isinstance(limit, int) or start < 0 or limit < 0:
        raise invalid_params("Invalid params: start slot and limit must be non-negative integers")
    if limit > MAX_SLOT_LEADERS:
        raise invalid_params(f"Invalid limit; max {MAX_SLOT_LEADERS}")
    return [str(IDENTITY)] * limit


def get_leader_schedule(chain: LocalChain, params: list[Any]) -> Any:
    """The one validator leads every slot of the epoch: {identity: [0 .. slotsInEpoch-1]}."""
    slot: Any = params[0] if params else None
    config: dict[str, Any] = {}
    if isinstance(slot, dict):
        config, slot = slot, None
    elif len(params) > 1:
        config = config_at(params, 1)
    with chain.lock:
        if slot is None:
            slot = chain.commitment_slot(config.get("commitment"))
        if not isinstance(slot, int) or slot < 0:
            raise invalid_params("Invalid param: slot must be a non-negative integer")
        schedule = chain.svm.get_epoch_schedule()
        epoch = schedule.get_epoch(slot)
        if epoch > schedule.get_leader_schedule_epoch(chain.slot):
            return None
    identity = config.get("identity")
    if identity is not None and identity != str(IDENTITY):
        return {}
    return {str(IDENTITY): list(range(schedule.get_slots_in_epoch(epoch)))}


def get_cluster_nodes(chain: LocalChain, params: list[Any]) -> Any:
    return [
        {
            "featureSet": FEATURE_SET,
            "gossip": None,
            "pubkey": str(IDENTITY),
            "pubsub": None,
            "rpc": None,
            "serveRepair": None,
            "shredVersion": 0,
            "tpu": None,
            "tpuForwards": None,
            "tpuForwardsQuic": None,
            "tpuQuic": None,
            "tpuVote": None,
            "tvu": None,
            "version": SOLANA_CORE_VERSION,
        }
    ]


def get_vote_accounts(chain: LocalChain, params: list[Any]) -> Any:
    config = config_at(params, 0)
    wanted = config.get("votePubkey")
    with chain.lock:
        commitment = config.get("commitment")
        epoch = chain.svm.get_epoch_schedule().get_epoch(chain.commitment_slot(commitment))
        current = {
            "activatedStake": TOTAL_STAKE,
            "commission": 0,
            "epochCredits": [[epoch, chain.finalized_slot(), 0]],
            "epochVoteAccount": True,
            "lastVote": chain.commitment_slot("confirmed"),
            "nodePubkey": str(IDENTITY),
            "rootSlot": chain.finalized_slot(),
            "votePubkey": str(VOTE_ACCOUNT),
        }
    if wanted is not None and wanted != str(VOTE_ACCOUNT):
        return {"current": [], "delinquent": []}
    return {"current": [current], "delinquent": []}


def get_supply(chain: LocalChain, params: list[Any]) -> Any:
    config = config_at(params, 0)
    return with_context(
        chain,
        config,
        {
            "circulating": TOTAL_SUPPLY,
            "nonCirculating": 0,
            "nonCirculatingAccounts": [],
            "total": TOTAL_SUPPLY,
        },
    )


def get_largest_accounts(chain: LocalChain, params: list[Any]) -> Any:
    """The 20 accounts of the chain's state with the most lamports (none is non-circulating)."""
    config = config_at(params, 0)
    circulation = config.get("filter")
    if circulation not in (None, "circulating", "nonCirculating"):
        raise invalid_params(f"Invalid params: unknown filter {circulation!r}")
    with chain.lock:
        balances = [(chain.balance(key), key) for key in chain.known_accounts()]
    ranked = sorted(((lamports, key) for lamports, key in balances if lamports > 0), reverse=True)
    value = (
        []
        if circulation == "nonCirculating"
        else [{"address": str(key), "lamports": lamports} for lamports, key in ranked[:MAX_LARGEST]]
    )
    return with_context(chain, config, value)


def get_token_largest_accounts(chain: LocalChain, params: list[Any]) -> Any:
    mint = pubkey_param(param(params, 0, "mint"), "mint")
    config = config_at(params, 1)
    with chain.lock:
        account = chain.get_account(mint)
        if account is None or not layout.is_mint(account.owner, bytes(account.data)):
            raise invalid_params("Invalid param: not a Token mint")
        decimals = layout.decode_mint(bytes(account.data)).decimals
        holdings = []
        wanted = bytes(mint)
        for pubkey, token_account in chain.program_accounts(account.owner):
            data = bytes(token_account.data)
            if data[:32] == wanted and layout.is_token_account(account.owner, data):
                holdings.append((layout.decode_token_account(data).amount, str(pubkey)))
    holdings.sort(key=lambda item: (-item[0], item[1]))
    value = [
        {"address": address, **token_amount_json(amount, decimals)}
        for amount, address in holdings[:MAX_LARGEST]
    ]
    return with_context(chain, config, value)


def get_inflation_governor(chain: LocalChain, params: list[Any]) -> Any:
    return dict(INFLATION_GOVERNOR)


def get_inflation_rate(chain: LocalChain, params: list[Any]) -> Any:
    """The governor's rate for the current epoch (the initial rate: the chain is young)."""
    with chain.lock:
        epoch = chain.svm.get_epoch_schedule().get_epoch(chain.commitment_slot(None))
    total = INFLATION_GOVERNOR["initial"]
    foundation = total * INFLATION_GOVERNOR["foundation"]
    return {
        "epoch": epoch,
        "foundation": foundation,
        "total": total,
        "validator": total - foundation,
    }


def get_inflation_reward(chain: LocalChain, params: list[Any]) -> Any:
    """No staking rewards are paid on the local chain: null for every address."""
    addresses = param(params, 0, "addresses")
    if not isinstance(addresses, list):
        raise invalid_params("Invalid params: addresses must be an array")
    for address in addresses:
        pubkey_param(address, "address")
    config_at(params, 1)
    return [None] * len(addresses)


def get_highest_snapshot_slot(chain: LocalChain, params: list[Any]) -> Any:
    raise ChainRequestError(-32008, "No snapshot")


def get_max_shred_insert_slot(chain: LocalChain, params: list[Any]) -> Any:
    return chain.slot


def get_block_production(chain: LocalChain, params: list[Any]) -> Any:
    config = config_at(params, 0)
    with chain.lock:
        first = chain.first_available_block()
        last = chain.commitment_slot(config.get("commitment"))
        produced = len(chain.block_slots(first, last))
    by_identity = {str(IDENTITY): [last - first + 1, produced]}
    identity = config.get("identity")
    if identity is not None and identity != str(IDENTITY):
        by_identity = {}
    return with_context(
        chain, config, {"byIdentity": by_identity, "range": {"firstSlot": first, "lastSlot": last}}
    )


METHODS: dict[str, Handler] = {
    "getGenesisHash": get_genesis_hash,
    "getIdentity": get_identity,
    "getEpochSchedule": get_epoch_schedule,
    "getEpochInfo": get_epoch_info,
    "getSlotLeader": get_slot_leader,
    "getSlotLeaders": get_slot_leaders,
    "getLeaderSchedule": get_leader_schedule,
    "getClusterNodes": get_cluster_nodes,
    "getVoteAccounts": get_vote_accounts,
    "getSupply": get_supply,
    "getLargestAccounts": get_largest_accounts,
    "getTokenLargestAccounts": get_token_largest_accounts,
    "getInflationGovernor": get_inflation_governor,
    "getInflationRate": get_inflation_rate,
    "getInflationReward": get_inflation_reward,
    "getHighestSnapshotSlot": get_highest_snapshot_slot,
    "getMaxShredInsertSlot": get_max_shred_insert_slot,
    "getMaxRetransmitSlot": get_max_shred_insert_slot,
    "getBlockProduction": get_block_production,
}
