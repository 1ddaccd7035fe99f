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

from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.remediation import remediation
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests.conftest import FARM
from tests.contracts import validate
from tests.fixtures.inventory import estate
from tests.ports import free_port

SOURCE = os.path.join(FARM, 'ansible_collections', 'aigov', 'core', 'extensions', 'eda', 'plugins', 'event_source',
                      'aiops_alerts.py')
TOKEN = 'aiops-token-unit-0001'
SECRET = 'aiops-hmac-unit-0002'
REGISTRY = os.path.join(FARM, 'ansible_collections', 'aigov', 'core', 'tests', 'fixtures', 'inventory', 'registry.yml')


def alertmanager(*alerts):
    return {'version': '4', 'status': 'firing', 'receiver': 'aigov', 'commonLabels': {}, 'commonAnnotations': {},
            'alerts': list(alerts)}


def alert(name='ModelServerDown', instance='10.10.0.11:8000', status='firing', fingerprint='fp1', confidence='0.9', **labels):
    return {'status': status, 'fingerprint': fingerprint, 'startsAt': '2026-11-25T09:00:00Z',
            'labels': dict({'alertname': name, 'instance': instance, 'confidence': confidence}, **labels), 'annotations': {}}


@pytest.fixture(autouse=True)
def decision_key_file(tmp_path_factory, monkeypatch):
    """The key file the source seals its decisions with (found through AIGOV_DECISION_KEY_FILE)."""
    path = tmp_path_factory.mktemp('keys') / 'decision.keys'
    path.write_text('unit:%s\n' % ('u' * 40))
    path.chmod(0o600)
    monkeypatch.setenv('AIGOV_DECISION_KEY_FILE', str(path))
    return str(path)


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
    return dict({'token': TOKEN, 'store': store, 'registry': REGISTRY, 'audit_log': audit_path(store)}, **extra)


def audit_path(store):
    return os.path.join(os.path.dirname(store), 'audit.jsonl')


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
    assert (status, body) == (202, {'accepted': 4, 'duplicate': 0, 'flapping': 0, 'rate_limited': 0,
                                    'escalated': 0, 'ignored': 0, 'refused': []})
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
    assert first[1]['accepted'] == 1 and second[1] == {'accepted': 1, 'duplicate': 1, 'flapping': 0, 'rate_limited': 0,
                                                       'escalated': 0, 'ignored': 0, 'refused': []}
    assert [e['alert']['status'] for e in events] == ['firing', 'resolved']


def test_a_store_changed_while_running_is_what_the_next_alert_is_enriched_from(store):
    """Subjects are remembered per asset, and forgotten when discovery records the store again."""
    gone = [dict(scan, assets=[]) for scan in json.loads(json.dumps(estate.SCANS[-1][1])) if scan['inventory_hostname'] == 'gpu-onprem-1']

    async def scenario():
        async with running(base_args(store)) as (queue, url):
            await post(url, alertmanager(alert()), BEARER)
            asset_store.record_scans(open_store(store), gone, '2026-11-22T08:00:00+00:00')  # its vLLM is gone
            await post(url, alertmanager(alert(fingerprint='fp2')), BEARER)
            return drain(queue)
    before, after = run(scenario())
    assert (before['asset']['known'], before['decision']['decision']) == (True, 'automate')
    assert (after['asset']['known'], after['decision']['decision']) == (False, 'reject')


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
        async with running({'hmac_secret': SECRET, 'store': store, 'registry': REGISTRY, 'audit_log': audit_path(store)}) as (queue, url):
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
    ({}, 'give token, a signature secret'),
    ({'token': 't', 'certfile': 'c.pem'}, 'certfile and keyfile go together'),
    ({'token': 't', 'cafile': 'ca.pem'}, 'cafile (mutual TLS) needs certfile'),
    ({'token': 't', 'default_confidence': 2}, 'default_confidence must be between 0 and 1'),
    ({'token': 't', 'guardrails': 'no-such'}, "no bundled guardrail policy named 'no-such'"),
])
def test_arguments_are_checked_before_listening(args, problem):
    module = runpy.run_path(SOURCE)
    with pytest.raises(Exception, match=problem.replace('(', r'\(').replace(')', r'\)')):
        run(module['main'](asyncio.Queue(), dict({'port': 5999}, **args)))


def test_every_decision_is_audited_before_its_event_is_queued(store):
    class RecordingQueue(asyncio.Queue):
        """Reads the audit log at the moment each event is queued."""
        seen = []

        async def put(self, item):
            self.seen.append((item, [e for _n, e in audit_log.read_entries(audit_path(store))]))
            await super(RecordingQueue, self).put(item)

    async def scenario():
        module = runpy.run_path(SOURCE)
        queue, port = RecordingQueue(), free_port()
        task = asyncio.ensure_future(module['main'](queue, dict(base_args(store), port=str(port))))  # digits as a string
        try:
            for _attempt in range(100):
                try:
                    status, _body = await post('http://127.0.0.1:%d/' % port, alertmanager(
                        alert(), alert(instance='10.20.0.5:4000', fingerprint='fp2'),
                        alert(instance='x; rm -rf /', fingerprint='fp3', secret='sk-aigovTEST-9f2c4e7a1b3d5f60'),
                        alert(status='resolved', fingerprint='fp4')), BEARER)
                    return status
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert run(scenario()) == 202
    entries = [e for _n, e in audit_log.read_entries(audit_path(store))]
    assert [(e['action'], e['actor'], e['outcome'], e['details']['decision']) for e in entries] == [
        ('decision', 'aigov.core.aiops_alerts', 'planned', 'automate'),
        ('decision', 'aigov.core.aiops_alerts', 'planned', 'review'),
        ('decision', 'aigov.core.aiops_alerts', 'refused', 'reject')]   # the resolved alert carries no decision
    automated, reviewed, rejected = entries
    assert (automated['subject'], automated['owner']) == ('model_server:1000000000000001', 'ml-platform')
    assert automated['details']['fingerprint'] == 'fp1' and automated['details']['name'] == 'ModelServerDown'
    assert automated['details']['risk_tier'] == 'limited' and automated['details']['confidence'] == 0.9
    assert automated["reasons"] and reviewed["reasons"] and rejected["reasons"] == ["the asset is unknown to the asset store"]
    # what the governance KPIs need: the alert's start (MTTR) and the policy limits that held it back (exceptions)
    assert automated['details']['starts_at'] == '2026-11-25T09:00:00Z' and automated['details']['exceptions'] == []
    assert rejected['details']['exceptions'] == ['unknown_asset']
    assert rejected['subject'] == 'unknown'   # a label value is not copied into the log
    text = open(audit_path(store)).read()
    assert 'rm -rf' not in text and 'sk-aigovTEST' not in text and '10.20.0.5' not in text
    for entry in entries:
        validate(entry, 'audit-entry.v1.json')
    # every event was queued after all the decisions of its request were on disk
    assert all(len(seen) == 3 for _event, seen in RecordingQueue.seen) and len(RecordingQueue.seen) == 4
    assert audit_verify.verify(audit_path(store))['ok']
    # each decision names its event's payload and is sealed with the decision key
    ring = decision_keys.load(os.environ['AIGOV_DECISION_KEY_FILE'])
    payloads = [event['payload_b64'] for event, _seen in RecordingQueue.seen if event.get('payload_b64')]
    assert [e['details']['payload_sha256'] for e in entries] == [remediation.payload_digest(p) for p in payloads]
    assert [ring.check(e) for e in entries] == [None] * 3 and audit_verify.verify(audit_path(store), keyring=ring)['sealed'] == 3


def test_the_source_does_not_start_without_its_decision_key(store, monkeypatch):
    monkeypatch.delenv('AIGOV_DECISION_KEY_FILE')
    with pytest.raises(decision_keys.DecisionKeyError, match='no decision key file'):
        run(runpy.run_path(SOURCE)['main'](asyncio.Queue(), dict(base_args(store), port=free_port())))


def test_unwritable_audit_log_is_503_and_queues_nothing(store, tmp_path):
    blocker = tmp_path / 'not-a-dir'
    blocker.write_text('a file where the directory of the log should be')

    async def scenario():
        async with running(base_args(store, audit_log=str(blocker / 'audit.jsonl'))) as (queue, url):
            refused = await post(url, alertmanager(alert()), BEARER)
            queued = drain(queue)
            blocker.unlink()
            blocker.mkdir()
            retried = await post(url, alertmanager(alert()), BEARER)  # the sender's retry is not a duplicate
            return refused, queued, retried, drain(queue)
    (status, body), queued, retried, events = run(scenario())
    assert status == 503 and 'audit log' in body['error'] and queued == []
    assert retried == (202, {'accepted': 1, 'duplicate': 0, 'flapping': 0, 'rate_limited': 0,
                             'escalated': 0, 'ignored': 0, 'refused': []}) and len(events) == 1
    assert audit_verify.verify(str(blocker / 'audit.jsonl'))['ok']


def test_damaged_audit_log_is_503(store, tmp_path):
    damaged = tmp_path / 'damaged.jsonl'
    damaged.write_text('{"seq": 1, "hash": "forged"}\n')

    async def scenario():
        async with running(base_args(store, audit_log=str(damaged))) as (queue, url):
            return await post(url, alertmanager(alert()), BEARER), drain(queue)
    (status, _body), events = run(scenario())
    assert status == 503 and events == []
    assert damaged.read_text() == '{"seq": 1, "hash": "forged"}\n'


@pytest.mark.parametrize('args, problem', [
    ({'port': 'http', 'token': 't'}, "port must be a TCP port number \\(1-65535\\), got 'http'"),
    ({'port': '70000', 'token': 't'}, 'port must be a TCP port number'),
    ({'port': 5999, 'token': 't', 'dedup_ttl': 'ten'}, 'dedup_ttl must be a whole number'),
    ({'port': 5999, 'token': 't', 'dedup_ttl': True}, 'dedup_ttl must be a whole number'),
])
def test_int_options_accept_digit_strings_only(args, problem):
    module = runpy.run_path(SOURCE)
    with pytest.raises(ValueError, match=problem):
        run(module['main'](asyncio.Queue(), args))


def test_concurrent_requests_share_audit_writes_and_all_are_recorded(store):
    async def scenario():
        async with running(base_args(store, rate_per_minute=1000)) as (queue, url):
            bodies = [alertmanager(alert(fingerprint='c%d' % i, instance='10.10.0.11:8000')) for i in range(20)]
            statuses = await asyncio.gather(*[post(url, body, BEARER) for body in bodies])
            return [status for status, _body in statuses], drain(queue)
    statuses, events = run(scenario())
    assert statuses == [202] * 20 and len(events) == 20
    entries = [e for _n, e in audit_log.read_entries(audit_path(store))]
    assert sorted(e['details']['fingerprint'] for e in entries) == sorted('c%d' % i for i in range(20))
    assert audit_verify.verify(audit_path(store))['ok']


def test_the_hourly_limit_counts_automations_from_before_a_restart(store):
    """Three automated decisions in the past hour (max_actions_per_asset_per_hour: 3) are in the audit log from the
    source's previous run: a restarted source must not grant a fourth."""
    import datetime
    log = audit_path(store)
    now = datetime.datetime.now(datetime.timezone.utc)
    for minutes, decision in ((70, 'automate'), (50, 'automate'), (30, 'review'), (20, 'automate'), (5, 'automate')):
        audit_log.append(log, 'aigov.core.aiops_alerts', 'decision', 'model_server:1000000000000001', 'ml-platform',
                         'planned', ['earlier run'], {'decision': decision, 'fingerprint': 'old-%d' % minutes},
                         now=(now - datetime.timedelta(minutes=minutes)).isoformat())

    async def scenario():
        async with running(base_args(store)) as (queue, url):
            await post(url, alertmanager(alert(fingerprint='after-restart')), BEARER)
            return drain(queue)
    [event] = run(scenario())
    assert event['decision']['decision'] != 'automate' and 'rate_limit' in event['decision']['exceptions'], event['decision']


def test_an_alert_no_remediation_is_mapped_for_is_never_automated_and_spends_no_budget(store):
    """gpu-onprem-1's vLLM (limited tier, confidence 0.9) would be automated; a capacity warning maps to no remediation:
    it is escalated, and four of them leave the hourly budget (3) whole for the outage that follows."""
    async def scenario():
        async with running(base_args(store)) as (queue, url):
            for index in range(4):
                await post(url, alertmanager(alert('GpuMemoryHigh', fingerprint='cap%d' % index)), BEARER)
            await post(url, alertmanager(alert(fingerprint='outage')), BEARER)
            return drain(queue)
    events = run(scenario())
    warnings, outage = events[:4], events[4]
    for event in warnings:
        assert (event['decision']['decision'], event['decision']['remediation']) == ('escalate', None), event['decision']
        assert 'no remediation is mapped for alert GpuMemoryHigh' in event['decision']['reasons']
        validate(event['decision'], 'decision.v1.json')
    assert (outage['decision']['decision'], outage['decision']['remediation']) == ('automate', 'restart_model_server')
    assert outage['decision']['exceptions'] == []
    recorded = [e['details'] for _n, e in audit_log.read_entries(audit_path(store))]
    assert [(d['decision'], d['remediation']) for d in recorded] == [('escalate', None)] * 4 + [('automate', 'restart_model_server')]
    assert remediation.decode_payload(outage['payload_b64'])['decision']['remediation'] == 'restart_model_server'


def test_a_disruptive_remediation_on_a_limited_asset_goes_to_review(store):
    async def scenario():
        async with running(base_args(store)) as (queue, url):
            await post(url, alertmanager(alert('ModelServerExposed', fingerprint='exp1', confidence='0.99')), BEARER)
            return drain(queue)
    [event] = run(scenario())
    assert (event['decision']['decision'], event['decision']['remediation']) == ('review', 'rebind_loopback')
    assert event['decision']['reasons'] == ['the action is disruptive; risk tier limited sends it to review']


def test_a_users_action_table_is_what_the_source_decides_on(store, tmp_path):
    table = tmp_path / 'actions.yml'
    table.write_text(json.dumps({'schema_version': 1, 'name': 'wide', 'remediations': {
        'restart_model_server': {'kinds': ['model_server'], 'disruptive': False, 'hosts': 6}},
        'actions': [{'alertname': 'ModelServerDown', 'labels': {'team': 'ml'}, 'remediation': 'restart_model_server'}]}))

    async def scenario():
        async with running(base_args(store, actions=str(table))) as (queue, url):
            await post(url, alertmanager(alert(fingerprint='w1', team='ml'), alert(fingerprint='w2', team='web')), BEARER)
            return drain(queue)
    wide, unmatched = run(scenario())
    # max_hosts_per_action is 5 in the bundled guardrail policy
    assert (wide['decision']['decision'], wide['decision']['exceptions']) == ('escalate', ['blast_radius'])
    assert (unmatched['decision']['decision'], unmatched['decision']['remediation']) == ('escalate', None)


def test_a_broken_action_table_stops_the_source_before_it_listens(store, tmp_path):
    table = tmp_path / 'actions.yml'
    table.write_text('schema_version: 1\nname: x\nremediations: {}\nactions: [{alertname: A, remediation: b}]\n')
    with pytest.raises(Exception, match=r"actions\[0\].remediation 'b' is not one of"):
        run(running(base_args(store, actions=str(table))).__aenter__())


def test_grafana_sends_put_signed_with_its_hmac(store):
    """Grafana's webhook contact point with HTTP Method PUT and its HMAC Signature setting (tests/fixtures/senders)."""
    import hashlib
    import hmac
    fixture = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'senders', 'grafana-webhook.json')
    with open(fixture) as handle:
        sent = json.load(handle)
    raw = json.dumps(sent['body']).encode()

    async def scenario():
        args = dict(base_args(store, grafana_hmac_secret='graf-unit', grafana_timestamp_header='X-Grafana-Alerting-Timestamp'))
        args.pop('token')
        async with running(args) as (queue, url):
            stamp = str(int(time.time()))
            signature = hmac.new(b'graf-unit', stamp.encode() + b':' + raw, hashlib.sha256).hexdigest()
            async with aiohttp.ClientSession() as session:
                headers = dict(sent['headers'], **{'X-Grafana-Alerting-Signature': signature,
                                                   'X-Grafana-Alerting-Timestamp': stamp})
                async with session.put(url + 'grafana', data=raw, headers=headers) as response:
                    answered = response.status, await response.json()
                async with session.put(url + 'grafana', data=raw, headers=dict(headers, **{
                        'X-Grafana-Alerting-Signature': '0' * 64})) as response:
                    forged = response.status
            return answered, forged, drain(queue)

    (status, reply), forged, events = run(scenario())
    assert (status, reply['accepted'], forged) == (202, 1, 403)
    assert events[0]['alert']['source'] == 'grafana' and events[0]['alert']['confidence'] == 0.75


def test_the_documentation_parses_and_names_every_option_the_source_reads():
    """DOCUMENTATION is YAML (a ': ' in a description made it unparseable) and documents each args key _validate reads."""
    import re
    import yaml
    module = runpy.run_path(SOURCE)
    options = yaml.safe_load(module['DOCUMENTATION'])['options']
    with open(SOURCE) as handle:
        read = set(re.findall(r"args(?:\.get\(|\[)'([a-z_]+)'", handle.read()))
    injected = {'eda_feedback_queue'}  # put in args by ansible-rulebook itself (feedback: true), not set by users
    assert read - injected <= set(options), sorted(read - injected - set(options))
    for name in ('grafana_hmac_secret', 'grafana_signature_header', 'grafana_timestamp_header', 'standard_webhooks_secret',
                 'cloudevent_types', 'max_episodes'):
        assert options[name]['description']
    yaml.safe_load(module['EXAMPLES'])
