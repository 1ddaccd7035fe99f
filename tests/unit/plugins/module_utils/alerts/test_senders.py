"""Issue 12: each sender's payloads as the sender sends them (tests/fixtures/senders, built from its documentation and
source), partial acceptance, episodes across re-notifications and restarts, and the senders' signatures."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake, episodes, intake, signatures
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, entries, governance_kpis
from tests.contracts import validate
from tests.unit.plugins.module_utils.alerts.test_intake import BEARER, TOKEN, alert, body, site  # noqa: F401  # pylint: disable=unused-import

SENDERS = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'fixtures', 'senders')


def fixture(name):
    with open(os.path.join(SENDERS, name)) as handle:
        return json.load(handle)


def receive(pipeline, data, headers=None, authorization=BEARER):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return asyncio.run(pipeline.receive(raw, authorization, None, None, '/alerts', headers=headers))


def logged(log, kind):
    return [entry for _number, entry in audit_log.read_entries(log) if entry['action'] == kind] if os.path.exists(log) else []


# ---- partial acceptance ------------------------------------------------------------------------------------------

def test_alertmanager_group_keeps_its_valid_alerts_and_refuses_the_unreadable_one_on_its_own(site):
    queue, pipeline, log = site
    sent = fixture('alertmanager-v0.25-webhook.json')
    status, reply = receive(pipeline, sent['body'], sent['headers'])
    assert status == 202 and reply['accepted'] == 2
    assert reply['refused'] == [{'index': 1, 'reason': 'alerts[1].labels.alertname is missing'}]
    firing, resolved = queue.events
    assert resolved['alert']['status'] == 'resolved' and resolved['alert']['confidence'] is None  # "high": unknown
    assert firing['meta']['truncated_alerts'] == 2 == resolved['meta']['truncated_alerts']
    [entry] = logged(log, entries.ALERT_INTAKE)
    validate(entry, 'audit-entry.v1.json')
    assert entry['details']['refused'] == [{'index': 1, 'reason': 'alerts[1].labels.alertname is missing'}]
    assert entry['details']['truncated_alerts'] == 2
    assert '10.88.0.6' not in json.dumps(entry) and 'a rule without' not in json.dumps(entry)  # no label value
    kpis = governance_kpis.compute(log)['kpis']
    assert kpis['intake'] == {'refused_alerts': 1, 'truncated_alerts': 2, 'ignored_events': 0, 'requests': 1,
                              'refused_requests': 0, 'refused_by_source': {}}


def test_a_request_is_400_only_when_nothing_in_it_is_an_alert(site):
    queue, pipeline, log = site
    status, reply = receive(pipeline, {'alerts': [{'labels': {}}, 'x']})
    assert status == 400 and [item['index'] for item in reply['refused']] == [0, 1]
    assert logged(log, entries.ALERT_INTAKE)[0]['details']['refused_count'] == 2  # recorded all the same
    for bad in (b'not json', b'[' * 100000, b'{"a":' * 5000, '{"alertname": "\udcff"}'.encode('utf-8', 'surrogatepass')):
        assert receive(pipeline, bad)[0] == 400
    assert queue.events == []


def test_prometheus_own_alerts_with_an_end_in_the_past_are_resolved(site):
    queue, pipeline, _log = site
    sent = fixture('prometheus-api-v2-alerts.json')
    assert receive(pipeline, sent['body'], sent['headers'])[1]['accepted'] == 2
    assert [e['alert']['status'] for e in queue.events] == ['firing', 'resolved']
    assert queue.events[0]['decision'] is not None and queue.events[1]['decision'] is None


def test_an_annotation_cut_to_the_size_limit_says_so(site):
    queue, pipeline, _log = site
    long_alert = dict(alert(), annotations={'description': 'x' * 10000})
    receive(pipeline, body(long_alert))
    text = queue.events[0]['alert']['annotations']['description']
    assert len(text) == 4096 and text.endswith('[cut at 4096 characters]')


# ---- episodes ----------------------------------------------------------------------------------------------------

def test_re_notifications_of_an_episode_are_decided_once_and_a_new_episode_always(site):
    queue, pipeline, log = site
    for _notification in range(3):  # group_interval, repeat_interval: the same episode
        receive(pipeline, body(alert()))
    assert len(queue.events) == 1
    receive(pipeline, body(alert(status='resolved')))
    again = dict(alert(), startsAt='2026-11-25T09:00:05Z')  # fires again seconds later: a new episode
    assert receive(pipeline, body(again))[1]['accepted'] == 1
    assert [e['alert']['status'] for e in queue.events] == ['firing', 'resolved', 'firing']
    assert len(logged(log, entries.DECISION)) == 2


def test_a_restarted_source_remembers_the_episodes_it_decided(site):
    queue, pipeline, log = site
    receive(pipeline, body(alert()))
    pipeline.close()
    restarted = intake.Intake(queue, dict(pipeline.config, gate=alert_intake.AlertGate()))
    assert receive(restarted, body(alert()))[1]['duplicate'] == 1
    assert len(queue.events) == 1 and len(logged(log, entries.DECISION)) == 1


def success(log, event):
    """The remediation.outcome entry remediate.yml writes when its post-check held."""
    plan = {'asset_id': event['asset']['asset_id'], 'remediation': 'restart_model_server', 'target': 'gpu-1',
            'fingerprint': event['alert']['fingerprint'], 'starts_at': event['alert']['starts_at']}
    audit_log.append_many(log, [entries.build(entries.REMEDIATION_OUTCOME,
                                              {'plan': plan, 'outcome': 'success', 'note': 'listening'}, 'ops')])


def test_an_episode_still_firing_after_its_remediation_succeeded_is_escalated_once(site):
    queue, pipeline, log = site
    receive(pipeline, body(alert()))
    assert queue.events[0]['decision']['decision'] == 'automate'
    success(log, queue.events[0])
    pipeline.outcomes.wall = lambda: time.time() + episodes.STILL_FIRING_SETTLE + 1  # the success could show by now
    status, reply = receive(pipeline, body(alert()))
    assert status == 202 and reply['escalated'] == 1
    escalation = queue.events[-1]['decision']
    assert escalation['decision'] == 'escalate' and escalation['remediation'] is None
    assert escalation['reasons'] == ['still firing after remediation restart_model_server reported success']
    pipeline.outcomes.polled = None
    assert receive(pipeline, body(alert()))[1]['duplicate'] == 1  # once
    pipeline.close()
    restarted = intake.Intake(queue, dict(pipeline.config, gate=alert_intake.AlertGate()))
    assert receive(restarted, body(alert()))[1]['duplicate'] == 1  # once, across a restart too
    assert len(queue.events) == 2


def test_a_notification_sent_before_the_success_could_show_is_no_evidence_it_did_not_help(site):
    """Alertmanager re-sends a firing alert it had before Prometheus scraped the mended target: arriving within the
    settle time of the success, it stays a duplicate; a notification after the settle time still escalates."""
    queue, pipeline, log = site
    receive(pipeline, body(alert()))
    success(log, queue.events[0])
    assert receive(pipeline, body(alert()))[1]['duplicate'] == 1  # a moment after the success
    pipeline.outcomes.polled = None
    pipeline.outcomes.wall = lambda: time.time() + episodes.STILL_FIRING_SETTLE - 5
    assert receive(pipeline, body(alert()))[1]['duplicate'] == 1  # still within the settle time
    assert [e['decision']['decision'] for e in queue.events] == ['automate']
    pipeline.outcomes.wall = lambda: time.time() + episodes.STILL_FIRING_SETTLE + 1
    assert receive(pipeline, body(alert()))[1]['escalated'] == 1
    assert [e['decision']['decision'] for e in queue.events] == ['automate', 'escalate']


def test_the_settle_time_is_a_source_option(site):
    queue, pipeline, log = site
    pipeline = intake.Intake(queue, dict(pipeline.config, gate=alert_intake.AlertGate(), still_firing_settle=5))
    receive(pipeline, body(alert()))
    success(log, queue.events[0])
    pipeline.outcomes.wall = lambda: time.time() + 6
    assert receive(pipeline, body(alert()))[1]['escalated'] == 1


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def alertmanager_group(*alerts):
    """An Alertmanager v0.25 webhook body (the fixture's envelope) holding alerts."""
    sent = fixture('alertmanager-v0.25-webhook.json')
    return dict(sent['body'], alerts=list(alerts), truncatedAlerts=0), sent['headers']


def am_alert(fingerprint, status='firing', starts_at='2026-12-06T09:58:31.102Z'):
    return {'status': status, 'labels': {'alertname': 'ModelServerDown', 'instance': '10.10.0.11:8000', 'job': 'vllm',
                                         'severity': 'critical', 'confidence': '0.95', 'fp': fingerprint},
            'annotations': {'summary': 'vLLM is down'}, 'startsAt': starts_at,
            'endsAt': '0001-01-01T00:00:00Z' if status == 'firing' else '2026-12-06T10:30:00Z',
            'generatorURL': 'http://prometheus:9090/graph', 'fingerprint': fingerprint}


def test_alerts_held_back_by_the_rate_are_decided_when_alertmanager_re_sends_them_after_the_hold(site):
    """Alertmanager re-sends every firing alert of a group at each group_interval: what the per-asset rate held back
    is looked at afresh each time (never a duplicate), and decided once the minute is over; the others stay duplicates."""
    queue, pipeline, log = site
    clock = Clock()
    pipeline = intake.Intake(queue, dict(pipeline.config, gate=alert_intake.AlertGate(rate_per_minute=2, clock=clock)))
    group, headers = alertmanager_group(am_alert('a1'), am_alert('a2'), am_alert('a3'))
    replies = []
    for seconds in (0, 30, 61):  # the first notification, re-sends at group_interval within the hold and after it
        clock.now = 1000.0 + seconds
        replies.append(receive(pipeline, group, headers)[1])
    assert [(r['accepted'], r['duplicate'], r['rate_limited']) for r in replies] == [(2, 0, 1), (0, 2, 1), (1, 2, 0)]
    assert sorted(e['alert']['fingerprint'] for e in queue.events) == ['a1', 'a2', 'a3']
    assert len(logged(log, entries.DECISION)) == 3  # each decided once


def test_a_flapping_alert_is_decided_when_alertmanager_re_sends_it_after_the_window(site):
    """Four status changes of one fingerprint within flap_window hold it back as flapping; Alertmanager's next
    notification of the same episode after the window is admitted and decided (and later ones are duplicates)."""
    queue, pipeline, log = site
    clock = Clock()
    pipeline = intake.Intake(queue, dict(pipeline.config, gate=alert_intake.AlertGate(flap_window=600, clock=clock)))
    starts = ['2026-12-06T10:0%d:00Z' % minute for minute in range(3)]
    sequence = [('firing', starts[0]), ('resolved', starts[0]), ('firing', starts[1]), ('resolved', starts[1]),
                ('firing', starts[2])]
    verdicts = []
    for status, starts_at in sequence:
        clock.now += 10
        group, headers = alertmanager_group(am_alert('f1', status, starts_at))
        reply = receive(pipeline, group, headers)[1]
        verdicts.append([key for key in ('accepted', 'flapping', 'duplicate') if reply[key]][0])
    assert verdicts == ['accepted', 'accepted', 'accepted', 'accepted', 'flapping']
    held = len(logged(log, entries.DECISION))
    clock.now += 601
    group, headers = alertmanager_group(am_alert('f1', 'firing', starts[2]))
    assert receive(pipeline, group, headers)[1]['accepted'] == 1  # the same episode, re-sent after the window
    assert receive(pipeline, group, headers)[1]['duplicate'] == 1
    assert len(logged(log, entries.DECISION)) == held + 1
    assert [e['alert']['starts_at'] for e in queue.events if e['alert']['status'] == 'firing'][-1] == starts[2]


# ---- CloudEvents -------------------------------------------------------------------------------------------------

def test_cloudevents_structured_binary_and_batched(site):
    queue, pipeline, log = site
    sent = fixture('cloudevents.json')
    assert receive(pipeline, sent['structured']['body'], sent['structured']['headers'])[1]['accepted'] == 1
    assert receive(pipeline, sent['resolved']['body'], sent['resolved']['headers'])[1]['accepted'] == 1
    firing, resolved = queue.events
    assert firing['alert']['fingerprint'] == resolved['alert']['fingerprint']  # the same thing, two event ids
    assert (firing['alert']['source'], resolved['alert']['status'], firing['alert']['confidence']) == (
        'cloudevents', 'resolved', 0.9)
    binary = sent['binary']
    status, reply = receive(pipeline, binary['body'], binary['headers'])
    assert status == 202 and reply['accepted'] == 1 and queue.events[-1]['alert']['name'] == 'ModelDrift'
    status, reply = receive(pipeline, sent['batched']['body'], sent['batched']['headers'])
    assert (status, reply['accepted'], reply['ignored']) == (202, 1, 1)
    assert reply['refused'] == [{'index': 2, 'reason': '[2].id is missing'}]


def test_cloudevents_of_unlisted_types_are_acknowledged_never_decided(site):
    queue, pipeline, log = site
    other = {'specversion': '1.0', 'type': 'com.github.pull_request.opened', 'source': '/gh', 'id': '1', 'data': {}}
    status, reply = receive(pipeline, other, {'Content-Type': 'application/cloudevents+json'})
    assert (status, reply['ignored'], reply['accepted']) == (202, 1, 0)
    assert queue.events == [] and logged(log, entries.DECISION) == []


# ---- signatures --------------------------------------------------------------------------------------------------

def grafana_auth(clock, timestamp_header='X-Grafana-Alerting-Timestamp'):
    return alert_intake.RequestAuth(grafana={'secret': 'graf-secret', 'header': None, 'timestamp_header': timestamp_header},
                                    clock=clock)


def test_grafana_hmac_signature_with_and_without_its_timestamp_header():
    raw = json.dumps(fixture('grafana-webhook.json')['body']).encode()
    auth = grafana_auth(lambda: 1000.0)
    signed = hmac.new(b'graf-secret', b'1000:' + raw, hashlib.sha256).hexdigest()
    headers = {'x-grafana-alerting-signature': signed, 'x-grafana-alerting-timestamp': '1000'}
    auth.check(None, None, None, raw, headers)
    for changed in ({'x-grafana-alerting-signature': signed[:-1] + '0'}, {'x-grafana-alerting-timestamp': '1001'},
                    {'x-grafana-alerting-timestamp': 'nan'}):
        with pytest.raises(alert_intake.AuthRefused):
            auth.check(None, None, None, raw, dict(headers, **changed))
    with pytest.raises(alert_intake.AuthRefused, match='replayed'):
        auth.check(None, None, None, raw, headers)
    bare = grafana_auth(lambda: 1000.0, None)  # no timestamp header configured: Grafana signs the body alone
    bare.check(None, None, None, raw, {'x-grafana-alerting-signature': hmac.new(b'graf-secret', raw, hashlib.sha256).hexdigest()})
    with pytest.raises(alert_intake.AuthRefused) as missing:
        bare.check(None, None, None, raw, {})
    assert missing.value.status == 401


def test_standard_webhooks_signature():
    secret = 'whsec_' + base64.b64encode(b'standard-webhooks-key-32-bytes!!').decode()
    auth = alert_intake.RequestAuth(standard_webhooks=secret, clock=lambda: 1700000000.0)
    raw = b'{"name": "X"}'
    signature = signatures.standard_sign(secret, 'msg_1', '1700000000', raw)
    digest = hmac.new(b'standard-webhooks-key-32-bytes!!', b'msg_1.1700000000.' + raw, hashlib.sha256).digest()
    assert signature == 'v1,' + base64.b64encode(digest).decode()  # the specification's construction, by hand
    headers = {'webhook-id': 'msg_1', 'webhook-timestamp': '1700000000', 'webhook-signature': 'v1,bm9wZQ== ' + signature}
    auth.check(None, None, None, raw, headers)  # one of several signatures (key rotation) holds
    with pytest.raises(alert_intake.AuthRefused, match='replayed'):
        auth.check(None, None, None, raw, headers)
    for changed in ({'webhook-id': 'msg_2'}, {'webhook-timestamp': 'nan'}, {'webhook-timestamp': '1699999000'},
                    {'webhook-signature': 'v2,' + signature[3:]}):
        with pytest.raises(alert_intake.AuthRefused):
            auth.check(None, None, None, raw, dict(headers, **changed))
    with pytest.raises(ValueError, match='whsec_'):
        alert_intake.RequestAuth(standard_webhooks='whsec_not base64!')


def test_a_nan_timestamp_never_passes_the_replay_window():
    auth = alert_intake.RequestAuth(hmac_secret='s3cret', clock=time.time)
    for stamp in ('nan', 'NaN', 'inf', '-inf', '1e999'):
        with pytest.raises(alert_intake.AuthRefused, match='replay window'):
            auth.check(None, alert_intake.sign('s3cret', stamp, b'{}'), stamp, b'{}')


def test_each_sender_signs_its_own_way_beside_the_bearer_token():
    secret = 'whsec_' + base64.b64encode(b'k' * 24).decode()
    auth = alert_intake.RequestAuth(token=TOKEN, hmac_secret='s3cret', standard_webhooks=secret, clock=lambda: 1000.0)
    auth.check(BEARER, alert_intake.sign('s3cret', 1000, b'{}'), '1000', b'{}', {})
    headers = {'webhook-id': 'm', 'webhook-timestamp': '1000', 'webhook-signature': signatures.standard_sign(secret, 'm', 1000, b'{}')}
    auth.check(BEARER, None, None, b'{}', headers)
    with pytest.raises(alert_intake.AuthRefused) as unsigned:
        auth.check(BEARER, None, None, b'{}', {})
    assert unsigned.value.status == 401 and 'standard_webhooks' in str(unsigned.value)
    with pytest.raises(alert_intake.AuthRefused):
        auth.check(None, None, None, b'{}', headers)  # the token is still required


@pytest.mark.parametrize('stamp', [None, 'yesterday', 12, ''])
def test_an_outcome_without_a_readable_time_settles_from_when_it_was_read(tmp_path, stamp):
    """An entry's time that cannot be read (none, not ISO 8601, not text) counts as the moment the source read it:
    never as long ago, which would escalate a notification sent before the success could show."""
    now = [1000000.0]
    outcomes = episodes.Outcomes(str(tmp_path / 'audit.jsonl'), settle=120, wall=lambda: now[0])
    entry = {'action': entries.REMEDIATION_OUTCOME, 'outcome': 'success', 'time': stamp,
             'details': {'fingerprint': 'fp1', 'starts_at': 's1', 'remediation': 'restart_model_server'}}
    outcomes.note(entry)
    firing = {'fingerprint': 'fp1', 'starts_at': 's1'}
    assert outcomes.due(firing) is None
    now[0] += 121
    assert outcomes.due(firing) == 'restart_model_server'
