"""The aiops_alerts source with ansible-rulebook's feedback queue (feedback: true, --persistence-id): what the engine
never confirmed is emitted again when the source starts again, as it was, never decided again; the storm bench's
accounting at a small size (bench/alert_storm.py runs it at 100,000 alerts)."""

import asyncio
import json
import os
import runpy
import socket
import sys
import tempfile
import time

import aiohttp
import pytest

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log
from tests.conftest import ROOT
from tests.ports import free_port
from tests.unit.plugins.event_source import test_aiops_alerts
from tests.unit.plugins.event_source.test_aiops_alerts import SOURCE, TOKEN, alert, alertmanager

decision_key_file, store = test_aiops_alerts.decision_key_file, test_aiops_alerts.store  # the source's fixtures


@pytest.fixture(autouse=True)
def engine_database(monkeypatch):
    """The engine these tests emulate keeps a database (ansible-rulebook with --persistence-id and
    drools_db_file_path sets this in persistence.enable_persistence); a test may turn it off."""
    from ansible_rulebook.conf import settings
    monkeypatch.setattr(settings, 'persistence_enabled', True)
    return settings


async def serve(args, queue, feedback):
    task = asyncio.ensure_future(runpy.run_path(SOURCE)['main'](queue, dict(args, eda_feedback_queue=feedback)))
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(('127.0.0.1', args['port']), timeout=0.2):
                return task
        except OSError:
            if task.done():
                task.result()
            assert time.monotonic() < deadline, 'source did not listen'
            await asyncio.sleep(0.05)


async def post(args, body):
    async with aiohttp.ClientSession() as session:
        async with session.post('http://127.0.0.1:%d/' % args['port'], json=body,
                                headers={'Authorization': 'Bearer ' + TOKEN}) as response:
            return response.status


def test_what_the_engine_never_confirmed_comes_back_as_it_was(store, tmp_path):
    log = str(tmp_path / 'audit.jsonl')
    args = {'token': TOKEN, 'store': store, 'audit_log': log, 'feedback': True, 'port': free_port()}

    async def first():
        queue, feedback = asyncio.Queue(), asyncio.Queue(1)
        task = await serve(args, queue, feedback)
        assert await post(args, alertmanager(alert(fingerprint='a'), alert(fingerprint='b', instance='10.20.0.5:4000'),
                                             alert(fingerprint='c', status='resolved'))) == 202
        events = [queue.get_nowait() for _n in range(3)]
        await feedback.put(events[0])  # the engine confirms only the first, then dies
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return events

    async def second():
        queue, feedback = asyncio.Queue(), asyncio.Queue(1)
        task = await serve(dict(args, port=free_port()), queue, feedback)
        again = [queue.get_nowait() for _n in range(queue.qsize())]
        for event in again:
            await feedback.put(event)
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return again

    events = asyncio.run(first())
    decisions = len(audit_log.read_entries(log))
    again = asyncio.run(second())
    assert [e['alert']['fingerprint'] for e in again] == ['b', 'c']
    for before, after in zip(events[1:], again):
        assert after['meta'].pop('redelivered') is True
        assert after == json.loads(json.dumps(before))  # same decision, payload_b64, meta.uuid
    assert len(audit_log.read_entries(log)) == decisions == 2  # never decided again
    assert asyncio.run(second()) == []  # all confirmed now


def test_feedback_from_an_engine_without_a_database_confirms_nothing(store, tmp_path, engine_database):
    """ansible-rulebook gives the feedback queue for --persistence-id alone; with no drools_db_* variable its
    persistence stays off and its feedback means nothing durable: the source stops with a clear error, acks nothing,
    and the events come back when the engine runs with a database."""
    from ansible_collections.aigov.core.plugins.module_utils.alerts import spool
    log = str(tmp_path / 'audit.jsonl')
    args = {'token': TOKEN, 'store': store, 'audit_log': log, 'feedback': True, 'port': free_port()}

    async def without_database():
        engine_database.persistence_enabled = False
        queue, feedback = asyncio.Queue(), asyncio.Queue(1)
        task = await serve(args, queue, feedback)
        assert await post(args, alertmanager(alert(fingerprint='a'), alert(fingerprint='b', instance='10.20.0.5:4000'))) == 202
        events = [queue.get_nowait() for _n in range(2)]
        await feedback.put(events[0])
        done, _pending = await asyncio.wait([task], timeout=5)
        assert done, 'the source kept running on feedback that means nothing'
        return task.exception()

    async def with_database():
        engine_database.persistence_enabled = True
        queue, feedback = asyncio.Queue(), asyncio.Queue(1)
        task = await serve(dict(args, port=free_port()), queue, feedback)
        again = [queue.get_nowait() for _n in range(queue.qsize())]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return again

    error = asyncio.run(without_database())
    assert isinstance(error, spool.NotPersisted) and 'drools_db_file_path' in str(error), error
    assert [e['alert']['fingerprint'] for e in asyncio.run(with_database())] == ['a', 'b']


def test_storm_smoke_nothing_lost_memory_bounded(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(ROOT, 'bench'))
    import alert_storm
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))  # its files go with the test's (bench/run.py's scratch)
    figure = alert_storm.run(type('Args', (), {'storm_alerts': 400, 'storm_bound_mib': 256})())
    for storm in figure['storms']:
        assert storm['lost'] == 0 and storm['left_in_spool'] == 0, storm
        assert storm['accepted'] + storm['held_back'] == storm['alerts'] == 400
        assert storm['delivered'] == storm['accepted'] and storm['within_bound'], storm
