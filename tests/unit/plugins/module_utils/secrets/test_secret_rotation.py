"""The rotation role's bookkeeping: which agents, why each rotates, what became of each, and the run's summary."""

import datetime
import os

import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.secrets import secret_rotation
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_rotation import RotationError, agents, decide, outcome, report
from tests.conftest import ROOT

BASE = dict(env_file='/etc/a/env', env_var='A_KEY', restart_command=['systemctl', 'restart', 'a'], verify_url='http://127.0.0.1:1/')
REGISTRY = {'path': 'r.yml', 'sha256': '0', 'use_cases': [
    {'id': 'triage', 'risk_tier': 'high', 'owners': {'decision': 'team-triage'}, 'assets': [{'kind': 'agent', 'name': 'b*'}]}]}


def agent(name='a', **more):
    return dict(BASE, name=name, host='h1', **more)


def test_explicit_and_inventory_agents_get_defaults_and_registry_owners():
    found = agents([agent('a', owner='team-a')], {'h2': [dict(BASE, name='bot')]}, REGISTRY)
    assert [(a['name'], a['host'], a['source'], a['owner'], a['risk_tier'], a['use_case']) for a in found] == [
        ('a', 'h1', 'explicit', 'team-a', None, None), ('bot', 'h2', 'inventory', 'team-triage', 'high', 'triage')]
    assert found[1]['file_owner'] == 'root' and found[1]['verify_status'] == 200 and found[1]['previous_env_var'] == 'A_KEY_PREVIOUS'
    assert agents([agent('bot', owner='me')], None, REGISTRY)[0]['owner'] == 'me'  # an agent's own owner wins


def test_every_problem_is_listed_with_where_it_is():
    with pytest.raises(RotationError) as caught:
        agents([agent('a'), dict(BASE, name='b'), agent('e', colour='red'), agent('a')],
               {'h2': [dict(BASE, name='c', restart_command='restart c', overlap='soon')], 'h3': 'x',
                'h4': [dict(BASE, name='d', host='elsewhere')]}, force=['zz'], leaked=['a', 'yy'])
    text = str(caught.value)
    for problem in ("agent_secret_rotation_agents[2] (agent e): unknown key 'colour'",
                    'agent_secret_rotation_agents[1] (agent b): host is required',
                    'agent_secret_rotation_agents[3]: agent a is already defined by agent_secret_rotation_agents[0]',
                    'inventory host h2: aigov_agents[0] (agent c): restart_command must be a non-empty list of strings',
                    "inventory host h2: aigov_agents[0] (agent c): overlap must be true, false or a duration such as 1h or 30m (got 'soon')",
                    'inventory host h3: aigov_agents must be a list of agents',
                    'inventory host h4: aigov_agents[0]: host must be left out (it is h4)',
                    'agent_secret_rotation_force names no known agent: zz (known: a)',
                    'agent_secret_rotation_leaked names no known agent: yy (known: a)'):
        assert problem in text
    assert text.startswith('agent secret rotation refused before changing anything')


@pytest.mark.parametrize('current, force, leaked, reason', [
    ({'exists': True, 'due': False, 'version': 3}, [], [], None),
    ({'exists': True, 'due': True, 'version': 3}, [], [], 'due'),
    ({'exists': False, 'due': False, 'version': None}, [], [], 'missing'),
    ({'exists': True, 'due': True, 'version': 3}, ['a'], [], 'forced'),
    ({'exists': True, 'due': False, 'version': 3}, ['a'], ['a'], 'leaked'),
])
def test_decision_reasons(current, force, leaked, reason):
    plan = decide(agents([agent()])[0], current, force, leaked)
    assert (plan['rotate'], plan['reason']) == (reason is not None, reason)
    assert (plan['reason_text'] is None) == (reason is None)


NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize('overlap, created, version, expected', [
    (False, '2026-11-25T12:00:00Z', 2, (False, False, False)),
    (True, '2026-11-25T12:00:00Z', 2, (True, False, False)),    # closes right after verification
    ('1h', '2026-11-25T11:46:00Z', 2, (True, True, True)),      # 14 minutes old: the previous key is still delivered
    ('30s', '2026-11-25T11:59:31.5Z', 2, (True, True, True)),   # to the second, not to age_days' 86 s
    ('30s', '2026-11-25T11:59:29Z', 2, (True, True, False)),
    ('1h', '2026-11-25T10:48:00Z', 2, (True, True, False)),     # 72 minutes old: the window is over
    ('1h', '2026-11-25T12:00:00Z', 1, (True, True, False)),     # a first version has no previous one
])
def test_overlap_window(overlap, created, version, expected):
    plan = decide(agents([agent(overlap=overlap)])[0], {'exists': True, 'due': False, 'version': version, 'created_time': created},
                  now=NOW)
    assert (plan['overlap'], plan['window_closes_later'], plan['window_open']) == expected


def test_a_leaked_key_gets_no_overlap_window():
    a = agents([agent(overlap='1h')])[0]
    plan = decide(a, {'exists': True, 'due': False, 'version': 2, 'created_time': '2026-11-25T11:59:00Z'}, leaked=['a'], now=NOW)
    assert (plan['reason'], plan['overlap'], plan['window_closes_later']) == ('leaked', False, False)
    assert decide(a, {'exists': True, 'due': False, 'version': 2, 'created_time': '2026-11-25T11:59:00Z'}, force=['a'],
                  now=NOW)['overlap']


def test_outcomes_and_the_summary():
    a = agents([agent('a', owner='team-a')])[0]
    before, after = {'version': 1, 'fingerprint': 'hmac-sha256:1'}, {'version': 2, 'fingerprint': 'hmac-sha256:2'}
    records = [outcome(a, 'rotated', before, after, reason='due'), outcome(a, 'unchanged', before),
               outcome(a, 'rolled_back', before, {'version': 3, 'fingerprint': 'hmac-sha256:1'}, 'verification failed')]
    assert [(r['audit_action'], r['audit_outcome']) for r in records] == [
        ('agent_secret_rotation.rotate', 'success'), ('agent_secret_rotation.rotate', None), ('agent_secret_rotation.rotate', 'rolled_back')]
    assert outcome(a, 'converged', before)['audit_action'] == 'agent_secret_rotation.converge'
    summary = report(records)
    assert not summary['ok'] and summary['counts']['rotated'] == 1 and summary['counts']['rolled_back'] == 1
    assert summary['lines'][0] == 'a on h1: rotated (version 1 -> 2, hmac-sha256:1 -> hmac-sha256:2)'
    assert summary['failed'] == ['a on h1: rolled_back (version 1 -> 3, hmac-sha256:1): verification failed']
    assert report(records[:2])['ok']
    with pytest.raises(RotationError, match='rotation outcome must be one of'):
        outcome(a, 'fine')


@pytest.mark.parametrize('result, before, after, line, ok, audit', [
    # No versions at all (refused before anything was read): no "None -> None".
    ('refused', {}, {}, 'a on h1: refused: lock held', False, ('rotate', 'refused')),
    ('rotated', {}, {'version': 1, 'fingerprint': 'f1'}, 'a on h1: rotated (version 1, f1): lock held', True, ('rotate', 'success')),
    ('unchanged', {'version': 2, 'fingerprint': 'f2'}, None, 'a on h1: unchanged (version 2, f2): lock held', True, ('rotate', None)),
    ('repaired', {'version': 3, 'fingerprint': 'f3'}, {'version': 4, 'fingerprint': 'f2'},
     'a on h1: repaired (version 3 -> 4, f3 -> f2): lock held', True, ('repair', 'success')),
    ('agent_rolled_back', {'version': 2, 'fingerprint': 'f2'}, {'version': 3, 'fingerprint': 'f3'},
     'a on h1: agent_rolled_back (version 2 -> 3, f2 -> f3): lock held', False, ('rotate', 'rolled_back')),
    ('backend_rolled_back', {'version': 2, 'fingerprint': 'f2'}, {'version': 4, 'fingerprint': 'f2'},
     'a on h1: backend_rolled_back (version 2 -> 4, f2): lock held', False, ('rotate', 'rolled_back')),
])
def test_every_outcome_reads_right(result, before, after, line, ok, audit):
    record = outcome(agents([agent('a')])[0], result, before, after, 'lock held')
    summary = report([record])
    assert summary['lines'] == [line] and summary['ok'] is ok
    assert (record['audit_action'], record['audit_outcome']) == ('agent_secret_rotation.' + audit[0], audit[1])


def test_a_short_lived_credential_is_named_by_accessor():
    a = agents([agent('t', credential_type='vault_token')])[0]
    assert report([outcome(a, 'renewed', {}, {'version': 'acc1', 'fingerprint': 'f'}, 'token renewed in place')])['lines'] == [
        't on h1: renewed (accessor acc1, f): token renewed in place']
    assert report([outcome(a, 'refused', {}, {'version': None, 'fingerprint': None}, 'x')])['lines'] == ['t on h1: refused: x']


def test_agent_keys_are_the_role_argument_spec_options():
    with open(os.path.join(ROOT, 'roles', 'agent_secret_rotation', 'meta', 'argument_specs.yml')) as handle:
        spec = yaml.safe_load(handle)['argument_specs']['main']['options']['agent_secret_rotation_agents']['options']
    assert set(spec) == set(secret_rotation.AGENT_KEYS)
    for key, option in spec.items():
        default = secret_rotation.AGENT_KEYS[key]
        assert option.get('required', False) == (default is secret_rotation.REQUIRED), key
        if 'default' in option:
            assert option['default'] == default, key
