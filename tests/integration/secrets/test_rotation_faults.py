"""Two faults at once in the agent_secret_rotation role: the agent refuses its new key AND something else fails.

Real OpenBao, a real container host over SSH, real ansible-playbook -vvv. Each case has its own agent (a small
HTTP service on the host) that accepts only its current key, and only keys listed in /etc/<agent>/accept: the
test lists the agent's current key there, so the new one is refused. The second fault is made at the right
moment by a test-only HTTP proxy on 127.0.0.1 in front of OpenBao (it sees each request and goes down, refusing
the request that triggers it and every later one), by taking the host's SSH away, by SIGKILLing the controller
once the agent's restart marks the delivery, or by a second ansible-playbook. After each fault run and after
the next (fault-free) run: the agent answers with the key in its file, the backend's current value is the
agent's (or the next run makes it so), the audit log says what happened, and no secret is in any output.

Checks go around the role: the KV through the independent reader, the host through podman exec, the agent
through its own HTTP answer, the audit log read as JSON.
"""

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ansible_collections.aigov.core.plugins.module_utils.audit.audit_verify import verify
from tests.hosts import testhosts
from tests.integration.conftest import BIN, Ansible
from tests.integration.secrets.test_rotation_role import AGENT_SERVICE, answers

CASES = ('write', 'readback', 'rollback', 'killed', 'unreachable', 'concurrent')
PORTS = dict((case, 9100 + index) for index, case in enumerate(CASES))
HOLD = ('if [ -e /etc/{0}/hold ]; then touch /run/{0}.delivered; sleep 30; fi')


class BaoProxy(object):
    """HTTP proxy on 127.0.0.1 to OpenBao that goes down when `trigger(method, path, seen)` says so.

    seen lists the (method, path) forwarded before. The triggering request gets no answer (the connection is
    closed), the listener is closed, so every later request is refused: the backend is down from that moment.
    `after(method, path)` runs once a request was forwarded, before its answer goes back (to break something
    else at exactly that point). Values pass through in memory only and are never logged.
    """

    def __init__(self, target, trigger=None, after=None):
        self.target, self.trigger, self.after, self.seen, self.down = target, trigger, after, [], False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def _any(self):
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                call = (self.command, self.path.split('?')[0])
                if proxy.down or (proxy.trigger and proxy.trigger(self.command, self.path, list(proxy.seen))):
                    proxy.go_down()
                    self.close_connection = True
                    return
                headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in ('host', 'content-length'))
                answer = requests.request(self.command, proxy.target + self.path, data=body, headers=headers, timeout=10)
                proxy.seen.append(call + (self.path,))
                if proxy.after:
                    proxy.after(self.command, self.path)
                self.send_response(answer.status_code)
                for key in ('Content-Type',):
                    if key in answer.headers:
                        self.send_header(key, answer.headers[key])
                self.send_header('Content-Length', str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _any

            def log_message(self, *args):  # never log: requests carry tokens and values
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def go_down(self):
        if not self.down:
            self.down = True
            threading.Thread(target=self.close, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def writes(seen, name):
    return [call for call in seen if call[0] in ('POST', 'PUT') and call[1] == '/v1/secret/data/agents/%s' % name]


@pytest.fixture(scope='module')
def faults(tmp_path_factory, openbao, ansible_env):
    workdir = tmp_path_factory.mktemp('faults')
    with testhosts.test_hosts(1, 'aigov-flt-%d' % os.getpid(), str(workdir)) as hosts:
        host = hosts[0]
        testhosts.run_in(host, ['mkdir', '-p', '/opt/agent'])
        testhosts.copy_into(host, os.path.join(AGENT_SERVICE, 'agent.py'), '/opt/agent/agent.py')
        testhosts.copy_into(host, os.path.join(AGENT_SERVICE, 'agent-restart'), '/usr/local/bin/agent-restart')
        agents = {}
        for case, port in PORTS.items():
            name = 'flt-%s' % case
            testhosts.run_in(host, ['mkdir', '-p', '/etc/%s' % name])
            restart = '/usr/local/bin/agent-restart %s %d; ' % (name, port) + HOLD.format(name)
            agents[case] = dict(name=name, owner='team-faults', host=host.name, env_file='/etc/%s/env' % name,
                                env_var='AGENT_KEY', restart_command=['sh', '-c', restart], prefix='sk-flt-',
                                verify_url='http://127.0.0.1:%d/' % port)
        inventory = json.loads(testhosts.write_inventory(hosts, workdir / 'hosts.json').read_text())
        inventory['all']['hosts'] = {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter':
                                                   os.path.join(BIN, 'python')}}
        (workdir / 'inventory.json').write_text(json.dumps(inventory))
        env = dict(ansible_env, BAO_ADDR=openbao.url, BAO_TOKEN=openbao.root_token)
        state = dict(workdir=workdir, host=host, agents=agents, ansible=Ansible(env), env=env, bao=openbao,
                     audit=str(workdir / 'audit.jsonl'), outputs=[])
        proc = run(state, list(agents.values()))  # version 1 of every agent, delivered and verified
        assert proc.returncode == 0, proc.stdout[-3000:]
        yield state


def extra_vars(state, agents, force=(), url=None, name='vars'):
    extra = dict(agent_secret_rotation_agents=agents, agent_secret_rotation_force=list(force),
                 agent_secret_rotation_inventory_group='', agent_secret_rotation_audit_log=state['audit'],
                 agent_secret_rotation_verify_retries=3, agent_secret_rotation_verify_delay=1,
                 agent_secret_rotation_lock_dir=str(state['workdir'] / 'locks'),
                 agent_secret_rotation_backend=dict(url=url, timeout=3) if url else {})
    path = state['workdir'] / ('%s.json' % name)
    path.write_text(json.dumps(extra))
    return ['-vvv', '-i', str(state['workdir'] / 'inventory.json'), 'aigov.core.rotate_agent_secrets', '-e', '@%s' % path]


def run(state, agents, force=(), url=None):
    return state['ansible'].playbook(*extra_vars(state, agents, force, url))


def start(state, agents, force=(), url=None, name='vars'):
    """An ansible-playbook in its own process group (to SIGKILL it whole); its output is kept for the leak check."""
    out = open(str(state['workdir'] / ('%s.out' % name)), 'w+')
    proc = subprocess.Popen([os.path.join(BIN, 'ansible-playbook')] + extra_vars(state, agents, force, url, name),
                            env=state['env'], stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    state['outputs'].append(out.name)
    return proc, out


def finish(proc, out, timeout=300):
    proc.wait(timeout=timeout)
    out.seek(0)
    return proc.returncode, out.read()


def key_in_file(state, name):
    content = testhosts.run_in(state['host'], ['cat', '/etc/%s/env' % name]).stdout
    return dict(line.split('=', 1) for line in content.splitlines() if '=' in line)['AGENT_KEY']


def accept_only(state, name, value):
    """The agent takes no other key than VALUE from now on (a new key is refused)."""
    digest = hashlib.sha256(value.encode()).hexdigest()
    assert testhosts.run_in(state['host'], ['sh', '-c', 'echo %s > /etc/%s/accept' % (digest, name)]).returncode == 0


def kept_copy(state, name):
    return testhosts.run_in(state['host'], ['test', '-e', '/etc/%s/env.aigov-previous' % name]).returncode == 0


def check_agent(state, kv, case, backend_agrees=True):
    """The agent answers 200 to the key in its file (its working key) and 401 to another; return that key."""
    name, port = 'flt-%s' % case, PORTS[case]
    value = key_in_file(state, name)
    assert answers(state['host'], port, value) == '200', '%s: the agent does not work with the key in its file' % name
    assert answers(state['host'], port, 'sk-flt-wrong') == '401'
    if backend_agrees:
        assert kv.read('agents/%s' % name)[0] == value, "%s: the backend's current value is not the agent's" % name
    return value


def entries(state, name, since):
    """(action, outcome, details.outcome) of the agent's audit entries after seq SINCE."""
    return [(e['action'], e['outcome'], e['details'].get('outcome')) for e in map(json.loads, open(state['audit']))
            if e['seq'] > since and e['subject'] == name]


def last_seq(state):
    return json.loads(open(state['audit']).readlines()[-1])['seq']


def summary(stdout, name):
    """The agent's line in the play's summary."""
    return next(line.strip().strip('",') for line in stdout.splitlines() if line.strip().strip('"').startswith(name + ' on '))


def refuse_new_keys(state, kv, case):
    """The first fault: the agent takes no key but its current one. Return (last audit seq, that key)."""
    old = check_agent(state, kv, case)
    accept_only(state, 'flt-%s' % case, old)
    return last_seq(state), old


def next_run_is_clean(state, kv, case, old, expect):
    """The fault-free next run: EXPECT in its line, rc 0 and nothing left pending; the agent still on OLD."""
    name = 'flt-%s' % case
    proc = run(state, [state['agents'][case]])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert ': %s' % expect in summary(proc.stdout, name)
    assert check_agent(state, kv, case) == old and not kept_copy(state, name)
    return proc


def test_refused_new_key_and_backend_down_at_write(faults, kv):
    seq, old = refuse_new_keys(faults, kv, 'write')
    version = kv.current_version('agents/flt-write')
    proxy = BaoProxy(faults['bao'].url, trigger=lambda method, path, seen: method == 'POST' and 'agents/flt-write' in path)
    proc = run(faults, [faults['agents']['write']], force=['flt-write'], url=proxy.url)
    assert proc.returncode == 2
    line = summary(proc.stdout, 'flt-write')
    assert ': refused (version %d, ' % version in line and 'nothing written or delivered' in line and 'unreachable' in line
    assert kv.current_version('agents/flt-write') == version and check_agent(faults, kv, 'write') == old
    assert entries(faults, 'flt-write', seq) == [('agent_secret_rotation.rotate', 'planned', None),
                                                 ('agent_secret.rotate', 'failure', None),
                                                 ('agent_secret_rotation.rotate', 'refused', 'refused')]
    proc = run(faults, [faults['agents']['write']])
    assert proc.returncode == 0 and ': unchanged (version %d, ' % version in summary(proc.stdout, 'flt-write')


@pytest.mark.parametrize('case', ['readback', 'rollback'])
def test_refused_new_key_and_backend_down_after_the_write(faults, kv, case):
    """Down right after the new version's write (the old rollback read it back) or at the rollback's own write:
    the agent goes back to the key kept on its host without the backend; the next run writes that key back."""
    name = 'flt-%s' % case
    seq, old = refuse_new_keys(faults, kv, case)
    version = kv.current_version('agents/%s' % name)
    if case == 'readback':
        def trigger(method, path, seen):
            return bool(writes(seen, name))
    else:
        def trigger(method, path, seen):
            return method == 'POST' and 'agents/%s' % name in path and len(writes(seen, name)) == 1
    proxy = BaoProxy(faults['bao'].url, trigger=trigger)
    proc = run(faults, [faults['agents'][case]], force=[name], url=proxy.url)
    assert proxy.down and proc.returncode == 2
    line = summary(proc.stdout, name)
    assert ': agent_rolled_back (version %d -> %d, ' % (version, version + 1) in line, line
    assert "the agent's previous key was put back from the copy kept on its host and verified" in line
    assert 'the backend could not be restored' in line and 'the next run writes the agent' in line
    # The agent works with its previous key; the backend still holds the refused one, flagged by the kept copy.
    assert check_agent(faults, kv, case, backend_agrees=False) == old and kept_copy(faults, name)
    assert kv.current_version('agents/%s' % name) == version + 1 and kv.read('agents/%s' % name)[0] != old
    assert entries(faults, name, seq)[-1] == ('agent_secret_rotation.rotate', 'rolled_back', 'agent_rolled_back')
    seq = last_seq(faults)
    proc = next_run_is_clean(faults, kv, case, old, 'repaired (version %d -> %d, ' % (version + 1, version + 2))
    assert kv.current_version('agents/%s' % name) == version + 2
    assert entries(faults, name, seq) == [('agent_secret.rotate', 'success', None),
                                          ('agent_secret_rotation.repair', 'success', 'repaired')]


def test_refused_new_key_and_controller_killed_after_delivery(faults, kv):
    name = 'flt-killed'
    seq, old = refuse_new_keys(faults, kv, 'killed')
    version = kv.current_version('agents/%s' % name)
    testhosts.run_in(faults['host'], ['touch', '/etc/%s/hold' % name])  # the restart marks the delivery, then waits
    proc, out = start(faults, [faults['agents']['killed']], force=[name], name='killed')
    try:
        deadline = time.monotonic() + 120
        while testhosts.run_in(faults['host'], ['test', '-e', '/run/%s.delivered' % name]).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, 'the run never delivered'
            time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGKILL)  # after delivery and restart, before verification
    finally:
        testhosts.run_in(faults['host'], ['rm', '-f', '/etc/%s/hold' % name, '/run/%s.delivered' % name])
    finish(proc, out)
    assert proc.returncode == -signal.SIGKILL
    # Killed: the agent holds the new key, which it refuses; the backend's current version is that key.
    assert kv.current_version('agents/%s' % name) == version + 1 and key_in_file(faults, name) != old
    assert kept_copy(faults, name)
    assert [e[1] for e in entries(faults, name, seq)] == ['planned', 'success']
    seq = last_seq(faults)
    proc = run(faults, [faults['agents']['killed']])  # the rerun
    assert proc.returncode == 2, proc.stdout[-3000:]
    line = summary(proc.stdout, name)
    assert ': rolled_back (version %d -> %d, ' % (version + 1, version + 2) in line, line
    assert "rolled back: the agent's previous key was put back from the copy kept on its host and verified" in line
    assert 'took over the stale lock' in proc.stderr
    assert check_agent(faults, kv, 'killed') == old and not kept_copy(faults, name)
    assert entries(faults, name, seq) == [('agent_secret.rotate', 'success', None),
                                          ('agent_secret_rotation.rotate', 'rolled_back', 'rolled_back')]
    next_run_is_clean(faults, kv, 'killed', old, 'unchanged')


def test_refused_new_key_and_host_unreachable_at_delivery(faults, kv):
    """The host's SSH goes away once the new version is written: the agent's file is never touched, so the agent
    keeps working with its key; the backend goes back to the previous value; the next run finds all in order."""
    name = 'flt-unreachable'
    seq, old = refuse_new_keys(faults, kv, 'unreachable')
    version = kv.current_version('agents/%s' % name)
    host = faults['host']

    def cut_ssh(method, path):
        if method == 'POST' and 'agents/%s' % name in path and len(writes(proxy.seen, name)) == 1:
            testhosts.run_in(host, ['sh', '-c', 'mv /root/.ssh/authorized_keys /root/.ssh/off; pkill -f "^sshd: root"; true'])
    proxy = BaoProxy(faults['bao'].url, after=cut_ssh)
    try:
        proc = run(faults, [faults['agents']['unreachable']], force=[name], url=proxy.url)
    finally:
        testhosts.run_in(host, ['mv', '/root/.ssh/off', '/root/.ssh/authorized_keys'])
        proxy.close()
    assert proc.returncode == 2, proc.stdout[-3000:]
    line = summary(proc.stdout, name)
    assert ': backend_rolled_back (version %d -> %d, ' % (version, version + 2) in line, line
    assert "the agent's host is unreachable" in line and 'holds the previous value again' in line
    assert check_agent(faults, kv, 'unreachable') == old and not kept_copy(faults, name)
    assert kv.current_version('agents/%s' % name) == version + 2
    assert entries(faults, name, seq)[-1] == ('agent_secret_rotation.rotate', 'rolled_back', 'backend_rolled_back')
    next_run_is_clean(faults, kv, 'unreachable', old, 'unchanged')


def test_refused_new_key_and_two_runs_at_once(faults, kv):
    name = 'flt-concurrent'
    seq, old = refuse_new_keys(faults, kv, 'concurrent')
    version = kv.current_version('agents/%s' % name)
    slow = dict(faults['agents']['concurrent'])
    slow['restart_command'] = ['sh', '-c', 'sleep 2; ' + slow['restart_command'][2]]
    runs = [start(faults, [slow], force=[name], name='race-%d' % n) for n in (1, 2)]
    results = [finish(proc, out) for proc, out in runs]
    assert [rc for rc, _out in results] == [2, 2], [text[-2000:] for _rc, text in results]
    lines = sorted(summary(text, name) for _rc, text in results)
    assert ': refused' in lines[0] and 'another rotation holds' in lines[0], lines
    assert ': rolled_back (version %d -> %d, ' % (version, version + 2) in lines[1], lines
    assert check_agent(faults, kv, 'concurrent') == old and not kept_copy(faults, name)
    assert sorted((e[2] for e in entries(faults, name, seq) if e[0] == 'agent_secret_rotation.rotate'), key=str) == [
        None, 'refused', 'rolled_back']
    next_run_is_clean(faults, kv, 'concurrent', old, 'unchanged')


def test_no_secret_value_in_any_output(faults, kv):
    values = set()
    for case in CASES:
        path = 'agents/flt-%s' % case
        values.update(kv.read(path, version)[0] for version in range(1, kv.current_version(path) + 1))
    assert len(values) >= 2 * len(CASES) - 1  # flt-write never got a second version
    haystacks = list(faults['ansible'].outputs) + [open(path, errors='replace').read() for path in faults['outputs']]
    haystacks += [open(str(path), errors='replace').read() for path in faults['workdir'].rglob('*')
                  if path.is_file() and path.suffix in ('.json', '.jsonl', '.lock')]
    assert verify(faults['audit'])['ok']
    leaks = sorted(set(value[:10] + '...' for value in values for text in haystacks if value in text))
    assert not leaks, 'secret values found in output, the audit log or an artifact: %s' % leaks
