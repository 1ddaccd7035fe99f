"""The compliance scan end to end: real ansible-playbook, real SSH, real container hosts."""

import json
import os

import pytest

from tests.contracts import validate
from tests.hosts import testhosts
from tests.integration.conftest import PLANTED_SECRETS, VLLM, load_json, start_server, wait_listening


# The servers run as root in the containers and no registry claims them (shadow AI); the
# guarded vLLM takes its key on the command line.
EXPECTED_FINDINGS = [
    ('AIGOV-GV-001', 'exposed', 'vllm'), ('AIGOV-GV-001', 'guarded', 'llama_cpp'), ('AIGOV-GV-001', 'guarded', 'vllm'),
    ('AIGOV-MS-001', 'exposed', 'vllm'),
    ('AIGOV-MS-010', 'exposed', 'vllm'), ('AIGOV-MS-010', 'guarded', 'llama_cpp'), ('AIGOV-MS-010', 'guarded', 'vllm'),
    ('AIGOV-CR-006', 'guarded', 'model_server'),
]
EXPECTED_BY_SEVERITY = {'info': 0, 'low': 0, 'medium': 6, 'high': 2, 'critical': 0}


def assert_no_secrets(*texts):
    for text in texts:
        for secret in PLANTED_SECRETS:
            assert secret not in text, 'a planted secret leaked'


def scan(ansible, fleet, report_dir, *extra):
    return ansible.playbook('-i', fleet.inventory, 'aigov.core.compliance_scan', '-e', 'aigov_scan_hosts=testhosts',
                            '-e', 'aigov_report_dir=%s' % report_dir, *extra)


def assets_by_host(report, kind='model_server'):
    grouped = {}
    for asset in report['assets']:
        if asset['kind'] == kind:
            grouped.setdefault(asset['inventory_hostname'], []).append(asset)
    return grouped


@pytest.fixture(scope='module')
def scanned(ansible, fleet, tmp_path_factory):
    """One verbose scan of both hosts; its output and report are shared by the tests below."""
    report_dir = tmp_path_factory.mktemp('report')
    proc = scan(ansible, fleet, report_dir, '-vvv')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report_path = os.path.join(str(report_dir), 'compliance-report.json')
    with open(report_path) as handle:
        text = handle.read()
    return proc, json.loads(text), text


def test_scan_runs_over_real_ssh(scanned, fleet):
    proc, report, _text = scanned
    for host in fleet.hosts:
        assert 'ESTABLISH SSH CONNECTION FOR USER: root' in proc.stdout
        assert '%s' % host.address in proc.stdout
    assert sorted(report['scope']['hosts_scanned']) == sorted(h.name for h in fleet.hosts)
    assert report['summary']['complete'] is True


def test_report_follows_its_contract(scanned):
    validate(scanned[1], 'compliance-report.v1.json')


def test_exposed_server_without_key_is_found_and_flagged(scanned, fleet):
    report = scanned[1]
    [asset] = assets_by_host(report)[fleet.exposed.name]
    attrs = asset['attributes']
    assert asset['name'] == 'vllm' and asset['host'] == fleet.exposed.name
    assert attrs['listeners'] == [{'address': '0.0.0.0', 'port': 8000, 'loopback': False}]
    assert attrs['exposed'] is True and attrs['auth'] == 'none' and attrs['model'] == 'facebook/opt-125m'
    assert asset['registry']['registered'] is False
    [finding] = [f for f in report['findings'] if f['rule_id'] == 'AIGOV-MS-001']
    assert (finding['asset_id'], finding['inventory_hostname']) == (asset['id'], fleet.exposed.name)
    assert finding['severity'] == 'high' and 'owasp-llm-2025' in finding['references']


def test_findings_are_exactly_what_the_hosts_plant(scanned, fleet):
    """Every finding of the default baseline on the two hosts, by rule, asset and host role."""
    roles = {fleet.exposed.name: 'exposed', fleet.guarded.name: 'guarded'}
    got = sorted((f['rule_id'], roles[f['inventory_hostname']], f['asset_name']) for f in scanned[1]['findings'])
    assert got == sorted(EXPECTED_FINDINGS)
    assert scanned[1]['summary']['by_severity'] == EXPECTED_BY_SEVERITY


def test_guarded_servers_are_found_not_flagged(scanned, fleet):
    found = {a['name']: a['attributes'] for a in assets_by_host(scanned[1])[fleet.guarded.name]}
    assert sorted(found) == ['llama_cpp', 'vllm']
    assert found['vllm']['auth'] == 'configured' and found['vllm']['exposed'] is True
    assert found['llama_cpp']['listeners'] == [{'address': '127.0.0.1', 'port': 8080, 'loopback': True}]
    assert found['llama_cpp']['exposed'] is False and found['llama_cpp']['model'] == '/models/tinyllama.gguf'


def test_planted_credentials_are_reported_by_fingerprint_only(scanned, fleet):
    creds = assets_by_host(scanned[1], 'credential')
    assert fleet.exposed.name not in creds
    found = sorted((a['attributes']['source'], a['attributes']['provider'], a['attributes']['variable'])
                   for a in creds[fleet.guarded.name])
    assert found == [('argv', 'model_server', '--api-key'), ('process_env', 'huggingface', 'HF_TOKEN')]
    assert all(a['attributes']['fingerprint'].startswith('hmac-sha256:') for a in creds[fleet.guarded.name])


def test_listeners_agree_with_ss_inside_the_host(scanned, fleet):
    """Independent check: what `ss` (iproute2) sees listening in the container."""
    for host in fleet.hosts:
        listed = testhosts.run_in(host, ['ss', '-Hltn']).stdout.split('\n')
        ss_ports = sorted(int(line.split()[3].rsplit(':', 1)[1]) for line in listed if line.strip())
        reported = sorted(item['port'] for asset in assets_by_host(scanned[1])[host.name]
                          for item in asset['attributes']['listeners'])
        assert reported and set(reported) <= set(ss_ports)
        assert 22 in ss_ports and 22 not in reported  # sshd is not a model server


def test_no_secret_in_verbose_output_or_report(scanned):
    proc, _report, text = scanned
    assert 'redacted' in proc.stdout
    assert_no_secrets(proc.stdout, proc.stderr, text)


def test_ids_are_stable_when_the_server_restarts(ansible, fleet, scanned, tmp_path):
    before = {a['id'] for a in scanned[1]['assets']}
    assert testhosts.run_in(fleet.exposed, ['pkill', '-f', 'vllm.entrypoints']).returncode == 0
    start_server(fleet.exposed, VLLM + ['--port', '8000'])
    wait_listening(fleet.exposed, 8000)
    proc = scan(ansible, fleet, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    after = load_json(str(tmp_path / 'compliance-report.json'))
    assert {a['id'] for a in after['assets']} == before
    assert {f['id'] for f in after['findings']} == {f['id'] for f in scanned[1]['findings']}


def test_fail_on_threshold_fails_the_run_after_writing_the_report(ansible, fleet, tmp_path):
    proc = scan(ansible, fleet, tmp_path, '-e', 'aigov_fail_on=high')
    assert proc.returncode == 2
    assert '%d finding(s) on 5 asset(s) from 2 host(s); at least one is high or worse' % len(EXPECTED_FINDINGS) in proc.stdout
    assert load_json(str(tmp_path / 'compliance-report.json'))['summary']['threshold_exceeded'] is True


def test_check_mode_writes_no_report(ansible, fleet, tmp_path):
    proc = scan(ansible, fleet, tmp_path / 'reports', '--check')
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert not (tmp_path / 'reports').exists()
    assert 'report would be written' in proc.stdout or 'compliance-report.json' in proc.stdout


def test_unreachable_host_is_reported_missing_not_compliant(ansible, fleet, tmp_path):
    inventory = json.loads(open(fleet.inventory).read())
    # Port 9 on loopback: refused at once, no traffic leaves the machine.
    inventory['all']['children']['testhosts']['hosts']['ghost'] = {
        'ansible_host': '127.0.0.1', 'ansible_port': 9, 'ansible_user': 'root', 'ansible_python_interpreter': '/usr/bin/python3'}
    path = tmp_path / 'inventory.json'
    path.write_text(json.dumps(inventory))
    proc = ansible.playbook('-i', path, 'aigov.core.compliance_scan', '-e', 'aigov_scan_hosts=testhosts',
                            '-e', 'aigov_report_dir=%s' % tmp_path)
    assert proc.returncode == 4  # ansible-playbook's "some hosts were unreachable"
    report = load_json(str(tmp_path / 'compliance-report.json'))
    assert report['scope']['hosts_missing'] == ['ghost']
    assert report['summary']['complete'] is False and report['summary']['hosts_scanned'] == 2


def test_broken_policy_pack_fails_before_any_host_is_touched(ansible, fleet, tmp_path):
    pack = tmp_path / 'broken.yml'
    pack.write_text(open(os.path.join(os.path.dirname(__file__), '..', '..', 'policies', 'default.yml')).read()
                    .replace("attributes.auth == 'configured'", "attributes.auth == ("))
    proc = scan(ansible, fleet, tmp_path, '-e', '{"aigov_policy_packs": ["%s"]}' % pack)
    assert proc.returncode == 2
    assert str(pack) in proc.stdout and 'rules[0] (id AIGOV-MS-001): condition is not a valid JMESPath expression' in proc.stdout
    assert 'TASK [Discover AI assets on the host]' not in proc.stdout
    assert not (tmp_path / 'compliance-report.json').exists()


def test_unknown_policy_pack_name_is_a_clear_error(ansible, fleet, tmp_path):
    proc = scan(ansible, fleet, tmp_path, '-e', '{"aigov_policy_packs": ["no-such-pack"]}')
    assert proc.returncode == 2
    assert "no bundled policy pack named 'no-such-pack' (bundled: default)" in proc.stdout


@pytest.mark.parametrize('args, message', [
    ('proc_root=/nonexistent', "proc_root '/nonexistent' is not a readable directory"),
    ('probe=model_server', 'Unsupported parameters for (aigov.core.ai_asset_facts) module: probe'),
])
def test_bad_module_invocation_over_ssh_is_a_clear_error(ansible, fleet, args, message):
    proc = ansible.run('ansible', '-i', fleet.inventory, 'testhosts', '-m', 'aigov.core.ai_asset_facts', '-a', args)
    assert proc.returncode == 2
    for host in fleet.hosts:
        assert '%s | FAILED' % host.name in proc.stdout
    assert message in proc.stdout
    assert 'Traceback' not in proc.stdout + proc.stderr


@pytest.mark.parametrize('args, message', [
    ('polcy_packs=default', 'module: polcy_packs. Supported parameters include: assets, exceptions, fail_on, hosts, parameters, policy_packs, registry, store'),
    ('{"hosts": ["nosuchhost"]}', "host 'nosuchhost' is not in the inventory"),
    ('registry=/nonexistent/registry.yml', '/nonexistent/registry.yml is invalid:\n  - cannot read registry file: No such file'),
    ('fail_on=urgent', 'value of fail_on must be one of: none, info, low, medium, high, critical, got: urgent'),
])
def test_bad_policy_check_invocation_is_a_clear_error(ansible, fleet, args, message):
    proc = ansible.run('ansible', '-i', fleet.inventory, 'localhost', '-m', 'aigov.core.ai_policy_check', '-a', args)
    assert proc.returncode == 2
    assert message in proc.stdout.replace('\\n', '\n')
    assert 'Traceback' not in proc.stdout + proc.stderr
