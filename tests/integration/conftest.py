"""Integration fixtures: the collection built and installed as users get it,
real container hosts over SSH running model-server processes, and a helper to
run the real ansible-playbook / ansible CLIs against them."""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests import pg
from tests.conftest import ROOT
from tests.hosts import testhosts

BIN = os.path.dirname(sys.executable)
FAKE_SERVERS = os.path.join(ROOT, 'tests', 'fixtures', 'fake_servers')
# Secret values planted on the hosts; no output, report or artifact may contain them.
PLANTED_SECRETS = ('sk-aigovTEST-9f2c4e7a1b3d5f60', 'hf_aigovTESTtoken0123456789')


@pytest.fixture(scope='session')
def collections_path(tmp_path_factory):
    """Build the collection artifact from this checkout and install it into an empty path.

    The install sees only the target path: with the caller's collections path
    (make exports one) ansible-galaxy would find aigov.core there and skip it.
    """
    out = tmp_path_factory.mktemp('collection')
    target = str(out / 'collections')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=target)
    galaxy = os.path.join(BIN, 'ansible-galaxy')
    subprocess.run([galaxy, 'collection', 'build', '--output-path', str(out), ROOT], env=env, check=True,
                   capture_output=True, timeout=300)
    tarball = next(str(out / name) for name in os.listdir(str(out)) if name.endswith('.tar.gz'))
    subprocess.run([galaxy, 'collection', 'install', '--offline', '--force', '-p', target, tarball], env=env, check=True,
                   capture_output=True, timeout=300)
    assert os.path.isfile(os.path.join(target, 'ansible_collections', 'aigov', 'core', 'MANIFEST.json'))
    return target


@pytest.fixture(scope='session')
def pg_cluster():
    """A real PostgreSQL server for the session (tests/pg.py); each test creates its own database in it."""
    cluster = pg.Cluster().init().start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_database(pg_cluster, request):
    """The DSN (no password: PGPASSWORD is set for the test) of a new empty database for this test."""
    name = 't_%s_%s' % (re.sub(r'[^a-z0-9]', '_', request.node.name.lower())[:40], os.urandom(3).hex())
    dsn = pg_cluster.create_database(name)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in pg_cluster.env().items():
            patch.setenv(key, value)
        yield dsn


@pytest.fixture(scope='session')
def ansible_env(collections_path):
    """Environment for the ansible CLIs: only the freshly installed collection, short SSH control paths."""
    control_dir = tempfile.mkdtemp(prefix='aigov-cp-', dir='/tmp')
    keys = os.path.join(tempfile.mkdtemp(prefix='aigov-keys-'), 'decision.keys')
    with open(os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'w') as handle:
        handle.write('it1:%s\n' % os.urandom(32).hex())  # as docs/remediation.md generates it
    env = dict(os.environ)
    env.update(
        AIGOV_DECISION_KEY_FILE=keys,  # the source and the playbooks it runs read it, as in a deployment
        ANSIBLE_COLLECTIONS_PATH=collections_path,
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
        ANSIBLE_SSH_CONTROL_PATH_DIR=control_dir,
        ANSIBLE_HOST_KEY_CHECKING='False',
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_RETRY_FILES_ENABLED='False',
        PATH=BIN + os.pathsep + env.get('PATH', ''),
    )
    yield env
    shutil.rmtree(control_dir, ignore_errors=True)
    shutil.rmtree(os.path.dirname(keys), ignore_errors=True)  # a decision key is not left behind in /tmp


@dataclasses.dataclass
class Ansible:
    """Runs the real ansible CLIs; every run's output is kept to check for leaks."""

    env: dict
    outputs: list = dataclasses.field(default_factory=list)

    def run(self, tool, *args, timeout=600, cwd=None):
        proc = subprocess.run([os.path.join(BIN, tool)] + [str(a) for a in args], env=self.env, cwd=cwd or ROOT,
                              capture_output=True, text=True, check=False, timeout=timeout)
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def playbook(self, *args, **kwargs):
        return self.run('ansible-playbook', *args, **kwargs)


def record_decision(log, event, env):
    """Append event's decision to the audit log as the event source writes it (the same builder, audit/entries.py:
    naming its payload, sealed with the decision key of env); return the payload_b64 to hand to a playbook."""
    from ansible_collections.aigov.core.plugins.module_utils.alerts.payload import encode_payload
    from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, decision_keys, entries
    payload = encode_payload(event)
    # what a test leaves out of its decision the source would have said: filled in for the entry, not the payload
    decision = dict({'risk_tier': None, 'confidence': None, 'policy': {'name': 'default'}, 'exceptions': []},
                    **event['decision'])
    recorded = dict(event, decision=decision, payload_b64=payload)
    audit_log.append(log, **entries.decision(recorded, decision_keys.load(env['AIGOV_DECISION_KEY_FILE'])))
    return payload


@pytest.fixture(scope='session')
def ansible(ansible_env):
    return Ansible(ansible_env)


@dataclasses.dataclass
class Fleet:
    hosts: list
    inventory: str
    exposed: object      # runs vLLM on 0.0.0.0:8000 without a key
    guarded: object      # runs vLLM on 0.0.0.0:8001 with a key, and llama-server on 127.0.0.1:8080


VLLM = ['python3', '-m', 'vllm.entrypoints.openai.api_server', '--model', 'facebook/opt-125m', '--host', '0.0.0.0']


def start_server(host, argv, env=None):
    """Start a model-server-like process inside a host (detached, survives the exec)."""
    result = testhosts.run_in(host, argv, detach=True, env=dict({'PYTHONPATH': '/opt/fake'}, **(env or {})))
    assert result.returncode == 0, result.stderr


def wait_listening(host, port, timeout=20):
    """Wait, from inside the host, until something listens on port (independent of the module)."""
    script = ('import socket,sys,time\nend=time.time()+%d\nwhile time.time()<end:\n'
              '    s=socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)\n'
              '    if s.connect_ex((sys.argv[1],%d))==0: sys.exit(0)\n    time.sleep(0.2)\nsys.exit(1)\n') % (timeout, port)
    result = testhosts.run_in(host, ['python3', '-c', script, '127.0.0.1'], timeout=timeout + 10)
    assert result.returncode == 0, 'nothing listens on %s:%d' % (host.name, port)


# A fake vLLM on a test host, (re)started by a script as a unit's ExecStart would be: the service
# definition the remediation modules restart it through.
VLLM_SERVICES = {'vllm': {'env_file': '/etc/default/vllm', 'restart_command': '/usr/local/sbin/restart-vllm'}}
# Each run appends a line to VLLM_RESTARTS (restarts counted on the host, independently of the audit log); a status in
# VLLM_METRICS_STATUS makes the restarted server answer /metrics with it (it listens, but Prometheus sees it down).
VLLM_RESTARTS, VLLM_METRICS_STATUS = '/var/log/restart-vllm.log', '/etc/default/vllm-metrics-status'
_VLLM_RESTART = ('#!/bin/sh\nFAKE_METRICS_STATUS=$(cat %s 2>/dev/null); export FAKE_METRICS_STATUS\n'
                 'echo "restart $(date +%%T) metrics status ${FAKE_METRICS_STATUS:-200}" >> %s\n'
                 'pkill -f vllm.entrypoints && sleep 0.3\n'
                 'cd / && PYTHONPATH=/opt/fake setsid nohup python3 -m '
                 'vllm.entrypoints.openai.api_server --model facebook/opt-125m --host 0.0.0.0 --port 8000 '
                 '>/dev/null 2>&1 </dev/null &\n') % (VLLM_METRICS_STATUS, VLLM_RESTARTS)


def serve_restartable_vllm(host, workdir):
    """Start the fake vLLM on host (port 8000) and write workdir/hosts.json: the host with its
    aigov_baseline_services, and localhost for the controller's plays. Returns the inventory's path."""
    testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
    (workdir / 'restart-vllm').write_text(_VLLM_RESTART)
    testhosts.copy_into(host, workdir / 'restart-vllm', '/usr/local/sbin/restart-vllm')
    testhosts.run_in(host, ['sh', '-c', 'chmod 755 /usr/local/sbin/restart-vllm && touch /etc/default/vllm'])
    assert testhosts.run_in(host, ['/usr/local/sbin/restart-vllm']).returncode == 0
    wait_listening(host, 8000)
    inventory = testhosts.write_inventory([host], workdir / 'hosts.json',
                                          hostvars={host.name: {'aigov_baseline_services': VLLM_SERVICES}})
    with open(str(inventory)) as handle:
        data = json.load(handle)
    data['all']['hosts'] = {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': os.path.join(BIN, 'python')}}
    with open(str(inventory), 'w') as handle:
        json.dump(data, handle)
    return str(inventory)


@pytest.fixture(scope='session')
def fleet(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('fleet')
    prefix = 'aigov-it-%d' % os.getpid()
    with testhosts.test_hosts(2, prefix, str(workdir)) as hosts:
        for host in hosts:
            testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        exposed, guarded = hosts
        start_server(exposed, VLLM + ['--port', '8000'])
        start_server(guarded, VLLM + ['--port', '8001', '--api-key', PLANTED_SECRETS[0]])
        testhosts.run_in(guarded, ['cp', '/opt/fake/bin/llama-server', '/usr/local/bin/llama-server'])
        start_server(guarded, ['python3', '/usr/local/bin/llama-server', '--host', '127.0.0.1', '--port', '8080',
                               '-m', '/models/tinyllama.gguf'], env={'HF_TOKEN': PLANTED_SECRETS[1]})
        wait_listening(exposed, 8000)
        wait_listening(guarded, 8001)
        wait_listening(guarded, 8080)
        inventory = testhosts.write_inventory(hosts, workdir / 'inventory.json')
        yield Fleet(hosts, str(inventory), exposed, guarded)


def load_json(path):
    with open(path) as handle:
        return json.load(handle)
