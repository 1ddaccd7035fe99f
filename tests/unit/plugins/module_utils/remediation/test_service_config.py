"""Finding a server's service definition and editing it: table-driven edits, systemd units in a fake root."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.remediation import service_config as sc
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

from ..fakeproc import FakeProc

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


@pytest.mark.parametrize('entry', [{}, {'env_file': 'relative.env'}, {'env_file': '/a', 'unit': 'x'}, 'x',
                                   {'restart_command': ['not', 'a', 'string']}])
def test_bad_service_entry_is_a_clear_error(entry):
    with pytest.raises(AigovError, match=r"services\['vllm'\]"):
        sc.locate({'name': 'vllm'}, {'vllm': entry})


def test_a_restart_command_alone_restarts_and_edits_nothing():
    """docs/remediation.md: an entry with restart_command is enough to restart; an edit needs files (refused, not guessed)."""
    found = sc.locate({'name': 'vllm'}, {'vllm': {'restart_command': '/usr/local/sbin/restart vllm'}})
    assert found['restart_commands'] == [['/usr/local/sbin/restart', 'vllm']] and found['files'] == []
    with pytest.raises(AigovError, match=r"services\['vllm'\] has no env_file or files"):
        sc.apply_fix('bind_loopback', {'name': 'vllm'}, found)


RECORD = {'id': 'model_server:1', 'name': 'vllm', 'kind': 'model_server',
          'attributes': {'pids': [4242], 'start_times': {'4242': 99}}}


@pytest.mark.parametrize('remediation, services, record, problem', [
    ('restart_model_server', {'vllm': {'restart_command': 'r'}}, RECORD, None),
    ('restart_model_server', {}, RECORD, None),  # the host finds the systemd unit of pid 4242 (start time recorded)
    ('restart_model_server', {'model_server:1': {'env_file': '/etc/vllm.env'}}, RECORD, "has no restart_command"),
    ('rebind_loopback', {'vllm': {'restart_command': 'r'}}, RECORD, "has no env_file or files"),
    ('quarantine_agent', {'vllm': {'restart_command': 'r'}}, RECORD, "has no stop_command"),
    ('restart_model_server', {}, dict(RECORD, attributes={'pids': []}), "discovery recorded no pid"),
    ('restart_model_server', {}, dict(RECORD, attributes={'pids': [4242]}), "no start time of pid 4242"),
    ('stop_gpu_process', {}, dict(RECORD, attributes={}), None),  # needs no service definition
])
def test_the_plan_checks_the_service_definition_a_remediation_needs(remediation, services, record, problem):
    found = sc.plan_problem(remediation, record, services)
    assert found is None if problem is None else problem in found


def units(tmp_path, **files):
    """A systemd unit directory (etc) and a vendor one (lib) in tmp_path; FILES: name -> text, '/'-separated under etc."""
    etc, vendor = tmp_path / 'etc', tmp_path / 'lib'
    vendor.mkdir()
    for name, text in files.items():
        (etc / name).parent.mkdir(parents=True, exist_ok=True)
        (etc / name).write_text(text)
    return str(etc), str(vendor)


def test_systemd_unit_from_cgroup_with_dropins_and_env_files(tmp_path):
    FakeProc(tmp_path / 'proc').add(42, ['vllm'], cgroup='0::/system.slice/vllm.service\n')
    etc, vendor = units(tmp_path, **{'vllm.service.d/override.conf': '[Service]\nEnvironment=VLLM_SERVER_DEV_MODE=1\n'})
    env = tmp_path / 'default-vllm'
    env.write_text('VLLM_HOST_ARGS="--host 0.0.0.0"\n')
    (tmp_path / 'lib' / 'vllm.service').write_text('[Service]\nEnvironmentFile=-%s\nExecStart=/usr/bin/vllm serve --host 0.0.0.0\n' % env)
    found = sc.locate({'pids': [42], 'start_times': {'42': 1042}}, proc_root=str(tmp_path / 'proc'), unit_dirs=(etc, vendor),
                      editable=(etc + '/',))
    assert found['source'] == 'systemd' and found['unit'] == 'vllm.service' and found['problem'] is None
    # The vendor unit is outside /etc and /run: listed, not edited.
    assert found['unedited'] == [str(tmp_path / 'lib' / 'vllm.service')]
    assert str(env) in found['files']
    assert found['restart_commands'][-1] == ['systemctl', 'restart', 'vllm.service']


USER_DBUS = '/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service'
# /proc/<pid>/cgroup as the kernel writes it: cgroup v2, v1 (and hybrid), with system.slice in controller lines only.
CGROUPS = [
    ('0::/system.slice/vllm.service\n', 'vllm.service'),
    ('0::/system.slice/system-vllm.slice/vllm@gpu0.service\n', 'vllm@gpu0.service'),
    ('0::/system.slice/vllm.service/payload\n', 'vllm.service'),  # a subtree the unit delegates is still the unit's
    ('12:pids:/system.slice/vllm.service\n3:cpu,cpuacct:/system.slice/vllm.service\n1:name=systemd:/system.slice/vllm.service\n'
     '0::/system.slice/vllm.service\n', 'vllm.service'),
    ('0::%s\n' % USER_DBUS, None),
    ('12:pids:%s\n1:name=systemd:%s\n0::%s\n' % (USER_DBUS, USER_DBUS, USER_DBUS), None),
    ('12:pids:/system.slice/dbus.service\n1:name=systemd:%s\n' % USER_DBUS, None),  # systemd's hierarchy decides
    ('0::/user.slice/user-1000.slice/session-3.scope\n', None),
    ('0::/system.slice/docker-0123abcd.scope\n', None),
    ('0::/init.scope\n', None),
    ('0::/system.slice\n', None),
    ('0::/\n', None),
    ('12:pids:/system.slice/dbus.service\n', None),
]


@pytest.mark.parametrize('cgroup, unit', CGROUPS)
def test_only_a_process_under_system_slice_has_a_system_unit(cgroup, unit):
    found, why = sc.system_unit(cgroup)
    assert found == unit and (why is None) == (unit is not None)


def test_a_user_unit_with_a_system_units_name_is_not_that_unit(tmp_path):
    """A user's dbus.service (user@1000.service/app.slice/dbus.service): root must not restart, stop or edit the system one."""
    proc = FakeProc(tmp_path / 'proc')
    proc.add(42, ['python3', '-m', 'vllm.entrypoints.openai.api_server'], uid=1000, cgroup='0::%s\n' % USER_DBUS)
    etc, vendor = units(tmp_path, **{'dbus.service': '[Service]\nExecStart=/usr/bin/dbus-daemon --system\n'})
    found = sc.locate({'pids': [42], 'start_times': {'42': 1042}}, proc_root=str(tmp_path / 'proc'), unit_dirs=(etc, vendor))
    assert (found['source'], found['unit'], found['files'], found['restart_commands'], found['stop_commands']) == (
        'none', None, [], [], [])
    assert found['problem'] == 'pid 42 runs in cgroup %s, not under system.slice: not a system service' % USER_DBUS


@pytest.mark.parametrize('uid, files, problem', [
    (1000, {'vllm.service': '[Service]\nExecStart=/x\n'}, 'pid 42 runs as uid 1000, and vllm.service as uid 0 (User=)'),
    (0, {'vllm.service': '[Service]\nUser=nobody\n'}, 'pid 42 runs as uid 0, and vllm.service as uid 65534 (User=)'),
    # the last User= wins, and an empty one resets it to root
    (65534, {'vllm.service': '[Service]\nUser=nobody\n', 'vllm.service.d/10-root.conf': '[Service]\nUser=\n'},
     'pid 42 runs as uid 65534, and vllm.service as uid 0 (User=)'),
    (0, {'vllm.service': '[Service]\nUser=no-such-user-here\n'}, 'as a user that does not resolve'),
    (0, {}, 'no unit file of vllm.service in'),
])
def test_a_process_not_running_as_the_units_user_is_refused(tmp_path, uid, files, problem):
    FakeProc(tmp_path / 'proc').add(42, ['vllm'], uid=uid, cgroup='0::/system.slice/vllm.service\n')
    found = sc.locate({'pids': [42], 'start_times': {'42': 1042}}, proc_root=str(tmp_path / 'proc'),
                      unit_dirs=units(tmp_path, **files))
    assert (found['source'], found['unit'], found['restart_commands']) == ('none', None, [])
    assert problem in found['problem']


@pytest.mark.parametrize('uid, files', [
    (65534, {'vllm.service': '[Service]\nUser=nobody\n'}),
    (65534, {'vllm.service': '[Service]\nUser=65534\n'}),
    (0, {'vllm.service': '[Unit]\nDescription=User=nobody is in the wrong section\n[Service]\nExecStart=/x\n'}),
    (65534, {'vllm.service': '[Service]\nExecStart=/x\n', 'vllm.service.d/user.conf': '[Service]\nUser = nobody\n'}),
])
def test_a_process_running_as_the_units_user_gets_the_unit(tmp_path, uid, files):
    FakeProc(tmp_path / 'proc').add(42, ['vllm'], uid=uid, cgroup='1:name=systemd:/system.slice/vllm.service\n')
    found = sc.locate({'pids': [42], 'start_times': {'42': 1042}}, proc_root=str(tmp_path / 'proc'),
                      unit_dirs=units(tmp_path, **files))
    assert (found['source'], found['unit'], found['problem']) == ('systemd', 'vllm.service', None)


def test_a_template_instance_reads_its_template_and_both_dropin_directories(tmp_path):
    FakeProc(tmp_path / 'proc').add(42, ['vllm'], uid=65534, cgroup='0::/system.slice/system-vllm.slice/vllm@gpu0.service\n')
    etc, vendor = units(tmp_path, **{'vllm@.service': '[Service]\nUser=root\n',
                                     'vllm@.service.d/a.conf': '[Service]\nUser=daemon\n',
                                     'vllm@gpu0.service.d/b.conf': '[Service]\nUser=nobody\n'})
    found = sc.locate({'pids': [42], 'start_times': {'42': 1042}}, proc_root=str(tmp_path / 'proc'), unit_dirs=(etc, vendor),
                      editable=(etc + '/',))
    assert (found['unit'], found['problem']) == ('vllm@gpu0.service', None)
    assert found['restart_commands'][-1] == ['systemctl', 'restart', 'vllm@gpu0.service']
    assert found['files'] == [str(tmp_path / 'etc' / name) for name in ('vllm@.service', 'vllm@.service.d/a.conf',
                                                                        'vllm@gpu0.service.d/b.conf')]


@pytest.mark.parametrize('start_times, problem', [
    ({'42': 999}, 'pid 42 is another process now (started at 1042, discovery saw 999)'),
    ({}, 'pid 42 has no start time'),
])
def test_a_reused_pid_gives_no_unit(tmp_path, start_times, problem):
    """The pid discovery saw was reused by a process of the service: its unit is not the server's to restart."""
    FakeProc(tmp_path / 'proc').add(42, ['vllm'], cgroup='0::/system.slice/vllm.service\n')
    found = sc.locate({'pids': [42], 'start_times': start_times}, proc_root=str(tmp_path / 'proc'),
                      unit_dirs=units(tmp_path, **{'vllm.service': '[Service]\nExecStart=/x\n'}))
    assert (found['source'], found['unit'], found['restart_commands']) == ('none', None, [])
    assert found['problem'].startswith(problem)


def test_no_definition_found():
    found = sc.locate({'pids': [999999999], 'start_times': {'999999999': 1}}, proc_root='/nonexistent')
    assert found['source'] == 'none' and 'none of its pids runs' in found['problem']


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
