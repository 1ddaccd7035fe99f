"""The agent secret engine over the real file backend: decisions, check mode, CAS, audit entries, no values."""

import datetime
import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.secrets import agent_secret as engine
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_verify import verify
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import DEFAULT_FINGERPRINT_KEY, fingerprint
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend_file import FileBackend

LATER = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=31)


@pytest.fixture
def env(tmp_path):
    class Env(object):
        backend = FileBackend(str(tmp_path / 'secrets'))
        audit = str(tmp_path / 'audit.jsonl')

        def req(self, **kwargs):
            kwargs.setdefault('agent', 'support-bot')
            return engine.Request(audit_path=self.audit, owner='team-support', actor='tester', **kwargs)

        def entries(self):
            if not os.path.exists(self.audit):
                return []
            with open(self.audit) as handle:
                return [json.loads(line) for line in handle]

        def text(self):
            return open(self.audit).read() if os.path.exists(self.audit) else ''
    return Env()


def test_present_creates_then_is_idempotent(env):
    changed, result, value = engine.ensure(env.backend, env.req(prefix='sk-agent-', length=32))
    assert changed and result['action'] == 'create' and result['version'] == 1 and result['previous'] is None
    assert value.startswith('sk-agent-') and len(value) == 41
    assert result['fingerprint'] == fingerprint(value, DEFAULT_FINGERPRINT_KEY)
    assert env.backend.read('agents/support-bot').value == value
    [entry] = env.entries()
    assert (entry['action'], entry['subject'], entry['owner'], entry['outcome'], entry['actor']) == \
        ('agent_secret.create', 'support-bot', 'team-support', 'success', 'tester')
    assert entry['details']['new_fingerprint'] == result['fingerprint'] and entry['details']['new_version'] == 1
    assert result['audit'] == dict(seq=1, hash=entry['hash'])
    changed, again, _value = engine.ensure(env.backend, env.req(max_age='30d'))
    assert not changed and again['action'] == 'none' and again['version'] == 1 and not again['due']
    assert len(env.entries()) == 1 and value not in env.text() and verify(env.audit)['ok']


def test_max_age_rotates_when_due(env):
    _c, first, old = engine.ensure(env.backend, env.req())
    changed, result, new = engine.ensure(env.backend, env.req(max_age='30d'), now=LATER)
    assert changed and result['action'] == 'rotate' and result['due'] and result['version'] == 2 and new != old
    assert result['previous']['fingerprint'] == first['fingerprint'] and result['previous']['age_days'] > 30
    assert env.entries()[-1]['action'] == 'agent_secret.rotate'
    details = env.entries()[-1]['details']
    assert (details['old_version'], details['old_fingerprint'], details['new_version']) == (1, first['fingerprint'], 2)
    _c, read, _v = engine.ensure(env.backend, env.req(state='read', max_age='31d'), now=LATER)
    assert read['due'] is False and read['version'] == 2


def test_rotate_supplied_and_update(env):
    engine.ensure(env.backend, env.req(value='supplied-value-0001'))
    changed, result, value = engine.ensure(env.backend, env.req(state='rotate', reason='key leaked (ticket 42)'))
    assert changed and result['version'] == 2 and value != 'supplied-value-0001'
    assert result['reasons'] == ['rotation forced (state=rotate)', 'key leaked (ticket 42)']
    assert env.entries()[-1]['reasons'] == result['reasons']
    with pytest.raises(engine.AgentSecretError, match='already the current version .2.*nothing written') as info:
        engine.ensure(env.backend, env.req(state='rotate', value=value))
    assert value not in str(info.value)
    changed, result, _v = engine.ensure(env.backend, env.req(value='another-value-0002'))
    assert changed and result['action'] == 'update' and result['version'] == 3
    assert not engine.ensure(env.backend, env.req(value='another-value-0002'))[0]
    assert [e['details']['new_version'] for e in env.entries()] == [1, 2, 3]
    assert 'supplied-value-0001' not in env.text() and 'another-value-0002' not in env.text()


def test_read_is_metadata_only_and_never_audited(env):
    changed, result, _v = engine.ensure(env.backend, env.req(state='read'))
    assert not changed and not result['exists'] and result['version'] is None
    engine.ensure(env.backend, env.req())
    changed, result, _v = engine.ensure(env.backend, env.req(state='read', max_age='1d'), now=LATER)
    assert not changed and result['due'] and result['version'] == 1 and result['age_days'] > 30
    assert len(env.entries()) == 1


def test_check_mode_predicts_and_writes_nothing(env):
    changed, result, value = engine.ensure(env.backend, env.req(), check_mode=True)
    assert changed and result['action'] == 'create' and result['version'] == 1 and result['fingerprint'] is None
    assert value is None and env.backend.read_metadata('agents/support-bot').current_version == 0
    engine.ensure(env.backend, env.req())
    changed, result, _v = engine.ensure(env.backend, env.req(value='predicted-value-01', state='rotate'), check_mode=True)
    assert changed and result['version'] == 2 and result['fingerprint'] == fingerprint('predicted-value-01', DEFAULT_FINGERPRINT_KEY)
    assert env.backend.read_metadata('agents/support-bot').current_version == 1 and len(env.entries()) == 1


class RacingBackend(FileBackend):
    """Another writer rotates the secret between this run's read and its write."""

    def write(self, path, value, expected_version):
        FileBackend(self.directory).write(path, 'the-other-writers-value', expected_version)
        return super(RacingBackend, self).write(path, value, expected_version)


def test_lost_race_fails_cleanly_and_is_audited(env):
    engine.ensure(env.backend, env.req())
    racing = RacingBackend(env.backend.directory)
    with pytest.raises(engine.AgentSecretError, match=r'agent support-bot: file backend .*another writer changed'):
        engine.ensure(racing, env.req(state='rotate'))
    assert env.backend.read('agents/support-bot').value == 'the-other-writers-value'
    assert env.backend.read_metadata('agents/support-bot').current_version == 2
    failure = env.entries()[-1]
    assert failure['action'] == 'agent_secret.rotate' and failure['outcome'] == 'failure'
    assert 'CASConflict' in failure['reasons'][0] and failure['details']['new_version'] is None


def test_unwritable_audit_log_stops_before_the_backend(env, tmp_path):
    env.audit = str(tmp_path)  # a directory: cannot be opened for appending
    with pytest.raises(engine.AgentSecretError, match='cannot open audit log .*nothing written'):
        engine.ensure(env.backend, env.req())
    assert env.backend.read_metadata('agents/support-bot').current_version == 0


@pytest.mark.parametrize('kwargs,message', [
    (dict(agent='../x'), 'agent must be a name'),
    (dict(length=8), 'length must be at least 16'),
    (dict(alphabet='emoji'), 'alphabet must be one of'),
    (dict(max_age='soon'), 'max_age must be a positive number'),
    (dict(max_age='0'), 'max_age must be a positive number'),
    (dict(prefix='sk agent'), 'prefix may hold only'),
    (dict(value=''), 'value must not be empty'),
    (dict(state='delete'), 'state must be one of'),
])
def test_bad_requests_are_refused(env, kwargs, message):
    with pytest.raises(engine.AgentSecretError, match=message):
        env.req(**kwargs)


@pytest.mark.parametrize('alphabet,chars', sorted(engine.ALPHABETS.items()))
def test_generated_values(alphabet, chars):
    values = set(engine.generate(24, alphabet) for _run in range(50))
    assert len(values) == 50 and all(len(v) == 24 and set(v) <= set(chars) for v in values)


def test_max_age_units():
    assert [engine.parse_max_age(t) for t in ('30', '30d', '12h', '90m', '45s', None)] == [2592000, 2592000, 43200, 5400, 45, None]
