"""The credential probe: found everywhere it hides, reported by fingerprint, never by value."""

import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import credentials
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import fingerprint

from tests.contracts import validate

from ..conftest import NOBODY, user_dir, user_file
from ..fakeproc import FakeProc

OPENAI = 'sk-proj-unitTESTvalue0000000001'
ANTHROPIC = 'sk-ant-unitTESTvalue000000002'
HF = 'hf_unitTESTvalue00000000003'


@pytest.fixture
def estate(tmp_path, user_homes):
    proc = FakeProc(tmp_path / 'proc')
    proc.add(100, ['python3', '-m', 'agent', '--api-key', OPENAI], env={'OPENAI_API_KEY': OPENAI, 'PATH': '/bin'})
    proc.add(101, ['python3', '-m', 'agent', '--api-key', OPENAI], ppid=100, env={'OPENAI_API_KEY': OPENAI})
    proc.add(102, ['/usr/bin/other'], env={'ANTHROPIC_API_KEY': ''})  # empty: nothing to report
    home = tmp_path / 'home' / 'alice'
    (home / 'app').mkdir(parents=True)
    (home / 'app' / '.env').write_text('# keys\nexport ANTHROPIC_API_KEY="%s"\nDEBUG=1\nOPENAI_API_KEY=%s\n' % (ANTHROPIC, OPENAI))
    os.chmod(str(home / 'app' / '.env'), 0o644)
    (home / '.cache' / 'huggingface').mkdir(parents=True)
    (home / '.cache' / 'huggingface' / 'token').write_text(HF + '\n')
    user_homes(home)
    return {'proc_root': proc.root, 'credential_files': ['~/*/.env']}


def test_every_source_found_by_fingerprint(estate):
    assets, problems = credentials.discover_credentials(estate, 'node1', 'mid')
    assert problems == []
    seen = sorted((a['attributes']['source'], a['attributes']['provider'], a['attributes']['variable']) for a in assets)
    assert seen == [('argv', 'model_server', '--api-key'), ('env_file', 'anthropic', 'ANTHROPIC_API_KEY'),
                    ('env_file', 'openai', 'OPENAI_API_KEY'), ('process_env', 'openai', 'OPENAI_API_KEY'),
                    ('token_file', 'huggingface', None)]
    by_source = dict((a['attributes']['source'], a['attributes']) for a in assets if a['attributes']['provider'] != 'anthropic')
    assert by_source['process_env']['pids'] == [100, 101]  # one key, two processes, one asset
    assert by_source['env_file']['world_readable'] is True and by_source['env_file']['mode'] == '0644'
    # The same key in a process, an argument and a file has the same fingerprint.
    assert by_source['process_env']['fingerprint'] == by_source['env_file']['fingerprint'] == by_source['argv']['fingerprint']
    for asset in assets:
        validate(asset, 'asset.v1.json')


def test_no_value_anywhere_in_the_result(estate):
    text = repr(credentials.discover_credentials(estate, 'node1', 'mid'))
    for secret in (OPENAI, ANTHROPIC, HF):
        assert secret not in text and secret[:12] not in text


def test_fingerprint_depends_on_the_key_and_ids_do_not_change(estate):
    first = credentials.discover_credentials(estate, 'node1', 'mid')[0]
    again = credentials.discover_credentials(estate, 'node1', 'mid')[0]
    other_key = credentials.discover_credentials(dict(estate, fingerprint_key='site-secret'), 'node1', 'mid')[0]
    assert [a['id'] for a in first] == [a['id'] for a in again]
    assert set(a['attributes']['fingerprint'] for a in first).isdisjoint(a['attributes']['fingerprint'] for a in other_key)


def test_fingerprint_format():
    assert fingerprint('x', 'k') == fingerprint('x', 'k') != fingerprint('x', 'k2')
    assert fingerprint('x', 'k').startswith('hmac-sha256:') and len(fingerprint('x', 'k')) == 28


@pytest.mark.parametrize('line, expected', [
    ('OPENAI_API_KEY=abc', [('OPENAI_API_KEY', 'abc')]),
    ("export HF_TOKEN='abc def'", [('HF_TOKEN', 'abc def')]),
    ('  GROQ_API_KEY = "x"  ', [('GROQ_API_KEY', 'x')]),
    ('OPENAI_API_KEY=', []),
    ('# OPENAI_API_KEY=abc', []),
    ('SOMETHING_ELSE=abc', []),
])
def test_env_file_parsing(line, expected):
    assert list(credentials._env_file_values(line)) == expected  # pylint: disable=protected-access


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')
def test_a_users_symlink_to_a_root_only_file_is_reported_not_read(base, user_homes):
    """~/.env -> /root/.env must not show root's key as the user's (issue 21, low)."""
    home = user_dir(base)
    secret = base / 'root.env'
    secret.write_text('OPENAI_API_KEY=%s\n' % OPENAI)
    secret.chmod(0o600)
    os.symlink(str(secret), str(home / '.env'))
    os.lchown(str(home / '.env'), NOBODY, NOBODY)
    user_file(home / 'own.env', ('ANTHROPIC_API_KEY=%s\n' % ANTHROPIC).encode(), 0o600)
    user_homes(home)
    assets, problems = credentials.discover_credentials(
        {'proc_root': str(base / 'noproc'), 'credential_files': ['~/.env', '~/own.env']}, 'node1', 'mid')
    assert [a['attributes']['variable'] for a in assets] == ['ANTHROPIC_API_KEY']  # the user's own file, read as them
    assert [p for p in problems if str(home / '.env') in p and 'symlink' in p]
