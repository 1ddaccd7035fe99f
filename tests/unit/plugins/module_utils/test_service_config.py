"""Finding a server's service definition and editing it: table-driven edits, systemd units in a fake root."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils import service_config as sc
from ansible_collections.aigov.core.plugins.module_utils.errors import AigovError

REBIND = [
    ('VLLM_ARGS="--model m --host 0.0.0.0 --port 8000"\n', 'VLLM_ARGS="--model m --host 127.0.0.1 --port 8000"\n'),
    ('ExecStart=/usr/bin/vllm serve m --host=0.0.0.0\n', 'ExecStart=/usr/bin/vllm serve m --host=127.0.0.1\n'),
    ('OLLAMA_HOST=0.0.0.0:11434\n', 'OLLAMA_HOST=127.0.0.1:11434\n'),
    ('export OLLAMA_HOST="0.0.0.0"\n', 'export OLLAMA_HOST="127.0.0.1"\n'),
    ('QDRANT__SERVICE__HOST=::\n', 'QDRANT__SERVICE__HOST=127.0.0.1\n'),
    ('ExecStart=/opt/tgi --hostname 0.0.0.0 --bind [::]\n', 'ExecStart=/opt/tgi --hostname 0.0.0.0 --bind 127.0.0.1\n'),
    # Not a bind address: left alone.
    ('ALLOWED_NETWORK=0.0.0.0/0\nROUTE=0.0.0.0\n', 'ALLOWED_NETWORK=0.0.0.0/0\nROUTE=0.0.0.0\n'),
    ('--host 10.0.0.5\n', '--host 10.0.0.5\n'),
]


@pytest.mark.parametrize('before, after', REBIND)
def test_rebind_loopback(before, after):
    assert sc.rebind_loopback(before) == after
    assert sc.rebind_loopback(after) == after  # idempotent


DEV = [
    ('A=1\nVLLM_SERVER_DEV_MODE=1\nB=2\n', 'A=1\nB=2\n'),
    ('export VLLM_SERVER_DEV_MODE=1', ''),
    ('Environment="VLLM_SERVER_DEV_MODE=1" FOO=bar\n', 'Environment= FOO=bar\n'),
    ('Environment=FOO=bar VLLM_SERVER_DEV_MODE=1\n', 'Environment=FOO=bar\n'),
    ('Environment=VLLM_SERVER_DEV_MODE=1\nExecStart=/x\n', 'ExecStart=/x\n'),
    ('VLLM_SERVER_DEV_MODE_X=1\n', 'VLLM_SERVER_DEV_MODE_X=1\n'),
]


@pytest.mark.parametrize('before, after', DEV)
def test_disable_dev_mode(before, after):
    server = {'dev_mode': ['VLLM_SERVER_DEV_MODE']}
    assert sc.disable_dev_mode(before, server) == after
    assert sc.disable_dev_mode(after, server) == after


def test_explicit_service_entry_by_id_then_name(tmp_path):
    env = tmp_path / 'vllm.env'
    services = {'vllm': {'env_file': str(env), 'restart_command': '/usr/local/sbin/restart vllm'}}
    found = sc.locate({'asset_id': 'model_server:1', 'name': 'vllm', 'pids': []}, services)
    assert found['source'] == 'services' and found['files'] == [str(env)]
    assert found['restart_commands'] == [['/usr/local/sbin/restart', 'vllm']]


@pytest.mark.parametrize('entry', [{'restart_command': 'x'}, {'env_file': 'relative.env'}, {'env_file': '/a', 'unit': 'x'}, 'x'])
def test_bad_service_entry_is_a_clear_error(entry):
    with pytest.raises(AigovError, match=r"services\['vllm'\]"):
        sc.locate({'name': 'vllm'}, {'vllm': entry})


def test_systemd_unit_from_cgroup_with_dropins_and_env_files(tmp_path):
    proc = tmp_path / 'proc' / '42'
    proc.mkdir(parents=True)
    (proc / 'cgroup').write_text('0::/system.slice/vllm.service\n')
    etc, vendor = tmp_path / 'etc', tmp_path / 'lib'
    (etc / 'vllm.service.d').mkdir(parents=True)
    vendor.mkdir()
    env = tmp_path / 'default-vllm'
    env.write_text('VLLM_HOST_ARGS="--host 0.0.0.0"\n')
    (vendor / 'vllm.service').write_text('[Service]\nEnvironmentFile=-%s\nExecStart=/usr/bin/vllm serve --host 0.0.0.0\n' % env)
    (etc / 'vllm.service.d' / 'override.conf').write_text('[Service]\nEnvironment=VLLM_SERVER_DEV_MODE=1\n')
    found = sc.locate({'pids': [42]}, proc_root=str(tmp_path / 'proc'), unit_dirs=(str(etc), str(vendor)),
                      editable=(str(etc) + '/',))
    assert found['source'] == 'systemd' and found['unit'] == 'vllm.service'
    # The vendor unit is outside /etc and /run: listed, not edited.
    assert found['unedited'] == [str(vendor / 'vllm.service')]
    assert str(env) in found['files']
    assert found['restart_commands'][-1] == ['systemctl', 'restart', 'vllm.service']


def test_no_definition_found():
    assert sc.locate({'pids': [999999999]}, proc_root='/nonexistent')['source'] == 'none'


def test_apply_fix_check_mode_then_real_then_idempotent_with_redacted_diff(tmp_path):
    env = tmp_path / 'vllm.env'
    env.write_text('VLLM_API_KEY=sk-proj-aigovUNITsecret0001\nARGS="--host 0.0.0.0"\n')
    env.chmod(0o640)
    location = {'files': [str(env), str(tmp_path / 'absent.env')]}
    changed, diffs = sc.apply_fix('bind_loopback', {}, location, check_mode=True)
    assert changed == [str(env)] and '0.0.0.0' in env.read_text()
    assert 'sk-proj-aigovUNITsecret0001' not in repr(diffs) and '127.0.0.1' in diffs[0]['after']
    assert sc.apply_fix('bind_loopback', {}, location)[0] == [str(env)]
    assert '--host 127.0.0.1' in env.read_text() and oct(env.stat().st_mode & 0o777) == '0o640'
    assert sc.apply_fix('bind_loopback', {}, location) == ([], [])
