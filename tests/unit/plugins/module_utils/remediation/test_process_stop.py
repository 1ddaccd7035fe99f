"""process_stop, gpu_process and agent_quarantine against real local processes (a fake nvidia-smi names them)."""

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.aigov.core.plugins.module_utils.remediation import agent_quarantine, gpu_process, process_stop
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

STUBBORN = 'import signal,time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint("ready", flush=True)\ntime.sleep(60)\n'
GPU = 'GPU-5e1d2c3b-aaaa-bbbb-cccc-000000000001'


@pytest.fixture
def spawn():
    procs = []

    def start(code='import time\nprint("ready", flush=True)\ntime.sleep(60)\n'):
        proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == 'ready'
        procs.append(proc)
        return proc
    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def fake_nvidia_smi(tmp_path, pids):
    path = tmp_path / 'nvidia-smi'
    lines = ''.join('echo "%s, %d, /usr/bin/python3, 1024"\n' % (GPU, pid) for pid in pids)
    path.write_text('#!/bin/sh\ncase "$1" in --query-compute-apps=*) %s;; *) exit 6;; esac\n' % lines)
    path.chmod(0o755)
    return str(path)


def test_identity_changes_when_the_process_is_gone(spawn):
    proc = spawn()
    ident = process_stop.identity('/proc', proc.pid)
    assert process_stop.alive('/proc', ident)
    proc.kill()
    proc.wait()
    assert not process_stop.alive('/proc', ident) and process_stop.identity('/proc', proc.pid) is None
    assert not process_stop.alive('/proc', (proc.pid, ident[1] + 1))  # same pid, another start time: another process


def test_sigterm_is_enough_for_a_well_behaved_process(spawn):
    proc = spawn()
    assert process_stop.stop('/proc', process_stop.identity('/proc', proc.pid), 5) == ['SIGTERM']


def test_a_process_ignoring_sigterm_gets_sigkill(spawn):
    proc = spawn(STUBBORN)
    started = time.monotonic()
    assert process_stop.stop('/proc', process_stop.identity('/proc', proc.pid), 0.5) == ['SIGTERM', 'SIGKILL']
    assert time.monotonic() - started < 5 and proc.wait(5) == -9


def started(proc):
    return process_stop.identity('/proc', proc.pid)[1]


def test_gpu_process_is_checked_against_nvidia_smi_before_any_signal(spawn, tmp_path):
    proc, other = spawn(STUBBORN), spawn()
    binary = fake_nvidia_smi(tmp_path, [proc.pid])
    start = started(proc)
    with pytest.raises(AigovError, match='pid %d is not a compute process of GPU %s' % (other.pid, GPU)):
        gpu_process.stop_gpu_process(other.pid, GPU, started(other), nvidia_smi=binary)
    with pytest.raises(AigovError, match='is not a compute process of GPU GPU-other'):
        gpu_process.stop_gpu_process(proc.pid, 'GPU-other', start, nvidia_smi=binary)
    with pytest.raises(AigovError, match='pid %d is protected' % proc.pid):
        gpu_process.stop_gpu_process(proc.pid, GPU, start, protected_pids=[proc.pid], nvidia_smi=binary)
    with pytest.raises(AigovError, match='nvidia-smi not found at /nonexistent'):
        gpu_process.stop_gpu_process(proc.pid, GPU, start, nvidia_smi='/nonexistent/nvidia-smi')
    os.chown(binary, 65534, -1)  # a user's nvidia-smi is never run as root: it could name any pid
    with pytest.raises(AigovError, match='can be changed by another user than root'):
        gpu_process.stop_gpu_process(proc.pid, GPU, start, nvidia_smi=binary)
    os.chown(binary, 0, -1)
    with pytest.raises(AigovError, match='pid must be a whole number'):
        gpu_process.stop_gpu_process('4242', GPU, start, nvidia_smi=binary)
    assert gpu_process.stop_gpu_process(proc.pid, GPU, start, nvidia_smi=binary, check_mode=True)[0] is True
    assert proc.poll() is None and other.poll() is None  # nothing signalled so far
    changed, result = gpu_process.stop_gpu_process(proc.pid, GPU, start, nvidia_smi=binary, timeout=0.5)
    assert changed and result['signals'] == ['SIGTERM', 'SIGKILL'] and proc.wait(5) == -9 and other.poll() is None
    assert gpu_process.stop_gpu_process(proc.pid, GPU, start, nvidia_smi=binary) == (False, dict(
        pid=proc.pid, gpu_uuid=GPU, signals=[], state='absent'))


@pytest.mark.parametrize('shift, reason', [(-1, 'is another process now'), (None, 'has no start time')])
def test_a_pid_with_another_start_time_is_refused_and_nothing_signalled(spawn, tmp_path, shift, reason):
    """The pid now belongs to a process that started after discovery saw one with that pid (the kernel reused it)."""
    proc = spawn()
    seen = None if shift is None else started(proc) + shift
    binary = fake_nvidia_smi(tmp_path, [proc.pid])
    with pytest.raises(AigovError, match='pid %d %s' % (proc.pid, reason)):
        gpu_process.stop_gpu_process(proc.pid, GPU, seen, nvidia_smi=binary, timeout=0.5)
    with pytest.raises(AigovError, match=reason):
        agent_quarantine.quarantine(run, 'bot-1', 'a', [proc.pid], {proc.pid: seen},
                                    {'stop_commands': [['kill', str(proc.pid)]], 'restart_commands': []}, str(tmp_path / 'r'))
    if seen is not None:
        with pytest.raises(AigovError, match=reason):
            process_stop.stop('/proc', (proc.pid, seen), 0.5)
    time.sleep(0.2)
    assert proc.poll() is None and not (tmp_path / 'r').exists()


def run(argv):
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stderr


def test_agent_quarantine_stops_records_and_releases(spawn, tmp_path):
    proc = spawn()
    marker = tmp_path / 'started'
    location = {'stop_commands': [['kill', str(proc.pid)]], 'restart_commands': [['touch', str(marker)]]}
    records = str(tmp_path / 'records')
    seen = {proc.pid: started(proc)}
    changed, result = agent_quarantine.quarantine(run, 'bot-1', 'agent:1', [proc.pid], seen, location, records, check_mode=True)
    assert changed and proc.poll() is None and not os.path.exists(result['record_path'])
    changed, result = agent_quarantine.quarantine(run, 'bot-1', 'agent:1', [proc.pid], seen, location, records, reason='leak')
    proc.wait(5)
    assert changed and result['running'] == [] and result['record']['state'] == 'quarantined'
    assert oct(os.stat(result['record_path']).st_mode & 0o777) == '0o600'
    assert agent_quarantine.quarantine(run, 'bot-1', 'agent:1', [proc.pid], seen, location, records)[0] is False
    assert agent_quarantine.release(run, 'bot-1', records)[0] is True and marker.exists()
    assert not os.path.exists(result['record_path']) and agent_quarantine.release(run, 'bot-1', records)[0] is False


def test_agent_quarantine_refuses_without_a_stop_command_or_when_the_agent_survives(spawn, tmp_path):
    proc = spawn()
    records, seen = str(tmp_path / 'records'), {proc.pid: started(proc)}
    with pytest.raises(AigovError, match='no stop command for agent bot-1'):
        agent_quarantine.quarantine(run, 'bot-1', 'a', [proc.pid], seen, {'stop_commands': [], 'restart_commands': []}, records)
    with pytest.raises(AigovError, match=r'still run 1 s after its stop command; not recorded'):
        agent_quarantine.quarantine(run, 'bot-1', 'a', [proc.pid], seen, {'stop_commands': [['true']], 'restart_commands': []},
                                    records, timeout=1)
    with pytest.raises(AigovError, match='agent must be a name'):
        agent_quarantine.quarantine(run, '../x', 'a', [], {}, {'stop_commands': [], 'restart_commands': []}, records)
    assert proc.poll() is None and not os.path.exists(records)


def test_agent_quarantine_stops_the_service_even_when_the_stores_pids_are_stale(spawn, tmp_path):
    restarted = spawn()  # the agent restarted since discovery: the store's pid is an exited one
    stale = spawn()
    seen = {stale.pid: started(stale)}
    stale.kill()
    stale.wait()
    location = {'stop_commands': [['kill', str(restarted.pid)]], 'restart_commands': []}
    changed, _result = agent_quarantine.quarantine(run, 'bot-1', 'a', [stale.pid], seen, location, str(tmp_path / 'records'))
    assert changed and restarted.wait(5) != 0
