"""Rotation-side findings over the real file backend: stale, shared, plaintext outside the backend, never a value."""

import datetime
import json

import pytest

from ansible_collections.aigov.core.plugins.module_utils.secrets import agent_secret_findings as engine
from ansible_collections.aigov.core.plugins.module_utils.store.assets import make_asset
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import DEFAULT_FINGERPRINT_KEY, fingerprint
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import SecretBackend
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend_file import FileBackend
from tests.contracts import validate

LATER = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=40)
SHARED, OWN, TOKEN = 'sk-agent-SHAREDSHAREDSHARED0001', 'sk-agent-OWNOWNOWNOWNOWN0002', 's.shortlivedtoken0003'


def credential(host, location, value):
    attributes = dict(provider='openai', variable='OPENAI_API_KEY', source='env_file', location=location,
                      fingerprint=fingerprint(value, DEFAULT_FINGERPRINT_KEY))
    asset = make_asset('credential', host, 'm1', ('env_file', location, 'OPENAI_API_KEY', attributes['fingerprint']),
                       'openai', attributes, [{'type': 'file', 'path': location}])
    return dict(asset, inventory_hostname=host)


@pytest.fixture
def backend(tmp_path):
    store = FileBackend(str(tmp_path / 'kv'))
    store.write('agents/bot-a', SHARED, 0)
    store.write('agents/bot-b', SHARED, 0)
    store.write('agents/bot-c', OWN, 0)
    record = dict(schema_version=1, current=dict(accessor='acc1', fingerprint=fingerprint(TOKEN, DEFAULT_FINGERPRINT_KEY)),
                  previous=[])
    store.write('agents/bot-d/credential', json.dumps(record), 0)
    return store


AGENTS = [dict(name='bot-a', host='h1', env_file='/etc/bot-a/env'), 'bot-b',
          dict(name='bot-c', host='h1', env_file='/etc/bot-c/env'), dict(name='bot-d', host='h2', env_file='/etc/bot-d/env')]


def by_rule(findings):
    return sorted((f['rule_id'], f['asset_name'] or f['asset_id'].split(':')[0], f['host']) for f in findings)


def test_stale_shared_and_plaintext(backend):
    assets = [credential('h1', '/etc/bot-c/env', OWN),          # delivered where it belongs: no finding
              credential('h1', '/opt/app/.env', OWN),           # a copy: finding
              credential('h2', '/etc/bot-c/env', OWN),          # right file, wrong host: finding
              credential('h2', '/root/.env', TOKEN),            # the short-lived token outside its file: finding
              credential('h2', '/srv/x/.env', 'unrelated-key-0004')]
    findings, rules = engine.evaluate(backend, AGENTS, assets, max_age='30d', now=LATER)
    assert by_rule(findings) == [
        ('AIGOV-AS-001', 'bot-a', 'h1'), ('AIGOV-AS-001', 'bot-b', None), ('AIGOV-AS-001', 'bot-c', 'h1'),
        ('AIGOV-AS-002', 'bot-a', 'h1'), ('AIGOV-AS-002', 'bot-b', None),
        ('AIGOV-AS-003', 'openai', 'h1'), ('AIGOV-AS-003', 'openai', 'h2'), ('AIGOV-AS-003', 'openai', 'h2')]
    counts = dict((r['rule_id'], (r['applied'], r['failed'])) for r in rules)
    assert counts == {'AIGOV-AS-001': (3, 3), 'AIGOV-AS-002': (4, 2), 'AIGOV-AS-003': (4, 3)}
    shared = [f for f in findings if f['rule_id'] == 'AIGOV-AS-002' and f['asset_name'] == 'bot-a'][0]
    assert {'type': 'shared_with', 'agents': ['bot-b']} in shared['evidence']
    assert not [v for v in (SHARED, OWN, TOKEN) if v in json.dumps([findings, rules])]


def test_findings_match_the_finding_schema(backend):
    findings, _rules = engine.evaluate(backend, AGENTS, [credential('h1', '/tmp/.env', OWN)], max_age='1d', now=LATER)
    assert findings
    for finding in findings:
        validate(finding, 'finding.v1.json')


def test_nothing_due_nothing_found(backend):
    findings, rules = engine.evaluate(backend, ['bot-c'], [], max_age='30d')
    assert findings == [] and [r['failed'] for r in rules] == [0, 0, 0]


def test_merge_into_a_policy_check_recounts(backend):
    check = dict(summary=dict(assets=0, findings=0, by_severity={}, waived=0, compliant=True, fail_on='high',
                              threshold_exceeded=False, complete=True), findings=[], rules=[], assets=[])
    findings, rules = engine.evaluate(backend, AGENTS, [], max_age='30d', now=LATER)
    merged = engine.merge_into_check(check, findings, rules)
    assert merged['summary']['findings'] == 5 and merged['summary']['threshold_exceeded'] and merged['summary']['complete']
    assert len(merged['rules']) == 3 and check['findings'] == []


def test_agents_listed_from_the_backend(backend):
    assert engine.agents_in_backend(backend) == ['bot-a', 'bot-b', 'bot-c', 'bot-d']
    findings, _rules = engine.evaluate(backend, engine.agents_in_backend(backend), [])
    assert sorted(f['asset_name'] for f in findings) == ['bot-a', 'bot-b']


def test_a_backend_that_cannot_list_is_named(tmp_path):
    class NoList(FileBackend):
        list = SecretBackend.list  # the interface's default: a backend without listing

    with pytest.raises(engine.FindingsError, match='this backend cannot list secrets; pass agents explicitly'):
        engine.agents_in_backend(NoList(str(tmp_path / 'kv')))


@pytest.mark.parametrize('agents, message', [([{'path': 'x'}], r'agents\[0\] must be'), ([''], r'agents\[0\] must be')])
def test_bad_agents_named(backend, agents, message):
    with pytest.raises(engine.FindingsError, match=message):
        engine.evaluate(backend, agents, [])
