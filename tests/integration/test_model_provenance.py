"""Model provenance on a real container host over SSH, with real OpenSSF model signatures made here by the
model-signing library (key pair and certificate modes, offline).

The host holds, under /models: a model directory signed with the release key (bert/), a file signed in
certificate mode (llama.gguf + .sig), a directory changed after signing (changed/), one with a file added
after signing (added/), one signed by a key nobody trusts (stranger/), an unsigned one (unsigned/) and a file
signed by the corporate CA for a use case that trusts only the release key (vendor/). The compliance scan (real
ansible-playbook, registry model_signers handed to discovery) must name each. Then a fake vLLM serves a
tampered /srv/models/current.gguf and aigov.core.remediate rolls it back: the rollback refuses the unsigned,
changed and untrusted candidates (the decision and outcome entries say why) and restores the signed one.
Checks go around the collection: sha256sum in the host, the audit log read with the engine's reader.
"""

import datetime
import json
import os
import sqlite3
import sys

import pytest

from tests.hosts import testhosts
from tests.integration.conftest import FAKE_SERVERS, Ansible, load_json, record_decision, wait_listening
from tests.integration.test_alert_chain import write
from tests.integration.test_remediation_rulebook import entries, no_freeze_policy
from tests.integration.test_remediations import sh, sha
from tests.model_signing_kit import CertificateAuthority, KeyPair

TAMPERED = b'GGUF tampered weights\n' * 500
CANDIDATES = {  # name: (content, how it is signed), oldest approval first
    'v1-signed': (b'GGUF approved weights v1\n' * 500, 'corp'),
    'v2-unsigned': (b'GGUF approved weights v2\n' * 500, None),
    'v3-changed': (b'GGUF approved weights v3\n' * 500, 'release-then-change'),
    'v4-stranger': (b'GGUF approved weights v4\n' * 500, 'stranger'),
}
RESTART = ('#!/bin/sh\npkill -f vllm.entrypoints; sleep 0.3\ncd / && PYTHONPATH=/opt/fake setsid nohup python3 -m '
           'vllm.entrypoints.openai.api_server --model /srv/models/current.gguf --host 127.0.0.1 --port 8000 '
           '>/dev/null 2>&1 </dev/null &\necho $! > /run/vllm.pid\n')


def model_dir(folder, tag):
    folder.mkdir()
    header = b'{"__metadata__": {}}'.ljust(24)
    (folder / ('%s.safetensors' % tag)).write_bytes(len(header).to_bytes(8, 'little') + header + tag.encode() * 300)
    (folder / 'config.json').write_text(json.dumps({'model': tag}))
    return folder


def plant_models(local, keys):
    """Sign here, copy to the host's /models; returns the registry's model_signers."""
    release, stranger, corp = keys['release'], keys['stranger'], keys['corp']
    release.sign(str(model_dir(local / 'bert', 'bert')))
    corp.sign(str(model_dir(local / 'vendor', 'vendor')))
    release.sign(str(model_dir(local / 'changed', 'changed')))
    release.sign(str(model_dir(local / 'added', 'added')))
    stranger.sign(str(model_dir(local / 'stranger', 'stranger')))
    model_dir(local / 'unsigned', 'unsigned')
    (local / 'llama.gguf').write_bytes(b'GGUF' + b'\x03\x00\x00\x00' + b'\x00' * 200)
    corp.sign(str(local / 'llama.gguf'))


def plant_candidates(local, keys):
    for name, (data, how) in CANDIDATES.items():
        path = local / ('%s.gguf' % name)
        path.write_bytes(data if how != 'release-then-change' else b'GGUF what was signed\n' * 500)
        if how == 'corp':
            keys['corp'].sign(str(path))
        elif how == 'stranger':
            keys['stranger'].sign(str(path))
        elif how == 'release-then-change':
            keys['release'].sign(str(path))
            path.write_bytes(data)  # the registry approves these bytes; the release key signed others


@pytest.fixture(scope='module')
def estate(tmp_path_factory, ansible_env):
    workdir = tmp_path_factory.mktemp('provenance')
    local, keydir, approved = workdir / 'models', workdir / 'keys', workdir / 'approved'
    for folder in (local, keydir, approved):
        folder.mkdir()
    keys = {'release': KeyPair(keydir, 'release'), 'stranger': KeyPair(keydir, 'stranger'),
            'corp': CertificateAuthority(keydir, 'corp')}
    plant_models(local, keys)
    plant_candidates(approved, keys)
    with testhosts.test_hosts(1, 'aigov-prov-%d' % os.getpid(), str(workdir)) as hosts:
        host = hosts[0]
        testhosts.copy_into(host, local, '/models')
        # after signing: one file changed, one file added (on the host, as an intruder would)
        sh(host, 'sh', '-c', 'printf tampered >> /models/changed/changed.safetensors && echo {} > /models/added/extra.json')
        sh(host, 'mkdir', '-p', '/srv/models', '/srv/approved')
        for item in sorted(os.listdir(str(approved))):
            testhosts.copy_into(host, approved / item, '/srv/approved/%s' % item)
        (workdir / 'current.gguf').write_bytes(TAMPERED)
        testhosts.copy_into(host, workdir / 'current.gguf', '/srv/models/current.gguf')
        testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        (workdir / 'restart-vllm').write_text(RESTART)
        testhosts.copy_into(host, workdir / 'restart-vllm', '/usr/local/sbin/restart-vllm')
        sh(host, 'sh', '-c', 'chmod 755 /usr/local/sbin/restart-vllm && touch /etc/default/vllm && /usr/local/sbin/restart-vllm')
        wait_listening(host, 8000)
        inventory = json.loads(testhosts.write_inventory(hosts, workdir / 'hosts.json', hostvars={host.name: {
            'aigov_baseline_services': {'vllm': {'env_file': '/etc/default/vllm',
                                                 'restart_command': '/usr/local/sbin/restart-vllm'}}}}).read_text())
        inventory['all']['hosts'] = {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}
        (workdir / 'inventory.json').write_text(json.dumps(inventory))
        registry = write(workdir / 'registry.yml', {
            'schema_version': 1,
            'model_signers': [{'name': 'ml-release', 'public_key': keys['release'].public_pem},
                              {'name': 'corp-pki', 'certificates': keys['corp'].root_pem}],
            'use_cases': [
                {'id': 'vendor-chat', 'risk_tier': 'limited', 'owners': {'decision': 'chat-team'},
                 'trusted_signers': ['ml-release'], 'assets': [{'kind': 'model_artifact', 'name': 'vendor.safetensors'}]},
                {'id': 'fraud-scoring', 'risk_tier': 'high', 'require_signed_models': True,
                 'trusted_signers': ['ml-release', 'corp-pki'],
                 'owners': {'decision': 'risk-team', 'risk': 'ciso', 'escalation': 'sre'},
                 'approved_models': [{'name': name, 'sha256': sha(data), 'path': '/srv/approved/%s.gguf' % name}
                                     for name, (data, _how) in CANDIDATES.items()],
                 'assets': [{'inventory_hostname': host.name}]}]})
        yield dict(host=host, workdir=workdir, ansible=Ansible(ansible_env), registry=registry,
                   inventory=str(workdir / 'inventory.json'), log=str(workdir / 'audit.jsonl'),
                   store=str(workdir / 'assets.sqlite3'), keys=keys)


def test_the_compliance_report_names_each_signature(estate):
    report_dir = estate['workdir'] / 'report'
    proc = estate['ansible'].playbook('-i', estate['inventory'], 'aigov.core.compliance_scan', '-e', 'aigov_scan_hosts=testhosts',
                                      '-e', 'aigov_report_dir=%s' % report_dir, '-e', 'aigov_registry=%s' % estate['registry'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = load_json(str(report_dir / 'compliance-report.json'))
    found = dict((a['attributes']['path'], a['attributes']['signature']) for a in report['assets'] if a['kind'] == 'model_artifact')
    status = dict((path, (sig['status'], sig['signer'], sig['reasons'])) for path, sig in found.items())
    assert status['/models/bert/bert.safetensors'] == ('signed', 'ml-release', [])
    assert status['/models/llama.gguf'] == ('signed', 'corp-pki', [])
    assert status['/models/vendor/vendor.safetensors'] == ('signed', 'corp-pki', [])
    assert status['/models/changed/changed.safetensors'] == ('invalid', 'ml-release', ['file_changed'])
    assert status['/models/added/added.safetensors'] == ('invalid', 'ml-release', ['file_added'])
    assert status['/models/stranger/stranger.safetensors'] == ('invalid', None, ['untrusted_signer'])
    assert status['/models/unsigned/unsigned.safetensors'] == ('unsigned', None, [])
    assert found['/models/bert/bert.safetensors']['scope'] == 'directory' and found['/models/llama.gguf']['scope'] == 'file'
    assert found['/models/llama.gguf']['signer_subject'] == estate['keys']['corp'].leaf_subject
    assert 'extra.json' in ' '.join(found['/models/added/added.safetensors']['details'])
    flagged = sorted((f['rule_id'], f['asset_name']) for f in report['findings'] if f['rule_id'].startswith('AIGOV-MP-'))
    assert flagged == [('AIGOV-MP-001', 'current.gguf'), ('AIGOV-MP-001', 'unsigned.safetensors'),
                       ('AIGOV-MP-002', 'added.safetensors'), ('AIGOV-MP-002', 'changed.safetensors'),
                       ('AIGOV-MP-002', 'stranger.safetensors'), ('AIGOV-MP-003', 'vendor.safetensors')]
    severities = dict((f['asset_name'], f['severity']) for f in report['findings'] if f['rule_id'] == 'AIGOV-MP-002')
    assert set(severities.values()) == {'critical'}
    # the digests the signatures were checked with are the host's own (sha256sum in the host)
    bert = [a for a in report['assets'] if a['name'] == 'bert.safetensors'][0]
    assert bert['attributes']['sha256'] == sh(estate['host'], 'sha256sum', '/models/bert/bert.safetensors').split()[0]


def remediate(estate, *flags):
    """Record the source's automate decision for a digest alert on the served model and run aigov.core.remediate."""
    with sqlite3.connect(estate['store']) as db:  # the asset id, read independently of the collection's code
        [(asset_id,)] = db.execute("SELECT id FROM assets WHERE kind = 'model_server' AND removed_at IS NULL").fetchall()
    event = {'alert': {'fingerprint': 'fp-%d' % len(entries(estate['log'])), 'name': 'ModelDigestMismatch',
                       'status': 'firing', 'labels': {}},
             'asset': {'known': True, 'asset_id': asset_id, 'inventory_hostname': estate['host'].name},
             'decision': {'decision': 'automate', 'accountable': 'risk-team', 'reasons': ['test']},
             'meta': {'received_at': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}}
    payload = record_decision(estate['log'], event, estate['ansible'].env)
    return estate['ansible'].playbook(
        '-i', estate['inventory'], 'aigov.core.remediate', *flags, '-e', 'aigov_event_payload=%s' % payload,
        '-e', 'aigov_audit_log=%s' % estate['log'], '-e', 'aigov_store_path=%s' % estate['store'],
        '-e', 'aigov_registry=%s' % estate['registry'],
        '-e', 'aigov_guardrails=%s' % no_freeze_policy(estate['workdir'] / 'guardrails.yml'), cwd=str(estate['workdir']))


def served(estate):
    return sh(estate['host'], 'sha256sum', '/srv/models/current.gguf').split()[0]


def test_the_rollback_refuses_bad_candidates_and_says_why(estate):
    host, ansible = estate['host'], estate['ansible']
    found = ansible.playbook('-i', estate['inventory'], 'aigov.core.discover', '-e', 'aigov_scan_hosts=testhosts',
                             '-e', 'aigov_store_path=%s' % estate['store'], '-e', 'aigov_registry=%s' % estate['registry'])
    assert found.returncode == 0, found.stdout[-3000:]
    sh(host, 'mv', '/srv/approved/v1-signed.gguf', '/root/v1-signed.gguf')  # only the bad candidates are left
    since = len(entries(estate['log']))
    refused = remediate(estate)
    assert refused.returncode != 0, refused.stdout[-3000:]
    assert served(estate) == sha(TAMPERED)
    start, outcome = [e for e in entries(estate['log'])[since:] if e['action'].startswith('remediation.')]
    assert (start['action'], outcome['action'], outcome['outcome']) == ('remediation.start', 'remediation.outcome', 'failure')
    assert start['reasons'][1] == ('the use case requires signed models: a candidate must carry a valid model signature '
                                   'by ml-release or corp-pki')
    why = outcome['reasons'][0]
    assert 'v4-stranger.gguf refused: signature invalid (untrusted_signer' in why
    assert 'v3-changed.gguf refused: signature invalid (file_changed' in why
    assert 'v2-unsigned.gguf refused: unsigned' in why and 'nothing was changed' in why
    assert 'BEGIN PUBLIC KEY' not in json.dumps(entries(estate['log']))
    # the signed copy is back: check mode changes nothing, then the rollback restores it and names its signer
    sh(host, 'mv', '/root/v1-signed.gguf', '/srv/approved/v1-signed.gguf')
    check = remediate(estate, '--check', '--diff')
    assert check.returncode == 0 and sha(CANDIDATES['v1-signed'][0]) in check.stdout, check.stdout[-3000:]
    assert served(estate) == sha(TAMPERED)
    run = remediate(estate)
    assert run.returncode == 0, run.stdout[-3000:]
    assert served(estate) == sha(CANDIDATES['v1-signed'][0])
    last = entries(estate['log'])[-1]
    assert (last['action'], last['outcome']) == ('remediation.outcome', 'success')
    assert 'v1-signed' in last['reasons'][0] and 'signed by corp-pki' in last['reasons'][0]
    wait_listening(host, 8000)


def test_no_private_key_reaches_any_output(estate):
    """Only public keys and CA certificates are trust settings: no signing key is in any run's output or record."""
    texts = list(estate['ansible'].outputs)
    texts += [open(str(path), errors='replace').read() for path in estate['workdir'].rglob('*')
              if path.is_file() and path.suffix in ('.json', '.jsonl', '.html', '.xml', '.sarif', '.yml')]
    assert texts and not [text for text in texts if 'PRIVATE KEY' in text]
