"""ai_service_restart run as Ansible runs it: the services mapping's restart command, check mode, no definition."""

from tests.unit.plugins.modules.test_baseline_modules import run_module


def services(tmp_path, command):
    env = tmp_path / 'vllm.env'
    env.write_text('VLLM_ARGS="--host 0.0.0.0"\n')
    return {'vllm': {'env_file': str(env), 'restart_command': command}}


def test_restart_runs_the_command_without_a_shell_and_check_mode_runs_nothing(tmp_path):
    marker = tmp_path / 'restarted'
    args = {'name': 'vllm', 'services': services(tmp_path, '/usr/bin/touch %s' % marker)}
    result, _proc = run_module(tmp_path, 'ai_service_restart', args, check=True)
    assert result['changed'] and result['restart_commands'] == [['/usr/bin/touch', str(marker)]] and not marker.exists()
    result, _proc = run_module(tmp_path, 'ai_service_restart', args)
    assert result['changed'] and result['source'] == 'services' and marker.exists()
    # a command line is split, never given to a shell: 'a;b' is one file name
    args = {'name': 'vllm', 'services': services(tmp_path, '/usr/bin/touch %s/a;b' % tmp_path)}
    result, _proc = run_module(tmp_path, 'ai_service_restart', args)
    assert result['changed'] and (tmp_path / 'a;b').exists() and not (tmp_path / 'a').exists()


def test_no_definition_fails_and_runs_nothing(tmp_path):
    result, _proc = run_module(tmp_path, 'ai_service_restart', {'pids': [999999999]})
    assert result['failed'] and 'no restart command for pids [999999999]' in result['msg']
    result, _proc = run_module(tmp_path, 'ai_service_restart', {'name': 'vllm', 'services': services(tmp_path, '/bin/false')})
    assert result['failed'] and 'restarting vllm: /bin/false exited with 1' in result['msg']
