"""The durable spool (alerts/spool.py): accepted events on disk before they are queued, kept until the engine's
feedback, re-emitted as they were (never decided again) when the source starts again, the file bounded."""

import asyncio
import json
import os

from ansible_collections.aigov.core.plugins.module_utils.alerts import spool
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log
from tests.unit.plugins.module_utils.alerts import test_intake
from tests.unit.plugins.module_utils.alerts.test_intake import BEARER, alert, body

site = test_intake.site  # the intake pipeline fixture


def event(number):
    return {'alert': {'fingerprint': 'fp%d' % number}, 'decision': None, 'meta': {'received_at': 'now'}}


def test_events_wait_until_feedback_and_come_back_as_they_were(tmp_path):
    path = str(tmp_path / 'audit.jsonl.spool')
    first = spool.Spool(path)
    events = [event(n) for n in range(5)]
    first.name(events)
    first.write(events, [])
    first.write([], [events[0]['meta']['uuid'], events[3]['meta']['uuid'], 'not-mine'], sync=False)
    assert list(first.waiting) == [events[n]['meta']['uuid'] for n in (1, 2, 4)]
    first.close()
    again = spool.Spool(path).load()  # a new source process
    assert [e['alert']['fingerprint'] for e in again] == ['fp1', 'fp2', 'fp4']
    assert all(e['meta']['redelivered'] for e in again)
    assert [e['meta']['uuid'] for e in again] == [events[n]['meta']['uuid'] for n in (1, 2, 4)]
    # load() compacted the file to the events still waiting
    assert len(open(path).read().splitlines()) == 3


def test_a_torn_last_line_is_skipped(tmp_path):
    path = str(tmp_path / 'spool')
    store = spool.Spool(path)
    events = [event(1)]
    store.name(events)
    store.write(events, [])
    store.close()
    with open(path, 'ab') as handle:
        handle.write(b'{"event": {"meta": {"uu')  # never fsynced, never answered 202
    assert [e['alert']['fingerprint'] for e in spool.Spool(path).load()] == ['fp1']


def test_the_file_is_compacted_past_its_bound(tmp_path):
    path = str(tmp_path / 'spool')
    store = spool.Spool(path, compact_bytes=4096)
    for round_ in range(200):
        events = [event(round_)]
        store.name(events)
        store.write(events, [])
        store.write([], [events[0]['meta']['uuid']] if round_ != 7 else [], sync=False)
        assert os.path.getsize(path) <= 4096 + 400
    assert store.compactions > 0 and len(store.waiting) == 1
    assert [e['alert']['fingerprint'] for e in spool.Spool(path).load()] == ['fp7']


def test_the_intake_spools_what_it_queues_after_the_decisions(site):
    queue, pipeline, log = site
    path = spool.spool_path(log)
    commit = pipeline.config['spool'] = spool.SpoolCommit(spool.Spool(path), ack_delay=0)

    async def run():
        status, _reply = await pipeline.receive(body(alert(), alert(fingerprint='fp3', status='resolved')),
                                                BEARER, None, None, '/alerts')
        on_disk = [json.loads(line)['event']['meta']['uuid'] for line in open(path)]
        assert status == 202 and on_disk == [e['meta']['uuid'] for e in queue.events]
        for item in queue.events:  # the engine's feedback
            commit.ack(item)
        await asyncio.sleep(0.05)
        await commit.task
    asyncio.run(run())
    assert len(audit_log.read_entries(log)) == 1 and commit.spool.waiting == {}
    commit.close()
    assert spool.Spool(path).load() == []


def test_a_spool_that_cannot_be_written_queues_nothing(site, tmp_path):
    queue, pipeline, log = site
    blocked = tmp_path / 'blocked'
    blocked.mkdir()
    pipeline.config['spool'] = spool.SpoolCommit(spool.Spool(str(blocked)))  # a directory: cannot be opened
    status, reply = asyncio.run(pipeline.receive(body(alert()), BEARER, None, None, '/alerts'))
    assert status == 503 and queue.events == []


def test_feedback_is_written_only_after_the_ack_delay(tmp_path):
    """The engine's database may write its commit later than its feedback: until ack_delay has passed, a crash
    (no close()) leaves the event in the spool."""
    path = str(tmp_path / 'spool')

    async def run():
        commit = spool.SpoolCommit(spool.Spool(path), ack_delay=0.5)
        events = [event(1), event(2)]
        await commit.record(events)
        commit.ack(events[0])
        await asyncio.sleep(0.1)
        early = list(commit.spool.waiting)
        await asyncio.sleep(0.1)
        commit.ack(events[1])
        await asyncio.sleep(0.35)  # 0.55 s after the first feedback, 0.35 s after the second
        return early, list(commit.spool.waiting), [e['meta']['uuid'] for e in events]
    early, late, names = asyncio.run(run())
    assert early == names and late == [names[1]]  # the first ack written after 0.5 s, the second not yet
    assert [e['meta']['uuid'] for e in spool.Spool(path).load()] == [names[1]]  # killed now: the second comes back


def test_the_spool_is_in_the_database_only_with_a_log_there_and_a_persistence_id(tmp_path):
    """open_spool chooses; nothing connects until the spool is used (tests/integration/test_pg_spool.py uses it)."""
    log = str(tmp_path / 'audit.jsonl')
    assert isinstance(spool.open_spool(log, '16:5050'), spool.Spool) and spool.open_spool(log).path == log + '.spool'
    assert isinstance(spool.open_spool('postgresql://aigov@db/aigov', None), spool.Spool)  # no persistence id: a file
    rows = spool.open_spool('postgresql://aigov:s3cret@db/aigov', '16:5050')
    assert not isinstance(rows, spool.Spool) and rows.key == '16:5050' and 's3cret' not in rows.path
    events = [event(1)]
    rows.name(events)
    assert isinstance(events[0]['meta']['uuid'], str)
