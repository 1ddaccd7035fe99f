"""At-least-once delivery to the real ansible-rulebook (docs/remediation.md, "Delivery"): the shipped rulebook with
the source's `feedback: true` (aiops_remediation_persistent), H2 persistence, a storm of 1,000 firing alerts,
SIGKILL while it runs, a restart. Every alert answered 202 reaches the rulebook; every automate decision gets
exactly one remediation.start. And --persistence-id without a database: nothing confirmed, nothing lost."""

import collections
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import yaml

from tests.conftest import ROOT
from tests.integration.conftest import BIN
from tests.integration.test_event_source_rulebook import wait_port
from tests.integration.test_inventory_plugin import seed_store
from tests.integration.test_remediation_rulebook import entries, no_freeze_policy
from tests.ports import free_port

TOKEN = 'spool-token-it-0012'
ALERTS, PER_REQUEST, HOURLY = 1000, 10, 24
RULEBOOK = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks', 'aiops_remediation_persistent.yml')


def storm_rulebook(path):
    """The shipped persistent rulebook (feedback on); every event printed (REACHED); automate runs aigov.core.remediate as
    shipped, the decisions held back only print (their playbooks are covered by test_remediation_rulebook)."""
    [ruleset] = yaml.safe_load(open(RULEBOOK))
    source = ruleset['sources'][0]['aigov.core.aiops_alerts']
    assert source['feedback'] is True
    source['rate_per_minute'] = 100000
    automate = ruleset['rules'][0]
    assert automate['action']['run_playbook']['name'] == 'aigov.core.remediate'
    reached = {'debug': {'msg': 'REACHED {{ event.alert.fingerprint }}'}}
    automate['actions'] = [reached, automate.pop('action')]
    ruleset['rules'] = [automate, {'name': 'Held back', 'condition': 'event.decision.decision != "automate"',
                                   'action': reached}]
    path.write_text(yaml.safe_dump([ruleset]))
    return str(path)


class Storm(threading.Thread):
    """Sends the storm as Alertmanager does: each request again until it is answered (a 5xx or no answer is retried)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.accepted, self.retries = port, [], 0

    def run(self):
        for start in range(0, ALERTS, PER_REQUEST):
            fingerprints = ['storm-%04d' % n for n in range(start, start + PER_REQUEST)]
            body = json.dumps({'version': '4', 'status': 'firing', 'alerts': [
                {'status': 'firing', 'fingerprint': fp, 'startsAt': '2026-12-06T10:00:00Z',
                 'labels': {'alertname': 'ModelServerDown', 'instance': '10.10.0.11:8000', 'confidence': '0.95'}}
                for fp in fingerprints]}).encode()
            deadline = time.monotonic() + 300  # the engine takes no event while more than 10 actions wait (below)
            while time.monotonic() < deadline:
                request = urllib.request.Request('http://127.0.0.1:%d/' % self.port, data=body, headers={
                    'Content-Type': 'application/json', 'Authorization': 'Bearer ' + TOKEN})
                try:
                    with urllib.request.urlopen(request, timeout=20) as response:
                        if response.status == 202:
                            self.accepted.extend(fingerprints)
                            break
                except (OSError, urllib.error.HTTPError):
                    pass
                self.retries += 1
                time.sleep(0.2)


def start(tmp_path, rulebook, inventory, variables, env, run, *args):
    out = open(str(tmp_path / ('rulebook-%d.log' % run)), 'w')
    return subprocess.Popen([os.path.join(BIN, 'ansible-rulebook'), '-r', rulebook, '-i', inventory, '--vars', variables,
                             '--persistence-id', '1', '--id', '1'] + list(args),
                            cwd=str(tmp_path), env=env, stdout=out, stderr=subprocess.STDOUT, text=True)


def reached(tmp_path):
    text = ''.join(open(str(tmp_path / name)).read() for name in sorted(os.listdir(str(tmp_path)))
                   if name.startswith('rulebook-'))
    return collections.Counter(line.split('REACHED ', 1)[1].split()[0].strip('\'"') for line in text.splitlines()
                               if 'REACHED storm-' in line)


def automate_and_starts(log):
    found = entries(log)
    automate = [e['details']['payload_sha256'] for e in found
                if e['action'] == 'decision' and e['details']['decision'] == 'automate']
    starts = collections.Counter(e['details']['payload_sha256'] for e in found if e['action'] == 'remediation.start')
    return found, automate, starts


def site(tmp_path, ansible_env, database=True):
    """The estate's store, guardrails with the hourly limit HOURLY, an inventory whose gpu-onprem-1 does not answer
    (each remediation starts, then fails), the rulebook's variables (H2 in tmp_path/h2 when database) and environment.
    Returns (log, port, inventory, variables, env)."""
    store, log = str(tmp_path / 'assets.sqlite3'), str(tmp_path / 'audit.jsonl')
    seed_store(store)
    policy = tmp_path / 'guardrails.yml'
    no_freeze_policy(policy)
    limits = yaml.safe_load(policy.read_text())
    limits['limits']['max_actions_per_asset_per_hour'] = HOURLY  # a few dozen automate, the rest held back
    policy.write_text(yaml.safe_dump(limits))
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {
        'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': os.path.join(BIN, 'python')},
        'gpu-onprem-1': {'ansible_host': '127.0.0.1', 'ansible_port': free_port(), 'ansible_user': 'nobody',
                         'ansible_ssh_common_args': '-o ConnectTimeout=2 -o BatchMode=yes',
                         # a complete service definition: the plan lets each run start (the plan checks it first)
                         'aigov_baseline_services': {'vllm': {'restart_command': '/usr/local/sbin/restart-vllm'}}}}}}))
    port = free_port()
    variables = tmp_path / 'vars.yml'
    variables.write_text(yaml.safe_dump(dict({
        'aigov_port': port, 'aigov_token': TOKEN, 'aigov_store_path': store, 'aigov_audit_log': log,
        'aigov_guardrails': str(policy), 'aigov_escalation_webhook': 'http://127.0.0.1:9/unused',
        'aigov_registry': os.path.join(ROOT, 'tests', 'fixtures', 'inventory', 'registry.yml')},
        **({'drools_db_file_path': str(tmp_path / 'h2' / 'eda')} if database else {}))))
    env = dict(ansible_env, PYTHONUNBUFFERED='1',
               JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))
    return log, port, str(inventory), str(variables), env


def test_sigkill_in_a_storm_loses_no_accepted_alert_and_starts_each_decision_once(ansible_env, tmp_path):
    log, port, inventory, variables, env = site(tmp_path, ansible_env)
    rulebook = storm_rulebook(tmp_path / 'storm.yml')
    proc = start(tmp_path, rulebook, inventory, variables, env, 1)
    storm = Storm(port)
    try:
        wait_port(port, proc, timeout=120)
        storm.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # kill it mid-storm, with remediations matched but not yet started
            _found, automate, starts = automate_and_starts(log)
            if len(starts) >= 8:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        killed_at, started_at_kill = len(storm.accepted), len(automate_and_starts(log)[2])
        waiting = list(open(log + '.spool'))
        proc = start(tmp_path, rulebook, inventory, variables, env, 2)
        # The remediations run one after the other (ansible-rulebook's sequential strategy), 2-8 s each on a shared
        # 2-CPU machine, and the engine takes no event while more than 10 matched actions wait: the storm waits too.
        storm.join(timeout=420)
        assert not storm.is_alive() and len(storm.accepted) == ALERTS
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found, automate, starts = automate_and_starts(log)
            outcomes = sum(1 for e in found if e['action'] in ('remediation.outcome', 'remediation.refused'))
            if not set(storm.accepted) - set(reached(tmp_path)) and all(starts[d] for d in automate) \
                    and outcomes >= len(automate):
                break
            assert proc.poll() is None, open(str(tmp_path / 'rulebook-2.log')).read()[-3000:]
            time.sleep(1)
        time.sleep(3)  # a second start would come now
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
    found, automate, starts = automate_and_starts(log)
    seen = reached(tmp_path)
    figures = {'accepted_202': len(storm.accepted), 'at_kill': killed_at, 'started_at_kill': started_at_kill,
               'spool_lines_at_kill': len(waiting),
               'reached': len(set(seen) & set(storm.accepted)), 'reached_twice': sum(1 for n in seen.values() if n > 1),
               'retries': storm.retries, 'automate': len(automate), 'starts': sum(starts.values()),
               'refused': collections.Counter(e['reasons'][0].split(':')[0] for e in found if e['action'] == 'remediation.refused'),
               'decisions': collections.Counter(e['details']['decision'] for e in found if e['action'] == 'decision')}
    print('KILL TEST %s' % json.dumps(figures))
    assert killed_at < ALERTS
    assert not set(storm.accepted) - set(seen), 'accepted but never reached the rulebook'
    assert 10 <= len(automate) < 100
    assert all(starts[digest] == 1 for digest in automate), starts
    assert set(starts) <= set(automate)
    assert set(figures['refused']) <= {'this decision already ran'}  # a second run of a decision, refused


def test_persistence_id_without_a_database_confirms_nothing_and_loses_nothing(ansible_env, tmp_path):
    """ansible-rulebook 1.3.2 given --persistence-id but no drools_db_* variable hands the source a feedback queue while
    its persistence stays off: the source refuses that feedback (the run ends with its error), the accepted alert stays
    in the spool, and the same rulebook with a database delivers it."""
    log, port, inventory, variables, env = site(tmp_path, ansible_env, database=False)
    rulebook = storm_rulebook(tmp_path / 'storm.yml')
    proc = start(tmp_path, rulebook, inventory, variables, env, 1, '--shutdown-delay', '2')
    try:
        wait_port(port, proc, timeout=120)
        body = json.dumps({'version': '4', 'status': 'firing', 'alerts': [
            {'status': 'firing', 'fingerprint': 'storm-nodb', 'startsAt': '2026-12-06T10:00:00Z',
             'labels': {'alertname': 'ModelServerDown', 'instance': '10.10.0.11:8000', 'confidence': '0.95'}}]}).encode()
        request = urllib.request.Request('http://127.0.0.1:%d/' % port, data=body, headers={
            'Content-Type': 'application/json', 'Authorization': 'Bearer ' + TOKEN})
        with urllib.request.urlopen(request, timeout=20) as response:
            assert response.status == 202
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = open(str(tmp_path / 'rulebook-1.log')).read()
    assert proc.returncode != 0 and 'runs without a persistence database' in output, output[-3000:]
    assert 'drools_db_file_path' in output
    assert '"storm-nodb"' in open(log + '.spool').read() and '"acked"' not in open(log + '.spool').read()

    with_database = yaml.safe_load(open(variables))
    with_database['drools_db_file_path'] = str(tmp_path / 'h2' / 'eda')
    open(variables, 'w').write(yaml.safe_dump(with_database))
    proc = start(tmp_path, rulebook, inventory, variables, env, 2)
    try:
        deadline = time.monotonic() + 120
        while 'REACHED storm-nodb' not in open(str(tmp_path / 'rulebook-2.log')).read() and time.monotonic() < deadline:
            assert proc.poll() is None, open(str(tmp_path / 'rulebook-2.log')).read()[-3000:]
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert 'REACHED storm-nodb' in open(str(tmp_path / 'rulebook-2.log')).read()  # the second run's rules got it
    assert sum(1 for e in entries(log) if e['action'] == 'decision') == 1  # delivered again, never decided again
