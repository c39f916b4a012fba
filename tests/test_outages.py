"""Outages in the middle of a payout, with real processes: the broker (a Redis server of the
test's own, stopped and started again) and the ledger (PostgreSQL behind a TCP proxy that is
cut and restored). The workers and beat outlive both; every holder is paid exactly once and the
plan ends attested.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import kombu
import pytest
from kombu.common import ignore_errors
from sqlalchemy.engine import make_url
from sqlmodel import select

from corpactions import db
from corpactions.models import (
    BatchStatus,
    LineStatus,
    PayoutBatch,
    PayoutPlan,
    PlanStatus,
    TaskFailure,
)
from tasks.app import app
from tests.celerykit import FAST, CeleryProcess, beat, wait_for, worker
from tests.outagekit import RedisServer, TcpProxy
from tests.payflow import assert_paid_exactly_once, lines_of, prepare


@pytest.fixture
def processes() -> Iterator[list[CeleryProcess]]:
    started: list[CeleryProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


def _consumer_cut_off(connection: kombu.Connection, redis_server: RedisServer) -> None:
    """What a worker's connection looks like when Redis dies mid-task: the consumer's channel
    holds a delivered, unacknowledged message (tasks acknowledge late) and has a BRPOP in
    flight, and a second channel (the remote-control one) was opened after it. Then Redis stops
    and Celery's consumer cleans up exactly as ``on_connection_error_after_connected`` does."""
    connection.ensure_connection(max_retries=3)
    consumer_channel = connection.default_channel
    kombu.Consumer(consumer_channel, [kombu.Queue("work")], callbacks=[lambda *_: None]).consume()
    kombu.Consumer(
        connection.channel(), [kombu.Queue("control")], callbacks=[lambda *_: None]
    ).consume()
    connection.Producer().publish({"task": 1}, routing_key="work")
    connection.drain_events(timeout=5)  # delivered, never acknowledged
    with pytest.raises(socket.timeout):
        connection.drain_events(timeout=0.2)  # leaves BRPOP in flight on both channels
    assert consumer_channel.qos._delivered and consumer_channel._in_poll
    redis_server.stop()
    connection.collect(socket_timeout=1)
    ignore_errors(connection, connection.close)


def test_the_broker_connection_is_cleaned_up_when_redis_dies_under_unacked_tasks(
    own_redis: RedisServer,
) -> None:
    # kombu's own transport: the AttributeError that ended `corpactions worker` ("Unrecoverable
    # error"). If this stops raising after a kombu upgrade, tasks/transport.py can go.
    with pytest.raises(AttributeError, match="hostname"):
        _consumer_cut_off(kombu.Connection(own_redis.url), own_redis)
    own_redis.start()
    # The project's transport (celeryconfig's broker_transport): a connection error, ignored.
    connection = app.connection_for_read(own_redis.url)
    assert type(connection.transport).__module__ == "tasks.transport"
    _consumer_cut_off(connection, own_redis)


def _fast(broker: RedisServer) -> dict[str, str]:
    """The tests' fast schedule on a broker of the test's own: the machine's Redis is shared
    with other runs, whose workers would take this test's messages (and this one theirs)."""
    return {**FAST, "broker_url": broker.url}


def _batch_statuses(plan_id: int) -> list[BatchStatus]:
    with db.session_scope() as session:
        return list(
            session.exec(select(PayoutBatch.status).where(PayoutBatch.plan_id == plan_id)).all()
        )


def _attested(plan_id: int) -> PayoutPlan | None:
    with db.session_scope() as session:
        plan = session.get(PayoutPlan, plan_id)
        return plan if plan is not None and plan.status == PlanStatus.attested else None


def _failures() -> list[str]:
    with db.session_scope() as session:
        return [f"{f.task_name}: {f.error}" for f in session.exec(select(TaskFailure)).all()]


def _alive(processes: list[CeleryProcess]) -> None:
    for process in processes:
        assert process.proc.poll() is None, f"{process.log.name} exited:\n{process.tail(60)}"


def test_workers_and_beat_outlive_a_broker_outage_mid_payout(
    pg_ledger: str,
    localnet_url: str,
    own_redis: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[CeleryProcess],
) -> None:
    env = {"CORPACTIONS_BROKER_URL": own_redis.url}
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=40, **_fast(own_redis))
    processes.append(beat(tmp_path / "beat.log", tmp_path / "beat-schedule", env=env))
    processes.append(worker(tmp_path / "worker.log", "w1", env=env, pool="prefork"))
    wait_for(
        lambda: BatchStatus.sent in _batch_statuses(flow.plan_id),
        "the first batch to be sent",
        processes=tuple(processes),
    )
    # One outage of a few seconds, then Redis flapping: every stop finds tasks in flight.
    for down, up in ((5, 1.5), (0.3, 1), (1, 0.5), (0.1, 2), (2, 1), (0.3, 1.5)):
        own_redis.stop()
        time.sleep(down)
        _alive(processes)
        own_redis.start()
        time.sleep(up)
    wait_for(
        lambda: _attested(flow.plan_id),
        "the plan to be attested after the broker came back",
        processes=tuple(processes),
    )
    _alive(processes)
    assert_paid_exactly_once(localnet_url, flow)
    assert {line.status for line in lines_of(flow.plan_id)} == {LineStatus.paid}
    assert "Unrecoverable error" not in (tmp_path / "worker.log").read_text(errors="replace")


def test_workers_outlive_a_ledger_outage_mid_payout(
    pg_ledger: str,
    own_redis: RedisServer,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[CeleryProcess],
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=40, **_fast(own_redis))
    direct = make_url(pg_ledger)
    proxy = TcpProxy((direct.host or "127.0.0.1", direct.port or 5432))
    proxied = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    env = {"CORPACTIONS_DATABASE_URL": proxied, "CORPACTIONS_BROKER_URL": own_redis.url}
    processes.append(beat(tmp_path / "beat.log", tmp_path / "beat-schedule", env=env))
    processes.append(worker(tmp_path / "worker.log", "w1", env=env, pool="prefork"))
    wait_for(
        lambda: BatchStatus.sent in _batch_statuses(flow.plan_id),
        "the first batch to be sent",
        processes=tuple(processes),
    )
    proxy.cut()
    time.sleep(30)
    _alive(processes)
    proxy.restore()
    wait_for(
        lambda: _attested(flow.plan_id),
        "the plan to be attested after the ledger came back",
        processes=tuple(processes),
    )
    proxy.close()
    assert_paid_exactly_once(localnet_url, flow)
    assert {line.status for line in lines_of(flow.plan_id)} == {LineStatus.paid}
    # Every task the outage hit retried until the ledger was back: none gave up (which would
    # log this line, and record the failure if the ledger was already back).
    assert _failures() == []
    assert '"task failed for good"' not in (tmp_path / "worker.log").read_text(errors="replace")


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_the_worker_starts_its_celery_process_again_when_it_dies_mid_payout(
    pg_ledger: str,
    own_redis: RedisServer,
    localnet_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[CeleryProcess],
) -> None:
    flow = prepare(monkeypatch, localnet_url, tmp_path / "keys", holders=40, **_fast(own_redis))
    env = {"CORPACTIONS_BROKER_URL": own_redis.url}
    supervised = worker(tmp_path / "worker.log", "w1", env=env, pool="prefork")
    processes.append(supervised)
    [celery] = wait_for(
        lambda: _children(supervised.proc.pid), "the Celery process", processes=(supervised,)
    )
    processes.append(beat(tmp_path / "beat.log", tmp_path / "beat-schedule", env=env))
    wait_for(
        lambda: BatchStatus.sent in _batch_statuses(flow.plan_id),
        "the first batch to be sent",
        processes=tuple(processes),
    )
    os.kill(celery, signal.SIGKILL)  # as an "Unrecoverable error", a crash or the OOM killer
    [heir] = wait_for(
        lambda: [pid for pid in _children(supervised.proc.pid) if pid != celery],
        "a new Celery process",
        processes=(supervised,),
    )
    wait_for(lambda: _attested(flow.plan_id), "the plan to be attested", processes=tuple(processes))
    assert_paid_exactly_once(localnet_url, flow)
    assert "celery exited unexpectedly; restarting it" in supervised.tail(400)
    # A stop is a stop: SIGTERM to the worker alone ends its Celery process and itself.
    supervised.proc.send_signal(signal.SIGTERM)
    supervised.proc.wait(timeout=30)
    assert not Path(f"/proc/{heir}").exists()


def test_the_worker_gives_up_on_a_celery_that_exits_at_once(
    pg_ledger: str, own_redis: RedisServer, tmp_path: Path
) -> None:
    # Celery refuses the log level (a usage error, exit 2) every time it starts: supervision
    # restarts it a few times, then stops and exits with Celery's status instead of looping.
    process = worker(
        tmp_path / "worker.log", "w1", "-l", "NOISY", env={"CORPACTIONS_BROKER_URL": own_redis.url}
    )
    try:
        assert process.proc.wait(timeout=90) == 2
    finally:
        process.stop()
    log = process.log.read_text(errors="replace")
    assert log.count("celery exited unexpectedly; restarting it") == 4
    assert "celery keeps exiting at once; not restarting it" in log
