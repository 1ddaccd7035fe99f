"""The remediation modules run as Ansible runs them (a process given an args file): check mode, diff, errors."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import FARM, ROOT

KEY = 'sk-proj-aigovUNITmodule0000000001'


def run_module(tmp_path, name, args, check=False, diff=True):
    args_file = tmp_path / ('args-%s.json' % name)
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=check, _ansible_diff=diff)}))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'plugins', 'modules', name + '.py'), str(args_file)],
                          env=dict(os.environ, PYTHONPATH=FARM), capture_output=True, text=True, check=False, timeout=60)
    return json.loads(proc.stdout), proc


def test_service_harden_check_then_apply_then_unchanged(tmp_path):
    env = tmp_path / 'vllm.env'
    env.write_text('VLLM_API_KEY=%s\nVLLM_ARGS="--host 0.0.0.0"\nVLLM_SERVER_DEV_MODE=1\n' % KEY)
    args = {'fix': 'bind_loopback', 'name': 'vllm', 'services': {'vllm': {'env_file': str(env), 'restart_command': '/bin/true'}}}
    result, proc = run_module(tmp_path, 'ai_service_harden', args, check=True)
    assert result['changed'] and result['changed_files'] == [str(env)] and '0.0.0.0' in env.read_text()
    assert result['restart_commands'] == [['/bin/true']] and KEY not in proc.stdout
    assert '127.0.0.1' in result['diff'][0]['after']
    assert run_module(tmp_path, 'ai_service_harden', args)[0]['changed'] is True
    assert run_module(tmp_path, 'ai_service_harden', args)[0]['changed'] is False
    dev = dict(args, fix='disable_dev_mode', dev_mode=['VLLM_SERVER_DEV_MODE'])
    assert run_module(tmp_path, 'ai_service_harden', dev)[0]['changed'] is True
    assert 'DEV_MODE' not in env.read_text() and KEY in env.read_text()


def test_service_harden_without_definition_warns_and_changes_nothing(tmp_path):
    result, _proc = run_module(tmp_path, 'ai_service_harden', {'fix': 'bind_loopback', 'pids': [999999999]})
    assert result['changed'] is False and result['source'] == 'none'
    assert 'no service definition found for pids [999999999]' in json.dumps(result['warnings'])


def test_secret_move_diff_is_redacted(tmp_path):
    env = tmp_path / '.env'
    env.write_text('OPENAI_API_KEY=%s\n' % KEY)
    result, proc = run_module(tmp_path, 'ai_secret_move', {'path': str(env), 'format': 'env_file'}, check=True)
    assert result['changed'] and result['diff']['before'] == 'OPENAI_API_KEY=<redacted>\n'
    assert KEY not in proc.stdout + proc.stderr and KEY in env.read_text()


def test_quarantine_diff_and_record(tmp_path):
    model = tmp_path / 'm.pkl'
    model.write_bytes(b'\x80\x04data')
    args = {'path': str(model), 'quarantine_dir': str(tmp_path / 'q'), 'rule_ids': ['R-1']}
    result, _proc = run_module(tmp_path, 'ai_model_quarantine', args)
    assert result['changed'] and result['diff']['after']['state'] == 'absent' and not model.exists()
    assert run_module(tmp_path, 'ai_model_quarantine', args)[0]['state'] == 'already_quarantined'


@pytest.mark.parametrize('name, args, message', [
    ('ai_service_harden', {'fix': 'open_wide', 'name': 'x'}, 'value of fix must be one of: bind_loopback, disable_dev_mode'),
    ('ai_service_harden', {'fix': 'bind_loopback'}, 'one of the following is required: asset_id, name, pids'),
    ('ai_service_harden', {'fix': 'bind_loopback', 'name': 'x', 'services': {'x': {'env_file': 'rel'}}}, "services['x'] env_file and files must be absolute"),
    ('ai_service_harden', {'fix': 'bind_loopback', 'name': 'x', 'services': {'x': {'restart_command': '/r'}}},
     "services['x'] has no env_file or files: nothing to edit"),
    ('ai_secret_move', {'path': '/x', 'format': 'toml'}, 'value of format must be one of: env_file, mcp_config'),
    ('ai_model_quarantine', {'path': 'rel.pkl'}, 'quarantine needs absolute paths'),
])
def test_bad_invocation_is_a_clear_error(tmp_path, name, args, message):
    result, proc = run_module(tmp_path, name, args)
    assert result['failed'] is True and message in result['msg'], result['msg']
    assert 'Traceback' not in proc.stdout + proc.stderr


def test_file_mode_check_diff_then_apply(tmp_path):
    model = tmp_path / 'model.gguf'
    model.write_text('weights')
    model.chmod(0o666)
    result, _proc = run_module(tmp_path, 'ai_file_mode', {'path': str(model), 'mode': 'o-w'}, check=True)
    assert result['changed'] and result['diff'] == {'before': {'mode': '0666'}, 'after': {'mode': '0664'}}
    assert model.stat().st_mode & 0o777 == 0o666
    assert run_module(tmp_path, 'ai_file_mode', {'path': str(model), 'mode': 'o-w'})[0]['mode'] == '0664'
    assert run_module(tmp_path, 'ai_file_mode', {'path': str(model), 'mode': '0664'})[0]['changed'] is False


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')
def test_agent_secret_file_never_echoes_and_never_acts_through_a_users_symlink(tmp_path):
    os.chmod(tmp_path, 0o755)
    env = tmp_path / 'env'
    args = {'path': str(env), 'content': 'AGENT_KEY=%s\n' % KEY, 'owner': 'nobody', 'group': 'nogroup'}
    outputs = []
    for check, changed in ((True, True), (False, True), (False, False)):
        result, proc = run_module(tmp_path, 'agent_secret_file', args, check=check)
        outputs.append(proc.stdout + proc.stderr)
        assert result['changed'] is changed, result
    info = env.stat()
    assert (env.read_text(), info.st_uid, info.st_mode & 0o777) == ('AGENT_KEY=%s\n' % KEY, 65534, 0o600)
    home = tmp_path / 'agent'
    home.mkdir()
    os.chown(home, 65534, 65534)
    victim = tmp_path / 'victim'
    victim.write_text('root data')
    os.symlink(str(victim), str(home / 'env'))
    result, proc = run_module(tmp_path, 'agent_secret_file', dict(args, path=str(home / 'env')))
    outputs.append(proc.stdout + proc.stderr)
    assert result['failed'] and 'symlink' in result['msg'] and victim.read_text() == 'root data'
    assert KEY not in ''.join(outputs)
