"""The audit vocabulary (audit/entries.py): each kind built, recognised and published in the schema; the logs the
old code wrote still read and verify; one loop written through the builders is what the readers count."""

import datetime
import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts.payload import encode_payload, payload_digest
from ansible_collections.aigov.core.plugins.module_utils.alerts.budget import recent_automations
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_chain, audit_log, audit_verify, decision_keys, entries
from ansible_collections.aigov.core.plugins.module_utils.audit import governance_kpis
from ansible_collections.aigov.core.plugins.module_utils.remediation import remediation
from tests.contracts import REGISTRY, validate

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'fixtures', 'audit')
RING = decision_keys.parse('k1:%s' % ('k' * 40), 'test keys')
RECEIVED = '2026-11-25T09:00:00+00:00'


def event(decision='automate', remediation_name='restart_model_server', fingerprint='fp1', asset_id='model_server:1'):
    ev = {'alert': {'fingerprint': fingerprint, 'name': 'ModelServerDown', 'status': 'firing', 'host': 'gpu-1',
                    'starts_at': '2026-11-25T08:59:58Z', 'labels': {'pid': '42', 'x': '{{ lookup("pipe", "id") }}'}},
          'asset': {'asset_id': asset_id, 'inventory_hostname': 'gpu-1', 'known': True},
          'decision': {'decision': decision, 'accountable': 'lab-team', 'reasons': ['minimal risk'], 'risk_tier': 'minimal',
                       'confidence': 0.95, 'policy': {'name': 'default'}, 'exceptions': [], 'remediation': remediation_name},
          'meta': {'received_at': RECEIVED}}
    ev['payload_b64'] = encode_payload(ev)
    return ev


def plan(ev):
    return {'remediation': 'restart_model_server', 'target': 'gpu-1', 'asset_id': ev['asset']['asset_id'], 'owner': 'lab-team',
            'fingerprint': 'fp1', 'decision': ev['decision']['decision'], 'approval': None, 'risk_tier': 'minimal',
            'starts_at': '2026-11-25T08:59:58Z', 'received_at': RECEIVED, 'payload_sha256': payload_digest(ev['payload_b64']),
            'pids': [7], 'ports': [8000]}


def request(ev):
    return {'id': 'abc123', 'asset_id': ev['asset']['asset_id'], 'owner': 'lab-team', 'fingerprint': 'fp1',
            'decision': 'review', 'proposed_action': 'restart_model_server', 'payload_b64': ev['payload_b64']}


BUILT = {
    entries.DECISION: lambda ev: entries.decision(ev, RING),
    entries.APPROVAL_REQUESTED: lambda ev: entries.approval_requested(request(ev), 'q.jsonl', 'ops', {'awx_job_id': '7'}),
    entries.APPROVAL_DECISION: lambda ev: entries.approval_decision(request(ev), 'deny', 'alice', RING, 'ops'),
    entries.REMEDIATION_START: lambda ev: entries.remediation_start(plan(ev), 'ops', None, 3.5),
    entries.REMEDIATION_REFUSED: lambda ev: entries.remediation_refused(ev, ev['payload_b64'], None, 'no', 'ops'),
    entries.REMEDIATION_OUTCOME: lambda ev: entries.build(entries.REMEDIATION_OUTCOME,
                                                          {'plan': plan(ev), 'outcome': 'success', 'note': 'listening'}, 'ops'),
    entries.ESCALATION_NOTIFY: lambda ev: entries.build(entries.ESCALATION_NOTIFY,
                                                        {'payload': ev['payload_b64'], 'notified': True, 'http_status': 204}, 'ops'),
    entries.ALERT_INTAKE: lambda ev: entries.alert_intake(
        {'refused': [{'index': 1, 'reason': 'alerts[1].labels.alertname is missing'}], 'truncated': 3, 'ignored': 0,
         'source': 'alertmanager', 'alerts': []}, RECEIVED, '/alerts'),
    entries.REFUSED_REQUESTS: lambda ev: entries.refused_requests(
        {'since': RECEIVED, 'until': RECEIVED, 'total': 3, 'other_sources': 0, 'by_source': {'10.0.0.9': {'403': 2, '401': 1}},
         'reasons': {'bearer token refused': 2, 'bearer token required': 1}}),
}


def test_the_schema_publishes_the_details_of_every_kind_and_nothing_else():
    schema = REGISTRY.contents('audit-entry.v1.json')
    published = [rule['if']['properties']['action'].get('const') for rule in schema['allOf']]
    assert sorted(kind for kind in published if kind) == sorted(entries.KINDS) == sorted(BUILT)
    assert set(schema['$defs']) == set(entries.KINDS) | {entries.AGENT_SECRET}


@pytest.mark.parametrize('kind', sorted(BUILT))
def test_each_kind_is_built_valid_and_recognised(tmp_path, kind):
    ev = event()
    record = BUILT[kind](ev)
    entry = audit_log.append(str(tmp_path / 'audit.jsonl'), **record)
    validate(entry, 'audit-entry.v1.json')
    assert entries.kind_of(entry) == kind and entry['action'] == kind
    schema = REGISTRY.contents('audit-entry.v1.json')['$defs'][kind]
    assert set(schema['required']) <= set(entry['details'])  # what the schema requires, the builder writes
    assert set(entry['details']) <= set(schema['properties'])  # and nothing it does not publish
    seen = entries.read(entry)
    assert seen['kind'] == kind
    if kind == entries.REFUSED_REQUESTS:  # about requests refused before anything was read: no alert, no payload
        assert (seen['total'], seen['by_source'], entry['subject']) == (3, {'10.0.0.9': {'403': 2, '401': 1}}, 'aiops_alerts')
        return
    if kind == entries.ALERT_INTAKE:  # about a request, not one alert: it names no alert and no payload
        assert (seen['refused_count'], seen['truncated_alerts'], entry['subject']) == (1, 3, 'alertmanager')
        return
    assert seen['fingerprint'] == 'fp1'
    assert seen['payload_sha256'] == payload_digest(ev['payload_b64'])
    assert entries.sealed_kind(entry) == (kind in (entries.DECISION, entries.APPROVAL_DECISION))
    if entries.sealed_kind(entry):
        assert RING.check(entry) is None
    assert '{{' not in json.dumps(entry)  # no label value reaches an entry


def test_the_decision_entry_is_what_the_source_always_wrote():
    ev = event()
    record = entries.decision(ev, RING)
    assert (record['actor'], record['subject'], record['owner'], record['outcome']) == (
        entries.SOURCE_ACTOR, 'model_server:1', 'lab-team', 'planned')
    assert record['details']['payload_sha256'] == payload_digest(ev['payload_b64'])
    assert entries.decision(event('reject'), RING)['outcome'] == 'refused'
    # a subject from a sender is never copied: a label-made asset id is 'unknown'
    assert entries.decision(event(asset_id='x; rm -rf /'), RING)['subject'] == 'unknown'
    secretish = 'sk-%s' % ('A1b2' * 8)
    assert entries.decision(event(fingerprint=secretish), RING)['details']['fingerprint'].startswith('sha256:')


def test_recognising_decisions_their_seal_and_the_budget():
    decision = audit_chain.prepare(**entries.decision(event(), RING))
    handmade = dict(decision, actor='mallory')
    assert entries.from_source(decision) and not entries.from_source(handmade)
    assert entries.kind_of(handmade) == entries.DECISION and not entries.sealed_kind(handmade)
    assert entries.is_decision_of(decision, 'fp1', RECEIVED) and not entries.is_decision_of(decision, 'fp1', 'later')
    assert entries.spends_budget(decision['details'])
    assert not entries.spends_budget(entries.decision(event(remediation_name=None), RING)['details'])
    assert entries.spends_budget({'decision': 'automate'})  # a decision of an earlier version names no remediation
    assert entries.kind_of({'action': 'agent_secret.rotate'}) == entries.ROTATION
    assert entries.kind_of({'action': 'change.approved', 'details': {'override': True}}) == entries.RECORDED_OVERRIDE
    assert entries.kind_of({'action': 'something.else'}) is None


@pytest.mark.parametrize('kind, fields, problem', [
    ('decision', {}, 'kind decision is not recorded by a playbook .* written by its engine'),
    ('remediation.restart', {}, 'not an entry kind'),
    ('remediation.outcome', {'outcome': 'success'}, 'needs fields plan'),
    ('remediation.outcome', {'plan': {'asset_id': 'a', 'remediation': 'r', 'target': 't'}, 'outcome': 'fine'},
     'outcome must be one of'),
    ('remediation.outcome', {'plan': {}, 'outcome': 'success', 'extra': 1}, r'unknown field\(s\) extra'),
    ('escalation.notify', {'payload': 'not base64!', 'notified': True}, 'escalation.notify: the event payload is not base64'),
    ('escalation.notify', {'payload': 'e30=', 'notified': 'yes'}, 'needs fields payload'),
])
def test_a_playbook_kind_names_what_is_wrong(kind, fields, problem):
    with pytest.raises(entries.EntryError, match=problem):
        entries.build(kind, fields, 'ops')


@pytest.mark.parametrize('name', sorted(os.listdir(FIXTURES)))
def test_logs_written_by_the_old_code_still_verify_validate_and_read(name):
    path = os.path.join(FIXTURES, name)
    assert audit_verify.verify(path)['ok']
    for _number, entry in audit_log.read_entries(path):
        validate(entry, 'audit-entry.v1.json')
        seen = entries.read(entry)
        assert seen['action'] == entry['action'] and isinstance(seen['exceptions'], list)


def test_the_old_golden_log_keeps_its_kpis():
    report = governance_kpis.compute(os.path.join(FIXTURES, 'written-before-seals.jsonl'))
    assert report['kpis']['automation']['automated'] == 1 and report['kpis']['mttr']['count'] == 1


def test_one_loop_written_through_the_builders_is_what_every_reader_sees(tmp_path):
    """decision -> start -> outcome, and an escalation: the plan's lookup, the hourly limit and the KPIs agree."""
    log = str(tmp_path / 'audit.jsonl')
    ev, escalated = event(), event('escalate', fingerprint='fp2')
    audit_log.append(log, **entries.decision(ev, RING))
    audit_log.append(log, **entries.decision(escalated, RING))
    found = remediation.find_records(audit_log.iter_newest_first(log), ev, payload_digest(ev['payload_b64']), RING)
    assert found['decision'] is not None and found['started'] is None
    audit_log.append(log, **entries.remediation_start(plan(ev), 'ops'))
    found = remediation.find_records(audit_log.iter_newest_first(log), ev, payload_digest(ev['payload_b64']), RING)
    assert found['started'] is not None  # a decision runs once
    audit_log.append(log, **entries.remediation_outcome(plan(ev), 'success', 'listening on 8000', 'ops'))
    audit_log.append(log, **entries.escalation_notify(escalated['payload_b64'], True, 204, 'ops'))
    now = datetime.datetime.now(datetime.timezone.utc)
    assert recent_automations(log, entries.SOURCE_ACTOR, now) == {'model_server:1': [pytest.approx(0, abs=60)]}
    kpis = governance_kpis.compute(log, keyring=RING)['kpis']
    assert kpis['automation']['automated'] == 1 and kpis['actions']['by_remediation'] == {'restart_model_server': 1}
    assert kpis['outcomes']['succeeded'] == 1 and kpis['mttr']['count'] == 1 and kpis['escalations']['notified'] == 1
    assert audit_verify.verify(log, keyring=RING)['sealed'] == 2
