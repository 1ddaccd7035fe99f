"""Every exit of a remediation that did not end well reaches a person, once (episodes.Watch, intake.Intake.check_exits):
a failed run or post-check, a refused plan, no outcome within the time limit, an approval request without a verdict.
Each becomes a sealed escalate decision naming the exception kind and the reason, recorded before it is queued."""

import asyncio

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import episodes
from ansible_collections.aigov.core.plugins.module_utils.alerts.payload import payload_digest
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, entries
from tests.contracts import validate
from tests.unit.plugins.module_utils.alerts.test_intake import RING, alert, body, receive, site  # noqa: F401 pylint: disable=unused-import


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def started(site, clock=None):  # noqa: F811
    queue, pipeline, log = site
    if clock is not None:
        pipeline.outcomes.watch.clock = clock
    assert receive(pipeline, body(alert()))[1]['accepted'] == 1
    return queue.events[0]


def exits(pipeline):
    pipeline.outcomes.polled = None  # the poll is at most once a second: the test does not wait for it
    return asyncio.run(pipeline.check_exits())


def plan_of(event):
    return {'asset_id': event['asset']['asset_id'], 'remediation': event['decision']['remediation'],
            'target': event['asset']['inventory_hostname'], 'fingerprint': event['alert']['fingerprint'],
            'starts_at': event['alert']['starts_at'], 'decision': event['decision']['decision'],
            'payload_sha256': payload_digest(event['payload_b64'])}


def outcome(log, event, result, note):
    fields = {'plan': plan_of(event), 'outcome': result, 'note': note}
    audit_log.append(log, **entries.build(entries.REMEDIATION_OUTCOME, fields, 'ops'))


def escalations(queue):
    return [event for event in queue.events if event['decision']['decision'] == 'escalate']


def test_a_failed_run_escalates_once_to_the_escalation_owner_recorded_and_sealed(site):  # noqa: F811
    queue, pipeline, log = site
    event = started(site)
    assert event['decision']['decision'] == 'automate' and event['decision']['remediation'] == 'restart_model_server'
    assert exits(pipeline) == 0  # nothing happened yet
    outcome(log, event, 'failure', 'restarting vllm: /usr/local/sbin/restart-vllm exited with 1')
    assert exits(pipeline) == 1
    (escalation,) = escalations(queue)
    decision = escalation['decision']
    assert decision['accountable'] == event['decision']['owners']['escalation'] and decision['remediation'] is None
    assert decision['exceptions'] == ['remediation_failed']
    validate(decision, 'decision.v1.json')
    assert decision['reasons'] == ['remediation restart_model_server failed: restart_model_server on gpu-onprem-1: '
                                   'restarting vllm: /usr/local/sbin/restart-vllm exited with 1']
    assert escalation['meta']['exception'] == 'remediation_failed'
    recorded = [entry for _n, entry in audit_log.read_entries(log) if entry['action'] == 'decision']
    assert recorded[-1]['details']['payload_sha256'] == payload_digest(escalation['payload_b64'])
    assert recorded[-1]['details']['exceptions'] == ['remediation_failed'] and RING.check(recorded[-1]) is None
    assert audit_verify.verify(log)['ok']
    assert exits(pipeline) == 0 and len(escalations(queue)) == 1  # once
    pipeline.outcomes.polled = None
    assert receive(pipeline, body(alert()))[1]['duplicate'] == 1  # a re-notification is not escalated again


def test_a_success_is_not_an_exit(site):  # noqa: F811
    queue, pipeline, log = site
    clock = Clock()
    event = started(site, clock)
    outcome(log, event, 'success', 'listening')
    clock.now += 10 ** 6
    assert exits(pipeline) == 0 and escalations(queue) == []


def test_no_outcome_within_the_time_limit_escalates(site):  # noqa: F811
    queue, pipeline, _log = site
    clock = Clock()
    started(site, clock)
    clock.now += episodes.OUTCOME_TIMEOUT - 1
    assert exits(pipeline) == 0
    clock.now += 2
    assert exits(pipeline) == 1
    assert escalations(queue)[0]['decision']['reasons'] == [
        'remediation restart_model_server reported no outcome within %d s' % episodes.OUTCOME_TIMEOUT]
    clock.now += 10 ** 6
    assert exits(pipeline) == 0


def test_a_refused_plan_escalates_but_a_second_run_of_one_decision_does_not(site):  # noqa: F811
    queue, pipeline, log = site
    event = started(site)
    audit_log.append(log, **entries.remediation_refused(event, event['payload_b64'], None,
                                                        'this decision already ran: remediation.start seq 2', 'ops'))
    assert exits(pipeline) == 0
    audit_log.append(log, **entries.remediation_refused(event, event['payload_b64'], None, 'the service definition of '
                                                        'asset X is incomplete: services[\'vllm\'] has no restart_command', 'ops'))
    assert exits(pipeline) == 1
    assert escalations(queue)[0]['decision']['exceptions'] == ['refusal_escalated']
    assert 'has no restart_command' in escalations(queue)[0]['decision']['reasons'][0]


def review(site, clock):  # noqa: F811
    queue, pipeline, log = site
    pipeline.outcomes.watch.clock = clock
    event = dict(started(site, clock))
    decision = dict(event['decision'], decision='review')
    event = dict(event, decision=decision)
    event['payload_b64'] = event['payload_b64'] + ''  # the watch keys on the payload's digest
    pipeline.outcomes.watch.items.clear()
    pipeline.outcomes.watch.expect(event)
    request = {'id': 'r1', 'payload_b64': event['payload_b64'], 'asset_id': event['asset']['asset_id'],
               'fingerprint': event['alert']['fingerprint'], 'proposed_action': 'restart_model_server', 'owner': 'x',
               'decision': 'review'}
    audit_log.append(log, **entries.approval_requested(request, '/q', 'ops'))
    return event, request


@pytest.mark.parametrize('verdict', [None, 'deny', 'approve'])
def test_an_approval_without_a_verdict_expires_into_an_escalation(site, verdict):  # noqa: F811
    queue, pipeline, log = site
    clock = Clock()
    event, request = review(site, clock)
    assert exits(pipeline) == 0
    if verdict:
        audit_log.append(log, **entries.approval_decision(request, verdict, 'alice', RING, 'ops'))
        assert exits(pipeline) == 0
    clock.now += pipeline.outcomes.watch.approval_ttl + 1
    assert exits(pipeline) == (0 if verdict == 'deny' else 1)
    if verdict is None:
        assert escalations(queue)[0]['decision']['exceptions'] == ['approval_expired']
        assert escalations(queue)[0]['decision']['reasons'][0].startswith('approval request r1 for remediation '
                                                                          'restart_model_server expired')
    if verdict == 'approve':  # approved in time, then the remediation reported nothing in time
        assert escalations(queue)[0]['decision']['exceptions'] == ['no_outcome']


def test_the_watch_is_bounded():
    watch = episodes.Watch(max_watched=3)
    for number in range(10):
        watch.expect({'decision': {'decision': 'automate', 'remediation': 'r'}, 'payload_b64': 'p%d' % number})
    assert len(watch.items) == 3
    watch.expect({'decision': {'decision': 'escalate', 'remediation': None}, 'payload_b64': 'e'})
    assert len(watch.items) == 3


def test_refused_requests_are_counted_per_source_and_recorded_periodically_never_the_credential(site):  # noqa: F811
    from ansible_collections.aigov.core.plugins.module_utils.audit import governance_kpis
    from tests.contracts import validate as check
    queue, pipeline, log = site
    wrong = 'Bearer wrong-token-0123456789-SECRET'
    for remote, authorization in [('10.0.0.9', wrong)] * 3 + [('10.0.0.7', None)]:
        status = asyncio.run(pipeline.receive(body(alert()), authorization, None, None, '/alerts', remote))[0]
        assert status in (401, 403)
    assert asyncio.run(pipeline.record_refusals(interval=3600)) == 0  # not yet: at most once per interval
    assert asyncio.run(pipeline.record_refusals(interval=0)) == 4
    assert asyncio.run(pipeline.record_refusals(interval=0)) == 0  # counted once
    (entry,) = [entry for _n, entry in audit_log.read_entries(log) if entry['action'] == entries.REFUSED_REQUESTS]
    check(entry, 'audit-entry.v1.json')
    assert entry['details']['by_source'] == {'10.0.0.9': {'403': 3}, '10.0.0.7': {'401': 1}}
    assert entry['details']['total'] == 4 and 'SECRET' not in open(log).read() and queue.events == []
    kpis = governance_kpis.compute(log)['kpis']['intake']
    assert (kpis['refused_requests'], kpis['refused_by_source']) == (4, {'10.0.0.9': 3, '10.0.0.7': 1})


def test_the_refusal_counts_are_bounded():
    from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake
    counts = alert_intake.RefusedRequests(max_sources=2)
    for number in range(50):
        counts.note('10.0.0.%d' % number, alert_intake.AuthRefused(403, 'bearer token refused'))
    drained = counts.drain()
    assert (len(drained['by_source']), drained['other_sources'], drained['total']) == (2, 48, 50)
    assert counts.drain() is None
