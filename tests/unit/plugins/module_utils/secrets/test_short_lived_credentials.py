"""Short-lived credentials engine: decisions, records by accessor, commit/rollback, check mode, audit, no values.

The KV part is the real file backend; the OpenBao/Vault token and AppRole API is
faked at VaultKV2Backend.request (FakeVault below), the HTTP boundary.
"""

import datetime
import json
import os
import secrets

import pytest

from ansible_collections.aigov.core.plugins.module_utils.secrets import short_lived_credentials as engine
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import (
    BackendUnreachable, CASConflict, SecretBackendError, SecretNotFound)
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend_file import FileBackend

T0 = datetime.datetime(2026, 11, 25, 10, 0, 0, tzinfo=datetime.timezone.utc)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def text(moment):
    return moment.isoformat(timespec='microseconds').replace('+00:00', 'Z')


class FakeVault(FileBackend):
    """KV from the file backend; tokens and secret-ids in memory, answering like OpenBao 2 (checked by hand)."""

    kind = 'vault'

    def __init__(self, directory):
        super(FakeVault, self).__init__(directory)
        self.now, self.tokens, self.secret_ids, self.calls, self.down = T0, {}, {}, [], False

    def request(self, method, api_path, what, path, body=None, params=None, token=True):
        self.calls.append(api_path)
        if self.down:
            raise BackendUnreachable('%s: unreachable %s: connection refused' % (self.where(path), what))
        body = body or {}
        if api_path in ('auth/token/create-orphan',) or api_path.startswith('auth/token/create/'):
            ttl, value, accessor = int(body['ttl'][:-1]), 's.' + secrets.token_hex(12), secrets.token_hex(12)
            max_ttl = int(body.get('explicit_max_ttl', '0s')[:-1])
            self.tokens[accessor] = dict(value=value, issue=self.now, expire=self.now + datetime.timedelta(seconds=ttl),
                                         renewable=body['renewable'], max_ttl=max_ttl, policies=body.get('policies'))
            return dict(auth=dict(client_token=value, accessor=accessor, lease_duration=ttl))
        if api_path == 'auth/token/lookup-accessor':
            item = self._live_token(body['accessor'], path, what)
            return dict(data=dict(ttl=int((item['expire'] - self.now).total_seconds()), expire_time=text(item['expire']),
                                  issue_time=text(item['issue']), renewable=item['renewable'], explicit_max_ttl=item['max_ttl']))
        if api_path == 'auth/token/renew-accessor':
            item = self._live_token(body['accessor'], path, what)
            ttl = int(body['increment'][:-1])
            if item['max_ttl']:
                ttl = min(ttl, int((item['issue'] + datetime.timedelta(seconds=item['max_ttl']) - self.now).total_seconds()))
            item['expire'] = self.now + datetime.timedelta(seconds=ttl)
            return dict(auth=dict(client_token='', accessor=body['accessor'], lease_duration=ttl))
        if api_path == 'auth/token/revoke-accessor':
            self.tokens.pop(body['accessor'], None)
            return dict(warnings=['No token found with this accessor'])
        if api_path.endswith('/secret-id'):
            ttl, value, accessor = int(body['ttl'][:-1]), secrets.token_hex(16), secrets.token_hex(16)
            self.secret_ids[accessor] = dict(value=value, expire=self.now + datetime.timedelta(seconds=ttl))
            return dict(data=dict(secret_id=value, secret_id_accessor=accessor, secret_id_ttl=ttl))
        if api_path.endswith('/secret-id-accessor/lookup'):
            item = self.secret_ids.get(body['secret_id_accessor'])
            if item is None or item['expire'] <= self.now:
                raise SecretNotFound('%s: not found %s (HTTP 404)' % (self.where(path), what))
            return dict(data=dict(expiration_time=text(item['expire'])))
        if api_path.endswith('/secret-id-accessor/destroy'):
            if self.secret_ids.pop(body['secret_id_accessor'], None) is None:
                raise SecretBackendError('%s: HTTP 500 %s: failed to find accessor entry for secret_id_accessor' % (self.where(path), what))
            return {}
        if api_path.endswith('/role-id'):
            return dict(data=dict(role_id='role-id-of-agents'))
        raise AssertionError('unexpected call %s' % api_path)

    def _live_token(self, accessor, path, what):
        item = self.tokens.get(accessor)
        if item is None or item['expire'] <= self.now:
            raise SecretBackendError('%s: HTTP 400 %s: 1 error occurred: invalid accessor' % (self.where(path), what))
        return item

    def values(self):
        return [item['value'] for item in list(self.tokens.values()) + list(self.secret_ids.values())]


@pytest.fixture
def env(tmp_path):
    class Env(object):
        vault = FakeVault(str(tmp_path / 'kv'))
        audit = str(tmp_path / 'audit.jsonl')
        issued = []

        def run(self, seconds=0, check_mode=False, **kwargs):
            self.vault.now = at(seconds)
            kwargs.setdefault('agent', 'support-bot')
            kwargs.setdefault('credential_type', 'vault_token')
            kwargs.setdefault('ttl', '20s')
            if kwargs['credential_type'] == 'approle_secret_id':
                kwargs.setdefault('approle_role', 'agents')
            req = engine.Request(audit_path=self.audit, owner='team-support', actor='tester', **kwargs)
            changed, result, value = engine.ensure(self.vault, req, check_mode=check_mode, now=self.vault.now)
            if value:
                self.issued.append(value)
            return changed, result, value

        def record(self, agent='support-bot'):
            return json.loads(self.vault.read('agents/%s/credential' % agent).value)

        def entries(self):
            if not os.path.exists(self.audit):
                return []
            with open(self.audit) as handle:
                return [json.loads(line) for line in handle]

        def no_values_anywhere(self, *results):
            haystack = open(self.audit).read() + json.dumps(results) + open(self.vault._file('agents/support-bot/credential')).read()
            assert self.issued and not [value for value in self.issued if value in haystack]
    return Env()


def test_issue_then_unchanged_then_renew_near_expiry(env):
    changed, issued, value = env.run(policies=['agent'])
    assert changed and issued['action'] == 'issue' and value.startswith('s.') and issued['ttl'] == 20
    assert env.record()['current']['accessor'] == issued['accessor'] and issued['pending_revocation'] == []
    changed, same, value = env.run(seconds=5, policies=['agent'])
    assert not changed and same['action'] == 'none' and value is None and same['remaining'] == 15
    changed, renewed, value = env.run(seconds=12, policies=['agent'])  # 8 s left < 50 % of 20 s
    assert changed and renewed['action'] == 'renew' and value is None
    assert renewed['accessor'] == issued['accessor'] and renewed['expire_time'] == text(at(32))
    assert [e['action'] for e in env.entries()] == ['agent_credential.issue', 'agent_credential.renew']
    env.no_values_anywhere(issued, same, renewed)


def test_explicit_max_ttl_forces_a_new_token_and_commit_revokes_the_old(env):
    _c, first, _v = env.run(explicit_max_ttl='25s')
    changed, second, value = env.run(seconds=16, explicit_max_ttl='25s')  # renewal could reach only 9 s, under 50 % of 20
    assert changed and second['action'] == 'issue' and value and second['accessor'] != first['accessor']
    assert second['pending_revocation'] == [first['accessor']] and first['accessor'] in env.vault.tokens
    changed, committed, _v = env.run(seconds=17, explicit_max_ttl='25s', state='commit')
    assert changed and committed['action'] == 'commit' and committed['pending_revocation'] == []
    assert first['accessor'] not in env.vault.tokens and second['accessor'] in env.vault.tokens
    assert committed['revoked'] == [first['accessor']] and env.entries()[-1]['details']['revoked_accessors'] == [first['accessor']]
    assert not env.run(seconds=18, explicit_max_ttl='25s', state='commit')[0]


def test_expired_or_revoked_token_is_replaced(env):
    _c, first, _v = env.run()
    changed, second, _v = env.run(seconds=30)
    assert changed and second['action'] == 'issue' and 'expired or was revoked' in second['reasons'][0]
    assert second['pending_revocation'] == [first['accessor']]


def test_rollback_revokes_the_new_one_and_restores_the_previous(env):
    _c, first, _v = env.run(credential_type='approle_secret_id')
    _c, second, value = env.run(seconds=11, credential_type='approle_secret_id')  # 9 s left: a new secret-id
    assert second['action'] == 'issue' and second['role_id'] == 'role-id-of-agents' and value
    changed, rolled, _v = env.run(seconds=12, credential_type='approle_secret_id', state='rollback')
    assert changed and rolled['accessor'] == first['accessor'] and rolled['pending_revocation'] == []
    assert list(env.vault.secret_ids) == [first['accessor']]
    assert rolled['revoked'] == [second['accessor']]
    assert env.entries()[-1]['details']['old_accessor'] == second['accessor']


def test_an_unfinished_run_is_replaced_by_a_new_issue(env):
    env.run()
    env.run(seconds=30)  # issued, never committed: which one the agent holds is unknown
    changed, third, _v = env.run(seconds=31)
    assert changed and third['action'] == 'issue' and 'did not finish' in third['reasons'][0]
    assert len(third['pending_revocation']) == 2


def test_check_mode_predicts_and_changes_nothing(env):
    changed, predicted, value = env.run(check_mode=True)
    assert changed and predicted['action'] == 'issue' and predicted['accessor'] is None and value is None
    assert predicted['expire_time'] == text(at(20)) and env.vault.tokens == {} and env.entries() == []
    env.run()
    size = len(env.entries())
    record = env.record()
    changed, predicted, _v = env.run(seconds=12, check_mode=True)
    assert changed and predicted['action'] == 'renew' and predicted['expire_time'] == text(at(32))
    assert env.record() == record and len(env.entries()) == size
    assert not env.run(seconds=1, check_mode=True)[0]


def test_force_issues_a_new_credential_while_the_current_one_is_valid(env):
    _c, first, _v = env.run()
    changed, result, value = env.run(seconds=1, force=True)
    assert changed and result['action'] == 'issue' and value and result['pending_revocation'] == [first['accessor']]


def test_settings_change_issues_a_new_credential(env):
    env.run(policies=['a'])
    changed, result, _v = env.run(seconds=1, policies=['a', 'b'])
    assert changed and result['action'] == 'issue' and result['reasons'] == ['credential type or settings changed']


def test_backend_down_changes_nothing_and_names_the_backend(env):
    env.run()
    record = env.record()
    env.vault.down = True
    with pytest.raises(engine.CredentialError) as failure:
        env.run(seconds=30)
    assert str(failure.value).startswith('agent support-bot: vault backend') and 'unreachable' in str(failure.value)
    assert env.record() == record and env.entries()[-1]['outcome'] == 'failure'
    env.no_values_anywhere(str(failure.value))


def test_lost_record_race_revokes_the_credential_it_issued(env, monkeypatch):
    env.run()

    def lose(path, value, expected_version):
        raise CASConflict('%s: another writer changed the secret first; nothing written' % env.vault.where(path))
    monkeypatch.setattr(env.vault, 'write', lose)
    with pytest.raises(engine.CredentialError, match='another writer'):
        env.run(seconds=30)
    assert list(env.vault.tokens) == [env.record()['current']['accessor']]


def test_absent_revokes_everything(env):
    env.run()
    env.run(seconds=30)
    changed, result, _v = env.run(seconds=31, state='absent')
    assert changed and result['action'] == 'revoke' and env.vault.tokens == {} and result['accessor'] is None
    assert not env.run(seconds=32, state='absent')[0]


@pytest.mark.parametrize('kwargs, message', [
    (dict(credential_type='static'), 'credential_type must be one of'),
    (dict(credential_type='approle_secret_id', approle_role=None), 'needs approle_role'),
    (dict(ttl='soon'), 'ttl must be a positive number'),
    (dict(ttl='0'), 'ttl must be a positive number'),
    (dict(renew_threshold=1.5), 'renew_threshold must be a fraction'),
    (dict(explicit_max_ttl='10s'), 'must not be shorter than ttl'),
    (dict(token_role='../root'), 'token_role may hold only'),
])
def test_bad_requests_are_refused_before_any_call(env, kwargs, message):
    with pytest.raises(engine.CredentialError, match=message):
        env.run(**kwargs)
    assert env.vault.calls == []


def test_a_foreign_record_is_refused(env):
    env.vault.write('agents/support-bot/credential', 'not json', 0)
    with pytest.raises(engine.CredentialError, match='holds no aigov.core credential record'):
        env.run()
    assert env.vault.tokens == {}


def test_the_file_backend_cannot_issue(tmp_path):
    req = engine.Request('bot', 'vault_token', audit_path=str(tmp_path / 'a.jsonl'))
    with pytest.raises(engine.CredentialError, match='need backend=vault'):
        engine.ensure(FileBackend(str(tmp_path / 'kv')), req)
