"""remediation_plan, approval_queue, decision_verify and audit_append on the controller, against a real audit log: a
decision appended by hand is refused and the refusal recorded, a decision runs once, a secret-shaped fingerprint is still
recorded, an approvals queue edited to attach another request's payload is refused, an escalation whose decision is not
on record is refused, and check mode predicts without writing."""

import json
import multiprocessing
import os
import types

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.action.approval_queue import ActionModule as ApprovalQueue
from ansible_collections.aigov.core.plugins.action.audit_append import ActionModule as AuditAppend
from ansible_collections.aigov.core.plugins.action.decision_verify import ActionModule as DecisionVerify
from ansible_collections.aigov.core.plugins.action.remediation_plan import ActionModule as RemediationPlan
from ansible_collections.aigov.core.plugins.module_utils.alerts import approvals
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, decision_keys, entries
from ansible_collections.aigov.core.plugins.module_utils.remediation import remediation
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from tests.fixtures.inventory import estate

ASSET = 'model_server:1000000000000001'  # the estate's vLLM on gpu-onprem-1
RECEIVED = '2026-11-25T09:00:00+00:00'
decision_record = entries.decision  # what the event source's intake writes


@pytest.fixture
def site(tmp_path):
    """A store with the estate, a key file (0600), an empty audit log path."""
    store = str(tmp_path / 'assets.sqlite3')
    for when, scans in estate.SCANS:
        asset_store.record_scans(open_store(store), json.loads(json.dumps(scans)), when)
    keys = tmp_path / 'decision.keys'
    keys.write_text('k1:%s\n' % ('k' * 40))
    os.chmod(str(keys), 0o600)
    return types.SimpleNamespace(store=store, keys=str(keys), log=str(tmp_path / 'audit.jsonl'),
                                 queue=str(tmp_path / 'approvals.jsonl'), ring=decision_keys.load(str(keys)))


def event(decision='automate', name='ModelServerDown', fingerprint='fp1'):
    ev = {'alert': {'fingerprint': fingerprint, 'name': name, 'status': 'firing', 'labels': {}},
          'asset': {'asset_id': ASSET, 'inventory_hostname': 'gpu-onprem-1', 'known': True},
          'decision': {'decision': decision, 'accountable': 'ml-platform', 'reasons': ['why'], 'risk_tier': 'minimal',
                       'confidence': 0.95, 'policy': {'name': 'default'}, 'exceptions': []},
          'meta': {'received_at': RECEIVED}}
    ev['payload_b64'] = remediation.encode_payload(ev)
    return ev


def decide(site, ev):
    """What the event source does: append the sealed decision entry (the source's own function)."""
    audit_log.append(site.log, **decision_record(ev, site.ring))


SERVICES = {'vllm': {'restart_command': '/usr/local/sbin/restart-vllm'}}  # the target's aigov_baseline_services


class Templar(object):
    def template(self, value):
        return value


def run(action_class, site, check=False, hostvars=None, **args):
    action = action_class.__new__(action_class)
    action._task = types.SimpleNamespace(check_mode=check)
    action._templar = Templar()
    full = dict((name, option.get('default')) for name, option in action_class.ARGUMENT_SPEC.items())
    full.update((key, value) for key, value in dict(audit_log=site.log, decision_key_file=site.keys, path=site.log).items()
                if key in action_class.ARGUMENT_SPEC)
    full.update(args)
    hostvars = {'gpu-onprem-1': {'aigov_baseline_services': SERVICES}} if hostvars is None else hostvars
    return action.run_on_controller(full, {'groups': {'all': ['localhost', 'gpu-onprem-1']}, 'hostvars': hostvars}, {})


def plan(site, ev, **args):
    return run(RemediationPlan, site, payload=ev['payload_b64'], store=site.store, **args)


def entries(site):
    return [entry for _line, entry in audit_log.read_entries(site.log)]


def test_a_sealed_decision_plans_once_and_the_second_start_is_refused_and_recorded(site):
    ev = event()
    decide(site, ev)
    assert plan(site, ev)['plan']['target'] == 'gpu-onprem-1'
    with pytest.raises(AnsibleActionFail, match=r'this decision already ran: remediation.start seq 2 \(a decision runs once\)'):
        plan(site, ev)
    assert [(e['action'], e['outcome']) for e in entries(site)] == [
        ('decision', 'planned'), ('remediation.start', 'planned'), ('remediation.refused', 'refused')]
    assert audit_verify.verify(site.log, keyring=site.ring)['sealed'] == 1


def test_the_planned_target_joins_the_target_group_only_when_one_is_named(site):
    first, second = event(fingerprint='fp1'), event(fingerprint='fp2')
    decide(site, first)
    decide(site, second)
    assert plan(site, first, target_group='aigov_remediation_target')['add_host'] == {
        'host_name': 'gpu-onprem-1', 'groups': ['aigov_remediation_target'], 'host_vars': {}}
    assert 'add_host' not in plan(site, second)


@pytest.mark.parametrize('hostvars, missing', [
    ({'gpu-onprem-1': {}}, 'discovery recorded no start time of pid 4242'),  # no entry, and pids without start times
    ({'gpu-onprem-1': {'aigov_baseline_services': {'vllm': {'env_file': '/etc/vllm.env'}}}}, "has no restart_command"),
])
def test_a_missing_service_definition_is_refused_before_any_start(site, hostvars, missing):
    ev = event()
    decide(site, ev)
    with pytest.raises(AnsibleActionFail, match=missing):
        plan(site, ev, hostvars=hostvars)
    recorded = entries(site)
    assert [entry['action'] for entry in recorded] == ['decision', 'remediation.refused']
    assert missing in recorded[-1]['reasons'][0] and recorded[-1]['outcome'] == 'refused'
    assert plan(site, ev)['plan']['target'] == 'gpu-onprem-1'  # completed, it starts (a refusal is not a start)


def test_a_well_formed_decision_appended_by_hand_is_refused_recorded_and_flagged(site):
    decide(site, event(fingerprint='other'))  # the source sealed something: a missing seal after it is flagged
    ev = event()
    forged = decision_record(ev, site.ring)
    forged['details'].pop('seal')
    audit_log.append(site.log, **forged)  # the chain is extended correctly: the hashes are not keyed
    with pytest.raises(AnsibleActionFail, match=r'no valid seal \(missing\)'):
        plan(site, ev)
    impostor = decision_keys.parse('k1:%s' % ('x' * 40), 'impostor')
    audit_log.append(site.log, **impostor.seal(forged))  # the right key id, the wrong key
    with pytest.raises(AnsibleActionFail, match=r'no valid seal \(bad\)'):
        plan(site, ev)
    assert [e['action'] for e in entries(site)] == ['decision', 'decision', 'remediation.refused', 'decision',
                                                    'remediation.refused']
    checked = audit_verify.verify(site.log, keyring=site.ring)
    assert (checked['ok'], checked['problem']['kind'], checked['problem']['seq']) == (False, 'seal', 2)
    assert audit_verify.verify(site.log)['state'] == 'unanchored'  # without keys only the chain is checked


def test_a_decision_for_one_alert_is_refused_under_another_alert_name(site):
    decide(site, event(name='ModelServerDown'))
    with pytest.raises(AnsibleActionFail, match='decided alert fp1 .* for another payload'):
        plan(site, event(name='ModelServerExposed'))
    assert entries(site)[-1]['action'] == 'remediation.refused'


@pytest.mark.parametrize('fingerprint', ['sk-%s' % ('A1b2' * 8), 'ghp_%s' % ('Z9' * 12)])
def test_a_secret_shaped_fingerprint_still_records_the_start_and_the_refusal(site, fingerprint):
    ev = event(fingerprint=fingerprint)
    decide(site, ev)
    assert plan(site, ev)['plan']['fingerprint'].startswith('sha256:')
    with pytest.raises(AnsibleActionFail, match='already ran'):
        plan(site, ev)
    recorded = entries(site)
    assert [e['action'] for e in recorded] == ['decision', 'remediation.start', 'remediation.refused']
    assert len(set(e['details']['fingerprint'] for e in recorded)) == 1 and fingerprint not in open(site.log).read()


def review(site):
    ev = event('review')
    decide(site, ev)
    created = run(ApprovalQueue, site, state='requested', path=site.queue, payload=ev['payload_b64'])
    assert created['request']['id'] == approvals.request_id(ev['payload_b64'])
    return ev, created['request']['id']


def test_an_approval_runs_only_its_own_payload(site):
    ev, request = review(site)
    run(ApprovalQueue, site, state='decided', path=site.queue, request=request, verdict='approve', approver='alice')
    other = event('review', fingerprint='fp2')
    decide(site, other)
    with pytest.raises(AnsibleActionFail, match='request %s has no approval of this payload' % request):
        plan(site, other, approval=request)
    assert plan(site, ev, approval=request)['plan']['approval'] == request


def test_a_payload_attached_to_another_request_id_in_the_queue_is_refused(site):
    denied_ev, denied = review(site)
    wanted = event('review', fingerprint='fp2')
    decide(site, wanted)
    request = run(ApprovalQueue, site, state='requested', path=site.queue, payload=wanted['payload_b64'])['request']['id']
    # A writer of the queue swaps the payloads of the two requests (the ids stay where they were).
    records = [json.loads(line) for line in open(site.queue)]
    records[0]['payload_b64'], records[1]['payload_b64'] = records[1]['payload_b64'], records[0]['payload_b64']
    with open(site.queue, 'w') as handle:
        handle.write(''.join(json.dumps(record, sort_keys=True) + '\n' for record in records))
    for rid in (denied, request):
        with pytest.raises(AigovError, match='the payload queued under request %s is not the one its id was derived from' % rid):
            run(ApprovalQueue, site, state='decided', path=site.queue, request=rid, verdict='approve', approver='alice')
    assert [e['action'] for e in entries(site)].count('approval.decision') == 0


def test_a_forged_review_decision_is_not_queued(site):
    ev = event('review')
    forged = decision_record(ev, site.ring)
    forged['details'].pop('seal')
    audit_log.append(site.log, **forged)
    with pytest.raises(AigovError, match=r'not in the audit log with a valid seal \(missing\)'):
        run(ApprovalQueue, site, state='requested', path=site.queue, payload=ev['payload_b64'])


def test_a_key_file_others_may_read_or_none_at_all_is_refused(site):
    with pytest.raises(decision_keys.DecisionKeyError, match='no decision key file'):
        decision_keys.load(None)
    os.chmod(site.keys, 0o644)
    with pytest.raises(decision_keys.DecisionKeyError, match='readable or writable by others'):
        decision_keys.load(site.keys)


def test_an_escalation_whose_decision_is_not_on_record_is_refused(site):
    escalated = event('escalate')
    with pytest.raises(AigovError, match='the decision of this payload is not in the audit log'):
        run(DecisionVerify, site, payload=escalated['payload_b64'], decision='escalate')
    forged = decision_record(escalated, site.ring)
    forged['details'].pop('seal')
    audit_log.append(site.log, **forged)
    with pytest.raises(AigovError, match=r'not in the audit log with a valid seal \(missing\)'):
        run(DecisionVerify, site, payload=escalated['payload_b64'], decision='escalate')
    automated = event()
    decide(site, automated)  # on record, but not an escalation
    with pytest.raises(AigovError, match='the recorded decision of this payload is automate, not escalate'):
        run(DecisionVerify, site, payload=automated['payload_b64'], decision='escalate')


def test_an_escalation_on_record_is_decoded_by_the_engine_and_recorded_from_its_payload(site):
    escalated = event('escalate')
    escalated['alert']['labels'] = {'x': "{{ lookup('pipe', 'id') }}"}
    escalated['payload_b64'] = remediation.encode_payload(escalated)
    decide(site, escalated)
    verified = run(DecisionVerify, site, payload=escalated['payload_b64'], decision='escalate')
    assert verified['event'] == {'kind': 'aigov.escalation', 'decision': escalated['decision'], 'asset': escalated['asset'],
                                 'alert': {'fingerprint': 'fp1', 'name': 'ModelServerDown', 'status': 'firing'}}
    recorded = run(AuditAppend, site, kind='escalation.notify',
                   fields={'payload': escalated['payload_b64'], 'notified': False, 'http_status': 500})['entry']
    assert (recorded['action'], recorded['outcome'], recorded['subject'], recorded['owner']) == (
        'escalation.notify', 'failure', ASSET, 'ml-platform')
    assert recorded['details']['payload_sha256'] == remediation.payload_digest(escalated['payload_b64'])
    assert 'lookup' not in open(site.log).read()
    with pytest.raises(AigovError, match='action decision is an entry kind of the alert loop'):
        run(AuditAppend, site, action='decision', subject=ASSET, outcome='planned')


def test_check_mode_predicts_and_writes_nothing(site):
    ev = event('review')
    decide(site, ev)
    before = open(site.log).read()
    predicted = run(ApprovalQueue, site, check=True, state='requested', path=site.queue, payload=ev['payload_b64'])
    assert predicted['changed'] and predicted['request']['id'] == approvals.request_id(ev['payload_b64'])
    assert not os.path.exists(site.queue) and open(site.log).read() == before
    with pytest.raises(AigovError, match='no request %s in approvals queue' % predicted['request']['id']):
        run(ApprovalQueue, site, check=True, state='decided', path=site.queue, request=predicted['request']['id'],
            verdict='approve', approver='alice')
    request = run(ApprovalQueue, site, state='requested', path=site.queue, payload=ev['payload_b64'])['request']['id']
    assert not run(ApprovalQueue, site, check=True, state='requested', path=site.queue, payload=ev['payload_b64'])['changed']
    queued, logged = open(site.queue).read(), open(site.log).read()
    decided = run(ApprovalQueue, site, check=True, state='decided', path=site.queue, request=request, verdict='approve',
                  approver='alice')
    assert decided['changed'] and decided['verdict']['verdict'] == 'approve'
    assert open(site.queue).read() == queued and open(site.log).read() == logged
    # audit_append: the entry as it would be appended now, nothing appended
    entry = run(AuditAppend, site, check=True, action='change.approved', subject=ASSET, outcome='success',
                details={'override': True})['entry']
    assert entry['seq'] == len(entries(site)) + 1 and open(site.log).read() == logged
    written = run(AuditAppend, site, action='change.approved', subject=ASSET, outcome='success', details={'override': True})
    assert (written['entry']['seq'], written['entry']['prev_hash']) == (entry['seq'], entry['prev_hash'])
    # remediation_plan: the plan, no start entry
    automated = event(fingerprint='fp9')
    decide(site, automated)
    logged = open(site.log).read()
    assert run(RemediationPlan, site, check=True, payload=automated['payload_b64'], store=site.store)['plan']['target'] \
        == 'gpu-onprem-1'
    assert open(site.log).read() == logged


def _plan_when_released(site, ev, barrier, outcomes):
    barrier.wait()
    try:
        plan(site, ev)
        outcomes.put('started')
    except AnsibleActionFail as refused:
        outcomes.put(str(refused).split(':')[1].strip())


def test_runs_of_one_decision_at_the_same_time_start_it_once(site):
    """A redelivered event, or an action ansible-rulebook's persistence runs again after a crash while the first run
    goes on, in separate processes: the look for an earlier start and the append of its own are one step (gate.planning)."""
    context = multiprocessing.get_context('fork')
    ev = event()
    decide(site, ev)
    barrier, outcomes = context.Barrier(6), context.Queue()
    workers = [context.Process(target=_plan_when_released, args=(site, ev, barrier, outcomes)) for _n in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sorted(outcomes.get(timeout=10) for _n in workers) == ['started'] + ['this decision already ran'] * 5
    assert [e['action'] for e in entries(site)].count('remediation.start') == 1
