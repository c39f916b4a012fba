"""``corpactions meetings``: create, inspect, tally and close shareholder meetings."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from sqlmodel import Session, col, select

from corpactions import db
from corpactions.cli.render import JSON_OPTION, print_json, print_table
from corpactions.errors import UserInputError
from corpactions.models import ActionKind, CorporateAction, Instrument

app = typer.Typer(
    help="Shareholder meetings: agendas, wallet-signed ballots, tallies, custodian export.",
    no_args_is_help=True,
)


def _meeting(session: Session, meeting_id: int) -> dict[str, Any]:
    from corpactions.actions import current_version
    from corpactions.meetings.ballots import meeting_of
    from snapshots.take import current_snapshot

    action, agenda = meeting_of(session, meeting_id)
    instrument = session.get(Instrument, action.instrument_id)
    assert instrument is not None
    snapshot = current_snapshot(session, meeting_id)
    version = current_version(session, action)
    details = version.details if version is not None else {}
    return {
        "id": meeting_id,
        "symbol": instrument.symbol,
        "mint": instrument.mint,
        "decimals": instrument.decimals,
        "reference": action.source_ref,
        "status": str(action.status),
        "meeting_date": agenda.meeting_date.isoformat() if agenda.meeting_date else None,
        "vote_deadline": agenda.vote_deadline.isoformat(),
        "open": datetime.now(UTC) <= agenda.vote_deadline,
        "snapshot_slot": snapshot.slot if snapshot else None,
        "multiplier": snapshot.multiplier if snapshot else None,
        "agenda": [item.as_dict() for item in agenda.items],
        "isin": details.get("isin"),
        "issuer_meeting_id": details.get("issuer_meeting_id"),
        "meeting_type": details.get("meeting_type"),
    }


@app.command("create")
def create(
    path: Path = typer.Argument(
        ..., help="JSON (one meeting object or a list) or CSV (a row per meeting) file."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create meetings from a file (for issuers without a feed): the own feed format with kind
    "meeting", record_date, meeting_date, vote_deadline and agenda (in CSV: a JSON list in the
    agenda column). Re-running changes nothing; an amended file makes new versions."""
    import csv
    import io

    import orjson

    from corpactions.feeds.ingest import ingest
    from corpactions.feeds.ownformat import parse_json

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserInputError(f"cannot read {path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".csv":
        rows = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
        items: list[Any] = [{k: v for k, v in row.items() if v} for row in rows]
    else:
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UserInputError(f"{path} is not JSON: {exc}") from exc
        items = document if isinstance(document, list) else [document]
    if not items or not all(isinstance(i, dict) for i in items):
        raise UserInputError(f"{path}: expected one or more meeting records")
    for item in items:
        item["kind"] = item.get("kind") or "meeting"
        if item["kind"] != "meeting":
            raise UserInputError(f"{path}: kind {item['kind']!r} is not a meeting")
    db.require_current_schema()
    with db.session_scope() as session:
        report = ingest(parse_json(orjson.dumps(items)), session=session)
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"meetings: {report.accepted} created, {report.amended} amended, "
        f"{report.duplicate} unchanged, {report.quarantined} refused"
    )
    for reason in report.reasons[:10]:
        typer.echo(f"  refused: {reason}")
    if report.quarantined:
        raise typer.Exit(2)


@app.command("list")
def list_meetings(as_json: bool = JSON_OPTION) -> None:
    """Meetings, newest first."""
    db.require_current_schema()
    with db.session_scope() as session:
        rows = []
        for action, symbol in session.exec(
            select(CorporateAction, Instrument.symbol)
            .join(Instrument, col(Instrument.id) == col(CorporateAction.instrument_id))
            .where(CorporateAction.kind == ActionKind.meeting)
            .order_by(col(CorporateAction.id).desc())
        ):
            rows.append(
                {
                    "id": action.id,
                    "symbol": symbol,
                    "status": str(action.status),
                    "reference": action.source_ref,
                }
            )
    if as_json:
        print_json(rows)
    else:
        print_table("Meetings", rows, ["id", "symbol", "status", "reference"])


@app.command("show")
def show(
    meeting_id: int = typer.Argument(..., help="Meeting id."), as_json: bool = JSON_OPTION
) -> None:
    """Agenda, deadline, snapshot and ballots cast so far."""
    from corpactions.meetings.tally import current_ballots

    db.require_current_schema()
    with db.session_scope() as session:
        data = _meeting(session, meeting_id)
        data["ballots"] = len(current_ballots(session, meeting_id))
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"meeting {data['id']} ({data['symbol']}, {data['reference']}): "
        f"{'open until' if data['open'] else 'closed at'} {data['vote_deadline']}; "
        f"snapshot slot {data['snapshot_slot']}; {data['ballots']} ballot(s)"
    )
    print_table("Agenda", data["agenda"], ["id", "text", "choices", "majority"])


@app.command("message")
def message(
    meeting_id: int = typer.Argument(..., help="Meeting id."),
    wallet: str = typer.Option(..., "--wallet", help="The wallet that will sign."),
    vote: list[str] = typer.Option(..., "--vote", help="ITEM=CHOICE, once per item."),
    nonce: str = typer.Option(..., "--nonce", help="Any new 1-64 letters/digits/-/_."),
) -> None:
    """Print the exact ballot text for a wallet to sign (its signMessage, raw UTF-8 bytes). It
    names this deployment, the meeting's id and reference and the instrument's mint: signed, it
    counts in this meeting only. Use each nonce once: a used one is refused forever."""
    from corpactions.addresses import parse_address
    from corpactions.meetings.ballots import NONCE, ballot_context, canonical_message, meeting_of

    choices: dict[str, str] = {}
    for entry in vote:
        item, sep, choice = entry.partition("=")
        if not sep:
            raise UserInputError(f"--vote {entry!r} must be ITEM=CHOICE")
        choices[item.strip()] = choice.strip().lower()
    if not NONCE.match(nonce):
        raise UserInputError(f"--nonce {nonce[:80]!r} must be 1-64 letters, digits, - or _")
    db.require_current_schema()
    with db.session_scope() as session:
        action, agenda = meeting_of(session, meeting_id)
        for item, choice in choices.items():
            found = agenda.item(item)
            if found is None or choice not in found.choices:
                raise UserInputError(f"item {item!r} has no choice {choice!r}")
        context = ballot_context(session, action)
    text = canonical_message(context, parse_address(wallet), nonce, choices)
    # The exact bytes to sign and nothing else (no trailing newline): piped into a signer,
    # they are the ballot's message. A terminal gets its line break on stderr.
    sys.stdout.write(text)
    sys.stdout.flush()
    if sys.stdout.isatty():
        typer.echo("", err=True)


@app.command("tally")
def tally_command(
    meeting_id: int = typer.Argument(..., help="Meeting id."),
    close: bool = typer.Option(
        False, "--close", help="After the deadline: fix the tally, publish and attest it."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Weighted totals per item, turnout and outcomes (live until closed)."""
    from corpactions.meetings.attest import close_and_attest
    from corpactions.meetings.tally import record_path, tally

    db.require_current_schema()
    if close:
        result = asyncio.run(close_and_attest(meeting_id, session_factory=db.session_scope))
        if not as_json:
            record = record_path(meeting_id, result.record_sha256)
            typer.echo(
                f"meeting {meeting_id} closed: record {record}"
                f" (sha256 {result.record_sha256}); attestation "
                f"{result.attestation_signature or 'pending: run again'}"
            )
    with db.session_scope() as session:
        data = tally(session, meeting_id)
    if as_json:
        print_json(data)
        return
    state = "final" if data["final"] else "live (not final)"
    typer.echo(
        f"meeting {meeting_id} tally, {state}: {data['ballots']} ballot(s), turnout "
        f"{data['turnout']} of {data['eligible_weight']} eligible raw units"
    )
    rows = [
        {
            "item": item["id"],
            "outcome": item["outcome"],
            **{f"{choice}": weight for choice, weight in item["totals"].items()},
        }
        for item in data["items"]
    ]
    columns = ["item", "outcome", *sorted({k for r in rows for k in r} - {"item", "outcome"})]
    print_table("Votes (raw token units)", rows, columns)


@app.command("export")
def export(
    meeting_id: int = typer.Argument(..., help="Meeting id."),
    fmt: str = typer.Option(
        "csv", "--format", help="csv, or xml (an ISO 20022 seev.004.001.09 MeetingInstruction)."
    ),
    out: Path | None = typer.Option(None, "--out", help="File to write (default: stdout)."),
) -> None:
    """The custodian instruction: aggregated votes per item, of the final tally."""
    from corpactions.meetings.export import instruction_csv, instruction_xml
    from corpactions.meetings.tally import tally

    if fmt not in {"csv", "xml"}:
        raise UserInputError(f"--format must be csv or xml, not {fmt!r}")
    db.require_current_schema()
    with db.session_scope() as session:
        meeting = _meeting(session, meeting_id)
        result = tally(session, meeting_id)
    if not result["final"]:
        raise UserInputError(
            f"meeting {meeting_id} is not closed",
            hint=f"close it after the deadline: corpactions meetings tally {meeting_id} --close",
        )
    args = (meeting, result, meeting["decimals"], meeting["multiplier"])
    data = instruction_csv(*args).encode() if fmt == "csv" else instruction_xml(*args)
    if out is None:
        typer.echo(data.decode(), nl=False)
    else:
        out.write_bytes(data)
        typer.echo(f"wrote {out}")
