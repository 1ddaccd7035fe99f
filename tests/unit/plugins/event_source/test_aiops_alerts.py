"""The aiops_alerts event source, run as ansible-rulebook runs it (runpy) and driven over real HTTP."""

import asyncio
import contextlib
import json
import os
import runpy
import socket
import time

import aiohttp
import pytest

from ansible_collections.aigov.core.plugins.module_utils import alert_intake, asset_store
from ansible_collections.aigov.core.plugins.module_utils.asset_store_sqlite import open_store
from tests.conftest import FARM
from tests.fixtures.inventory import estate

SOURCE = os.path.join(FARM, 'ansible_collections', 'aigov', 'core', 'extensions', 'eda', 'plugins', 'event_source',
                      'aiops_alerts.py')
TOKEN = 'aiops-token-unit-0001'
SECRET = 'aiops-hmac-unit-0002'
REGISTRY = os.path.join(FARM, 'ansible_collections', 'aigov', 'core', 'tests', 'fixtures', 'inventory', 'registry.yml')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def alertmanager(*alerts):
    return {'version': '4', 'status': 'firing', 'receiver': 'aigov', 'commonLabels': {}, 'commonAnnotations': {},
            'alerts': list(alerts)}


def alert(name='ModelServerDown', instance='10.10.0.11:8000', status='firing', fingerprint='fp1', confidence='0.9', **labels):
    return {'status': status, 'fingerprint': fingerprint, 'startsAt': '2026-11-25T09:00:00Z',
            'labels': dict({'alertname': name, 'instance': instance, 'confidence': confidence}, **labels), 'annotations': {}}


@pytest.fixture
def store(tmp_path):
    path = str(tmp_path / 'assets.sqlite3')
    for when, scans in estate.SCANS:
        asset_store.record_scans(open_store(path), json.loads(json.dumps(scans)), when)
    return path


@contextlib.asynccontextmanager
async def running(args):
    """The source's main() as an asyncio task, as ansible-rulebook runs it; yields (queue, url)."""
    module = runpy.run_path(SOURCE)
    queue = asyncio.Queue()
    port = free_port()
    task = asyncio.ensure_future(module['main'](queue, dict(args, port=port)))
    url = 'http://127.0.0.1:%d/' % port
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.2):
                break
        except OSError:
            if task.done():
                task.result()
            assert time.monotonic() < deadline, 'source did not listen'
            await asyncio.sleep(0.05)
    try:
        yield queue, url
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def drain(queue):
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


def run(coroutine):
    return asyncio.run(coroutine)


def base_args(store, **extra):
    return dict({'token': TOKEN, 'store': store, 'registry': REGISTRY}, **extra)


async def post(url, body, headers=None, raw=None):
    async with aiohttp.ClientSession() as session:
        data = raw if raw is not None else json.dumps(body).encode()
        async with session.post(url, data=data, headers=dict({'Content-Type': 'application/json'}, **(headers or {}))) as response:
            return response.status, await response.json(content_type=None)


BEARER = {'Authorization': 'Bearer ' + TOKEN}


def test_alertmanager_group_is_queued_enriched_and_decided(store):
    async def scenario():
        async with running(base_args(store)) as (queue, url):
            status, body = await post(url + 'api/v2/alerts', alertmanager(
                alert(), alert(instance='10.20.0.5:4000', fingerprint='fp2'),
                alert(instance='nowhere:1', fingerprint='fp3'), alert(status='resolved', fingerprint='fp4')), BEARER)
            return status, body, drain(queue)
    status, body, events = run(scenario())
    assert (status, body) == (202, {'accepted': 4, 'duplicate': 0, 'flapping': 0, 'rate_limited': 0})
    gpu, cloud, unknown, resolved = events
    # gpu-onprem-1's vLLM: limited tier, confidence 0.9 -> automate; cloud-vm-1's LiteLLM: high tier -> review
    assert (gpu['asset']['asset_id'], gpu['asset']['use_case'], gpu['decision']['decision']) == (
        'model_server:1000000000000001', 'gpu-inference', 'automate')
    assert gpu['decision']['accountable'] == 'ml-platform'
    assert (cloud['asset']['risk_tier'], cloud['decision']['decision']) == ('high', 'review')
    assert (unknown['asset']['known'], unknown['decision']['decision']) == (False, 'reject')
    assert resolved['decision'] is None and resolved['alert']['status'] == 'resolved'
    assert gpu['meta']['path'] == '/api/v2/alerts'
    assert TOKEN not in json.dumps(events) and 'Authorization' not in json.dumps(events)


def test_duplicates_are_counted_not_queued(store):
    async def scenario():
        async with running(base_args(store)) as (queue, url):
            first = await post(url, alertmanager(alert()), BEARER)
            second = await post(url, alertmanager(alert(), alert(status='resolved')), BEARER)
            return first, second, drain(queue)
    first, second, events = run(scenario())
    assert first[1]['accepted'] == 1 and second[1] == {'accepted': 1, 'duplicate': 1, 'flapping': 0, 'rate_limited': 0}
    assert [e['alert']['status'] for e in events] == ['firing', 'resolved']


@pytest.mark.parametrize('headers, raw, status', [
    ({}, None, 401),
    ({'Authorization': 'Bearer wrong'}, None, 403),
    ({'Authorization': 'Basic ' + TOKEN}, None, 403),
    (BEARER, b'{not json', 400),
    (BEARER, b'{"alerts": []}', 400),
    (BEARER, b'"\xff\xfe"', 400),
    (BEARER, b'{"name": "X", "labels": {"a": {"b": 1}}}', 400),
])
def test_bad_requests_get_the_right_status_and_queue_nothing(store, headers, raw, status):
    async def scenario():
        async with running(base_args(store)) as (queue, url):
            result = await post(url, None, headers, raw=raw)
            ok = await post(url, alertmanager(alert()), BEARER)  # and it keeps serving
            return result, ok, drain(queue)
    (got, body), ok, events = run(scenario())
    assert got == status and 'error' in body and TOKEN not in json.dumps(body)
    assert ok[0] == 202 and len(events) == 1


def test_oversized_body_is_413(store):
    async def scenario():
        async with running(base_args(store, max_body_bytes=1024)) as (queue, url):
            big = alertmanager(*[alert(fingerprint='f%d' % i) for i in range(50)])
            return await post(url, big, BEARER), drain(queue)
    (status, _body), events = run(scenario())
    assert status == 413 and events == []


def test_hmac_signature_with_replay_window(store):
    body = json.dumps(alertmanager(alert())).encode()

    def signed(timestamp, secret=SECRET, payload=body):
        return {'X-Aigov-Timestamp': str(timestamp), 'X-Aigov-Signature': alert_intake.sign(secret, timestamp, payload)}

    async def scenario():
        async with running({'hmac_secret': SECRET, 'store': store, 'registry': REGISTRY}) as (queue, url):
            now = int(time.time())
            results = [
                (await post(url, None, signed(now), raw=body))[0],                      # valid
                (await post(url, None, signed(now), raw=body))[0],                      # replayed
                (await post(url, None, signed(now - 3600), raw=body))[0],               # stale
                (await post(url, None, signed(now + 1, secret='forged'), raw=body))[0],  # forged
                (await post(url, None, dict(signed(now + 2), **{'X-Aigov-Timestamp': str(now + 3)}), raw=body))[0],
                (await post(url, None, {}, raw=body))[0],                               # unsigned
            ]
            return results, drain(queue)
    results, events = run(scenario())
    assert results == [202, 403, 403, 403, 403, 401]
    assert len(events) == 1


def test_hostile_labels_stay_data(store):
    hostile = "{{ lookup('pipe', 'touch /tmp/aigov-pwned') }}; rm -rf /"

    async def scenario():
        async with running(base_args(store)) as (queue, url):
            await post(url, alertmanager(alert(instance=hostile, remediation=hostile)), BEARER)
            return drain(queue)
    [event] = run(scenario())
    assert event['alert']['labels']['remediation'] == hostile and event['decision']['decision'] == 'reject'
    assert not os.path.exists('/tmp/aigov-pwned')


@pytest.mark.parametrize('args, problem', [
    ({'port': 0, 'token': 't'}, 'port must be a TCP port number'),
    ({}, 'give token or hmac_secret'),
    ({'token': 't', 'certfile': 'c.pem'}, 'certfile and keyfile go together'),
    ({'token': 't', 'cafile': 'ca.pem'}, 'cafile (mutual TLS) needs certfile'),
    ({'token': 't', 'default_confidence': 2}, 'default_confidence must be between 0 and 1'),
    ({'token': 't', 'guardrails': 'no-such'}, "no bundled guardrail policy named 'no-such'"),
])
def test_arguments_are_checked_before_listening(args, problem):
    module = runpy.run_path(SOURCE)
    with pytest.raises(Exception, match=problem.replace('(', r'\(').replace(')', r'\)')):
        run(module['main'](asyncio.Queue(), dict({'port': 5999}, **args)))
