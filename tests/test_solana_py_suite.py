"""solana-py's own integration tests, run against ``corpactions localnet``: clients no one here
wrote judge the chain's answers. The tests come from the locked solana sdist, downloaded at test
time into a scratch folder by ``scripts/solana-py-suite.sh`` (nothing of them is kept here); the
exceptions docs/localnet.md lists (at most three, each with its reason) are deselected."""

from __future__ import annotations

import os
import re
import subprocess

from tests.chainkit import ROOT


def test_solana_py_integration_tests_pass_against_the_localnet() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "solana-py-suite.sh"), "--skip-known"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "SLOT_MS": "100"},
    )
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
    assert result.returncode == 0, tail
    summary = re.search(r"(\d+) passed", result.stdout.splitlines()[-1])
    assert summary is not None, tail
    # The five files hold 76 tests: 3 deselected (docs/localnet.md), 2 skipped by solana-py itself.
    assert int(summary.group(1)) == 71, tail
    assert "failed" not in result.stdout.splitlines()[-1], tail
    assert "error" not in result.stdout.splitlines()[-1], tail
