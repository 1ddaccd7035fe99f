"""The operator's path through governed remediation, on real parts, with the commands of docs/remediation.md.

docs/remediation.md, "The operator's path", is read and its steps (`<!-- step: NAME -->` then a sh block) are run as
written, with this test's directories for /var/lib/aigov and /etc/aigov, its inventory.yml and vars.yml, and its
request id and anchor; discovery is given `aigov_probes` as well (only model servers: the controller machine is shared).

Three fake vLLM servers on 127.0.0.1 (the inventory host `localhost`, as an operator's own machine), scraped by a real
Prometheus under ordinary labels only (`instance`, `job`: no aigov_host, no confidence), a real Alertmanager, the
shipped rulebook in the real ansible-rulebook, a local webhook receiver as the escalation owner:
- the first server's restart command fails on the host: the remediation's failure is escalated to the owner's webhook
  within seconds (far within aigov_outcome_timeout), recorded (decision escalate, remediation_failed; escalation.notify);
- the second one's service definition lacks its restart_command: refused before any start, and the refusal escalated;
- the third one is found from `instance` alone (127.0.0.1:<port>) and remediated: it listens again;
- with a high-risk registry the third one's next outage waits for approval: `aigov.core.approve` without a request
  lists it, it expires (aigov_approval_ttl) into an escalation, and approving it afterwards is refused;
- the governance report runs without warnings and prints MTTR of automated repairs apart.
"""

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_verify
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store import read_inventory
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests.conftest import ROOT
from tests.integration.conftest import BIN, FAKE_SERVERS
from tests.integration.test_alert_chain import start, stop, write
from tests.integration.test_event_source_rulebook import wait_port
from tests.integration.test_remediation_chain import end, listening, wait_state
from tests.integration.test_remediation_rulebook import entries, no_freeze_policy, wait_entries
from tests.ports import free_port

TOKEN = 'alertmanager-token-op-0019'
STEP = re.compile(r'<!-- step: (?P<name>[a-z_]+) -->\n```sh\n(?P<body>.*?)\n```', re.S)
_SERVER = ('#!/bin/sh\n[ -f {pidfile} ] && kill "$(cat {pidfile})" 2>/dev/null; sleep 0.3\n'
           'cd / && PYTHONPATH={fake} setsid nohup python3 -m vllm.entrypoints.openai.api_server --host 127.0.0.1 '
           '--port {port} --model {model} >/dev/null 2>&1 </dev/null &\necho $! > {pidfile}\n')
_FAIL = '#!/bin/sh\necho "restart-vllm: unit file vllm.service is broken" >&2\nexit 1\n'


def doc_steps():
    """{name: command text} of the steps of docs/remediation.md's operator's path."""
    with open(os.path.join(ROOT, 'docs', 'remediation.md')) as handle:
        found = dict((match.group('name'), match.group('body')) for match in STEP.finditer(handle.read()))
    assert set(found) >= {'key', 'discover', 'rulebook', 'pending', 'approve', 'report'}, sorted(found)
    return found


class Step(object):
    """Runs a documented step with this test's paths (and any other replacement) in bash."""

    def __init__(self, tmp_path, env):
        self.tmp, self.env, self.outputs = tmp_path, env, []
        self.steps = doc_steps()

    def text(self, name, extra='', **replace):
        text = self.steps[name].replace('/var/lib/aigov', str(self.tmp / 'var')).replace('/etc/aigov', str(self.tmp / 'etc'))
        text = text.replace('inventory.yml', str(self.tmp / 'inventory.yml')).replace('vars.yml', str(self.tmp / 'vars.yml'))
        for old, new in replace.items():
            assert old in text, (name, old)
            text = text.replace(old, new)
        return text + extra

    def run(self, name, extra='', **replace):
        proc = subprocess.run(['bash', '-ec', self.text(name, extra, **replace)], env=self.env, cwd=str(self.tmp),
                              capture_output=True, text=True, timeout=600, check=False)
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def popen(self, name):
        return subprocess.Popen(['bash', '-ec', 'exec ' + self.text(name)], env=self.env, cwd=str(self.tmp),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class Webhook(object):
    """The escalation owner's webhook: a local receiver that keeps every JSON body posted to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server naming)
                received.append((time.time(), json.loads(self.rfile.read(int(self.headers['Content-Length'])))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', free_port()), Handler)
        self.url = 'http://127.0.0.1:%d/' % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [body for _when, body in self.received if predicate(body)]
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError('the webhook received no such escalation: %r' % self.received)


def exception_of(kind):
    return lambda body: (body.get('decision') or {}).get('exceptions') == [kind]


def up(prometheus, ports, timeout=60):
    """Wait until Prometheus reports every target of the vllm job up."""
    url = 'http://127.0.0.1:%d/api/v1/query?%s' % (prometheus, urllib.parse.urlencode({'query': 'up{job="vllm"}'}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=5) as response:
            result = json.load(response)['data']['result']
        if sorted(int(r['metric']['instance'].rpartition(':')[2]) for r in result if r['value'][1] == '1') == sorted(ports):
            return
        time.sleep(0.5)
    raise AssertionError('Prometheus did not see %s up' % ports)


def kill(pidfile):
    os.kill(int(open(pidfile).read().strip()), signal.SIGTERM)


def test_the_operators_path_every_exit_reaches_a_person(ansible_env, tmp_path):
    env = dict(ansible_env, JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))
    (tmp_path / 'var').mkdir()
    (tmp_path / 'etc').mkdir()
    steps, webhook = Step(tmp_path, env), Webhook()
    assert steps.run('key').returncode == 0, steps.outputs[-1]
    env['AIGOV_DECISION_KEY_FILE'] = env_keys = str(tmp_path / 'etc' / 'decision.keys')
    assert oct(os.stat(env_keys).st_mode & 0o777) == '0o600'
    store, log = str(tmp_path / 'var' / 'assets.sqlite3'), str(tmp_path / 'var' / 'audit.jsonl')

    servers = {}
    for role in ('fail', 'refused', 'ok'):
        port, model = free_port(), 'aigov-op-%s-%d' % (role, os.getpid())
        script = tmp_path / ('serve-%s.sh' % role)
        script.write_text(_SERVER.format(pidfile=tmp_path / ('%s.pid' % role), fake=FAKE_SERVERS, port=port, model=model))
        script.chmod(0o755)
        servers[role] = dict(port=port, model=model, pidfile=str(tmp_path / ('%s.pid' % role)), script=str(script))
        assert subprocess.run([str(script)], timeout=30, check=False).returncode == 0
    (tmp_path / 'restart-fail.sh').write_text(_FAIL)
    (tmp_path / 'restart-fail.sh').chmod(0o755)
    for server in servers.values():
        wait_state('127.0.0.1', server['port'], True, 20)

    def registry(tier):
        return write(tmp_path / 'etc' / 'registry.yml', {'schema_version': 1, 'use_cases': [{
            'id': 'lab-llm', 'risk_tier': tier, 'owners': {'decision': 'lab-team', 'escalation': 'lab-on-call'},
            'assets': [{'kind': 'model_server', 'model': server['model']} for server in servers.values()]}]})

    def inventory(services=None):
        local = {'ansible_connection': 'local', 'ansible_python_interpreter': os.path.join(BIN, 'python')}
        if services:
            local['aigov_baseline_services'] = services
        return write(tmp_path / 'inventory.yml', {'all': {'hosts': {'localhost': local}}})

    registry('minimal')
    inventory()
    found = steps.run('discover', extra=' -e \'{"aigov_probes": ["model_server"]}\'')
    assert found.returncode == 0, found.stdout[-3000:]
    assets = dict((row['record']['attributes'].get('model'), row['id'])
                  for row in read_inventory(open_store(store, create=False))['assets'] if row['kind'] == 'model_server')
    ids = dict((role, assets[server['model']]) for role, server in servers.items())
    inventory({ids['fail']: {'restart_command': str(tmp_path / 'restart-fail.sh')},
               ids['refused']: {'env_file': str(tmp_path / 'vllm.env')},  # no restart_command: incomplete
               ids['ok']: {'restart_command': servers['ok']['script']}})

    source_port, am_port, prom_port = free_port(), free_port(), free_port()

    def variables(ttl):
        write(tmp_path / 'vars.yml', {
            'aigov_port': source_port, 'aigov_token': TOKEN, 'aigov_store_path': store, 'aigov_audit_log': log,
            'aigov_registry': str(tmp_path / 'etc' / 'registry.yml'), 'aigov_guardrails': no_freeze_policy(tmp_path / 'g.yml'),
            'aigov_escalation_webhook': webhook.url, 'aigov_default_confidence': 0.9,
            'aigov_outcome_timeout': 120, 'aigov_approval_ttl': ttl})

    rules = write(tmp_path / 'rules.yml', {'groups': [{'name': 'ai', 'rules': [{  # the rule docs/remediation.md gives
        'alert': 'ModelServerDown', 'expr': 'up{job="vllm"} == 0', 'labels': {'severity': 'critical'}}]}]})
    write(tmp_path / 'prometheus.yml', {
        'global': {'scrape_interval': '1s', 'evaluation_interval': '1s'}, 'rule_files': [rules],
        'alerting': {'alertmanagers': [{'static_configs': [{'targets': ['127.0.0.1:%d' % am_port]}]}]},
        'scrape_configs': [{'job_name': 'vllm', 'static_configs': [
            {'targets': ['127.0.0.1:%d' % server['port'] for server in servers.values()]}]}]})
    write(tmp_path / 'alertmanager.yml', {
        'route': {'receiver': 'aigov', 'group_wait': '0s', 'group_interval': '1s', 'repeat_interval': '1h'},
        'receivers': [{'name': 'aigov', 'webhook_configs': [{
            'url': 'http://127.0.0.1:%d/' % source_port, 'send_resolved': True,
            'http_config': {'authorization': {'type': 'Bearer', 'credentials': TOKEN}}}]}]})
    outputs = []
    with open(str(tmp_path / 'services.log'), 'w') as services_log:
        services = [
            start(['prometheus-alertmanager', '--config.file=%s' % (tmp_path / 'alertmanager.yml'),
                   '--storage.path=%s' % (tmp_path / 'am'), '--web.listen-address=127.0.0.1:%d' % am_port,
                   '--cluster.listen-address='], services_log),
            start(['prometheus', '--config.file=%s' % (tmp_path / 'prometheus.yml'), '--storage.tsdb.path=%s' % (tmp_path / 'tsdb'),
                   '--web.listen-address=127.0.0.1:%d' % prom_port], services_log)]
        try:
            # 1. minimal risk: automate each outage
            variables(3600)
            proc = steps.popen('rulebook')
            try:
                wait_port(source_port, proc)
                up(prom_port, [server['port'] for server in servers.values()])
                kill(servers['fail']['pidfile'])
                [failed] = wait_entries(log, lambda e: e['action'] == 'remediation.outcome' and e['subject'] == ids['fail'], 1, proc)
                escalation = webhook.wait(exception_of('remediation_failed'))[0]
                escalated_after = max(when for when, body in webhook.received if exception_of('remediation_failed')(body)) \
                    - audit_time(failed)
                kill(servers['refused']['pidfile'])
                [refused] = wait_entries(log, lambda e: e['action'] == 'remediation.refused', 1, proc)
                refusal = webhook.wait(exception_of('refusal_escalated'))[0]
                kill(servers['ok']['pidfile'])
                [repaired] = wait_entries(log, lambda e: e['action'] == 'remediation.outcome' and e['subject'] == ids['ok'], 1, proc)
                wait_entries(log, lambda e: e['action'] == 'escalation.notify', 2, proc)
            finally:
                outputs.append(end(proc))
            assert failed['outcome'] == 'failure' and 'unit file vllm.service is broken' in failed['reasons'][0], failed
            assert escalation['decision']['accountable'] == 'lab-on-call' and escalation['asset']['asset_id'] == ids['fail']
            assert 'remediation restart_model_server failed' in escalation['decision']['reasons'][0]
            assert escalated_after < 15, escalated_after  # within seconds, far within the outcome time limit (120 s)
            assert refused['subject'] == ids['refused'] and "has no restart_command" in refused['reasons'][0], refused
            assert not [e for e in entries(log) if e['action'] == 'remediation.start' and e['subject'] == ids['refused']]
            assert "has no restart_command" in refusal['decision']['reasons'][0]
            assert repaired['outcome'] == 'success' and listening('127.0.0.1', servers['ok']['port']), repaired
            ok_decision = next(e for e in entries(log) if e['action'] == 'decision' and e['subject'] == ids['ok'])
            assert ok_decision['details']['decision'] == 'automate'  # found from instance=127.0.0.1:<port> alone

            # 2. high risk: the next outage waits for a human; listed, then expired into an escalation
            wait_resolved(prom_port, servers['ok']['port'])
            registry('high')
            variables(20)
            proc = steps.popen('rulebook')
            try:
                wait_port(source_port, proc)
                time.sleep(3)  # the resolution of the first outage delivered (Alertmanager sends a changed group only)
                kill(servers['ok']['pidfile'])
                [requested] = wait_entries(log, lambda e: e['action'] == 'approval.requested', 1, proc)
                request = requested['details']['request']
                pending = steps.run('pending')
                assert pending.returncode == 0, pending.stdout[-3000:]
                expired = webhook.wait(exception_of('approval_expired'), timeout=60)[0]
            finally:
                outputs.append(end(proc))
        finally:
            stop(services)
            for server in servers.values():
                try:
                    kill(server['pidfile'])
                except (OSError, ValueError):
                    pass
    listed = pending.stdout
    assert '1 pending request(s)' in listed and request in listed and ids['ok'] in listed, listed
    assert 'restart_model_server' in listed and 'lab-team' in listed and 'expires' in listed, listed
    assert '[WARNING]' not in pending.stdout + pending.stderr
    assert request in expired['decision']['reasons'][0] and expired['decision']['accountable'] == 'lab-on-call'
    late = steps.run('approve', **{'3f9a0c2b7d1e': request})
    assert late.returncode != 0 and 'request %s expired at' % request in late.stdout, late.stdout[-3000:]

    first = entries(log)[0]
    report = steps.run('report', **{'"seq": 1, "hash": "<hash of entry 1>"': '"seq": 1, "hash": "%s"' % first['hash']})
    assert report.returncode == 0, report.stdout[-3000:]
    assert '[WARNING]' not in report.stdout + report.stderr, report.stdout + report.stderr
    assert 'audit log chain intact and anchored' in report.stdout and 'MTTR of automated repairs' in report.stdout
    figures = json.load(open(str(tmp_path / 'var' / 'reports' / 'governance-report.json')))['kpis']
    assert figures['mttr']['by_decision']['automate']['count'] == 1
    assert (figures['exceptions']['by_kind']['remediation_failed'], figures['exceptions']['by_kind']['refusal_escalated'],
            figures['exceptions']['by_kind']['approval_expired']) == (1, 1, 1)
    assert audit_verify.verify(log)['ok']
    text = open(log).read() + ''.join(outputs) + ''.join(steps.outputs) + json.dumps(webhook.received)
    assert TOKEN not in text


def audit_time(entry):
    import datetime
    return datetime.datetime.fromisoformat(entry['time']).timestamp()


def wait_resolved(prometheus, port, timeout=60):
    """Wait until Prometheus has no firing alert for the server on port (it listens again)."""
    url = 'http://127.0.0.1:%d/api/v1/alerts' % prometheus
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=5) as response:
            alerts = json.load(response)['data']['alerts']
        if not [a for a in alerts if a['labels'].get('instance') == '127.0.0.1:%d' % port and a['state'] == 'firing']:
            return
        time.sleep(0.5)
    raise AssertionError('the alert of port %d did not resolve' % port)
