"""remediation.plan(): every check refuses with its reason; payloads stay inert to templating."""

import base64
import copy
import datetime
import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import approvals
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.remediation import actions, remediation
from tests.conftest import ROOT
from tests.contracts import validate

TABLE = actions.load_actions(os.path.join(ROOT, 'actions', 'default.yml'))

RECEIVED = '2026-11-25T09:00:00+00:00'
RECORD = {'id': 'model_server:1', 'kind': 'model_server', 'name': 'vllm', 'inventory_hostname': 'gpu-1',
          'attributes': {'pids': [42], 'start_times': {'42': 1042}, 'listeners': [{'address': '0.0.0.0', 'port': 8000}]}}


def event(decision='automate', name='ModelServerDown', host='gpu-1', status='firing', **proposed):
    """proposed: remediation=... as the decision names it (a decision of an earlier version names none)."""
    return {'alert': {'fingerprint': 'fp1', 'name': name, 'status': status, 'labels': {'x': "{{ lookup('pipe','id') }}"}},
            'asset': {'asset_id': 'model_server:1', 'inventory_hostname': host},
            'decision': dict({'decision': decision, 'accountable': 'owner-a'}, **proposed), 'meta': {'received_at': RECEIVED}}


def table_with(**hosts):
    """The bundled table with other host counts for some remediations."""
    data = copy.deepcopy(dict((key, TABLE[key]) for key in ('schema_version', 'name', 'remediations', 'actions')))
    for name, count in hosts.items():
        data['remediations'][name]['hosts'] = count
    return actions.check_table(data, 'test table')


KEYS = decision_keys.parse('k2:%s\nk1:%s' % ('b' * 32, 'a' * 32), 'test keys')
OLD_KEYS = decision_keys.parse('k1:%s' % ('a' * 32), 'old keys')


def payload(ev):
    return ev if isinstance(ev, str) else remediation.encode_payload(ev)


def decision_entry(decision='automate', ev=None, keys=KEYS):
    """The source's sealed decision entry of ev (default: event(decision))."""
    text = payload(ev or event(decision))
    data = remediation.decode_payload(text)
    return dict(keys.seal({'actor': remediation.SOURCE_ACTOR, 'action': 'decision', 'subject': data['asset']['asset_id'],
                           'owner': 'owner-a', 'outcome': 'planned', 'reasons': ['why'],
                           'details': {'fingerprint': audit_log.recordable(data['alert']['fingerprint']),
                                       'name': data['alert']['name'], 'decision': decision, 'received_at': RECEIVED,
                                       'payload_sha256': remediation.payload_digest(text)}}), seq=1)


def approval_entry(request='r1', verdict='approve', ev=None, proposed='restart_model_server'):
    return KEYS.seal({'actor': 'alice', 'action': 'approval.decision', 'subject': 'model_server:1', 'owner': 'owner-a',
                      'outcome': 'success', 'reasons': [],
                      'details': {'request': request, 'verdict': verdict, 'fingerprint': 'fp1', 'proposed_action': proposed,
                                  'payload_sha256': remediation.payload_digest(payload(ev or event('review')))}})


def plan(ev, entries=None, hosts=('gpu-1', 'other'), max_hosts=5, approval=None, record='default', table=TABLE):
    record = RECORD if record == 'default' else record
    return remediation.plan(payload(ev), list(hosts), max_hosts, [decision_entry(ev=ev)] if entries is None else entries,
                            KEYS, table, approval=approval, asset_record=record)


def test_automate_plans_a_restart_on_the_store_host():
    found = plan(event())
    assert (found['remediation'], found['target'], found['pids'], found['start_times'], found['ports'], found['owner']) == (
        'restart_model_server', 'gpu-1', [42], {'42': 1042}, [8000], 'owner-a')


@pytest.mark.parametrize('ev, kwargs, reason', [
    (event(status='resolved'), {}, 'the alert is resolved, not firing'),
    (event('escalate'), {}, 'the decision is escalate'),
    (event('reject'), {}, 'the decision is reject'),
    (event('review'), {'entries': [decision_entry('review')]}, 'no approval was given'),
    (event('review'), {'entries': [approval_entry(verdict='deny'), decision_entry('review')], 'approval': 'r1'},
     'request r1 has no approval of this payload in the audit log'),
    (event(), {'entries': []}, 'the decision is not in the audit log'),
    (event(), {'entries': [decision_entry('review')]}, 'the source decided alert fp1 .* for another payload'),
    (event(name="{{ lookup('pipe','id') }}"), {}, 'no remediation is mapped to this alert name'),
    (event(host='all'), {}, 'the asset is not on a host of this inventory'),
    (event(host='*'), {}, 'the asset is not on a host of this inventory'),
    (event(host='gpu-*'), {}, 'the asset is not on a host of this inventory'),
    (event(host='x; rm -rf /'), {}, 'the asset is not on a host of this inventory'),
    (event(host='unknown-host'), {}, 'the asset is not on a host of this inventory'),
    (event(host='other'), {}, 'does not hold asset model_server:1 on host other'),
    (event(), {'record': None}, 'does not hold asset'),
    (event(), {'max_hosts': 0}, 'blast-radius limit of 0'),
    (event(remediation=None), {}, 'no remediation is mapped to this alert name'),
    (event(remediation='reboot_host'), {}, 'the decision proposes reboot_host, which the action table default does not hold'),
    (event(remediation='restart_model_server'), {'table': table_with(restart_model_server=3), 'max_hosts': 2},
     'the action would touch 3 hosts, more than the blast-radius limit of 2'),
    (event(remediation='stop_gpu_process'), {}, 'stop_gpu_process acts on gpu assets, and asset model_server:1 is a model_server'),
    (base64.b64encode(b'{"alert": "x"}').decode(), {'entries': []}, 'the event has no alert object'),
])
def test_each_check_refuses_with_its_reason(ev, kwargs, reason):
    with pytest.raises(remediation.RemediationRefused, match=reason.replace('*', r'\*') if '.*' not in reason else reason):
        plan(ev, **kwargs)


def test_the_plan_runs_the_remediation_the_decision_proposed():
    """The sealed decision names the remediation (chosen on the alert's labels too): the plan runs that one."""
    assert plan(event(remediation='rebind_loopback'))['remediation'] == 'rebind_loopback'
    assert plan(event())['remediation'] == 'restart_model_server'  # no remediation named: the alert name's


def test_approved_review_plans():
    found = plan(event('review'), entries=[approval_entry(), decision_entry('review')], approval='r1')
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
    ev['alert']['labels'] = {'pid': '4242', 'aigov_stop_protected': 'true'}
    ev['asset'] = dict(ev['asset'], note='ça\n\u2028', nested={'b': [1, 2.5, None], 'a': True})
    keys = ('fingerprint', 'name', 'status', 'severity', 'starts_at', 'source', 'confidence')
    whole = {'alert': dict((key, ev['alert'].get(key)) for key in keys),
             'asset': ev['asset'], 'decision': ev['decision'], 'meta': {'received_at': ev['meta']['received_at']},
             'target': {'pid': 4242}}
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


GPU = {'id': 'gpu:1', 'kind': 'gpu', 'name': 'A100', 'inventory_hostname': 'gpu-1',
       'attributes': {'uuid': 'GPU-1', 'processes': [{'pid': 4242, 'start_time': 900}, {'pid': 42, 'start_time': 800},
                                                     {'pid': 43, 'start_time': None}]}}
AGENT = {'id': 'agent:1', 'kind': 'agent', 'name': 'letta', 'inventory_hostname': 'gpu-1', 'attributes': {'pids': [7]}}
APPROVED = [{'name': 'enc', 'sha256': 'a' * 64}]


def labelled(name, asset_id, **labels):
    ev = event(name=name)
    ev['alert']['labels'] = labels
    ev['asset']['asset_id'] = asset_id
    return remediation.encode_payload(ev)


def entry_for(ev):
    return [decision_entry(ev=ev)]


@pytest.mark.parametrize('label, pid', [('4242', 4242), ('x; rm -rf /', None), ("{{ lookup('pipe','id') }}", None),
                                        ('-1', None), ('0', None), ('4242 ', None), ('１２', None), (4242, 4242)])
def test_payload_keeps_a_pid_label_only_when_it_is_digits(label, pid):
    data = remediation.decode_payload(labelled('GpuProcessRunaway', 'gpu:1', pid=label))
    assert data['target']['pid'] == pid and "lookup" not in json.dumps(data)


def test_gpu_stop_plans_the_discovered_pid_and_protects_model_servers():
    found = plan(labelled('GpuProcessRunaway', 'gpu:1', pid='4242'), record=GPU)
    assert (found['remediation'], found['pid'], found['start_time'], found['gpu_uuid']) == ('stop_gpu_process', 4242, 900, 'GPU-1')
    protected = labelled('GpuProcessRunaway', 'gpu:1', pid='42')
    with pytest.raises(remediation.RemediationRefused, match='pid 42 belongs to a model server'):
        remediation.plan(protected, ['gpu-1'], 5, entry_for(protected), KEYS, TABLE, asset_record=GPU, protected_pids=[42])


@pytest.mark.parametrize('label', ['aigov_stop_protected', 'stop_protected'])
def test_no_alert_label_lifts_the_protection_of_a_model_servers_pid(label):
    """Only discovery's records decide what is protected; the decision never saw the sender's labels."""
    lifted = labelled('GpuProcessRunaway', 'gpu:1', pid='42', **{label: 'true'})
    with pytest.raises(remediation.RemediationRefused, match=r'pid 42 belongs to a model server .* \(protected\)$'):
        remediation.plan(lifted, ['gpu-1'], 5, entry_for(lifted), KEYS, TABLE, asset_record=GPU, protected_pids=[42])


@pytest.mark.parametrize('labels, reason', [
    ({}, 'the alert names no pid'),
    ({'pid': 'x; rm -rf /'}, 'the alert names no pid'),
    ({'pid': '1'}, 'the alert names no pid'),
    ({'pid': '999'}, 'pid 999 is not a compute process discovery saw on GPU gpu:1'),
    ({'pid': '43'}, 'discovery recorded no start time of pid 43 on GPU gpu:1'),
])
def test_gpu_stop_refuses_a_pid_not_discovered_on_the_gpu(labels, reason):
    with pytest.raises(remediation.RemediationRefused, match=reason):
        plan(labelled('GpuProcessRunaway', 'gpu:1', **labels), record=GPU)


def test_rollback_needs_approved_digests_and_a_model_server():
    ev = labelled('ModelDigestMismatch', 'model_server:1')
    record = dict(RECORD, attributes=dict(RECORD['attributes'], model='/srv/m.bin'))
    with pytest.raises(remediation.RemediationRefused, match='no approved model digest is known for asset model_server:1'):
        remediation.plan(ev, ['gpu-1'], 5, entry_for(ev), KEYS, TABLE, asset_record=record, approved_models=[])
    found = remediation.plan(ev, ['gpu-1'], 5, entry_for(ev), KEYS, TABLE, asset_record=record, approved_models=APPROVED)
    assert (found['remediation'], found['model'], found['approved_models']) == ('rollback_model', '/srv/m.bin', APPROVED)
    with pytest.raises(remediation.RemediationRefused, match='rollback_model acts on model_server assets, and asset agent:1 is a agent'):
        agent = labelled('ModelDigestMismatch', 'agent:1')
        remediation.plan(agent, ['gpu-1'], 5, entry_for(agent), KEYS, TABLE, asset_record=AGENT, approved_models=APPROVED)


@pytest.mark.parametrize('name, remediation_name', [('AgentCompromised', 'quarantine_agent'),
                                                    ('AgentCredentialLeaked', 'rotate_agent_secret')])
def test_agent_remediations_act_on_agents_only(name, remediation_name):
    found = plan(labelled(name, 'agent:1'), record=AGENT)
    assert (found['remediation'], found['pids']) == (remediation_name, [7])
    with pytest.raises(remediation.RemediationRefused, match='%s acts on agent assets' % remediation_name):
        plan(labelled(name, 'model_server:1'))


class Counted(object):
    """Entries newest first that count how many were read."""

    def __init__(self, entries):
        self.entries, self.read = entries, 0

    def __iter__(self):
        for entry in self.entries:
            self.read += 1
            yield entry


def timed(entry, when):
    return dict(entry, time=when)


def test_the_lookup_stops_at_the_match_and_never_reads_older_entries():
    older = [timed({'action': 'other'}, '2026-11-25T08:00:00+00:00')] * 1000
    entries = Counted([timed(approval_entry(), '2026-11-25T09:05:00+00:00'),
                       timed(decision_entry('review'), '2026-11-25T09:00:00.5+00:00')] + older)
    found = remediation.find_records(entries, event('review'), remediation.payload_digest(payload(event('review'))), KEYS, 'r1')
    assert found['decision']['details']['decision'] == 'review' and found['approval']['details']['verdict'] == 'approve'
    assert entries.read == 2


def test_the_lookup_of_a_forged_event_stops_before_the_event_was_received():
    recent = [timed({'action': 'other'}, '2026-11-25T09:01:00+00:00')] * 5
    # 09:00:00 received - 10 min slack: entries from 08:50 on are read, the first one before it ends the scan
    old = [timed({'action': 'other'}, '2026-11-25T08:49:59+00:00')] * 1000
    entries = Counted(recent + [timed({'action': 'other'}, '2026-11-25T08:50:00+00:00')] + old + [
        timed(decision_entry(), '2026-11-25T08:00:00+00:00')])
    found = remediation.find_records(entries, event(), remediation.payload_digest(payload(event())), KEYS)
    assert (found['decision'], found['approval'], found['started']) == (None, None, None)
    assert entries.read == 7
    with pytest.raises(remediation.RemediationRefused, match='the decision is not in the audit log'):
        plan(event(), entries=Counted(recent + old + [timed(decision_entry(), '2026-11-25T08:00:00+00:00')]))


def test_the_lookup_reads_a_real_log_from_its_tail(tmp_path):
    path = str(tmp_path / 'audit.jsonl')
    audit_log.append_many(path, [dict(actor='ops', action='filler', subject='s', owner=None, outcome='success',
                                      details={'n': n}, now='2026-11-25T08:00:00+00:00') for n in range(2000)])
    entry = decision_entry()
    audit_log.append(path, entry['actor'], 'decision', entry['subject'], 'owner-a', 'planned', ['why'], entry['details'],
                     now='2026-11-25T09:00:01+00:00')  # the seal covers no seq, time or hash: it holds once written
    entries = Counted(audit_log.iter_newest_first(path, chunk=256))
    assert plan(event(), entries=entries)['target'] == 'gpu-1' and entries.read == 1


def test_pending_requests_are_listed_with_age_and_expiry_and_an_expired_one_cannot_be_decided(tmp_path):
    path = str(tmp_path / 'approvals.jsonl')
    old = dict(event('review'), payload_b64='b2xk')
    new = dict(event('review'), payload_b64='bmV3')
    first = approvals.request(path, old, 'restart_model_server', now='2026-11-25T08:00:00+00:00')[1]
    second = approvals.request(path, new, 'restart_model_server', now='2026-11-25T11:30:00+00:00')[1]
    now = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)
    listed = approvals.listing(path, ttl=3 * 3600, now=now)
    assert [(item['id'], item['age_s'], item['expires_at'], item['expired']) for item in listed] == [
        (first['id'], 4 * 3600, '2026-11-25T11:00:00+00:00', True),
        (second['id'], 1800, '2026-11-25T14:30:00+00:00', False)]
    assert listed[1]['proposed_action'] == 'restart_model_server' and listed[1]['asset_id'] == ev_asset()
    line = approvals.describe(listed[0])
    assert line.startswith(first['id']) and 'restart_model_server' in line and 'EXPIRED at 2026-11-25T11:00:00' in line
    with pytest.raises(approvals.ApprovalError, match='request %s expired at 2026-11-25T11:00:00' % first['id']):
        approvals.decide(path, first['id'], 'approve', 'alice', now=now.isoformat(), ttl=3 * 3600)
    assert approvals.decide(path, second['id'], 'approve', 'alice', now=now.isoformat(), ttl=3 * 3600)[1]['verdict'] == 'approve'
    assert [item['id'] for item in approvals.listing(path, ttl=3 * 3600, now=now)] == [first['id']]


def ev_asset():
    return event('review')['asset']['asset_id']


def test_a_request_queued_with_its_expiry_keeps_it_whatever_ttl_a_later_run_gives(tmp_path):
    path = str(tmp_path / 'approvals.jsonl')
    record = approvals.request(path, dict(event('review'), payload_b64='b2xk'), 'restart_model_server',
                               now='2026-11-25T08:00:00+00:00', ttl=20)[1]
    assert record['expires_at'] == '2026-11-25T08:00:20+00:00'
    validate(record, 'approval-record.v1.json')
    (listed,) = approvals.listing(path, now=datetime.datetime(2026, 11, 25, 8, 1, tzinfo=datetime.timezone.utc))
    assert listed['expired'] and listed['expires_at'] == '2026-11-25T08:00:20+00:00'  # the default ttl (4 h) does not lift it
    with pytest.raises(approvals.ApprovalError, match='expired at 2026-11-25T08:00:20'):
        approvals.decide(path, record['id'], 'approve', 'alice', now='2026-11-25T08:01:00+00:00')
