"""Guardrails: validation of the policy and the decision for each kind of subject."""

import datetime
import os

import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.alerts import guardrails
from ansible_collections.aigov.core.plugins.module_utils.common.errors import DataFileError
from tests.contracts import validate

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..')
DEFAULT = os.path.join(ROOT, 'guardrails', 'default.yml')
WEDNESDAY = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def policy():
    return guardrails.load_guardrails(DEFAULT)


def subject(tier='minimal', kind='model_server', **extra):
    return dict({'known': True, 'asset_id': 'model_server:00000000000000aa', 'kind': kind, 'inventory_hostname': 'gpu-1',
                 'use_case': 'chat', 'risk_tier': tier, 'environment': 'on_prem', 'shadow': False,
                 'owners': {'decision': 'ml-platform', 'risk': 'security-office', 'escalation': 'ml-on-call'}}, **extra)


@pytest.mark.parametrize('case, subj, confidence, kwargs, expected', [
    ('low risk, sure', subject('minimal'), 0.9, {}, 'automate'),
    ('low risk, unsure', subject('minimal'), 0.5, {}, 'review'),
    ('low risk, guessing', subject('minimal'), 0.2, {}, 'escalate'),
    ('limited, sure enough', subject('limited'), 0.9, {}, 'automate'),
    ('limited, disruptive', subject('limited'), 0.9, {'disruptive': True}, 'review'),
    ('minimal, disruptive', subject('minimal'), 0.9, {'disruptive': True}, 'automate'),
    ('high risk, very sure', subject('high'), 0.99, {}, 'review'),
    ('high risk, unsure', subject('high'), 0.3, {}, 'escalate'),
    ('prohibited', subject('prohibited'), 0.99, {}, 'escalate'),
    ('shadow AI', subject('minimal', shadow=True), 0.99, {}, 'escalate'),
    ('no tier', subject(None), 0.99, {}, 'escalate'),
    ('no confidence', subject('minimal'), None, {}, 'escalate'),
    ('unknown asset', {'known': False}, 0.99, {}, 'reject'),
    ('out of scope', subject('minimal', kind='ai_package'), 0.99, {}, 'reject'),
    ('rate limit', subject('minimal'), 0.9, {'actions_last_hour': 3}, 'escalate'),
    ('under the rate limit', subject('minimal'), 0.9, {'actions_last_hour': 2}, 'automate'),
    ('blast radius', subject('minimal'), 0.9, {'target_hosts': 6}, 'escalate'),
])
def test_decisions(policy, case, subj, confidence, kwargs, expected):
    decision = guardrails.decide(policy, subj, confidence, WEDNESDAY, **kwargs)
    assert decision['decision'] == expected, (case, decision['reasons'])
    assert decision['reasons'], case


def test_decision_names_its_owner_and_policy(policy):
    escalated = guardrails.decide(policy, subject('high'), 0.1, WEDNESDAY)
    assert escalated['accountable'] == 'ml-on-call'
    assert escalated['owners']['risk'] == 'security-office'
    assert escalated['policy'] == {'name': 'default', 'sha256': policy['sha256']}
    assert escalated['decided_at'] == '2026-11-25T10:00:00+00:00'
    assert guardrails.decide(policy, subject('minimal'), 0.9, WEDNESDAY)['accountable'] == 'ml-platform'


def test_the_strictest_verdict_wins_and_the_others_are_kept(policy):
    decision = guardrails.decide(policy, subject('minimal'), 0.9, WEDNESDAY, actions_last_hour=5, target_hosts=9)
    assert decision['decision'] == 'escalate'
    assert len(decision['reasons']) == 2 and 'automation' not in ' '.join(decision['reasons'])
    assert any('at least 0.70' in reason for reason in decision['considered'])


@pytest.mark.parametrize('window, now, frozen', [
    ({'name': 'year-end', 'start': '2026-12-20T00:00:00Z', 'end': '2027-01-04T00:00:00Z'}, '2026-12-24T12:00:00+00:00', True),
    ({'name': 'year-end', 'start': '2026-12-20T00:00:00Z', 'end': '2027-01-04T00:00:00Z'}, '2027-01-04T00:00:00+00:00', False),
    ({'name': 'weekend', 'days': ['sat', 'sun'], 'from': '00:00', 'to': '23:59'}, '2026-11-28T13:00:00+00:00', True),
    ({'name': 'weekend', 'days': ['sat', 'sun'], 'from': '00:00', 'to': '23:59'}, '2026-11-25T13:00:00+00:00', False),
    ({'name': 'nightly', 'days': ['wed'], 'from': '22:00', 'to': '02:00'}, '2026-11-25T23:30:00+00:00', True),
    ({'name': 'nightly', 'days': ['wed'], 'from': '22:00', 'to': '02:00'}, '2026-11-25T12:00:00+00:00', False),
    ({'name': 'berlin', 'start': '2026-11-25T11:00:00+01:00', 'end': '2026-11-25T12:00:00+01:00'}, '2026-11-25T10:30:00+00:00', True),
])
def test_freeze_windows(tmp_path, window, now, frozen):
    data = yaml.safe_load(open(DEFAULT))
    data['freeze_windows'] = [window]
    path = tmp_path / 'g.yml'
    path.write_text(yaml.safe_dump(data))
    policy = guardrails.load_guardrails(str(path))
    when = datetime.datetime.fromisoformat(now)
    decision = guardrails.decide(policy, subject('minimal'), 0.95, when)
    assert (decision['decision'] == 'escalate') is frozen
    assert any(window['name'] in reason for reason in decision['reasons']) is frozen


@pytest.mark.parametrize('change, problem', [
    (lambda d: d['tiers'].pop('high'), 'tiers must map each of minimal, limited, high, prohibited, unregistered'),
    (lambda d: d['tiers']['minimal'].update(automate_min_confidence=1.5), 'tiers.minimal.automate_min_confidence must be a number from 0 to 1'),
    (lambda d: d['tiers']['limited'].update(disruptive='yolo'), 'tiers.limited.disruptive must be one of automate, review, escalate'),
    (lambda d: d['limits'].update(max_hosts_per_action=0), 'limits.max_hosts_per_action must be a whole number of at least 1'),
    (lambda d: d.update(freeze_windows=[{'name': 'x', 'start': '2026-12-20', 'end': '2026-12-21'}]), 'freeze_windows[0] (x): give start and end'),
    (lambda d: d.update(freeze_windows=[{'name': 'x', 'days': ['funday'], 'from': '00:00', 'to': '01:00'}]), 'freeze_windows[0] (x): days must be a list'),
    (lambda d: d.update(freeze_windows=[{'name': 'x', 'days': ['mon'], 'from': '25:00', 'to': '01:00'}]), 'freeze_windows[0] (x): give start and end'),
    (lambda d: d.update(scope=[{'flavour': 'x'}]), 'scope[0] must be a non-empty mapping'),
    (lambda d: d.update(tresholds={}), "unknown key(s): tresholds"),
])
def test_broken_policy_names_file_and_problem(tmp_path, change, problem):
    data = yaml.safe_load(open(DEFAULT))
    change(data)
    path = tmp_path / 'broken.yml'
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DataFileError) as raised:
        guardrails.load_guardrails(str(path))
    assert str(path) in str(raised.value) and problem in str(raised.value)


@pytest.mark.parametrize('subj, confidence', [(subject('high'), 0.1), ({'known': False}, None), (subject('minimal'), 1)])
def test_decisions_follow_the_published_schema(policy, subj, confidence):
    from tests.contracts import validate
    validate(guardrails.decide(policy, subj, confidence, WEDNESDAY), 'decision.v1.json')


@pytest.mark.parametrize('subj, kwargs, exceptions', [
    (subject('minimal'), {}, []),
    ({'known': False}, {}, ['unknown_asset']),
    (subject('minimal', kind='ai_package'), {}, ['out_of_scope']),
    (subject('minimal'), {'actions_last_hour': 5, 'target_hosts': 9}, ['rate_limit', 'blast_radius']),
])
def test_decisions_name_the_limits_that_held_them_back(policy, subj, kwargs, exceptions):
    decision = guardrails.decide(policy, subj, 0.9, WEDNESDAY, **kwargs)
    assert decision['exceptions'] == exceptions


def test_a_freeze_is_named_as_an_exception(tmp_path):
    data = yaml.safe_load(open(DEFAULT))
    data['freeze_windows'] = [{'name': 'always', 'days': list(guardrails.DAYS), 'from': '00:00', 'to': '23:59'}]
    path = tmp_path / 'g.yml'
    path.write_text(yaml.safe_dump(data))
    decision = guardrails.decide(guardrails.load_guardrails(str(path)), subject('minimal'), 0.95, WEDNESDAY)
    assert decision['exceptions'] == ['freeze']


def test_the_decider_gives_what_decide_gives_for_every_subject_confidence_and_count(policy):
    decider = guardrails.Decider(policy)
    subjects = [subject(tier) for tier in ('minimal', 'limited', 'high', 'prohibited', None)] + [
        subject('minimal', shadow=True), {'known': False}, subject('minimal', kind='ai_package'),
        subject('minimal', owners={'decision': 'someone-else'})]
    for second in range(3):
        now = WEDNESDAY + datetime.timedelta(seconds=second, microseconds=1000 * second)
        for subj in subjects:
            for confidence in (None, 0.2, 0.5, 0.9, 0.99):
                for count in (0, 2, 3, 7):
                    cached = decider.decide(dict(subj), confidence, now, actions_last_hour=count)
                    assert cached == guardrails.decide(policy, subj, confidence, now, actions_last_hour=count)
    # the same inputs in the same second are one decision, worked out once
    assert decider.decide(subject(), 0.9, WEDNESDAY) is decider.decide(subject(), 0.9, WEDNESDAY + datetime.timedelta(microseconds=5))


def test_the_decider_sees_a_freeze_start_within_a_second(tmp_path):
    data = yaml.safe_load(open(DEFAULT))
    data['freeze_windows'] = [{'name': 'cutover', 'start': '2026-11-25T10:00:00.500000+00:00', 'end': '2026-11-25T11:00:00Z'}]
    path = tmp_path / 'g.yml'
    path.write_text(yaml.safe_dump(data))
    decider = guardrails.Decider(guardrails.load_guardrails(str(path)))
    assert decider.decide(subject(), 0.9, WEDNESDAY)['decision'] == 'automate'
    frozen = decider.decide(subject(), 0.9, WEDNESDAY + datetime.timedelta(milliseconds=600))
    assert frozen['decision'] == 'escalate' and "'cutover'" in frozen['reasons'][0]


def proposed(remediation='restart_model_server', disruptive=False, hosts=1, alert='ModelServerDown'):
    """An action as remediation.actions.propose() gives it."""
    return {'alert': alert, 'remediation': remediation, 'disruptive': disruptive, 'hosts': hosts}


@pytest.mark.parametrize('tier', ['minimal', 'limited', 'high'])
def test_an_alert_no_remediation_is_mapped_for_is_escalated_never_automated(policy, tier):
    decision = guardrails.decide(policy, subject(tier), 1.0, WEDNESDAY, action=proposed(None, alert='GpuMemoryHigh'))
    assert decision['decision'] == 'escalate' and decision['remediation'] is None
    assert 'no remediation is mapped for alert GpuMemoryHigh' in decision['reasons']
    assert decision['accountable'] == 'ml-on-call'
    validate(decision, 'decision.v1.json')


def test_a_disruptive_action_on_a_limited_asset_is_capped_at_review(policy):
    assert policy['tiers']['limited']['disruptive'] == 'review'  # the bundled policy's setting this relies on
    decision = guardrails.decide(policy, subject('limited'), 0.99, WEDNESDAY, action=proposed('stop_gpu_process', True))
    assert (decision['decision'], decision['remediation']) == ('review', 'stop_gpu_process')
    assert decision['reasons'] == ['the action is disruptive; risk tier limited sends it to review']
    gentle = guardrails.decide(policy, subject('limited'), 0.99, WEDNESDAY, action=proposed())
    assert (gentle['decision'], gentle['remediation']) == ('automate', 'restart_model_server')


def test_an_action_over_max_hosts_per_action_escalates(policy):
    limit = policy['limits']['max_hosts_per_action']
    decision = guardrails.decide(policy, subject('minimal'), 0.99, WEDNESDAY, action=proposed(hosts=limit + 1))
    assert decision['decision'] == 'escalate' and decision['exceptions'] == ['blast_radius']
    assert guardrails.decide(policy, subject('minimal'), 0.99, WEDNESDAY, action=proposed(hosts=limit))['decision'] == 'automate'


def test_the_decider_tells_proposed_actions_apart(policy):
    decider = guardrails.Decider(policy)
    seen = [decider.decide(subject('limited'), 0.99, WEDNESDAY, action=action) for action in (
        proposed(), proposed('stop_gpu_process', True), proposed(None, alert='A'), proposed(None, alert='B'), None)]
    assert [d['decision'] for d in seen] == ['automate', 'review', 'escalate', 'escalate', 'automate']
    assert seen[2]['reasons'] != seen[3]['reasons'] and 'remediation' not in seen[4]
    for action, decision in zip((proposed(), proposed('stop_gpu_process', True)), seen):
        assert decision == guardrails.decide(policy, subject('limited'), 0.99, WEDNESDAY, action=action)
