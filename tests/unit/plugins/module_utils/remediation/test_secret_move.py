"""Moving plaintext keys out of .env files and MCP configs: check mode, move, idempotence, no value anywhere."""

import json
import os
import subprocess

import pytest

from ansible_collections.aigov.core.plugins.module_utils.remediation import secret_move as sm
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

from ..conftest import NOBODY, user_dir, user_file

KEY = 'sk-proj-aigovUNITenvfile00000001'
TOKEN = 'ghp_aigovUNITmcp000000000000000000002'


def test_env_file_check_mode_then_move_then_nothing(tmp_path):
    env = tmp_path / '.env'
    env.write_text('LOG=info\nexport OPENAI_API_KEY="%s"\nOTHER=$REF\n' % KEY)
    env.chmod(0o644)
    changed, result, diff = sm.move_secrets(str(env), 'env_file', check_mode=True)
    assert changed and KEY in env.read_text() and not (tmp_path / sm.SECRET_DIR_NAME).exists()
    assert KEY not in json.dumps([result, diff]) and '<redacted>' in diff['before']
    changed, result, diff = sm.move_secrets(str(env), 'env_file')
    secret = tmp_path / sm.SECRET_DIR_NAME / 'env.OPENAI_API_KEY'
    assert changed and result['moved'] == [{'variable': 'OPENAI_API_KEY', 'server': None, 'secret_file': str(secret)}]
    assert env.read_text() == 'LOG=info\nexport OPENAI_API_KEY_FILE=%s\nOTHER=$REF\n' % secret
    assert secret.read_text() == KEY + '\n' and oct(secret.stat().st_mode & 0o777) == '0o600'
    assert oct(secret.parent.stat().st_mode & 0o777) == '0o700' and oct(env.stat().st_mode & 0o777) == '0o644'
    assert KEY not in json.dumps([result, diff])
    assert sm.move_secrets(str(env), 'env_file')[0] is False


def test_mcp_config_wrapped_and_the_wrapper_hands_the_key_over(tmp_path):
    config = tmp_path / 'mcp.json'
    config.write_text(json.dumps({'mcpServers': {
        'github': {'command': 'printenv', 'args': ['GITHUB_TOKEN'], 'env': {'GITHUB_TOKEN': TOKEN, 'LOG': 'debug'}},
        'ref': {'command': 'x', 'env': {'API_KEY': '${input:key}'}},
        'remote': {'url': 'https://mcp.example/sse', 'headers': {'Authorization': 'Bearer abc'}}}}))
    changed, result, diff = sm.move_secrets(str(config), 'mcp_config')
    assert changed and [m['server'] for m in result['moved']] == ['github']
    assert TOKEN not in config.read_text() + json.dumps([result, diff])
    server = json.loads(config.read_text())['mcpServers']['github']
    assert server['command'] == '/bin/sh' and server['env'] == {'LOG': 'debug'}
    # The wrapper really passes the key to the original command.
    out = subprocess.run([server['command']] + server['args'], capture_output=True, text=True, check=True,
                         env={'PATH': os.environ['PATH']}).stdout
    assert out.strip() == TOKEN
    assert sm.move_secrets(str(config), 'mcp_config')[0] is False


def test_a_different_existing_secret_file_is_never_overwritten(tmp_path):
    env = tmp_path / '.env'
    env.write_text('OPENAI_API_KEY=%s\n' % KEY)
    (tmp_path / sm.SECRET_DIR_NAME).mkdir()
    (tmp_path / sm.SECRET_DIR_NAME / 'env.OPENAI_API_KEY').write_text('other\n')
    with pytest.raises(AigovError, match='exists with a different value') as error:
        sm.move_secrets(str(env), 'env_file')
    assert KEY not in str(error.value) and KEY in env.read_text()


def test_only_named_variables_move(tmp_path):
    env = tmp_path / '.env'
    env.write_text('OPENAI_API_KEY=%s\nHF_TOKEN=hf_aigovUNITtoken000001\n' % KEY)
    result = sm.move_secrets(str(env), 'env_file', variables=['HF_TOKEN'])[1]
    assert [m['variable'] for m in result['moved']] == ['HF_TOKEN'] and KEY in env.read_text()


@pytest.mark.parametrize('args, message', [
    (('relative/.env', 'env_file'), 'path must be absolute'),
    (('/x', 'yaml'), 'format must be one of env_file, mcp_config'),
])
def test_bad_arguments(args, message):
    with pytest.raises(AigovError, match=message):
        sm.move_secrets(*args)


def test_malformed_mcp_config(tmp_path):
    config = tmp_path / 'mcp.json'
    config.write_text('{"mcpServers": ')
    with pytest.raises(AigovError, match='not valid JSON'):
        sm.move_secrets(str(config), 'mcp_config')


# Root moves a user's secrets: nothing the user controls may turn that into root acting elsewhere (issue 21, finding 1).
as_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')


@as_root
def test_a_secret_dir_symlinked_to_a_system_dir_is_refused_and_the_dir_keeps_its_owner(base):
    home = user_dir(base)
    env = user_file(home / '.env', ('OPENAI_API_KEY=%s\n' % KEY).encode())
    system = base / 'ssl'
    system.mkdir()
    (system / 'cert.pem').write_text('root cert')
    os.symlink(str(system), str(home / sm.SECRET_DIR_NAME))
    os.lchown(str(home / sm.SECRET_DIR_NAME), NOBODY, NOBODY)
    for check_mode in (False, True):
        with pytest.raises(AigovError, match='symlink') as raised:
            sm.move_secrets(str(env), 'env_file', check_mode=check_mode)
        assert KEY not in str(raised.value)
    assert (os.stat(system).st_uid, os.stat(system).st_mode & 0o777, os.listdir(system)) == (0, 0o755, ['cert.pem'])
    assert env.read_text() == 'OPENAI_API_KEY=%s\n' % KEY


@as_root
def test_an_mcp_env_name_that_would_leave_the_secret_dir_is_refused(base):
    home = user_dir(base)
    config = user_file(home / 'mcp.json', json.dumps({'mcpServers': {'gh': {
        'command': 'npx', 'env': {'../../../planted_API_KEY': TOKEN}}}}).encode())
    with pytest.raises(AigovError, match='not a valid variable name'):
        sm.move_secrets(str(config), 'mcp_config')
    assert not (base / 'planted_API_KEY').exists() and sorted(os.listdir(home)) == ['mcp.json']
    assert TOKEN in config.read_text()


@as_root
def test_a_users_secrets_move_as_that_user(base):
    home = user_dir(base)
    env = user_file(home / '.env', ('OPENAI_API_KEY=%s\n' % KEY).encode(), 0o640)
    assert sm.move_secrets(str(env), 'env_file')[0]
    secret_dir, secret = home / sm.SECRET_DIR_NAME, home / sm.SECRET_DIR_NAME / 'env.OPENAI_API_KEY'
    assert [(p.stat().st_uid, p.stat().st_mode & 0o777) for p in (secret_dir, secret, env)] == [
        (NOBODY, 0o700), (NOBODY, 0o600), (NOBODY, 0o640)]
    assert secret.read_text() == KEY + '\n'
