"""A pid that is another process than the one discovery saw is refused, and that process survives.

On a real container host, as root, with a real unprivileged user: alice runs a GPU job that the real
aigov.core.discover records (pid and start time) on a fake nvidia-smi's GPU. Then alice's job exits and alice
starts another one, which nvidia-smi lists on the GPU. The modules are asked about the new pid with the start time
discovery recorded, as the plan passes it: each refuses and signals or stops nothing.

Real pid reuse cannot be driven here: the containers' pid namespaces wrap at pid_max 4194304 (/proc/sys is
read-only, no CAP_SYS_ADMIN for ns_last_pid), so the reuse is emulated by naming the new pid with the old start
time, which is what a reused pid looks like to the module. The containers run no systemd and their cgroup tree is
read-only, so a process cannot be put under a forged user@UID.service/.../dbus.service either: the cgroup rule is
covered by unit tests over /proc-format cgroup files (tests/unit/plugins/module_utils/remediation/test_service_config.py).
Checks go around the collection: the start time from /proc/<pid>/stat read with cat, ps.
"""

import json
import os
import sqlite3
import sys

import pytest

from tests.hosts import testhosts
from tests.integration.conftest import Ansible
from tests.integration.test_alert_chain import write
from tests.integration.test_remediations import GPU_UUID, sh

FILES = {
    '/usr/local/bin/nvidia-smi': (
        '#!/bin/sh\ncase "$1" in\n'
        '  --query-gpu=*) echo "0, %s, NVIDIA A100-SXM4-80GB, 81920, 550.54.15, 00000000:07:00.0" ;;\n'
        '  --query-compute-apps=*) for pid in $(cat /etc/fake-gpu-pids); do echo "%s, $pid, /usr/bin/python3, 40960"; done ;;\n'
        '  *) exit 6 ;;\nesac\n' % (GPU_UUID, GPU_UUID)),
    # a GPU job: writes its pid to $1 and sleeps
    '/usr/local/bin/job': '#!/usr/bin/python3\nimport os, sys, time\nopen(sys.argv[1], "w").write(str(os.getpid()))\ntime.sleep(3600)\n',
}


def start_time(host, pid):
    """Field 22 of /proc/<pid>/stat, read in the host with cat (the command name is in parentheses)."""
    stat = sh(host, 'cat', '/proc/%d/stat' % pid)
    return int(stat[stat.rindex(')') + 2:].split()[19])


def as_alice(host, *argv):
    done = testhosts.run_in(host, ['runuser', '-u', 'alice', '--', *argv], detach=True)
    assert done.returncode == 0, done.stderr


def wait_pid(host, path):
    return int(sh(host, 'sh', '-c', 'for i in $(seq 100); do [ -s %s ] && break; sleep 0.1; done; cat %s' % (path, path)))


@pytest.fixture(scope='module')
def estate(tmp_path_factory, ansible_env):
    workdir = tmp_path_factory.mktemp('pid-reuse')
    with testhosts.test_hosts(1, 'aigov-pid-%d' % os.getpid(), str(workdir)) as hosts:
        host = hosts[0]
        sh(host, 'useradd', '-m', 'alice')
        for path, text in FILES.items():
            local = workdir / os.path.basename(path)
            local.write_text(text)
            testhosts.copy_into(host, local, path)
            sh(host, 'chmod', '755', path)
        as_alice(host, '/usr/local/bin/job', '/home/alice/a.pid')
        job = wait_pid(host, '/home/alice/a.pid')
        sh(host, 'sh', '-c', 'echo %d > /etc/fake-gpu-pids' % job)
        inventory = json.loads(testhosts.write_inventory(hosts, workdir / 'hosts.json').read_text())
        inventory['all']['hosts'] = {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}
        (workdir / 'inventory.json').write_text(json.dumps(inventory))
        ansible = Ansible(ansible_env)
        store = str(workdir / 'assets.sqlite3')
        registry = write(workdir / 'registry.yml', {'schema_version': 1, 'use_cases': [
            {'id': 'lab', 'risk_tier': 'minimal', 'owners': {'decision': 'lab-team'}, 'assets': [{'inventory_hostname': host.name}]}]})
        found = ansible.playbook('-i', workdir / 'inventory.json', 'aigov.core.discover', '-e', 'aigov_store_path=%s' % store,
                                 '-e', 'aigov_registry=%s' % registry)
        assert found.returncode == 0, found.stdout[-3000:]
        yield dict(host=host, workdir=workdir, ansible=ansible, store=store, job=job)


def module(estate, name, args):
    """Run module NAME with ARGS on the host through the real ansible CLI; (rc, its output)."""
    done = estate['ansible'].run('ansible', estate['host'].name, '-i', estate['workdir'] / 'inventory.json',
                                 '-m', 'aigov.core.%s' % name, '-a', json.dumps(args))
    return done.returncode, done.stdout


def test_a_pid_that_is_another_process_now_is_refused_and_the_process_survives(estate):
    host, job = estate['host'], estate['job']
    seen = start_time(host, job)
    with sqlite3.connect(estate['store']) as db:  # what the plan passes on: discovery's record
        [record] = [json.loads(row[0]) for row in db.execute("SELECT record FROM assets WHERE kind = 'gpu'")]
    assert [(p['pid'], p['start_time']) for p in record['attributes']['processes']] == [(job, seen)]

    # alice's job ends and she starts another one, on the GPU too
    as_alice(host, 'kill', str(job))
    sh(host, 'sh', '-c', 'while [ -e /proc/%d ]; do sleep 0.1; done' % job)
    as_alice(host, '/usr/local/bin/job', '/home/alice/b.pid')
    other = wait_pid(host, '/home/alice/b.pid')
    sh(host, 'sh', '-c', 'echo %d > /etc/fake-gpu-pids' % other)
    now = start_time(host, other)
    refusal = 'pid %d is another process now (started at %d, discovery saw %d)' % (other, now, seen)

    rc, out = module(estate, 'ai_gpu_process_stop', {'pid': other, 'start_time': seen, 'gpu_uuid': GPU_UUID, 'timeout': 1})
    assert rc != 0 and refusal in out, out
    rc, out = module(estate, 'ai_agent_quarantine', {
        'agent': 'job', 'name': 'job', 'pids': [other], 'start_times': {str(other): seen}, 'record_dir': '/var/lib/q',
        'services': {'job': {'env_file': '/home/alice/env', 'stop_command': 'kill -9 %d' % other}}})
    assert rc != 0 and refusal in out, out
    rc, out = module(estate, 'ai_service_restart', {'pids': [other], 'start_times': {str(other): seen}})
    assert rc != 0 and refusal in out, out
    # it survived all three, untouched, and nothing was recorded as quarantined
    assert start_time(host, other) == now and sh(host, 'ps', '-o', 'user=,stat=', '-p', str(other)).split()[0] == 'alice'
    assert testhosts.run_in(host, ['test', '-e', '/var/lib/q/job.json']).returncode != 0

    # the same request with its own start time does stop it: the start time alone made the difference
    rc, out = module(estate, 'ai_gpu_process_stop', {'pid': other, 'start_time': now, 'gpu_uuid': GPU_UUID, 'timeout': 1})
    assert rc == 0 and 'SIGTERM' in out, out
    assert testhosts.run_in(host, ['ps', '-o', 'stat=', '-p', str(other)]).stdout.strip() in ('', 'Z')
