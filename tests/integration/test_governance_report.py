"""aigov.core.governance_report over a real audit log: the real ansible-rulebook with the shipped rulebook and event
source decides, the real playbooks remediate over SSH on a container host, approve, deny and escalate; then the
report's JSON numbers are checked against the log (read here independently) and its HTML, check mode writes
nothing, and a tampered log is reported as untrustworthy."""

import datetime
import http.server
import json
import os
import sqlite3
import subprocess
import threading

from tests.contracts import validate
from tests.hosts import testhosts
from tests.integration.conftest import BIN, serve_restartable_vllm
from tests.integration.test_alert_chain import write
from tests.integration.test_event_source_rulebook import post, wait_port
from tests.integration.test_remediation_rulebook import TOKEN, Webhook, entries, no_freeze_policy, wait_entries
from tests.ports import free_port


def alert(asset_id, fingerprint, confidence, starts_at):
    return {'alerts': [{'status': 'firing', 'fingerprint': fingerprint, 'startsAt': starts_at,
                        'labels': {'alertname': 'ModelServerDown', 'aigov_asset_id': asset_id, 'confidence': confidence}}]}


def ago(seconds):
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds)
    return moment.isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def seconds_between(start, entry):
    started = datetime.datetime.fromisoformat(start.replace('Z', '+00:00'))
    return (datetime.datetime.fromisoformat(entry['time']) - started).total_seconds()


def report_files(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def produce_log(ansible, ansible_env, tmp_path):
    """Drive the real chain; return (log, starts_at by fingerprint, inventory)."""
    env = dict(ansible_env, JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))
    with testhosts.test_hosts(1, 'aigov-gr-%d' % os.getpid(), str(tmp_path)) as hosts:
        host = hosts[0]
        inventory = serve_restartable_vllm(host, tmp_path)
        registry = write(tmp_path / 'registry.yml', {'schema_version': 1, 'use_cases': [
            {'id': 'lab-llm', 'risk_tier': 'minimal', 'owners': {'decision': 'lab-team', 'escalation': 'lab-on-call'},
             'assets': [{'inventory_hostname': host.name}]}]})
        store, log = str(tmp_path / 'assets.sqlite3'), str(tmp_path / 'audit.jsonl')
        proc = ansible.playbook('-i', inventory, 'aigov.core.discover', '-e', 'aigov_store_path=%s' % store,
                                '-e', 'aigov_registry=%s' % registry, '-e', 'aigov_scan_hosts=testhosts')
        assert proc.returncode == 0, proc.stdout[-3000:]
        with sqlite3.connect(store) as db:  # the vLLM's asset id, read independently of the collection's code
            [(asset_id,)] = list(db.execute("SELECT id FROM assets WHERE kind = 'model_server' AND removed_at IS NULL"))
        policy = no_freeze_policy(tmp_path / 'guardrails.yml')
        webhook = http.server.HTTPServer(('127.0.0.1', 0), Webhook)
        threading.Thread(target=webhook.serve_forever, daemon=True).start()
        port = free_port()
        variables = write(tmp_path / 'vars.yml', {
            'aigov_port': port, 'aigov_token': TOKEN, 'aigov_store_path': store, 'aigov_audit_log': log,
            'aigov_registry': registry, 'aigov_guardrails': policy,
            'aigov_escalation_webhook': 'http://127.0.0.1:%d/escalate' % webhook.server_port})
        proc = subprocess.Popen([os.path.join(BIN, 'ansible-rulebook'), '-r', 'aigov.core.aiops_remediation', '-i', inventory,
                                 '--vars', variables], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        starts = {'auto1': ago(90), 'rev1': ago(60), 'rev2': ago(50), 'esc1': ago(40), 'rej1': ago(30)}
        try:
            wait_port(port, proc)
            testhosts.run_in(host, ['pkill', '-f', 'vllm.entrypoints'])      # the server is down: automate restarts it
            assert post(port, alert(asset_id, 'auto1', '0.95', starts['auto1'])) == 202
            wait_entries(log, lambda e: e['action'] == 'remediation.outcome', 1, proc)
            assert post(port, alert(asset_id, 'rev1', '0.5', starts['rev1'])) == 202       # minimal tier: review
            assert post(port, alert(asset_id, 'rev2', '0.5', starts['rev2'])) == 202
            requested = wait_entries(log, lambda e: e['action'] == 'approval.requested', 2, proc)
            assert post(port, alert(asset_id, 'esc1', '0.1', starts['esc1'])) == 202       # below review: escalate
            wait_entries(log, lambda e: e['action'] == 'escalation.notify', 1, proc)
            assert post(port, alert('model_server:unknown', 'rej1', '0.99', starts['rej1'])) == 202   # unknown: reject
            wait_entries(log, lambda e: e['action'] == 'decision' and e['outcome'] == 'refused', 1, proc)
        finally:
            proc.terminate()
            output = proc.communicate(timeout=30)[0]
            webhook.shutdown()
        assert TOKEN not in output
        request = dict((e['details']['fingerprint'], e['details']['request']) for e in requested)
        common = ['-i', inventory, '-e', 'aigov_audit_log=%s' % log, '-e', 'aigov_store_path=%s' % store,
                  '-e', 'aigov_guardrails=%s' % policy]
        approve = ansible.playbook('aigov.core.approve', '-e', 'request=%s' % request['rev1'], '-e', 'verdict=approve',
                                   '-e', 'approver=alice', *common, cwd=str(tmp_path))
        assert approve.returncode == 0, approve.stdout[-3000:]
        deny = ansible.playbook('aigov.core.approve', '-e', 'request=%s' % request['rev2'], '-e', 'verdict=deny',
                                '-e', 'approver=bob', *common, cwd=str(tmp_path))
        assert deny.returncode == 0, deny.stdout[-3000:]
        # the escalated alert's payload replayed on the command line: refused and recorded
        [escalated] = [e for e in entries(log) if e['action'] == 'decision' and e['details']['fingerprint'] == 'esc1']
        assert escalated['details']['exceptions'] == [] and escalated['details']['starts_at'] == starts['esc1']
        forged = ansible.playbook('aigov.core.remediate', '-e', 'aigov_event_payload=%s' % 'e30=', *common, cwd=str(tmp_path))
        assert forged.returncode != 0
    return log, starts, inventory


def test_governance_report_of_a_real_log(ansible, ansible_env, tmp_path):
    log, starts, inventory = produce_log(ansible, ansible_env, tmp_path)
    log_entries = entries(log)
    actions = [(e['action'], e['details'].get('fingerprint')) for e in log_entries]
    assert actions.count(('remediation.outcome', 'auto1')) == 1 and actions.count(('remediation.outcome', 'rev1')) == 1
    reports = str(tmp_path / 'reports')
    args = ['-i', inventory, 'aigov.core.governance_report', '-e', 'aigov_audit_log=%s' % log,
            '-e', 'aigov_report_dir=%s' % reports, '-e', 'aigov_group_by=owner']

    check = ansible.playbook(*(args + ['--check']), cwd=str(tmp_path))
    assert check.returncode == 0 and 'automation rate 0.25' in check.stdout, check.stdout[-3000:]
    assert report_files(reports) == []  # check mode writes nothing

    unanchored = ansible.playbook(*args, cwd=str(tmp_path))  # no anchor: a cut end would not show
    assert unanchored.returncode == 0 and 'UNANCHORED' in unanchored.stdout, unanchored.stdout[-3000:]
    report = json.load(open(os.path.join(reports, 'governance-report.json')))
    assert (report['trusted'], report['chain']['state']) == (False, 'unanchored')
    assert 'UNANCHORED' in open(os.path.join(reports, 'governance-report.html')).read()
    anchor = {'aigov_audit_anchor': {'seq': report['chain']['last_seq'], 'hash': report['chain']['last_hash']}}
    run = ansible.playbook(*(args + ['-e', json.dumps(anchor)]), cwd=str(tmp_path))
    assert run.returncode == 0, run.stdout[-3000:]
    assert 'audit log chain intact and anchored' in run.stdout and 'override rate 0.5 (1 of 2 human decisions)' in run.stdout
    assert report_files(reports) == ['governance-report.html', 'governance-report.json']
    report = json.load(open(os.path.join(reports, 'governance-report.json')))
    validate(report, 'governance-report.v1.json')
    kpis = report['kpis']
    assert report['trusted'] is True and report['log']['entries'] == len(log_entries)
    # the key file is in the environment: every decision and approval of the run was sealed and checked
    assert report['chain']['sealed'] == sum(1 for e in log_entries if e['action'] in ('decision', 'approval.decision'))

    # MTTR, recomputed here from the log and the startsAt the alerts were sent with
    outcomes = dict((e['details']['fingerprint'], e) for e in log_entries
                    if e['action'] == 'remediation.outcome' and e['outcome'] == 'success')
    durations = sorted(seconds_between(starts[fp], outcomes[fp]) for fp in ('auto1', 'rev1'))
    assert kpis['mttr']['count'] == 2 and kpis['mttr']['unmeasured'] == 0
    assert abs(kpis['mttr']['median_s'] - sum(durations) / 2) < 0.01 and abs(kpis['mttr']['p90_s'] - durations[1]) < 0.01
    assert abs(kpis['mttr']['max_s'] - durations[1]) < 0.01 and 60 < durations[0] < durations[1] < 600
    assert kpis['mttr']['unremediated'] == 2 and kpis['mttr']['unremediated_by_decision'] == {'escalate': 1, 'review': 1}
    assert kpis['automation'] == dict(rate=0.25, automated=1, actionable=4,
                                      decisions=dict(automate=1, review=2, escalate=1, reject=1))
    assert kpis['overrides'] == dict(rate=0.5, overrides=1, human_decisions=2, by_kind=dict(
        denied_review=1, approved_escalation=0, approved_reject=0, recorded=0))
    assert kpis['exceptions'] == dict(total=2, by_kind=dict(unknown_asset=1, out_of_scope=0, freeze=0, rate_limit=0,
                                                            blast_radius=0, remediation_refused=1, remediation_failed=0,
                                                            refusal_escalated=0, no_outcome=0, approval_expired=0,
                                                            still_firing=0))
    assert (kpis['mttr']['by_decision']['automate']['count'], kpis['mttr']['by_decision']['review']['count']) == (1, 1)
    assert kpis['actions'] == dict(total=2, by_owner={'lab-team': 2}, by_risk_tier={'minimal': 2},
                                   by_remediation={'restart_model_server': 2})
    assert kpis['outcomes'] == dict(succeeded=2, failed=0, rolled_back=0, refused=1)
    assert kpis['escalations'] == dict(notified=1, failed=0)
    assert report['groups']['lab-team']['actions']['total'] == 2
    assert report['groups']['lab-on-call']['automation']['decisions']['escalate'] == 1

    page = open(os.path.join(reports, 'governance-report.html')).read()
    assert "Content-Security-Policy\" content=\"default-src &#x27;none&#x27;" in page and '<script' not in page
    assert 'CHAIN INTACT AND ANCHORED' in page and '25.0 %' in page and '50.0 %' in page and 'lab-team' in page

    # One entry edited (the denial turned into an approval): the report says so and the run fails.
    lines = open(log).read().splitlines()
    index = next(i for i, e in enumerate(log_entries) if e['action'] == 'approval.decision' and e['actor'] == 'bob')
    lines[index] = lines[index].replace('"verdict":"deny"', '"verdict":"approve"')
    open(log, 'w').write(''.join(line + '\n' for line in lines))
    tampered = ansible.playbook(*args, cwd=str(tmp_path))
    assert tampered.returncode != 0 and 'UNTRUSTWORTHY' in tampered.stdout, tampered.stdout[-3000:]
    assert 'line %d (seq %d) was edited' % (index + 1, index + 1) in tampered.stdout
    report = json.load(open(os.path.join(reports, 'governance-report.json')))
    assert report['trusted'] is False and report['chain']['problem']['line'] == index + 1
    assert 'UNTRUSTWORTHY' in open(os.path.join(reports, 'governance-report.html')).read()
    warned = ansible.playbook(*(args + ['-e', 'aigov_report_untrusted=warn']), cwd=str(tmp_path))
    assert warned.returncode == 0 and 'UNTRUSTWORTHY' in warned.stdout, warned.stdout[-3000:]
    # the module itself fails by default (untrusted=fail), after writing the labelled files
    os.unlink(os.path.join(reports, 'governance-report.json'))
    direct = ansible.run('ansible', 'localhost', '-m', 'aigov.core.governance_report',
                         '-a', 'audit_log=%s dest=%s' % (log, reports), cwd=str(tmp_path))
    assert direct.returncode != 0 and 'is not intact (edited' in direct.stdout, direct.stdout[-3000:]
    assert json.load(open(os.path.join(reports, 'governance-report.json')))['trusted'] is False
