"""Which container a process is in (its cgroup), and asking the runtime's CLI about it (run from trusted paths only)."""

import json
import os
import subprocess

import pytest

from ansible_collections.aigov.core.plugins.module_utils.host import container_runtime

ID = 'a' * 64
OTHER = 'b' * 64


@pytest.mark.parametrize('cgroup, expected', [
    ('0::/libpod_parent/libpod-%s\n' % ID, ('podman', ID, False)),                                     # podman, cgroupfs
    ('0::/machine.slice/libpod-%s.scope/container\n' % ID, ('podman', ID, False)),                    # podman, systemd
    ('0::/system.slice/vllm.service/libpod-payload-%s\n' % ID, ('podman', ID, False)),                # quadlet (split)
    ('1:name=systemd:/system.slice/docker-%s.scope\n0::/\n' % ID, ('docker', ID, False)),             # docker, hybrid
    ('0::/docker/%s\n' % ID, ('docker', ID, False)),                                                  # docker, cgroupfs
    ('0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-%s.scope\n' % ID, ('containerd', ID, False)),
    ('0::/kubepods.slice/kubepods-besteffort.slice/crio-%s.scope\n' % ID, ('cri-o', ID, False)),
    ('0::/kubepods/besteffort/pod12/%s\n' % ID, ('containerd', ID, False)),                           # kubelet cgroupfs
    ('0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-%s.scope\n' % ID, ('podman', ID, True)),
    ('0::/machine.slice/libpod-conmon-%s.scope\n' % ID, None),                                       # conmon: not the container
    ('0::/system.slice/vllm.service\n', None),
    ('0::/user.slice/%s\n' % ID, None),                                                               # a bare id, no runtime
    ('12:memory:/docker/%s\n0::/\n' % ID, None),                                                      # controllers are not read
])
def test_container_of_cgroup(cgroup, expected):
    assert container_runtime.container_of_cgroup(cgroup) == expected


def test_trusted_binary_only_where_root_alone_can_change_it(tmp_path):
    assert container_runtime.trusted_binary('podman', ['/bin/sh']) == ('/bin/sh', None)
    fake = tmp_path / 'podman'
    fake.write_text('#!/bin/sh\n')
    fake.chmod(0o755)
    # root's own file under a root-owned sticky /tmp: no user can replace it
    assert container_runtime.trusted_binary('podman', [str(fake)]) == (str(fake), None)
    fake.chmod(0o775)
    path, why = container_runtime.trusted_binary('podman', [str(fake)])
    assert path is None and 'can be changed by another user than root' in why
    fake.chmod(0o755)
    os.chown(fake, 65534, -1)  # a user's file
    assert container_runtime.trusted_binary('podman', [str(fake)])[0] is None
    shared = tmp_path / 'shared'
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # writable by all, not sticky: a user can swap the file
    (shared / 'podman').write_text('#!/bin/sh\n')
    (shared / 'podman').chmod(0o755)
    path, why = container_runtime.trusted_binary('podman', [str(shared / 'podman')])
    assert path is None and 'can be changed by another user than root' in why
    path, why = container_runtime.trusted_binary('podman', ['relative/podman', str(tmp_path / 'missing')])
    assert path is None and why.startswith('no podman CLI in')
    assert container_runtime.trusted_binary('podman', ['/etc/passwd'])[0] is None  # not executable


def _fake_run(calls, answer, code=0, err=''):
    def run(argv, timeout=None, env=None):
        calls.append((argv, timeout))
        if isinstance(answer, Exception):
            raise answer
        return code, answer, err
    return run


@pytest.fixture
def trusted(monkeypatch):
    monkeypatch.setattr(container_runtime, 'trusted_binary', lambda runtime, candidates=None: ('/usr/bin/' + runtime, None))


def test_inspect_asks_once_for_all_containers_with_a_timeout(monkeypatch, trusted):
    calls = []
    records = [{'Id': ID, 'Name': 'one'}, {'Id': OTHER, 'Name': 'two'}]
    monkeypatch.setattr(container_runtime, 'run', _fake_run(calls, json.dumps(records)))
    found, problems = container_runtime.inspect('podman', [OTHER, ID, ID], timeout=3)
    assert sorted(found) == [ID, OTHER] and problems == []
    assert calls == [(['/usr/bin/podman', 'inspect', '--type', 'container', ID, OTHER], 3)]


def test_inspect_problems_never_raise(monkeypatch, trusted):
    monkeypatch.setattr(container_runtime, 'run', _fake_run([], subprocess.TimeoutExpired('podman', 2)))
    assert container_runtime.inspect('podman', [ID], timeout=2) == ({}, ['podman inspect of %s: no answer within 2s' % ID[:12]])
    monkeypatch.setattr(container_runtime, 'run', _fake_run([], OSError(13, 'Permission denied')))
    assert 'Permission denied' in container_runtime.inspect('podman', [ID])[1][0]
    monkeypatch.setattr(container_runtime, 'run', _fake_run([], 'not json'))
    assert container_runtime.inspect('podman', [ID])[1] == ['podman inspect of %s: unreadable answer' % ID[:12]]
    monkeypatch.setattr(container_runtime, 'run', _fake_run([], json.dumps([{'Id': ID}]), 125, 'Error: no such container ' + OTHER))
    found, problems = container_runtime.inspect('podman', [ID, OTHER])
    assert list(found) == [ID] and problems == ['podman does not know container %s (Error: no such container %s)' % (OTHER[:12], OTHER)]


def test_crictl_is_asked_one_container_at_a_time(monkeypatch, trusted):
    calls = []
    monkeypatch.setattr(container_runtime, 'run', _fake_run(calls, json.dumps({'status': {'id': ID}})))
    found, _problems = container_runtime.inspect('containerd', [ID])
    assert list(found) == [ID] and calls[0][0] == ['/usr/bin/containerd', 'inspect', '-o', 'json', ID]


def test_an_untrusted_runtime_is_not_run(monkeypatch, tmp_path):
    monkeypatch.setattr(container_runtime, 'run', lambda *args, **kwargs: pytest.fail('ran an untrusted binary'))
    fake = tmp_path / 'podman'
    fake.write_text('#!/bin/sh\n')
    os.chmod(fake, 0o755)
    os.chown(fake, 65534, -1)  # a user's file
    found, problems = container_runtime.inspect('podman', [ID], binaries=[str(fake)])
    assert found == {} and 'the runtime was not asked' in problems[0]


def test_run_is_bounded_in_time():
    with pytest.raises(subprocess.TimeoutExpired):
        container_runtime.run(['/bin/sleep', '5'], timeout=0.2)
    assert container_runtime.run(['/bin/echo', 'hi'])[:2] == (0, 'hi\n')


def test_the_container_the_module_runs_in_is_this_host(tmp_path):
    from tests.unit.plugins.module_utils.fakeproc import FakeProc
    proc = FakeProc(tmp_path)
    proc.add(100, ['vllm', 'serve'], cgroup='0::/libpod_parent/libpod-%s\n' % ID)
    proc.add(101, ['vllm', 'serve'], cgroup='0::/libpod_parent/libpod-%s\n' % OTHER)
    assert container_runtime.container_of_pid(proc.root, 100) == ('podman', ID, False)
    (tmp_path / 'self' / 'cgroup').write_text('0::/libpod_parent/libpod-%s\n' % ID)  # discovery runs inside ID
    assert container_runtime.container_of_pid(proc.root, 100) is None
    assert container_runtime.container_of_pid(proc.root, 101) == ('podman', OTHER, False)
    assert container_runtime.container_of_pid(proc.root, 999) is None
