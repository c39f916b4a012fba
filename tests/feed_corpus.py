"""Feed payloads shaped as the providers document them, one case per behaviour.

Field names follow the providers' documentation (Polygon reference API v3 and the 2026
/stocks/v1 endpoints, Alpaca corporate-action announcements, ISO 20022 seev.031) and the
project's own CSV/JSON format. Each case says what ingesting it must do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MINTS = {
    "AAPL": "So11111111111111111111111111111111111111112",
    "MSFT": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
}


def polygon_dividend(**overrides: Any) -> dict[str, Any]:
    record = {
        "cash_amount": 0.26,
        "currency": "USD",
        "declaration_date": "2026-10-30",
        "dividend_type": "CD",
        "ex_dividend_date": "2026-11-10",
        "frequency": 4,
        "id": "E8e3c4f794613e9205e2f178a36c53fcc57cdabb55e1988c87b33f9e52e221444",
        "pay_date": "2026-11-13",
        "record_date": "2026-11-10",
        "ticker": "AAPL",
    }
    record.update(overrides)
    return record


def polygon_v1_dividend(**overrides: Any) -> dict[str, Any]:
    record = {
        "id": "Dv1-AAPL-20261110",
        "ticker": "AAPL",
        "cash_amount": 0.26,
        "currency": "USD",
        "declaration_date": "2026-10-30",
        "ex_dividend_date": "2026-11-10",
        "record_date": "2026-11-10",
        "pay_date": "2026-11-13",
        "distribution_type": "recurring",
        "frequency": 4,
        "historical_adjustment_factor": 0.998,
        "split_adjusted_cash_amount": 0.26,
    }
    record.update(overrides)
    return record


def polygon_split(**overrides: Any) -> dict[str, Any]:
    record = {
        "execution_date": "2026-12-01",
        "id": "E36416cce743c3964c5da63e1ef1626c0aece30fb47302eea5a49c0055c04e8d0",
        "split_from": 1,
        "split_to": 4,
        "ticker": "AAPL",
    }
    record.update(overrides)
    return record


def polygon_page(results: list[Any], next_url: str | None = None) -> bytes:
    body: dict[str, Any] = {
        "results": results,
        "status": "OK",
        "request_id": "6a7e466379af0a71039d60cc78e72282",
    }
    if next_url:
        body["next_url"] = next_url
    return json.dumps(body).encode()


def alpaca(**overrides: Any) -> dict[str, Any]:
    record = {
        "id": "be3c368a-4c7c-4384-808e-f02c9f5a8afe",
        "corporate_action_id": "48251W104_AA21",
        "ca_type": "dividend",
        "ca_sub_type": "cash",
        "initiating_symbol": "AAPL",
        "initiating_original_cusip": "037833100",
        "target_symbol": "AAPL",
        "target_original_cusip": "037833100",
        "declaration_date": "2026-10-30",
        "ex_date": "2026-11-10",
        "record_date": "2026-11-10",
        "payable_date": "2026-11-13",
        "cash": "0.26",
        "old_rate": "1",
        "new_rate": "1",
    }
    record.update(overrides)
    return record


def alpaca_list(*records: dict[str, Any]) -> bytes:
    return json.dumps(list(records)).encode()


SEEV_NS = "urn:iso:std:iso:20022:tech:xsd:seev.031.001.14"


def seev031(
    *,
    function: str = "NEWM",
    event: str = "DVCA",
    reference: str | None = "EVT-AAPL-DVCA-2026Q4",
    ticker: str = "AAPL",
    created: str = "2026-10-30T09:00:00Z",
    gross: str | None = "0.26",
    net: str | None = "0.182",
    tax: str | None = "30",
    record: str = "2026-11-10",
    pay: str = "2026-11-13",
    ex: str | None = None,
    ratio: tuple[str, str] | None = None,
    additional: tuple[str, str] | None = None,
    status: tuple[str, str] = ("COMP", "CONF"),
    fraction: str | None = None,
) -> str:
    """A seev.031.001.14 CorporateActionNotification in its business application header
    envelope, valid against that version's schema (a test checks it)."""

    def day(tag: str, value: str) -> str:
        return f"<{tag}><Dt>{value}</Dt></{tag}>"

    def amount(tag: str, value: str) -> str:
        return f'<{tag}><Amt Ccy="USD">{value}</Amt></{tag}>'

    option = ""
    if event not in ("MEET", "XMET", "OMET"):
        securities = ""
        rate = ""
        if ratio is not None:
            rate = f"<NewToOd><QtyToQty><Qty1>{ratio[0]}</Qty1><Qty2>{ratio[1]}</Qty2></QtyToQty></NewToOd>"
        if additional is not None:  # a stock dividend's usual form: additional for existing
            rate = f"<AddtlQtyForExstgScties><QtyToQty><Qty1>{additional[0]}</Qty1><Qty2>{additional[1]}</Qty2></QtyToQty></AddtlQtyForExstgScties>"
        if rate:
            securities = (
                "<SctiesMvmntDtls><SctyDtls><FinInstrmId><ISIN>US0378331005</ISIN></FinInstrmId>"
                f"</SctyDtls><CdtDbtInd>CRDT</CdtDbtInd><DtDtls>{day('PmtDt', pay)}</DtDtls>"
                f"<RateDtls>{rate}</RateDtls></SctiesMvmntDtls>"
            )
        rates = ""
        if gross is not None:
            rates += amount("GrssDvddRate", gross)
        if tax is not None:
            rates += f"<WhldgTaxRate><Rate>{tax}</Rate></WhldgTaxRate>"
        if net is not None:
            rates += amount("NetDvddRate", net)
        cash = ""
        if rates:
            cash = (
                f"<CshMvmntDtls><CdtDbtInd>CRDT</CdtDbtInd><DtDtls>{day('PmtDt', pay)}</DtDtls>"
                f"<RateAndAmtDtls>{rates}</RateAndAmtDtls></CshMvmntDtls>"
            )
        fraction_xml = f"<FrctnDspstn><Cd>{fraction}</Cd></FrctnDspstn>" if fraction else ""
        option = (
            f"<CorpActnOptnDtls><OptnNb>001</OptnNb><OptnTp><Cd>{'SECU' if securities else 'CASH'}</Cd></OptnTp>"
            f"{fraction_xml}<DfltPrcgOrStgInstr><DfltOptnInd>true</DfltOptnInd></DfltPrcgOrStgInstr>"
            f"{securities}{cash}</CorpActnOptnDtls>"
        )
    reference_xml = f"<CorpActnEvtId>{reference}</CorpActnEvtId>" if reference else ""
    return (
        f'<Envelope><AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"><CreDt>{created}</CreDt></AppHdr>'
        f'<Document xmlns="{SEEV_NS}"><CorpActnNtfctn>'
        f"<NtfctnGnlInf><NtfctnTp>{function}</NtfctnTp><PrcgSts><Cd><EvtCmpltnsSts>{status[0]}</EvtCmpltnsSts><EvtConfSts>{status[1]}</EvtConfSts></Cd></PrcgSts></NtfctnGnlInf>"
        f"<CorpActnGnlInf>{reference_xml}<OffclCorpActnEvtId>US0378331005DVCA1</OffclCorpActnEvtId>"
        f"<EvtTp><Cd>{event}</Cd></EvtTp><MndtryVlntryEvtTp><Cd>MAND</Cd></MndtryVlntryEvtTp>"
        f"<UndrlygScty><FinInstrmId><ISIN>US0378331005</ISIN><OthrId><Id>{ticker}</Id><Tp><Cd>TS</Cd></Tp></OthrId></FinInstrmId></UndrlygScty></CorpActnGnlInf>"
        "<AcctDtls><ForAllAccts><IdCd>GENR</IdCd></ForAllAccts></AcctDtls>"
        f"<CorpActnDtls><DtDtls>{day('FctvDt', record)}{day('RcrdDt', record)}{day('ExDvddDt', ex or record)}{day('PmtDt', pay)}</DtDtls></CorpActnDtls>"
        f"{option}</CorpActnNtfctn></Document></Envelope>"
    )


def seev039(
    *,
    reference: str = "EVT-AAPL-DVCA-2026Q4",
    reason: str = "WITH",
    event: str = "DVCA",
    created: str = "2026-11-02T09:00:00Z",
) -> str:
    """A seev.039.001.12 CorporateActionCancellationAdvice in its header envelope, valid against
    that version's schema (a test checks it)."""
    return (
        f'<Envelope><AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"><CreDt>{created}</CreDt></AppHdr>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:seev.039.001.12"><CorpActnCxlAdvc>'
        f"<CxlAdvcGnlInf><CxlRsnCd>{reason}</CxlRsnCd><CxlRsn>Announced in error</CxlRsn>"
        "<PrcgSts><EvtCmpltnsSts>COMP</EvtCmpltnsSts><EvtConfSts>CONF</EvtConfSts></PrcgSts></CxlAdvcGnlInf>"
        f"<CorpActnGnlInf><CorpActnEvtId>{reference}</CorpActnEvtId><EvtTp><Cd>{event}</Cd></EvtTp>"
        "<MndtryVlntryEvtTp><Cd>MAND</Cd></MndtryVlntryEvtTp><FinInstrmId><ISIN>US0378331005</ISIN>"
        "<OthrId><Id>AAPL</Id><Tp><Cd>TS</Cd></Tp></OthrId></FinInstrmId></CorpActnGnlInf>"
        "<AcctsDtls><ForAllAccts><IdCd>GENR</IdCd></ForAllAccts></AcctsDtls>"
        "</CorpActnCxlAdvc></Document></Envelope>"
    )


def csv_rows(*rows: dict[str, Any]) -> bytes:
    header = [
        "reference",
        "symbol",
        "kind",
        "function",
        "sequence",
        "status",
        "ex_date",
        "record_date",
        "pay_date",
        "effective_date",
        "currency",
        "gross_rate",
        "withholding_rate",
        "ratio_new",
        "ratio_old",
        "fraction_disposition",
        "special",
    ]
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(str(row.get(h, "")) for h in header))
    return ("\n".join(lines) + "\n").encode()


def own(**overrides: Any) -> dict[str, Any]:
    row = {
        "reference": "ISSUER-2026-Q4",
        "symbol": "AAPL",
        "kind": "cash_dividend",
        "status": "COMP",
        "ex_date": "2026-11-10",
        "record_date": "2026-11-10",
        "pay_date": "2026-11-13",
        "currency": "USD",
        "gross_rate": "0.26",
    }
    row.update(overrides)
    return row


@dataclass
class Case:
    name: str
    fmt: str
    payload: bytes
    accepted: int = 0
    amended: int = 0
    duplicate: int = 0
    quarantined: int = 0
    cancelled: int = 0
    exit_code: int = 0
    reason: str | None = None
    expect: dict[str, Any] = field(default_factory=dict)
    """Fields of the resulting (single) action's current version to check."""


def _seev(*docs: str) -> bytes:
    return ("<Batch>" + "".join(docs) + "</Batch>").encode()


CASES = [
    # --- Polygon ------------------------------------------------------------------------------
    Case(
        "polygon regular dividend",
        "polygon",
        polygon_page([polygon_dividend()]),
        accepted=1,
        expect={"kind": "cash_dividend", "gross_rate": "0.26", "record_date": "2026-11-10"},
    ),
    Case(
        "polygon special dividend",
        "polygon",
        polygon_page([polygon_dividend(dividend_type="SC", id="Esc1", cash_amount=1.5)]),
        accepted=1,
        expect={"gross_rate": "1.5", "special": True},
    ),
    Case(
        "polygon v1 recurring dividend",
        "polygon",
        polygon_page([polygon_v1_dividend()]),
        accepted=1,
        expect={"gross_rate": "0.26"},
    ),
    Case(
        "polygon v1 special distribution",
        "polygon",
        polygon_page(
            [polygon_v1_dividend(id="Dv1-special", distribution_type="special", cash_amount=3)]
        ),
        accepted=1,
        expect={"special": True},
    ),
    Case(
        "polygon exact rate with many decimals",
        "polygon",
        polygon_page([polygon_dividend()]).replace(
            b'"cash_amount": 0.26', b'"cash_amount": 0.123456789012345678'
        ),
        accepted=1,
        expect={"gross_rate": "0.123456789012345678"},
    ),
    Case(
        "polygon forward split",
        "polygon",
        polygon_page([polygon_split()]),
        accepted=1,
        expect={
            "kind": "forward_split",
            "ratio_new": "4",
            "ratio_old": "1",
            "effective_date": "2026-12-01",
        },
    ),
    Case(
        "polygon reverse split",
        "polygon",
        polygon_page([polygon_split(id="Erev", split_from=10, split_to=1)]),
        accepted=1,
        expect={"kind": "reverse_split"},
    ),
    Case(
        "polygon v1 forward split with adjustment type",
        "polygon",
        polygon_page(
            [polygon_split(id="Sv1", adjustment_type="forward_split", split_from=2, split_to=3)]
        ),
        accepted=1,
        expect={"kind": "forward_split", "ratio_new": "3"},
    ),
    Case(
        "polygon unknown ticker",
        "polygon",
        polygon_page([polygon_dividend(ticker="ZZZZ", id="Ezz")]),
        quarantined=1,
        reason="unknown ticker ZZZZ",
    ),
    Case(
        "polygon missing record date",
        "polygon",
        polygon_page([polygon_dividend(record_date=None, id="Enr")]),
        quarantined=1,
        reason="record date is missing",
    ),
    Case(
        "polygon invalid date",
        "polygon",
        polygon_page([polygon_dividend(pay_date="2026-13-01", id="Ebd")]),
        quarantined=1,
        reason="is not a date",
    ),
    Case(
        "polygon negative cash amount",
        "polygon",
        polygon_page([polygon_dividend(cash_amount=-0.26, id="Eneg")]),
        quarantined=1,
        reason="must be positive",
    ),
    Case(
        "polygon non-finite cash amount",
        "polygon",
        polygon_page([polygon_dividend(cash_amount="NaN", id="Enan")]),
        quarantined=1,
        reason="not a finite number",
    ),
    Case(
        "polygon record date after pay date",
        "polygon",
        polygon_page([polygon_dividend(record_date="2026-11-20", id="Erp")]),
        quarantined=1,
        reason="after pay date",
    ),
    Case(
        "polygon unsupported currency",
        "polygon",
        polygon_page([polygon_dividend(currency="EUR", id="Eeur")]),
        quarantined=1,
        reason="currency EUR is not supported",
    ),
    Case(
        "polygon zero split ratio",
        "polygon",
        polygon_page([polygon_split(id="Ez", split_to=0)]),
        quarantined=1,
        reason="must be positive",
    ),
    Case(
        "polygon negative split ratio",
        "polygon",
        polygon_page([polygon_split(id="En", split_from=-1)]),
        quarantined=1,
        reason="must be positive",
    ),
    Case(
        "polygon malformed JSON",
        "polygon",
        b'{"results": [{"ticker": "AAPL",',
        quarantined=1,
        exit_code=2,
        reason="not valid JSON",
    ),
    Case(
        "polygon same record twice",
        "polygon",
        polygon_page([polygon_dividend(), polygon_dividend()]),
        accepted=1,
        duplicate=1,
    ),
    Case(
        "polygon amended cash amount",
        "polygon",
        polygon_page([polygon_dividend(), polygon_dividend(cash_amount=0.27)]),
        accepted=1,
        amended=1,
    ),
    Case(
        "polygon one bad record never blocks the good ones",
        "polygon",
        polygon_page([polygon_dividend(ticker="ZZZZ", id="Eb1"), polygon_dividend()]),
        accepted=1,
        quarantined=1,
    ),
    Case(
        "polygon record that is not an object",
        "polygon",
        polygon_page(["oops", polygon_dividend()]),
        accepted=1,
        quarantined=1,
        reason="not an object",
    ),
    # --- Alpaca -------------------------------------------------------------------------------
    Case(
        "alpaca cash dividend",
        "alpaca",
        alpaca_list(alpaca()),
        accepted=1,
        expect={"kind": "cash_dividend", "gross_rate": "0.26", "pay_date": "2026-11-13"},
    ),
    Case(
        "alpaca forward split",
        "alpaca",
        alpaca_list(
            alpaca(
                corporate_action_id="SPLIT1",
                ca_type="split",
                ca_sub_type="stock_split",
                cash=None,
                old_rate="1",
                new_rate="4",
                record_date=None,
                ex_date="2026-11-16",  # FINRA 11140(b)(2): the business day after payable
            )
        ),
        accepted=1,
        expect={"kind": "forward_split", "ratio_new": "4"},
    ),
    Case(
        "alpaca reverse split",
        "alpaca",
        alpaca_list(
            alpaca(
                corporate_action_id="RS1",
                ca_type="split",
                ca_sub_type="reverse_split",
                cash=None,
                old_rate="10",
                new_rate="1",
            )
        ),
        accepted=1,
        expect={"kind": "reverse_split"},
    ),
    Case(
        "alpaca stock dividend",
        "alpaca",
        alpaca_list(
            alpaca(
                corporate_action_id="SD1",
                ca_sub_type="stock",
                cash=None,
                old_rate="1",
                new_rate="1.05",
            )
        ),
        accepted=1,
        expect={"kind": "stock_dividend", "ratio_new": "1.05"},
    ),
    Case(
        "alpaca new terms are a new version",
        "alpaca",
        alpaca_list(alpaca(), alpaca(id="0f2b9c7e-0000-4000-8000-000000000002", cash="0.27")),
        accepted=1,
        amended=1,
    ),
    Case(
        "alpaca merger is kept for an operator",
        "alpaca",
        alpaca_list(
            alpaca(corporate_action_id="M1", ca_type="merger", ca_sub_type="merger_completion")
        ),
        accepted=1,
        expect={"kind": "merger", "status": "needs_operator"},
    ),
    Case(
        "alpaca missing corporate action id",
        "alpaca",
        alpaca_list(alpaca(corporate_action_id=None)),
        quarantined=1,
        reason="corporate_action_id is missing",
    ),
    Case(
        "alpaca duplicate announcement",
        "alpaca",
        alpaca_list(alpaca(), alpaca()),
        accepted=1,
        duplicate=1,
    ),
    Case(
        "alpaca response that is not a list",
        "alpaca",
        b'{"message": "forbidden"}',
        quarantined=1,
        exit_code=2,
        reason="not a list",
    ),
    # --- ISO 20022 seev.031 -------------------------------------------------------------------
    Case(
        "seev.031 new cash dividend",
        "seev031",
        _seev(seev031()),
        accepted=1,
        expect={
            "kind": "cash_dividend",
            "gross_rate": "0.26",
            "net_rate": "0.182",
            "withholding_rate": "0.3",
            "processing_status": "COMP",
        },
    ),
    Case(
        "seev.031 replacement",
        "seev031",
        _seev(
            seev031(),
            seev031(function="REPL", created="2026-11-01T09:00:00Z", gross="0.27", net="0.189"),
        ),
        accepted=1,
        amended=1,
        expect={"gross_rate": "0.27", "function": "REPL"},
    ),
    Case(
        "seev.031 cancellation",
        "seev031",
        _seev(seev031(), seev031(function="CANC", created="2026-11-02T09:00:00Z")),
        accepted=1,
        amended=1,
        cancelled=1,
        expect={"status": "cancelled"},
    ),
    Case(
        "seev.031 withdrawal",
        "seev031",
        _seev(seev031(), seev031(function="WITH", created="2026-11-02T09:00:00Z")),
        accepted=1,
        amended=1,
        cancelled=1,
        expect={"status": "withdrawn"},
    ),
    Case(
        "seev.039 cancellation advice: withdrawn by the issuer",
        "seev031",
        _seev(seev031(), seev039(reason="WITH")),
        accepted=1,
        amended=1,
        cancelled=1,
        expect={"status": "withdrawn"},
    ),
    Case(
        "seev.039 cancellation advice: a processing error",
        "seev031",
        _seev(seev031(), seev039(reason="PROC")),
        accepted=1,
        amended=1,
        cancelled=1,
        expect={"status": "cancelled"},
    ),
    Case(
        "seev.039 cancellation advice with an unknown reason",
        "seev031",
        _seev(seev039(reason="OTHR")),
        quarantined=1,
        reason="cancellation reason 'OTHR' is not WITH or PROC",
    ),
    Case(
        "seev.031 forward split",
        "seev031",
        _seev(
            seev031(
                event="SPLF",
                reference="EVT-SPLF",
                gross=None,
                net=None,
                tax=None,
                ratio=("2", "1"),
                ex="2026-11-16",  # FINRA 11140(b)(2): the business day after payable
            )
        ),
        accepted=1,
        expect={"kind": "forward_split", "ratio_new": "2", "ratio_old": "1"},
    ),
    Case(
        "seev.031 stock dividend, one additional share for twenty held",
        "seev031",
        _seev(
            seev031(
                event="DVSE",
                reference="EVT-DVSE",
                gross=None,
                net=None,
                tax=None,
                additional=("1", "20"),
                fraction="CINL",
            )
        ),
        accepted=1,
        expect={"kind": "stock_dividend", "ratio_new": "21", "ratio_old": "20"},
    ),
    Case(
        "seev.031 reverse split with cash in lieu",
        "seev031",
        _seev(
            seev031(
                event="SPLR",
                reference="EVT-SPLR",
                gross=None,
                net=None,
                tax=None,
                ratio=("1", "10"),
                fraction="CINL",
            )
        ),
        accepted=1,
        expect={"kind": "reverse_split", "fraction_disposition": "CINL"},
    ),
    Case(
        "seev.031 meeting",
        "seev031",
        _seev(seev031(event="MEET", reference="EVT-MEET", gross=None, net=None, tax=None)),
        accepted=1,
        expect={"kind": "meeting"},
    ),
    Case(
        "seev.031 preliminary unconfirmed",
        "seev031",
        _seev(seev031(status=("INCO", "UCON"))),
        accepted=1,
        expect={"processing_status": "PREU", "status": "announced"},
    ),
    Case(
        "seev.031 merger is kept for an operator",
        "seev031",
        _seev(seev031(event="MRGR", reference="EVT-M")),
        accepted=1,
        expect={"kind": "merger", "status": "needs_operator"},
    ),
    Case(
        "seev.031 missing event reference",
        "seev031",
        _seev(seev031(reference=None)),
        quarantined=1,
        reason="CorpActnEvtId",
    ),
    Case(
        "seev.031 malformed XML",
        "seev031",
        b"<Document><CorpActnNtfctn>",
        quarantined=1,
        exit_code=2,
        reason="not well-formed XML",
    ),
    Case(
        "seev.031 DTD refused",
        "seev031",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><Document/>',
        quarantined=1,
        exit_code=2,
        reason="DTDs and entities are not accepted",
    ),
    Case(
        "seev.031 amendment arriving before the original",
        "seev031",
        _seev(seev031(function="REPL", created="2026-11-01T09:00:00Z", gross="0.27"), seev031()),
        accepted=1,
        amended=1,
        expect={"gross_rate": "0.27", "function": "REPL"},
    ),
    # --- the project's own CSV / JSON format -----------------------------------------------------
    Case(
        "csv regular dividend",
        "csv",
        csv_rows(own()),
        accepted=1,
        expect={"gross_rate": "0.26", "status": "confirmed"},
    ),
    Case(
        "csv amendment by sequence",
        "csv",
        csv_rows(own(sequence=2, gross_rate="0.30", function="REPL"), own(sequence=1)),
        accepted=1,
        amended=1,
        expect={"gross_rate": "0.30"},
    ),
    Case(
        "csv cancellation",
        "csv",
        csv_rows(own(), own(function="CANC", sequence=2)),
        accepted=1,
        amended=1,
        cancelled=1,
        expect={"status": "cancelled"},
    ),
    Case(
        "csv row with extra cells",
        "csv",
        csv_rows(own()).replace(b"0.26,", b"0.26,,,,,,,,,,,", 1),
        quarantined=1,
        reason="more cells than the header",
    ),
    Case(
        "csv unknown kind",
        "csv",
        csv_rows(own(kind="takeover")),
        quarantined=1,
        reason="kind 'takeover' is not one of",
    ),
    Case(
        "csv forward split in the wrong direction",
        "csv",
        csv_rows(
            own(
                kind="forward_split",
                ratio_new="1",
                ratio_old="2",
                gross_rate="",
                currency="",
                effective_date="2026-12-01",
            )
        ),
        quarantined=1,
        reason="more new shares than old",
    ),
    Case(
        "csv file without a header",
        "csv",
        b"AAPL,cash_dividend\n",
        quarantined=1,
        exit_code=2,
        reason="header row",
    ),
    Case(
        "json meeting with agenda",
        "json",
        json.dumps(
            [
                own(
                    reference="AGM-2027",
                    kind="meeting",
                    gross_rate=None,
                    currency=None,
                    pay_date=None,
                    meeting_date="2027-03-01",
                    vote_deadline="2027-02-25",
                    agenda=[
                        {
                            "id": "1",
                            "title": "Elect directors",
                            "choices": ["for", "against", "abstain"],
                        }
                    ],
                )
            ]
        ).encode(),
        accepted=1,
        expect={"kind": "meeting"},
    ),
    Case(
        "json object without actions",
        "json",
        b'{"items": []}',
        quarantined=1,
        exit_code=2,
        reason="list of actions",
    ),
    Case(
        "json withholding rate above one",
        "json",
        json.dumps([own(withholding_rate="30")]).encode(),
        quarantined=1,
        reason="fraction from 0 to 1",
    ),
]
