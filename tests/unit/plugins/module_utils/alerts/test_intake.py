"""The intake pipeline (alerts/intake.py) without HTTP: one body in, (status, reply) out, the decisions on disk before
any event is queued, nothing queued when they cannot be, the hourly memory spent only by remediable automations."""

import asyncio
import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake, guardrails, intake
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, decision_keys, entries
from ansible_collections.aigov.core.plugins.module_utils.remediation import actions
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store, registry
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests.conftest import FARM
from tests.contracts import validate
from tests.fixtures.inventory import estate

ROOT = os.path.join(FARM, 'ansible_collections', 'aigov', 'core')
TOKEN = 'intake-token-0001'
RING = decision_keys.parse('unit:%s' % ('u' * 40), 'test keys')
BEARER = 'Bearer ' + TOKEN


class Queue(object):
    """Records each event with the audit log as it is at the moment the event is queued."""

    def __init__(self, log):
        self.log, self.events, self.log_at_put = log, [], []

    async def put(self, event):
        self.log_at_put.append(len(audit_log.read_entries(self.log)) if os.path.exists(self.log) else 0)
        self.events.append(event)


@pytest.fixture
def site(tmp_path):
    store = str(tmp_path / 'assets.sqlite3')
    for when, scans in estate.SCANS:
        asset_store.record_scans(open_store(store), json.loads(json.dumps(scans)), when)
    log = str(tmp_path / 'audit.jsonl')
    config = {
        'auth': alert_intake.RequestAuth(TOKEN), 'gate': alert_intake.AlertGate(),
        'enricher': alert_intake.Enricher(store, registry.load_registry(os.path.join(ROOT, 'tests', 'fixtures', 'inventory',
                                                                                     'registry.yml'))),
        'policy': guardrails.load_guardrails(os.path.join(ROOT, 'guardrails', 'default.yml')),
        'actions': actions.load_actions(os.path.join(ROOT, 'actions', 'default.yml')),
        'confidence': None, 'keyring': RING, 'audit_log': log}
    queue = Queue(log)
    return queue, intake.Intake(queue, config), log


def body(*alerts):
    return json.dumps({'version': '4', 'status': 'firing', 'alerts': list(alerts)}).encode()


def alert(name='ModelServerDown', fingerprint='fp1', instance='10.10.0.11:8000', status='firing'):
    return {'status': status, 'fingerprint': fingerprint, 'startsAt': '2026-11-25T09:00:00Z',
            'labels': {'alertname': name, 'instance': instance, 'confidence': '0.9'}}


def receive(pipeline, data, authorization=BEARER):
    return asyncio.run(pipeline.receive(data, authorization, None, None, '/alerts'))


def test_a_request_is_authenticated_parsed_gated_decided_recorded_then_queued(site):
    queue, pipeline, log = site
    status, reply = receive(pipeline, body(alert(), alert(fingerprint='fp2', instance='10.20.0.5:4000'),
                                           alert(fingerprint='fp3', status='resolved')))
    assert (status, reply) == (202, {'accepted': 3, 'duplicate': 0, 'flapping': 0, 'rate_limited': 0,
                                     'escalated': 0, 'ignored': 0, 'refused': []})
    assert [e['decision']['decision'] if e['decision'] else None for e in queue.events] == ['automate', 'review', None]
    assert queue.log_at_put == [2, 2, 2]  # both decisions were on disk before the first event was queued
    recorded = [entry for _n, entry in audit_log.read_entries(log)]
    assert [entries.kind_of(e) for e in recorded] == [entries.DECISION] * 2
    for entry in recorded:
        validate(entry, 'audit-entry.v1.json')
    assert audit_verify.verify(log, keyring=RING)['sealed'] == 2
    assert receive(pipeline, body(alert()))[1]['duplicate'] == 1 and len(queue.events) == 3


@pytest.mark.parametrize('authorization, data, status', [
    (None, body(alert()), 401), ('Bearer wrong', body(alert()), 403), (BEARER, b'{not json', 400),
    (BEARER, json.dumps({'alerts': []}).encode(), 400)])
def test_a_refused_request_queues_and_records_nothing(site, authorization, data, status):
    queue, pipeline, log = site
    answered, reply = receive(pipeline, data, authorization)
    assert answered == status and 'error' in reply and TOKEN not in json.dumps(reply)
    assert queue.events == [] and not os.path.exists(log)


def test_a_log_that_cannot_be_written_is_503_and_the_retry_is_not_a_duplicate(site, tmp_path):
    queue, pipeline, log = site
    with open(log, 'w') as handle:
        handle.write('{"damaged": \n')
    assert receive(pipeline, body(alert()))[0] == 503 and queue.events == []
    os.unlink(log)
    assert receive(pipeline, body(alert())) == (202, {'accepted': 1, 'duplicate': 0, 'flapping': 0, 'rate_limited': 0,
                                                      'escalated': 0, 'ignored': 0, 'refused': []})


def test_unmapped_alerts_are_escalated_and_leave_the_hourly_budget_whole(site):
    queue, pipeline, _log = site
    for index in range(4):
        receive(pipeline, body(alert('GpuMemoryHigh', fingerprint='cap%d' % index)))
    assert [e['decision']['decision'] for e in queue.events] == ['escalate'] * 4
    assert 'model_server:1000000000000001' not in pipeline.budget.automated
    receive(pipeline, body(alert(fingerprint='outage')))
    assert queue.events[-1]['decision']['decision'] == 'automate'
    assert len(pipeline.budget.automated['model_server:1000000000000001']) == 1
