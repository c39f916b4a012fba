"""Period reports for accountants: every line of a period, and yearly totals per wallet, from
ledger data the real pipeline produced on the localnet."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import polars as pl
from fastapi.testclient import TestClient
from sqlmodel import select

from corpactions import db
from corpactions.api.app import create_app
from corpactions.models import PayoutLine, PayoutPlan
from tests.apikit import ApiData
from tests.chainkit import ROOT


def _lines(plan_id: int) -> dict[str, PayoutLine]:
    with db.session_scope() as session:
        return {
            line.owner: line
            for line in session.exec(select(PayoutLine).where(PayoutLine.plan_id == plan_id))
        }


def _usdc(base_units: int) -> str:
    return f"{base_units // 10**6}.{base_units % 10**6:06d}"


def test_the_period_report_lists_every_line_with_decimals_approvers_plan_and_signature(
    api_data: ApiData,
) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "corpactions.cli", "reports", "payouts"),
            *("--from", "2026-01-01", "--to", "2026-12-31", "--format", "csv"),
        ],
        capture_output=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = pl.read_csv(io.BytesIO(done.stdout), infer_schema=False)
    lines = _lines(api_data.paid.plan_id)
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, api_data.paid.plan_id)
        assert plan is not None
    assert report.height == len(lines)  # only the 2026 plan; the 2027 one is out of the period
    for row in report.iter_rows(named=True):
        line = lines[row["wallet"]]
        assert row["gross"] == _usdc(line.gross)
        assert row["withholding"] == _usdc(line.withholding)
        assert row["net"] == _usdc(line.net)
        assert row["gross_base_units"] == str(line.gross)
        assert (row["asset"], row["unit"], row["tax_class"]) == ("USDC", "USDC", line.tax_class)
        assert row["signature"] == line.signature
        assert row["plan_hash"] == plan.plan_hash
        assert row["plan_kind"] == "cash dividend"
        assert row["approvers"].startswith("checker at 20")
        assert row["attestation_signature"] == plan.attestation_signature


def test_the_period_report_is_parquet_from_the_api_too(api_data: ApiData) -> None:
    with TestClient(create_app()) as client:
        response = client.get(
            "/v1/reports/payouts",
            params={"from": "2026-01-01", "to": "2027-12-31", "format": "parquet"},
        )
        backwards = client.get(
            "/v1/reports/payouts", params={"from": "2027-01-01", "to": "2026-01-01"}
        )
    assert response.status_code == 200
    report = pl.read_parquet(io.BytesIO(response.content))
    assert set(report["plan_id"].to_list()) == {api_data.paid.plan_id, api_data.pending_plan}
    assert backwards.status_code == 422


def test_yearly_totals_per_wallet_and_tax_class_add_up_the_years_lines(
    api_data: ApiData, tmp_path: Path
) -> None:
    out = tmp_path / "2026.csv"
    done = subprocess.run(
        [sys.executable, "-m", "corpactions.cli", "reports", "tax-year", "2026", "--out", str(out)],
        capture_output=True,
        check=False,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    totals = pl.read_csv(out, infer_schema=False)
    lines = _lines(api_data.paid.plan_id)
    assert totals.height == len(lines)  # one plan: one row per wallet (and its tax class)
    for row in totals.iter_rows(named=True):
        line = lines[row["wallet"]]
        assert row["tax_class"] == line.tax_class
        assert (row["gross"], row["withheld"], row["net"]) == (
            _usdc(line.gross),
            _usdc(line.withholding),
            _usdc(line.net),
        )
        assert row["paid"] == (_usdc(line.amount_due) if line.status == "paid" else "0.000000")
