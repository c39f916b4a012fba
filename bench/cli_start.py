"""How long an operator waits for a command to start: ``--help``, ledger reads, api and worker.

Targets (issue: speed where the user feels it): ``corpactions --help`` <= 0.3 s; a ledger read
(``instruments list --json``, ``status --json`` on an empty SQLite ledger) <= 0.6 s;
``corpactions api`` answering HTTP and ``corpactions worker`` logging ``ready`` <= 1.5 s.

Each is timed from process start, best of ``--repeat`` runs. The baseline, in the same run, is
the same command with every command group imported first, as the CLI did before its groups
loaded on first use (``python -c`` importing all of ``COMMANDS``, then the command).

    .venv/bin/python bench/cli_start.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import ROOT, machine

EAGER = (
    "import importlib, sys; from corpactions.cli.root import COMMANDS;"
    " [importlib.import_module(m) for m, _, _ in COMMANDS.values()];"
    " sys.argv = ['corpactions', *sys.argv[1:]];"
    " from corpactions.cli import main; main()"
)


def command(eager: bool, *args: str) -> list[str]:
    if eager:
        return [sys.executable, "-c", EAGER, *args]
    return [str(Path(sys.executable).with_name("corpactions")), *args]


def best(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def api_ready(eager: bool, env: dict[str, str]) -> float:
    port = free_port()
    start = time.perf_counter()
    child = subprocess.Popen(
        command(eager, "api", "--port", str(port)),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - start < 30:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/actions", timeout=1):
                    return time.perf_counter() - start
            except OSError:
                time.sleep(0.01)
        raise SystemExit("api did not answer in 30 s")
    finally:
        child.terminate()
        child.wait()


def worker_ready(eager: bool, env: dict[str, str]) -> float:
    start = time.perf_counter()
    child = subprocess.Popen(
        command(eager, "worker", "--queues", "snapshots", "--pool", "solo"),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if " ready." in line:
                return time.perf_counter() - start
        raise SystemExit("worker exited before it was ready")
    finally:
        child.terminate()
        child.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        env = {
            **os.environ,
            "CORPACTIONS_DATA_DIR": data,
            "CORPACTIONS_BROKER_URL": os.environ.get(
                "CORPACTIONS_BROKER_URL", "redis://127.0.0.1:6379/15"
            ),
        }
        env.pop("CORPACTIONS_DATABASE_URL", None)
        subprocess.run(command(False, "db", "upgrade"), env=env, check=True, capture_output=True)
        rows = []
        for label, target, cmd in (
            ("corpactions --help", 0.3, ("--help",)),
            ("instruments list --json", 0.6, ("instruments", "list", "--json")),
            ("status --json", 0.6, ("status", "--json")),
        ):
            lazy = best(command(False, *cmd), env, args.repeat)
            eager = best(command(True, *cmd), env, args.repeat)
            rows.append((label, target, lazy, eager))
        for label, target, ready in (
            ("api ready", 1.5, api_ready),
            ("worker ready", 1.5, worker_ready),
        ):
            lazy = min(ready(False, env) for _ in range(max(2, args.repeat // 2)))
            eager = min(ready(True, env) for _ in range(max(2, args.repeat // 2)))
            rows.append((label, target, lazy, eager))
    load = os.getloadavg()
    print(f"machine: {machine()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for label, target, lazy, eager in rows:
        verdict = "met" if lazy <= target else "MISSED"
        print(
            f"{label:24}: {lazy:.2f} s (target <= {target} s: {verdict}); every group imported "
            f"first: {eager:.2f} s; ratio {eager / lazy:.1f}x"
        )


if __name__ == "__main__":
    main()
