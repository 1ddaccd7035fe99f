"""remediation.plan(): every check refuses with its reason; payloads stay inert to templating."""

import base64
import json

import pytest

from ansible_collections.aigov.core.plugins.module_utils import approvals, remediation
from tests.contracts import validate

RECEIVED = '2026-11-25T09:00:00+00:00'
RECORD = {'id': 'model_server:1', 'name': 'vllm', 'inventory_hostname': 'gpu-1',
          'attributes': {'pids': [42], 'listeners': [{'address': '0.0.0.0', 'port': 8000}]}}


def event(decision='automate', name='ModelServerDown', host='gpu-1', status='firing'):
    return {'alert': {'fingerprint': 'fp1', 'name': name, 'status': status, 'labels': {'x': "{{ lookup('pipe','id') }}"}},
            'asset': {'asset_id': 'model_server:1', 'inventory_hostname': host},
            'decision': {'decision': decision, 'accountable': 'owner-a'}, 'meta': {'received_at': RECEIVED}}


def decision_entry(decision='automate'):
    return {'actor': remediation.SOURCE_ACTOR, 'action': 'decision', 'subject': 'model_server:1',
            'details': {'fingerprint': 'fp1', 'decision': decision, 'received_at': RECEIVED}}


def approval_entry(request='r1', verdict='approve'):
    return {'actor': 'alice', 'action': 'approval.decision', 'details': {'request': request, 'verdict': verdict,
                                                                         'fingerprint': 'fp1'}}


def plan(ev, entries=None, hosts=('gpu-1', 'other'), max_hosts=5, approval=None, record='default', actions=None):
    record = RECORD if record == 'default' else record
    return remediation.plan(ev, list(hosts), max_hosts, [decision_entry()] if entries is None else entries,
                            actions=actions, approval=approval, asset_record=record)


def test_automate_plans_a_restart_on_the_store_host():
    found = plan(event())
    assert (found['remediation'], found['target'], found['pids'], found['ports'], found['owner']) == (
        'restart_model_server', 'gpu-1', [42], [8000], 'owner-a')


@pytest.mark.parametrize('ev, kwargs, reason', [
    (event(status='resolved'), {}, 'the alert is resolved, not firing'),
    (event('escalate'), {}, 'the decision is escalate'),
    (event('reject'), {}, 'the decision is reject'),
    (event('review'), {'entries': [decision_entry('review')]}, 'no approval was given'),
    (event('review'), {'entries': [decision_entry('review'), approval_entry(verdict='deny')], 'approval': 'r1'},
     'request r1 has no approval in the audit log'),
    (event(), {'entries': []}, 'the decision is not in the audit log'),
    (event(), {'entries': [decision_entry('review')]}, 'the decision is not in the audit log'),
    (event(name="{{ lookup('pipe','id') }}"), {}, 'no remediation is mapped to this alert name'),
    (event(host='all'), {}, 'the asset is not on a host of this inventory'),
    (event(host='*'), {}, 'the asset is not on a host of this inventory'),
    (event(host='gpu-*'), {}, 'the asset is not on a host of this inventory'),
    (event(host='x; rm -rf /'), {}, 'the asset is not on a host of this inventory'),
    (event(host='unknown-host'), {}, 'the asset is not on a host of this inventory'),
    (event(host='other'), {}, 'does not hold asset model_server:1 on host other'),
    (event(), {'record': None}, 'does not hold asset'),
    (event(), {'max_hosts': 0}, 'blast-radius limit of 0'),
    (event(), {'actions': {'ModelServerDown': 'rm -rf /'}}, 'maps ModelServerDown to no known remediation'),
    ({'alert': 'x'}, {}, 'the event has no alert object'),
])
def test_each_check_refuses_with_its_reason(ev, kwargs, reason):
    with pytest.raises(remediation.RemediationRefused, match=reason.replace('*', r'\*')):
        plan(ev, **kwargs)


def test_approved_review_plans():
    found = plan(event('review'), entries=[decision_entry('review'), approval_entry()], approval='r1')
    assert (found['decision'], found['approval']) == ('review', 'r1')


def test_payload_carries_no_label_and_no_template_syntax():
    ev = event(name='ModelServerDown')
    text = remediation.encode_payload(ev)
    assert '{' not in text and remediation.decode_payload(text)['alert'] == {
        'fingerprint': 'fp1', 'name': 'ModelServerDown', 'status': 'firing', 'severity': None, 'starts_at': None,
        'source': None, 'confidence': None}
    assert 'labels' not in json.dumps(remediation.decode_payload(text))
    with pytest.raises(remediation.RemediationRefused, match='not base64 of JSON'):
        remediation.decode_payload("{{ lookup('pipe','id') }}")
    with pytest.raises(remediation.RemediationRefused, match='not an object'):
        remediation.decode_payload(base64.b64encode(b'[1]').decode())


def test_payload_with_encoded_parts_is_the_json_of_the_whole_event_part():
    """encode_payload() with the asset and decision already encoded gives the bytes json.dumps(sort_keys) of it gives."""
    ev = event(name='Ünïcødé ✓ "q" \\ {{ x }}')
    ev['asset'] = dict(ev['asset'], note='ça\n\u2028', nested={'b': [1, 2.5, None], 'a': True})
    keys = ('fingerprint', 'name', 'status', 'severity', 'starts_at', 'source', 'confidence')
    whole = {'alert': dict((key, ev['alert'].get(key)) for key in keys),
             'asset': ev['asset'], 'decision': ev['decision'], 'meta': {'received_at': ev['meta']['received_at']}}
    expected = base64.b64encode(json.dumps(whole, sort_keys=True).encode('utf-8')).decode('ascii')
    assert remediation.encode_payload(ev) == expected
    assert remediation.encode_payload(ev, remediation.payload_json(ev['asset']), remediation.payload_json(ev['decision'])) == expected


def test_approvals_queue_requests_once_and_decides_once(tmp_path):
    path = str(tmp_path / 'q' / 'approvals.jsonl')
    ev = dict(event('review'), payload_b64='cGF5bG9hZA==')
    created, record = approvals.request(path, ev, 'restart_model_server')
    again, same = approvals.request(path, ev, 'restart_model_server')
    assert created and not again and same['id'] == record['id'] and len(open(path).readlines()) == 1
    assert [r['id'] for r in approvals.pending(path)] == [record['id']]
    with pytest.raises(approvals.ApprovalError, match='no request nope'):
        approvals.decide(path, 'nope', 'approve', 'alice')
    with pytest.raises(approvals.ApprovalError, match='verdict must be approve or deny'):
        approvals.decide(path, record['id'], 'maybe', 'alice')
    found, verdict = approvals.decide(path, record['id'], 'deny', 'alice')
    assert found['payload_b64'] == 'cGF5bG9hZA==' and verdict['verdict'] == 'deny' and approvals.pending(path) == []
    with pytest.raises(approvals.ApprovalError, match='already decided \\(deny by alice'):
        approvals.decide(path, record['id'], 'approve', 'bob')
    for line in open(path):
        validate(json.loads(line), 'approval-record.v1.json')
