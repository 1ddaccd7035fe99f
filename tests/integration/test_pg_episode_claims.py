"""One decision per episode across event source instances on PostgreSQL (alerts/episode_claims.py, tests/pg.py).

Two real aiops_alerts sources (the event source file, each in a process of its own: a string's hash differs between
processes, the claim key must not) get the same alerts at the same moment; each episode is decided once, sealed,
in the one chain, and queued by one of them. A claim left by an instance that died before recording its decision
holds the episode only for its lease: the sender's retry is then decided."""

import asyncio
import contextlib
import multiprocessing
import socket
import time

import aiohttp

from ansible_collections.aigov.core.plugins.module_utils.alerts import episode_claims
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.common import database
from tests import pg
from tests.integration.test_pg_event_source import _args, _seed
from tests.ports import free_port
from tests.unit.plugins.event_source.test_aiops_alerts import (  # noqa: F401 pylint: disable=unused-import
    BEARER, SOURCE, alert, alertmanager, decision_key_file)


def _serve(args, port, stop, out):
    """A source in this (spawned) process until `stop` is set; then the fingerprints it queued go to `out`."""
    import runpy  # pylint: disable=import-outside-toplevel

    async def main():
        module = runpy.run_path(SOURCE)
        queue = asyncio.Queue()
        task = asyncio.ensure_future(module['main'](queue, dict(args, port=port)))
        while not stop.is_set() and not task.done():
            await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        found = []
        while not queue.empty():
            found.append(queue.get_nowait()['alert']['fingerprint'])
        out.put(found)
    asyncio.run(main())


@contextlib.contextmanager
def sources(dsn, count):
    """count sources on dsn in processes of their own; yields their ports and a function that stops them and returns
    what each queued."""
    context = multiprocessing.get_context('spawn')
    stop, out = context.Event(), context.Queue()
    ports = [free_port() for _n in range(count)]
    procs = [context.Process(target=_serve, args=(_args(dsn), port, stop, out)) for port in ports]
    for proc in procs:
        proc.start()
    try:
        for port in ports:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(('127.0.0.1', port), timeout=0.2):
                        break
                except OSError:
                    assert time.monotonic() < deadline, 'a source did not listen'
                    time.sleep(0.1)

        def finish():
            stop.set()
            found = [out.get(timeout=30) for _proc in procs]
            for proc in procs:
                proc.join(30)
            assert [proc.exitcode for proc in procs] == [0] * count
            return found
        yield ports, finish
    finally:
        stop.set()
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


async def _post(session, port, body, tries=1, pause=0.2):
    """(status, reply) of the last of at most `tries` posts: a 503 is tried again, as Alertmanager does."""
    for _attempt in range(tries):
        async with session.post('http://127.0.0.1:%d/' % port, json=body, headers=BEARER) as response:
            status, reply = response.status, await response.json(content_type=None)
        if status != 503:
            break
        await asyncio.sleep(pause)
    return status, reply


def _decisions(dsn):
    return [entry['details']['fingerprint'] for _n, entry in audit_log.read_entries(dsn) if entry['action'] == 'decision']


def test_two_source_processes_given_the_same_alerts_at_once_decide_each_episode_once(pg_database, decision_key_file):
    _seed(pg_database)
    batches = [alertmanager(*[alert(fingerprint='fp-%d-%d' % (batch, n), instance='10.10.0.%d:8000' % (11 + n % 3))
                              for n in range(4)]) for batch in range(10)]
    with sources(pg_database, 2) as (ports, finish):
        async def send():
            async with aiohttp.ClientSession() as session:
                return await asyncio.gather(*[_post(session, port, body, tries=50) for body in batches for port in ports])
        replies = asyncio.run(send())
        queued = finish()
    assert [status for status, _reply in replies] == [202] * 20
    assert sum(reply['accepted'] for _status, reply in replies) == 40
    assert sum(reply['duplicate'] for _status, reply in replies) == 40  # each alert: decided by one, a duplicate at the other
    expected = sorted('fp-%d-%d' % (batch, n) for batch in range(10) for n in range(4))
    assert sorted(queued[0] + queued[1]) == expected  # each queued once, by one of them
    assert sorted(_decisions(pg_database)) == expected  # each decided once
    checked = audit_verify.verify(pg_database, keyring=decision_keys.load(decision_key_file))
    assert checked['ok'] and checked['entries'] == 40 and checked['sealed'] == 40, checked['problem']
    conn = database.connect(pg_database, 'test')
    try:
        rows = conn.execute('SELECT count(*), count(lease_until) FROM aigov_episode_claims').fetchone()
    finally:
        conn.close()
    assert rows == (40, 0)  # every claim confirmed, none left as a lease


def test_a_claim_whose_decision_was_never_recorded_does_not_block_the_retry(pg_database, decision_key_file):
    _seed(pg_database)
    body = alertmanager(alert(fingerprint='crashed'))
    # An instance that claimed the episode and died before its decision was recorded: its claim, taken by the real
    # table, is a lease nobody confirms.
    dead = episode_claims.Table(pg_database)
    key = episode_claims.episode({'alert': {'fingerprint': 'crashed', 'starts_at': body['alerts'][0]['startsAt'],
                                            'status': 'firing'}})
    assert dead.claim([key], 'a-dead-instance', 30.0) == {key: episode_claims.WON}
    dead.close()
    with sources(pg_database, 1) as (ports, finish):
        async def send():
            async with aiohttp.ClientSession() as session:
                held = await _post(session, ports[0], body)
                conn = database.connect(pg_database, 'test', autocommit=True)
                try:  # the 30 s lease runs out (aged here rather than waited for)
                    conn.execute("UPDATE aigov_episode_claims SET lease_until = now() - interval '1 second'")
                finally:
                    conn.close()
                return held, await _post(session, ports[0], body), await _post(session, ports[0], body)
        held, retry, again = asyncio.run(send())
        queued = finish()
    assert held[0] == 503 and 'nothing was queued' in held[1]['error']
    assert retry[0] == 202 and retry[1]['accepted'] == 1
    assert again[0] == 202 and again[1]['duplicate'] == 1
    assert queued == [['crashed']] and _decisions(pg_database) == ['crashed']
    assert audit_verify.verify(pg_database, keyring=decision_keys.load(decision_key_file))['ok']
    assert pg.PASSWORD not in repr([held, retry, again])


def test_an_alert_without_starts_at_fires_again_as_a_new_episode_at_the_other_instance(pg_database, decision_key_file):
    """The real table's rule for the gate's "no startsAt: one episode until it resolves": A decides its firing and its
    resolution (which ends the firing claim); its next firing, sent to B, is a new episode, decided there."""
    _seed(pg_database)
    firing = alert(fingerprint='nostart')
    firing.pop('startsAt', None)
    resolved = dict(firing, status='resolved')
    with sources(pg_database, 2) as (ports, finish):
        async def send():
            async with aiohttp.ClientSession() as session:
                return [await _post(session, port, alertmanager(item))
                        for port, item in ((ports[0], firing), (ports[0], resolved), (ports[1], firing))]
        replies = asyncio.run(send())
        queued = finish()
    assert [(status, reply['accepted']) for status, reply in replies] == [(202, 1), (202, 1), (202, 1)]
    assert sorted(queued, key=len) == [['nostart'], ['nostart', 'nostart']]  # A: firing, resolved; B: the new firing
    assert _decisions(pg_database) == ['nostart', 'nostart']  # two firings, two episodes (the resolution: no decision)
