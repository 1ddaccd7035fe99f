"""The aiops_alerts event source on PostgreSQL (tests/pg.py): two instances, discover runs and a secret rotation
writing at once into one database; the source answers 503 while the database is down and decides the retry."""

import asyncio
import json
import multiprocessing

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.secrets import agent_secret
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend_file import FileBackend
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests import pg
from tests.fixtures.inventory import estate
from tests.unit.plugins.event_source.test_aiops_alerts import (  # noqa: F401 pylint: disable=unused-import
    BEARER, REGISTRY, TOKEN, alert, alertmanager, decision_key_file, drain, post, running)


def _seed(dsn):
    for when, scans in estate.SCANS:
        asset_store.record_scans(open_store(dsn), json.loads(json.dumps(scans)), when)


def _args(dsn):
    return {'token': TOKEN, 'store': dsn, 'registry': REGISTRY, 'audit_log': dsn, 'rate_per_minute': 100000}


def _discover(dsn, worker, rounds):
    for number in range(rounds):
        scan = {'inventory_hostname': 'fleet-%d' % worker, 'host': 'fleet-%d' % worker, 'address': None,
                'probes': ['model_server'], 'problems': [],
                'assets': [{'schema_version': 1, 'id': 'model_server:w%d-%d' % (worker, n), 'kind': 'model_server',
                            'name': 'w%d-%d' % (worker, n), 'host': 'fleet-%d' % worker, 'confidence': 'inferred',
                            'attributes': {}, 'evidence': []} for n in range(number + 1)]}
        asset_store.record_scans(open_store(dsn), [scan], '2026-12-06T10:%02d:00+00:00' % number)


def _rotate(dsn, directory, rounds):
    backend = FileBackend(directory)
    for _number in range(rounds):
        agent_secret.ensure(backend, agent_secret.Request('bot', state='rotate', audit_path=dsn, owner='team',
                                                          actor='rotation'))


def test_two_sources_discover_runs_and_a_rotation_at_once(pg_database, tmp_path, decision_key_file):
    _seed(pg_database)
    context = multiprocessing.get_context('spawn')
    others = [context.Process(target=_discover, args=(pg_database, worker, 6)) for worker in range(4)]
    others.append(context.Process(target=_rotate, args=(pg_database, str(tmp_path / 'secrets'), 6)))

    async def scenario():
        async with running(_args(pg_database)) as (queue_a, url_a), running(_args(pg_database)) as (queue_b, url_b):
            for process in others:
                process.start()
            replies = await asyncio.gather(*[
                post(url, alertmanager(alert(fingerprint='%s-%d' % (name, n), instance='10.10.0.11:8000')), BEARER)
                for n in range(30) for name, url in (('a', url_a), ('b', url_b))])
            return replies, drain(queue_a), drain(queue_b)
    replies, events_a, events_b = asyncio.run(scenario())
    for process in others:
        process.join(120)
    assert [process.exitcode for process in others] == [0] * 5
    assert [status for status, _body in replies] == [202] * 60
    assert len(events_a) == len(events_b) == 30
    entries = [entry for _n, entry in audit_log.read_entries(pg_database)]
    decisions = [entry for entry in entries if entry['action'] == 'decision']
    rotations = [entry for entry in entries if entry['action'].startswith('agent_secret.')]
    assert len(decisions) == 60 and len(rotations) == 6 and len(entries) == 66
    assert sorted(entry['details']['fingerprint'] for entry in decisions) == sorted(
        '%s-%d' % (name, n) for n in range(30) for name in 'ab')
    keyring = decision_keys.load(decision_key_file)
    checked = audit_verify.verify(pg_database, keyring=keyring)
    assert checked['ok'] and checked['entries'] == 66 and checked['sealed'] == 60, checked['problem']
    assets = asset_store.read_inventory(open_store(pg_database, create=False))['assets']
    for worker in range(4):
        assert sorted(row['id'] for row in assets if row['inventory_hostname'] == 'fleet-%d' % worker) == sorted(
            'model_server:w%d-%d' % (worker, n) for n in range(6))


def test_503_while_the_database_is_down_then_the_retry_is_decided(pg_cluster, pg_database, decision_key_file):
    _seed(pg_database)

    async def scenario():
        async with running(_args(pg_database)) as (queue, url):
            first = await post(url, alertmanager(alert(fingerprint='before')), BEARER)
            pg_cluster.stop()
            try:
                down = await post(url, alertmanager(alert(fingerprint='during')), BEARER)
            finally:
                pg_cluster.start()
            retry = await post(url, alertmanager(alert(fingerprint='during')), BEARER)
            return first, down, retry, drain(queue)
    first, down, retry, events = asyncio.run(scenario())
    assert first[0] == 202 and retry[0] == 202 and retry[1]['accepted'] == 1
    assert down == (503, {'error': 'the decision could not be recorded in the audit log; nothing was queued'})
    assert [event['alert']['fingerprint'] for event in events] == ['before', 'during']
    checked = audit_verify.verify(pg_database, keyring=decision_keys.load(decision_key_file))
    assert checked['ok'] and checked['entries'] == 2
    assert pg.PASSWORD not in json.dumps([first, down, retry])
