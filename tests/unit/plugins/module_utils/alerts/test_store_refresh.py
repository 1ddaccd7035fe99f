"""A changed asset store is read in a worker thread: the event loop (which ansible-rulebook's engine shares) keeps
running, and the requests that arrive meanwhile wait for the new copy instead of deciding on the old one."""

import asyncio
import os
import threading
import time

from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests.fixtures.inventory import estate
from tests.unit.plugins.module_utils.alerts.test_intake import BEARER, alert, body, receive, site  # noqa: F401  # pylint: disable=unused-import

NEW_HOST = estate.scan('gpu-new-1', [estate.server('5000000000000001', 'gpu-new-1', 'vllm', '0.0.0.0', 8000, 'none')],
                       '10.50.0.9')


def test_a_changed_store_is_read_off_the_loop_and_requests_meanwhile_wait_for_it(site, monkeypatch):
    queue, pipeline, _log = site
    receive(pipeline, body(alert()))  # the store as the fixture wrote it is read
    enricher = pipeline.config['enricher']
    reads, real = [], enricher.refresh

    def slow_refresh():  # a store of 10,000 hosts takes seconds to read
        reads.append(threading.current_thread() is threading.main_thread())
        time.sleep(0.4)
        return real()
    monkeypatch.setattr(enricher, 'refresh', slow_refresh)
    asset_store.record_scans(open_store(enricher.store_path), [NEW_HOST], estate.T2)  # a new host was discovered

    async def run():
        ticks = []

        async def ticker():  # what the engine does on the same loop meanwhile
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)
        beat = asyncio.ensure_future(ticker())
        replies = await asyncio.gather(*[pipeline.receive(body(alert(fingerprint='n%d' % n, instance='10.50.0.9:8000')),
                                                          BEARER, None, None, '/alerts') for n in range(3)])
        beat.cancel()
        return replies, ticks

    replies, ticks = asyncio.run(run())
    assert [status for status, _reply in replies] == [202] * 3
    assert reads == [False]  # once, for all three requests, and not on the event loop
    assert len(ticks) >= 20 and max(b - a for a, b in zip(ticks, ticks[1:])) < 0.2  # the loop kept running
    subjects = [event['asset'] for event in queue.events[1:]]
    assert [(s['known'], s['inventory_hostname']) for s in subjects] == [(True, 'gpu-new-1')] * 3  # the new copy


def test_an_unchanged_store_is_one_stat_a_request_and_no_thread(site, monkeypatch):
    _queue, pipeline, _log = site
    receive(pipeline, body(alert()))
    enricher = pipeline.config['enricher']

    def refresh():
        raise AssertionError('a re-read (and a thread) for an unchanged store')
    monkeypatch.setattr(enricher, 'refresh', refresh)
    assert receive(pipeline, body(alert(fingerprint='fp9')))[0] == 202


def test_a_store_that_goes_away_is_forgotten(site):
    _queue, pipeline, _log = site
    receive(pipeline, body(alert()))
    enricher = pipeline.config['enricher']
    assert not enricher.due()
    os.remove(enricher.store_path)
    assert enricher.due()
    assert receive(pipeline, body(alert(fingerprint='fp9')))[0] == 202
    assert not enricher.due() and enricher.subject(alert_of('10.10.0.11'))['known'] is False


def alert_of(host):
    return {'asset_id': None, 'host': host, 'labels': {'instance': host + ':8000'}, 'fingerprint': 'x', 'name': 'X'}


def test_a_store_that_becomes_unusable_keeps_the_copy_read_last_until_it_changes_again(site, monkeypatch, caplog):
    """A damaged store (or one of another schema version) answered every alert with a 500 and was read again for each
    one. Now, as for a database that is away: the copy read last decides, a warning names the store, and the file is
    read again only when it changes again."""
    _queue, pipeline, _log = site
    receive(pipeline, body(alert()))
    enricher = pipeline.config['enricher']
    assert enricher.subject(alert_of('10.10.0.11'))['known'] is True
    with open(enricher.store_path, 'r+b') as handle:
        handle.write(b'\xff' * 4096)  # the header page: not a database any more
    assert receive(pipeline, body(alert(fingerprint='fp8')))[0] == 202
    assert enricher.subject(alert_of('10.10.0.11'))['known'] is True  # the copy read last
    assert "asset store not read, the copy read last is used: '%s' is not a usable" % enricher.store_path in caplog.text
    assert not enricher.due()
    reads = []
    monkeypatch.setattr(enricher, 'refresh', lambda: reads.append(1))
    assert receive(pipeline, body(alert(fingerprint='fp9')))[0] == 202 and reads == []  # not read again per alert
    os.utime(enricher.store_path, ns=(0, 0))  # the file changed: read again
    assert enricher.due()
