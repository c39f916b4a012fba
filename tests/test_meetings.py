"""Shareholder votes: wallet-signed ballots weighted by the record-date snapshot, tallied,
published and attested. Ballots are signed with real ed25519 keys (solders keypairs)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import orjson
import polars as pl
import pytest
from fastapi.testclient import TestClient
from python_iso20022.seev.seev_001_001_11.models import (  # type: ignore[import-untyped]
    MeetingNotificationV11Seev00100111,
)
from python_iso20022.seev.seev_004_001_09.models import (  # type: ignore[import-untyped]
    MeetingInstructionV09Seev00400109,
)
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlmodel import col, select
from typer.testing import CliRunner

from corpactions import db
from corpactions.api.app import create_app
from corpactions.chain import tokens
from corpactions.chain.rpc import Rpc
from corpactions.cli import app as cli
from corpactions.config import get_settings
from corpactions.errors import BallotRejected
from corpactions.feeds.ingest import ingest
from corpactions.feeds.ownformat import parse_json
from corpactions.localnet.seed import seed
from corpactions.meetings.attest import close_and_attest, meetings_to_close
from corpactions.meetings.ballots import (
    BallotContext,
    ballot_context,
    canonical_message,
    cast_ballot,
)
from corpactions.meetings.tally import record_path, tally
from corpactions.models import Ballot, CorporateAction, Instrument, QuarantinedRecord
from snapshots.parse import owners_as_base58
from snapshots.take import load_holders, take_snapshot
from tests.chainkit import funded_keypair, send
from tests.isoschema import problems
from tests.payflow import configure, register_aapl

runner = CliRunner()
AGENDA = [
    {"id": "1", "text": "Elect the board", "choices": ["for", "against", "abstain"]},
    {"id": "2", "text": "Amend the charter", "majority": "two_thirds"},
    {"id": "3", "text": "Auditor", "choices": ["Acme LLP", "Beta LLP"]},
]


@dataclass
class Meeting:
    id: int
    holders: list[Keypair]
    deadline: datetime


def _meeting_json(deadline: datetime, **overrides: object) -> bytes:
    item = {
        "reference": "AGM-2027",
        "symbol": "AAPL",
        "kind": "meeting",
        "status": "COMP",
        "record_date": "2026-11-10",
        "meeting_date": "2027-03-01",
        "vote_deadline": deadline.isoformat(),
        "agenda": AGENDA,
        **overrides,
    }
    return orjson.dumps([item])


@pytest.fixture
def meeting(
    pg_ledger: str, localnet_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Meeting:
    seeded = asyncio.run(
        seed(rpc_url=localnet_url, keys_dir=tmp_path / "keys", holders=6, realistic=False)
    )
    configure(monkeypatch, localnet_url, seeded)
    secrets = orjson.loads((Path(seeded.keys_dir) / "holders.json").read_bytes())
    holders = [Keypair.from_bytes(bytes(secret)) for _, secret in secrets]
    deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    with db.session_scope() as session:
        instrument = register_aapl(session, seeded)
        ingest(parse_json(_meeting_json(deadline)), session=session)
        action = session.exec(select(CorporateAction)).one()
        take_snapshot(session=session, instrument=instrument, action=action)
        return Meeting(action.id or 0, holders, deadline)


def _context(meeting: Meeting) -> BallotContext:
    with db.session_scope() as session:
        action = session.get(CorporateAction, meeting.id)
        assert action is not None
        return ballot_context(session, action)


def _signed(voter: Keypair, message: str) -> dict[str, str]:
    return {
        "wallet": str(voter.pubkey()),
        "message": message,
        "signature": str(voter.sign_message(message.encode())),
    }


def _ballot(
    meeting: Meeting,
    voter: Keypair,
    nonce: str = "n1",
    *,
    context: BallotContext | None = None,
    **votes: str,
) -> dict[str, str]:
    choices = {key.removeprefix("i"): value for key, value in votes.items()} or {"1": "for"}
    message = canonical_message(context or _context(meeting), str(voter.pubkey()), nonce, choices)
    return {
        "wallet": str(voter.pubkey()),
        "message": message,
        "signature": str(voter.sign_message(message.encode())),
    }


def _cast(meeting: Meeting, ballot: dict[str, str], now: datetime | None = None) -> Ballot:
    with db.session_scope() as session:
        stored, _ = cast_ballot(session, meeting.id, now=now, **ballot)
        return stored


def _stored() -> list[Ballot]:
    with db.session_scope() as session:
        return list(session.exec(select(Ballot)))


def _weights(meeting_id: int) -> dict[str, int]:
    """Independent of the project's weight code: straight from the snapshot file."""
    from corpactions.meetings.ballots import snapshot_of

    with db.session_scope() as session:
        snapshot = snapshot_of(session, meeting_id)
    holders = owners_as_base58(load_holders(snapshot)).filter(~pl.col("excluded"))
    return dict(zip(holders["owner"].to_list(), holders["amount"].to_list(), strict=True))


def test_a_signed_ballot_is_stored_with_the_record_date_weight(meeting: Meeting) -> None:
    voter = meeting.holders[0]
    stored = _cast(meeting, _ballot(meeting, voter, i1="for", i2="against", i3="acme llp"))
    assert stored.weight == _weights(meeting.id)[str(voter.pubkey())] > 0
    assert stored.choices == {"1": "for", "2": "against", "3": "acme llp"}


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (
            lambda b: {**b, "message": b["message"].replace("item 1: for", "item 1: against")},
            "signature does not match",
        ),
        (
            lambda b: {**b, "signature": str(Keypair().sign_message(b["message"].encode()))},
            "signature does not match",
        ),
        (lambda b: {**b, "signature": "not-a-signature"}, "not a base58 64-byte"),
        (lambda b: {**b, "message": "hello"}, "not a ballot"),
        (lambda b: {**b, "wallet": str(Keypair().pubkey())}, "names another wallet"),
        (lambda b: {**b, "message": b["message"] + "\n" + "x" * 5000}, "at most 4096"),
    ],
    ids=["tampered", "wrong-key", "garbage-signature", "not-a-ballot", "other-wallet", "huge"],
)
def test_a_ballot_that_does_not_verify_is_refused_and_nothing_is_stored(
    meeting: Meeting, tamper: object, reason: str
) -> None:
    ballot = tamper(_ballot(meeting, meeting.holders[0]))  # type: ignore[operator]
    with pytest.raises(BallotRejected, match=reason):
        _cast(meeting, ballot)
    assert _stored() == []


@pytest.mark.parametrize(
    ("votes", "reason"),
    [({"i9": "for"}, "no item '9'"), ({"i1": "maybe"}, "'maybe' is not a choice of item 1")],
)
def test_unknown_items_and_choices_are_refused(
    meeting: Meeting, votes: dict[str, str], reason: str
) -> None:
    with pytest.raises(BallotRejected, match=reason):
        _cast(meeting, _ballot(meeting, meeting.holders[0], **votes))
    assert _stored() == []


def test_the_ballot_text_names_the_deployment_meeting_reference_and_mint(
    meeting: Meeting,
) -> None:
    with db.session_scope() as session:
        mint = session.exec(select(Instrument.mint)).one()
    voter = str(meeting.holders[0].pubkey())
    message = _ballot(meeting, meeting.holders[0], "n7", i1="for", i2="against")["message"]
    assert message.split("\n") == [
        "corpactions ballot v2",
        f"deployment: {get_settings().deployment}",
        f"meeting: {meeting.id}",
        "reference: AGM-2027",
        f"mint: {mint}",
        f"wallet: {voter}",
        "nonce: n7",
        "item 1: for",
        "item 2: against",
    ]


@pytest.mark.parametrize(
    ("other", "reason"),
    [
        ({"meeting_id": 99}, "for meeting 99, not"),
        ({"reference": "AGM-2026"}, "for reference 'AGM-2026', but meeting"),
        ({"mint": str(Keypair().pubkey())}, "for mint '"),
    ],
    ids=["meeting", "reference", "mint"],
)
def test_a_ballot_signed_for_another_meeting_deployment_or_mint_is_refused(
    meeting: Meeting, other: dict[str, object], reason: str
) -> None:
    context = BallotContext(**{**vars(_context(meeting)), **other})  # type: ignore[arg-type]
    with pytest.raises(BallotRejected, match=reason):
        _cast(meeting, _ballot(meeting, meeting.holders[0], context=context))
    assert _stored() == []


def test_a_ballot_signed_on_another_deployment_is_refused_here(
    meeting: Meeting, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORPACTIONS_DEPLOYMENT", "staging")
    get_settings.cache_clear()
    staging = _ballot(meeting, meeting.holders[0])
    monkeypatch.setenv("CORPACTIONS_DEPLOYMENT", "production")
    get_settings.cache_clear()
    with pytest.raises(BallotRejected, match=r"deployment 'staging'.* has deployment 'production'"):
        _cast(meeting, staging)
    assert _cast(meeting, _ballot(meeting, meeting.holders[0])).weight > 0


def test_a_ballot_after_the_deadline_is_refused(meeting: Meeting) -> None:
    with pytest.raises(BallotRejected, match="voting closed"):
        _cast(
            meeting,
            _ballot(meeting, meeting.holders[0]),
            now=meeting.deadline + timedelta(seconds=1),
        )
    assert _stored() == []


def test_a_wallet_without_tokens_at_the_record_date_cannot_vote(meeting: Meeting) -> None:
    with pytest.raises(BallotRejected, match="held no voting tokens"):
        _cast(meeting, _ballot(meeting, Keypair()))


def test_a_later_ballot_replaces_the_earlier_and_both_are_kept(meeting: Meeting) -> None:
    voter = meeting.holders[1]
    first = _cast(meeting, _ballot(meeting, voter, "n1", i1="for"))
    with pytest.raises(BallotRejected, match="already used"):
        _cast(meeting, _ballot(meeting, voter, "n1", i1="against"))
    second = _cast(meeting, _ballot(meeting, voter, "n2", i1="against"))
    rows = {b.id: b for b in _stored()}
    assert rows[first.id].superseded_at is not None
    assert rows[second.id].superseded_at is None
    with db.session_scope() as session:
        counted = tally(session, meeting.id)
    assert counted["ballots"] == 1
    assert counted["items"][0]["totals"]["against"] == str(second.weight)
    assert counted["items"][0]["totals"]["for"] == "0"


def test_a_replaced_ballot_replayed_later_is_refused_and_the_vote_stays(
    meeting: Meeting,
) -> None:
    """The attack: n1 'for', replaced by n2 'against', then anyone re-posts the n1 ballot."""
    voter = meeting.holders[1]
    n1 = _ballot(meeting, voter, "n1", i1="for")
    _cast(meeting, n1)
    n2 = _cast(meeting, _ballot(meeting, voter, "n2", i1="against"))
    with pytest.raises(BallotRejected, match="nonce 'n1' was already used"):
        _cast(meeting, n1)
    with TestClient(create_app()) as client:
        replayed = client.post(f"/v1/meetings/{meeting.id}/ballots", json=n1)
    assert replayed.status_code == 422 and "already used" in replayed.json()["detail"]
    with db.session_scope() as session:
        counted = tally(session, meeting.id)
        current = session.exec(
            select(Ballot).where(
                Ballot.wallet == str(voter.pubkey()), col(Ballot.superseded_at).is_(None)
            )
        ).one()
    assert current.id == n2.id and current.choices == {"1": "against"}
    assert counted["items"][0]["totals"]["for"] == "0"
    assert counted["items"][0]["totals"]["against"] == str(n2.weight)


def test_a_replayed_ballot_in_a_batch_is_refused_and_the_rest_stored(meeting: Meeting) -> None:
    from corpactions.meetings.ballots import cast_ballots

    voter = meeting.holders[1]
    n1 = _ballot(meeting, voter, "n1", i1="for")
    n2 = _ballot(meeting, voter, "n2", i1="against")
    with db.session_scope() as session:
        assert cast_ballots(session, meeting.id, [n1, n2]) == (2, [])
    with db.session_scope() as session:
        stored, refused = cast_ballots(
            session, meeting.id, [n1, _ballot(meeting, meeting.holders[2])]
        )
    assert stored == 1
    assert [position for position, _ in refused] == [0]
    assert "already used" in refused[0][1]


def test_the_tally_equals_an_independent_computation_from_the_snapshot(meeting: Meeting) -> None:
    choices = [
        ("for", "for", "acme llp"),
        ("against", "for", "beta llp"),
        ("abstain", "against", "acme llp"),
        ("for", "for", "beta llp"),
    ]
    for voter, (c1, c2, c3) in zip(meeting.holders, choices, strict=False):
        _cast(meeting, _ballot(meeting, voter, i1=c1, i2=c2, i3=c3))
    weights = _weights(meeting.id)
    voted = {str(v.pubkey()): c for v, c in zip(meeting.holders, choices, strict=False)}
    expected: list[dict[str, int]] = [{}, {}, {}]
    for wallet, picks in voted.items():
        for index, pick in enumerate(picks):
            expected[index][pick] = expected[index].get(pick, 0) + weights[wallet]
    with db.session_scope() as session:
        counted = tally(session, meeting.id)
    for index, item in enumerate(counted["items"]):
        assert {k: int(v) for k, v in item["totals"].items() if int(v)} == expected[index]
    total_voted = sum(weights[w] for w in voted)
    assert counted["voted_weight"] == str(total_voted)
    assert counted["eligible_weight"] == str(sum(weights.values()))
    assert counted["turnout"] == f"{total_voted / sum(weights.values()):.6f}"[:8]
    yes, no = expected[0].get("for", 0), expected[0].get("against", 0)
    assert counted["items"][0]["outcome"] == ("passed" if yes > no else "failed")
    yes2, no2 = expected[1].get("for", 0), expected[1].get("against", 0)
    assert counted["items"][1]["outcome"] == (
        "passed" if 3 * yes2 >= 2 * (yes2 + no2) else "failed"
    )
    leader = max(expected[2], key=lambda k: expected[2][k])
    assert counted["items"][2]["outcome"] == leader


def test_ballots_weigh_what_their_wallets_hold_in_a_retaken_record_date_snapshot(
    meeting: Meeting, localnet_url: str
) -> None:
    """The record-date snapshot is taken again (the record date was corrected, say) after
    ballots arrived: each ballot then weighs its wallet's holding in the new snapshot, and a
    wallet holding nothing there is not counted."""
    seller, buyer = meeting.holders[0], meeting.holders[1]
    _cast(meeting, _ballot(meeting, seller, i1="for"))
    _cast(meeting, _ballot(meeting, buyer, i1="against"))
    before = _weights(meeting.id)
    sold = before[str(seller.pubkey())]
    with db.session_scope() as session:
        action = session.get(CorporateAction, meeting.id)
        assert action is not None
        instrument = session.get(Instrument, action.instrument_id)
        assert instrument is not None
        mint, decimals = Pubkey.from_string(instrument.mint), instrument.decimals

    async def sell_everything() -> None:
        async with Rpc(localnet_url) as rpc:
            payer = await funded_keypair(rpc)
            move = tokens.transfer_checked(
                tokens.associated_token_address(seller.pubkey(), mint),
                mint,
                tokens.associated_token_address(buyer.pubkey(), mint),
                seller.pubkey(),
                sold,
                decimals,
            )
            await send(rpc, payer, [move], seller)

    asyncio.run(sell_everything())
    with db.session_scope() as session:
        action = session.get(CorporateAction, meeting.id)
        instrument = session.get(Instrument, action.instrument_id)  # type: ignore[union-attr]
        take_snapshot(session=session, instrument=instrument, action=action, supersede=True)  # type: ignore[arg-type]
    after = _weights(meeting.id)
    assert str(seller.pubkey()) not in after
    assert after[str(buyer.pubkey())] == before[str(buyer.pubkey())] + sold
    with db.session_scope() as session:
        counted = tally(session, meeting.id)
    assert counted["items"][0]["totals"]["for"] == "0"
    assert counted["items"][0]["totals"]["against"] == str(after[str(buyer.pubkey())])
    assert (
        counted["ballots"],
        counted["ballots_reweighed"],
        counted["ballots_without_weight"],
    ) == (
        1,
        1,
        1,
    )
    assert counted["eligible_weight"] == str(sum(after.values()))


def test_closing_publishes_the_record_and_attests_its_hash_on_chain_once(
    meeting: Meeting, localnet_url: str
) -> None:
    _cast(meeting, _ballot(meeting, meeting.holders[0], i1="for"))
    after = meeting.deadline + timedelta(minutes=1)
    with db.session_scope() as session:
        assert meetings_to_close(session, now=after) == [meeting.id]
    result = asyncio.run(close_and_attest(meeting.id, session_factory=db.session_scope, now=after))
    record = record_path(meeting.id, result.record_sha256).read_bytes()
    assert hashlib.sha256(record).hexdigest() == result.record_sha256
    assert orjson.loads(record)["ballots"][0]["wallet"] == str(meeting.holders[0].pubkey())
    assert result.attestation_signature is not None and result.attested_at is not None

    async def memo() -> str:
        async with Rpc(localnet_url) as rpc:
            tx = await rpc.call_json(
                "getTransaction",
                [
                    result.attestation_signature,
                    {"encoding": "json", "maxSupportedTransactionVersion": 0},
                ],
            )
        return " ".join(tx["meta"]["logMessages"])

    assert result.record_sha256 in asyncio.run(memo())
    again = asyncio.run(close_and_attest(meeting.id, session_factory=db.session_scope, now=after))
    assert again.attestation_signature == result.attestation_signature
    with db.session_scope() as session:
        assert meetings_to_close(session, now=after) == []
        assert tally(session, meeting.id)["final"] is True


def test_the_api_takes_ballots_and_shows_the_tally_only_after_voting_closed(
    meeting: Meeting,
) -> None:
    voter = meeting.holders[2]
    with TestClient(create_app()) as client:
        response = client.post(f"/v1/meetings/{meeting.id}/ballots", json=_ballot(meeting, voter))
        assert response.status_code == 201, response.text
        assert response.json()["weight"] == str(_weights(meeting.id)[str(voter.pubkey())])
        bad = client.post(
            f"/v1/meetings/{meeting.id}/ballots",
            json={**_ballot(meeting, voter, "n2"), "signature": str(Signature.default())},
        )
        assert bad.status_code == 422 and "signature does not match" in bad.json()["detail"]
        shown = client.get(f"/v1/meetings/{meeting.id}").json()
        assert shown["open"] is True and shown["tally"] is None
        assert [i["id"] for i in shown["agenda"]] == ["1", "2", "3"]
        assert client.get("/v1/meetings").json()[0]["id"] == meeting.id
        mine = client.get(f"/v1/holders/{voter.pubkey()}/ballots").json()
        assert [b["choices"] for b in mine] == [{"1": "for"}]
        own = client.get(f"/v1/meetings/{meeting.id}", params={"wallet": str(voter.pubkey())})
        assert own.json()["wallet_ballot"]["ballot_id"] == mine[0]["ballot_id"]
        assert own.json()["wallet_ballot"]["choices"] == {"1": "for"}
        other = client.get(f"/v1/meetings/{meeting.id}", params={"wallet": str(Keypair().pubkey())})
        assert other.json()["wallet_ballot"] is None
        assert (
            client.post("/v1/meetings/424242/ballots", json=_ballot(meeting, voter)).status_code
            == 404
        )
        after = meeting.deadline + timedelta(minutes=1)
        asyncio.run(close_and_attest(meeting.id, session_factory=db.session_scope, now=after))
        closed = client.get(f"/v1/meetings/{meeting.id}").json()
        assert closed["tally"]["final"] is True
        assert closed["tally"]["items"][0]["totals"]["for"] == mine[0]["weight"]


def test_the_custodian_instruction_aggregates_votes_as_csv_and_seev004_xml(
    meeting: Meeting, tmp_path: Path
) -> None:
    for voter, choice in zip(meeting.holders[:3], ("for", "for", "against"), strict=True):
        _cast(meeting, _ballot(meeting, voter, i1=choice))
    asyncio.run(
        close_and_attest(
            meeting.id,
            session_factory=db.session_scope,
            now=meeting.deadline + timedelta(minutes=1),
        )
    )
    weights = _weights(meeting.id)
    expected_for = sum(weights[str(v.pubkey())] for v in meeting.holders[:2])
    csv = runner.invoke(cli, ["meetings", "export", str(meeting.id)])
    assert csv.exit_code == 0, csv.output
    rows = [line.split(",") for line in csv.output.splitlines()[1:]]
    assert [r[4] for r in rows if r[2] == "1" and r[3] == "for"] == [str(expected_for)]
    out = tmp_path / "instruction.xml"
    xml = runner.invoke(
        cli, ["meetings", "export", str(meeting.id), "--format", "xml", "--out", str(out)]
    )
    assert xml.exit_code == 0, xml.output
    ns = {"s": "urn:iso:std:iso:20022:tech:xsd:seev.004.001.09"}
    root = ET.parse(out).getroot()
    assert root.tag == "{urn:iso:std:iso:20022:tech:xsd:seev.004.001.09}Document"
    [instruction] = list(root)
    assert problems(instruction, MeetingInstructionV09Seev00400109, "/Document/MtgInstr") == []
    votes = instruction.findall(
        "s:Instr/s:VoteDtls/s:VoteInstrForAgndRsltn/s:VotePerAgndRsltn/s:VoteInstr", ns
    )
    by_label = {v.findtext("s:IssrLabl", namespaces=ns): v for v in votes}
    assert set(by_label) == {"1", "2", "3.1", "3.2"}  # the election: one resolution a candidate
    assert by_label["1"].findtext("s:For/s:Qty/s:Unit", namespaces=ns) == (
        f"{expected_for / 10**8:.8f}"
    )
    assert by_label["3.2"].findtext("s:ListgGrpRsltnLabl", namespaces=ns) == "3"
    # The check is not vacuous: what the earlier, seev.004-shaped export wrote is refused.
    reference = instruction.find("s:MtgRef", ns)
    assert reference is not None
    reference.remove(reference.find("s:MtgDtAndTm", ns))  # type: ignore[arg-type]
    ET.SubElement(by_label["1"], "{urn:iso:std:iso:20022:tech:xsd:seev.004.001.09}Agst")
    found = problems(instruction, MeetingInstructionV09Seev00400109, "/Document/MtgInstr")
    assert any("MtgDtAndTm: required, missing" in p for p in found)
    assert any("Agst: not an element" in p for p in found)


def test_the_cli_creates_a_meeting_prints_the_message_to_sign_and_tallies(
    meeting: Meeting, tmp_path: Path
) -> None:
    created = tmp_path / "egm.json"
    created.write_bytes(
        orjson.dumps(
            {
                "reference": "EGM-2027",
                "symbol": "AAPL",
                "record_date": "2026-11-10",
                "meeting_date": "2027-04-01",
                "agenda": [{"id": "A", "text": "Approve the merger", "majority": "two_thirds"}],
            }
        )
    )
    result = runner.invoke(cli, ["meetings", "create", str(created)])
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output
    assert runner.invoke(cli, ["meetings", "create", str(created)]).output.startswith(
        "meetings: 0 created, 0 amended, 1 unchanged"
    )
    wallet = str(meeting.holders[0].pubkey())
    text = runner.invoke(
        cli,
        [
            "meetings",
            "message",
            str(meeting.id),
            "--wallet",
            wallet,
            "--vote",
            "1=for",
            "--nonce",
            "x1",
        ],
    )
    # the exact bytes to sign: a signature over the printed text is the ballot's signature
    assert text.output == canonical_message(_context(meeting), wallet, "x1", {"1": "for"})
    live = runner.invoke(cli, ["meetings", "tally", str(meeting.id), "--json"])
    assert orjson.loads(live.output)["final"] is False


def test_a_meeting_with_a_malformed_agenda_is_quarantined_with_the_reason(meeting: Meeting) -> None:
    with db.session_scope() as session:
        report = ingest(
            parse_json(
                _meeting_json(
                    meeting.deadline,
                    reference="BAD-1",
                    agenda=[{"id": "1", "choices": ["for"]}],
                )
            ),
            session=session,
        )
    assert report.quarantined == 1
    with db.session_scope() as session:
        [record] = session.exec(select(QuarantinedRecord)).all()
    assert "meeting agenda" in record.reason and "2 or more distinct" in record.reason


def test_a_batch_of_ballots_stores_the_good_and_names_each_refusal(meeting: Meeting) -> None:
    from corpactions.meetings.ballots import cast_ballots

    good = [_ballot(meeting, voter, i1="for") for voter in meeting.holders[:3]]
    forged = {**_ballot(meeting, meeting.holders[3]), "signature": good[0]["signature"]}
    stranger = _ballot(meeting, Keypair())
    with db.session_scope() as session:
        stored, refused = cast_ballots(session, meeting.id, [*good, forged, stranger])
    assert stored == 3
    assert [position for position, _ in refused] == [3, 4]
    assert "signature does not match" in refused[0][1]
    assert "held no voting tokens" in refused[1][1]
    weights = _weights(meeting.id)
    assert sorted(b.weight for b in _stored()) == sorted(
        weights[str(v.pubkey())] for v in meeting.holders[:3]
    )


SEEV001 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:seev.001.001.11">
  <MtgNtfctn>
    <NtfctnGnlInf><NtfctnTp>NEWM</NtfctnTp><NtfctnSts><EvtCmpltnsSts>COMP</EvtCmpltnsSts>
      <EvtConfSts>CONF</EvtConfSts></NtfctnSts></NtfctnGnlInf>
    <Mtg>
      <MtgId>{mtg_id}</MtgId><IssrMtgId>AAPL-AGM-2027</IssrMtgId><Tp>GMET</Tp>
      <EntitlmntFxgDt><Dt><Dt>2026-11-10</Dt></Dt></EntitlmntFxgDt>
    </Mtg>
    <MtgDtls><DtAndTm><DtOrDtTm><DtTm>2027-03-01T10:00:00-05:00</DtTm></DtOrDtTm></DtAndTm>
      <Lctn><Adr><AdrLine>One Apple Park Way</AdrLine><TwnNm>Cupertino</TwnNm><Ctry>US</Ctry>
      </Adr></Lctn>
    </MtgDtls>
    <Issr><Id><NmAndAdr><Nm>Apple Inc.</Nm></NmAndAdr></Id></Issr>
    <Scty><FinInstrmId><ISIN>US0378331005</ISIN>
      <OthrId><Id>AAPL</Id><Tp><Cd>TS</Cd></Tp></OthrId></FinInstrmId></Scty>
    <Rsltn><IssrLabl>1</IssrLabl><Desc><Lang>en</Lang><Titl>Elect the board</Titl></Desc>
      <ForInfOnly>false</ForInfOnly><Sts>ACTV</Sts>
      <VoteInstrTp><VoteInstrTpCd><Tp>CFOR</Tp></VoteInstrTpCd></VoteInstrTp>
      <VoteInstrTp><VoteInstrTpCd><Tp>CAGS</Tp></VoteInstrTpCd></VoteInstrTp></Rsltn>
    <Rsltn><IssrLabl>2</IssrLabl><Desc><Lang>en</Lang><Titl>Amend the charter</Titl></Desc>
      <Tp>EXTR</Tp><ForInfOnly>false</ForInfOnly><Sts>ACTV</Sts></Rsltn>
    <Rsltn><IssrLabl>3</IssrLabl><Desc><Lang>en</Lang><Titl>Annual report</Titl></Desc>
      <ForInfOnly>true</ForInfOnly><Sts>ACTV</Sts></Rsltn>
    <Rsltn><IssrLabl>4</IssrLabl><Desc><Lang>en</Lang><Titl>Withdrawn item</Titl></Desc>
      <ForInfOnly>false</ForInfOnly><Sts>WDRA</Sts></Rsltn>
    <Vote><PrtlVoteAllwd>true</PrtlVoteAllwd><SpltVoteAllwd>false</SpltVoteAllwd>
      <VoteDdln><DtOrDtTm><DtTm>2027-02-26T17:00:00-05:00</DtTm></DtOrDtTm></VoteDdln></Vote>
  </MtgNtfctn>
</Document>"""


def test_the_seev001_test_payload_is_valid_seev_001_001_11() -> None:
    root = ET.fromstring(SEEV001.format(mtg_id="MTG-2027-1"))
    [message] = list(root)
    assert problems(message, MeetingNotificationV11Seev00100111, "/MtgNtfctn") == []


def test_a_seev001_meeting_notification_becomes_a_meeting_with_its_agenda(
    meeting: Meeting,
) -> None:
    from corpactions.feeds.seev001 import parse_notifications
    from corpactions.meetings.ballots import meeting_of

    with db.session_scope() as session:
        report = ingest(
            parse_notifications(SEEV001.format(mtg_id="MTG-2027-1").encode()), session=session
        )
        bad = ingest(parse_notifications(SEEV001.format(mtg_id="").encode()), session=session)
    assert (report.accepted, bad.quarantined) == (1, 1)
    assert "MtgId" in bad.reasons[0]
    with db.session_scope() as session:
        action = session.exec(
            select(CorporateAction).where(CorporateAction.source_ref == "MTG-2027-1")
        ).one()
        _, agenda = meeting_of(session, action.id or 0)
    assert [(i.id, i.text, i.choices, i.majority) for i in agenda.items] == [
        ("1", "Elect the board", ("for", "against"), "simple"),
        ("2", "Amend the charter", ("for", "against", "abstain"), "two_thirds"),
    ]
    assert agenda.vote_deadline.isoformat() == "2027-02-26T17:00:00-05:00"
    assert str(agenda.meeting_date) == "2027-03-01"


def test_meetings_can_be_created_from_a_csv_file_too(meeting: Meeting, tmp_path: Path) -> None:
    agenda = orjson.dumps([{"id": "1", "text": "Approve the merger"}]).decode().replace('"', '""')
    path = tmp_path / "meetings.csv"
    path.write_text(
        "reference,symbol,record_date,meeting_date,vote_deadline,agenda\n"
        f'EGM-CSV,AAPL,2026-11-10,2027-04-01,2027-03-30,"{agenda}"\n'
    )
    result = runner.invoke(cli, ["meetings", "create", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output
    listed = orjson.loads(runner.invoke(cli, ["meetings", "list", "--json"]).output)
    assert "EGM-CSV" in [m["reference"] for m in listed]


def test_a_cancelled_meeting_takes_no_ballots(meeting: Meeting) -> None:
    from corpactions.errors import MeetingError

    with db.session_scope() as session:
        ingest(
            parse_json(_meeting_json(meeting.deadline, function="CANC", sequence=2)),
            session=session,
        )
    with pytest.raises(MeetingError, match="was cancelled"):
        _cast(meeting, _ballot(meeting, meeting.holders[0]))
    assert _stored() == []
