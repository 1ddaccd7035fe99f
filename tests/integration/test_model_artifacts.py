"""Model files on a real host over SSH: recognised by content, hashed once, malicious pickles flagged."""

import json
import os
import pickle
import struct
import zipfile

import pytest

from tests.conftest import ROOT
from tests.contracts import validate
from tests.hosts import testhosts
from tests.integration.conftest import FAKE_SERVERS, load_json, start_server, wait_listening

ENV_KEY = 'sk-proj-aigovINTEGRATIONenvfile0001'
HF_TOKEN = 'hf_aigovINTEGRATIONtokenfile0002'
MCP_TOKEN = 'ghp_aigovINTEGRATIONmcp0000000000000003'


class RunsCommand(object):
    """Pickles to a call of os.system: what a poisoned checkpoint does."""

    def __reduce__(self):
        return (os.system, ('touch /tmp/pwned-by-model',))


def build_files(folder):
    """The planted model files: (local path, path on the host)."""
    header = json.dumps({'w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}}).encode()
    files = {
        'llama.gguf': b'GGUF' + struct.pack('<IQQ', 3, 1, 2) + b'\0' * 64,
        'encoder.safetensors': struct.pack('<Q', len(header)) + header + b'\0' * 8,
        'poisoned.pkl': pickle.dumps({'weights': [0.1], 'hook': RunsCommand()}, protocol=4),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    with zipfile.ZipFile(str(folder / 'checkpoint.pt'), 'w') as archive:
        archive.writestr('checkpoint/data.pkl', pickle.dumps({'step': 10}, protocol=2))
    return {
        'llama.gguf': '/models/llama.gguf',
        'encoder.safetensors': '/root/.cache/huggingface/hub/models--org--enc/blobs/0a1b2c',
        'poisoned.pkl': '/srv/models/poisoned.pkl',
        'checkpoint.pt': '/opt/models/checkpoint.pt',
    }


@pytest.fixture(scope='module')
def model_host(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('models')
    local = workdir / 'files'
    local.mkdir()
    with testhosts.test_hosts(1, 'aigov-ma-%d' % os.getpid(), str(workdir)) as hosts:
        host = hosts[0]
        for name, remote in build_files(local).items():
            testhosts.run_in(host, ['mkdir', '-p', os.path.dirname(remote)])
            testhosts.copy_into(host, local / name, remote)
        testhosts.run_in(host, ['chmod', '0666', '/models/llama.gguf'])
        testhosts.run_in(host, ['sh', '-c', 'head -c 4096 /dev/urandom > /models/random.bin; echo hi > /models/README'])
        # A Claude Desktop config with an MCP server carrying a token in its env.
        config = local / 'claude_desktop_config.json'
        config.write_text(json.dumps({'mcpServers': {'github': {
            'command': 'npx', 'args': ['-y', '@modelcontextprotocol/server-github'],
            'env': {'GITHUB_PERSONAL_ACCESS_TOKEN': MCP_TOKEN}}}}))
        testhosts.run_in(host, ['mkdir', '-p', '/root/.config/Claude'])
        testhosts.copy_into(host, config, '/root/.config/Claude/claude_desktop_config.json')
        testhosts.run_in(host, ['chmod', '0600', '/root/.config/Claude/claude_desktop_config.json'])
        # A Qdrant-like vector database on all interfaces without an API key.
        testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        testhosts.run_in(host, ['cp', '/opt/fake/bin/llama-server', '/usr/local/bin/qdrant'])
        start_server(host, ['python3', '/usr/local/bin/qdrant', '--host', '0.0.0.0', '--port', '6333'])
        wait_listening(host, 6333)
        # The GPU host's nvidia-smi (a stand-in answering its CSV queries).
        testhosts.copy_into(host, os.path.join(ROOT, 'tests', 'fixtures', 'gpu', 'nvidia-smi'), '/usr/local/bin/nvidia-smi')
        # An agent's virtualenv with AI packages (metadata folders, as pip leaves them).
        site = '/opt/agent/venv/lib/python3.11/site-packages'
        testhosts.run_in(host, ['sh', '-c', 'mkdir -p %s/langchain_core-0.3.15.dist-info %s/openai-1.54.3.dist-info '
                                '%s/requests-2.32.3.dist-info && echo "home = /usr/bin" > /opt/agent/venv/pyvenv.cfg'
                                % (site, site, site)])
        # Credentials: a world-readable .env of an agent and a private Hugging Face token file.
        testhosts.run_in(host, ['sh', '-c', 'mkdir -p /srv/agent /root/.cache/huggingface && umask 022 && '
                                'printf "OPENAI_API_KEY=%s\\nLOG_LEVEL=info\\n" > /srv/agent/.env && '
                                'umask 077 && printf %s > /root/.cache/huggingface/token' % (ENV_KEY, HF_TOKEN)])
        yield host, str(testhosts.write_inventory(hosts, workdir / 'inventory.json'))


def scan(ansible, inventory, report_dir):
    proc = ansible.playbook('-i', inventory, 'aigov.core.compliance_scan', '-e', 'aigov_scan_hosts=testhosts',
                            '-e', 'aigov_report_dir=%s' % report_dir)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return load_json(str(report_dir / 'compliance-report.json'))


def test_planted_model_files_are_found_hashed_and_judged(ansible, model_host, tmp_path):
    host, inventory = model_host
    report = scan(ansible, inventory, tmp_path / 'first')
    validate(report, 'compliance-report.v1.json')
    found = dict((a['attributes']['path'], a) for a in report['assets'] if a['kind'] == 'model_artifact')
    assert sorted(found) == sorted(['/models/llama.gguf', '/root/.cache/huggingface/hub/models--org--enc/blobs/0a1b2c',
                                    '/srv/models/poisoned.pkl', '/opt/models/checkpoint.pt'])  # nothing invented
    formats = dict((path, asset['attributes']['format']) for path, asset in found.items())
    assert formats['/root/.cache/huggingface/hub/models--org--enc/blobs/0a1b2c'] == 'safetensors'  # by content, no extension
    assert formats['/opt/models/checkpoint.pt'] == 'pytorch_zip' and formats['/models/llama.gguf'] == 'gguf'
    # Digests agree with sha256sum run on the host itself.
    for path, asset in found.items():
        assert asset['attributes']['sha256'] == testhosts.run_in(host, ['sha256sum', path]).stdout.split()[0]
    assert found['/models/llama.gguf']['attributes']['world_writable'] is True
    poisoned = found['/srv/models/poisoned.pkl']['attributes']
    assert poisoned['executes_code_on_load'] and 'posix.system' in poisoned['pickle']['dangerous']
    # The poisoned pickle runs code; the 0666 GGUF can be swapped by any local user.
    assert sorted((f['rule_id'], f['asset_name']) for f in report['findings'] if f['asset_kind'] == 'model_artifact') == [
        ('AIGOV-MA-001', 'poisoned.pkl'), ('AIGOV-MA-003', 'llama.gguf')]
    assert testhosts.run_in(host, ['test', '-e', '/tmp/pwned-by-model']).returncode == 1  # scanned, never loaded


def test_second_scan_same_ids_and_no_rehash(ansible, model_host, tmp_path):
    host, inventory = model_host
    first = scan(ansible, inventory, tmp_path / 'a')
    cache_stat = testhosts.run_in(host, ['stat', '-c', '%Y %s', '/var/cache/aigov/model-hashes.json']).stdout
    second = scan(ansible, inventory, tmp_path / 'b')
    assert sorted(a['id'] for a in first['assets']) == sorted(a['id'] for a in second['assets'])
    # The cache is rewritten only when it changes: every digest came from it.
    assert testhosts.run_in(host, ['stat', '-c', '%Y %s', '/var/cache/aigov/model-hashes.json']).stdout == cache_stat


@pytest.mark.parametrize('approved', [True, False])
def test_model_file_checked_against_its_use_case_approved_digest(ansible, model_host, tmp_path, approved):
    host, inventory = model_host
    actual = testhosts.run_in(host, ['sha256sum', '/models/llama.gguf']).stdout.split()[0]
    registry = tmp_path / 'registry.yml'
    registry.write_text(
        'schema_version: 1\nuse_cases:\n  - id: edge-assistant\n    risk_tier: limited\n    environment: edge\n'
        '    approved_models: [{name: llama, sha256: "%s"}]\n    assets: [{kind: model_artifact, name: llama.gguf}]\n'
        % (actual if approved else '0' * 64))
    proc = ansible.playbook('-i', inventory, 'aigov.core.compliance_scan', '-e', 'aigov_scan_hosts=testhosts',
                            '-e', 'aigov_report_dir=%s' % tmp_path, '-e', 'aigov_registry=%s' % registry)
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = load_json(str(tmp_path / 'compliance-report.json'))
    [llama] = [a for a in report['assets'] if a['name'] == 'llama.gguf']
    assert llama['registry']['use_case'] == 'edge-assistant' and llama['registry']['shadow'] is False
    assert llama['registry']['model_approved'] is approved
    flagged = [f['asset_name'] for f in report['findings'] if f['rule_id'] == 'AIGOV-MA-002']
    assert flagged == ([] if approved else ['llama.gguf'])


def test_credential_files_found_by_fingerprint_and_judged(ansible, model_host, tmp_path):
    _host, inventory = model_host
    proc = ansible.playbook('-i', inventory, 'aigov.core.compliance_scan', '-e', 'aigov_scan_hosts=testhosts',
                            '-e', 'aigov_report_dir=%s' % tmp_path, '-vvv')
    assert proc.returncode == 0, proc.stdout[-3000:]
    with open(str(tmp_path / 'compliance-report.json')) as handle:
        text = handle.read()
    for secret in (ENV_KEY, HF_TOKEN, MCP_TOKEN):
        assert secret not in proc.stdout + proc.stderr and secret not in text
    report = json.loads(text)
    creds = dict((a['attributes']['location'], a['attributes']) for a in report['assets'] if a['kind'] == 'credential')
    assert sorted(creds) == ['/root/.cache/huggingface/token', '/root/.config/Claude/claude_desktop_config.json',
                             '/srv/agent/.env']
    [mcp] = [a['attributes'] for a in report['assets'] if a['kind'] == 'mcp_server']
    assert (mcp['client'], mcp['server'], mcp['plaintext_credentials']) == ('claude_desktop', 'github', True)
    assert mcp['credentials'][0]['fingerprint'] == creds['/root/.config/Claude/claude_desktop_config.json']['fingerprint']
    assert creds['/srv/agent/.env']['provider'] == 'openai' and creds['/srv/agent/.env']['world_readable'] is True
    assert creds['/root/.cache/huggingface/token']['mode'] == '0600'
    flagged = [f['evidence'][0]['path'] for f in report['findings'] if f['rule_id'] == 'AIGOV-CR-001']
    assert flagged == ['/srv/agent/.env']


def test_ai_packages_in_a_virtualenv(ansible, model_host):
    _host, inventory = model_host
    proc = ansible.run('ansible', '-i', inventory, 'testhosts', '-m', 'aigov.core.ai_asset_facts', '-a', 'probes=ai_package')
    assert proc.returncode == 0, proc.stdout[-2000:]
    payload = json.loads(proc.stdout[proc.stdout.index('{'):])
    found = sorted((a['attributes']['package'], a['attributes']['version'], a['attributes']['venv'])
                   for a in payload['ansible_facts']['ai_assets'])
    assert found == [('langchain-core', '0.3.15', '/opt/agent/venv'), ('openai', '1.54.3', '/opt/agent/venv')]


def test_gpus_from_nvidia_smi(ansible, model_host):
    _host, inventory = model_host
    proc = ansible.run('ansible', '-i', inventory, 'testhosts', '-m', 'aigov.core.ai_asset_facts', '-a', 'probes=gpu')
    assert proc.returncode == 0, proc.stdout[-2000:]
    assets = json.loads(proc.stdout[proc.stdout.index('{'):])['ansible_facts']['ai_assets']
    assert sorted((a['attributes']['uuid'], a['attributes']['memory_mib'], len(a['attributes']['processes'])) for a in assets) == [
        ('GPU-5e1d2c3b-aaaa-bbbb-cccc-000000000001', 81920, 1), ('GPU-5e1d2c3b-aaaa-bbbb-cccc-000000000002', 81920, 0)]


def test_exposed_vector_db_without_key_is_flagged(ansible, model_host, tmp_path):
    _host, inventory = model_host
    report = scan(ansible, inventory, tmp_path)
    [vdb] = [a for a in report['assets'] if a['kind'] == 'vector_db']
    assert (vdb['name'], vdb['attributes']['exposed'], vdb['attributes']['auth']) == ('qdrant', True, 'none')
    assert vdb['attributes']['listeners'] == [{'address': '0.0.0.0', 'port': 6333, 'loopback': False}]
    assert [f['asset_id'] for f in report['findings'] if f['rule_id'] == 'AIGOV-VD-001'] == [vdb['id']]
    assert not [a for a in report['assets'] if a['kind'] == 'model_server']  # a vector DB is not a model server
